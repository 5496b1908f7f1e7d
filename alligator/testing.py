"""A pytest plugin for code that enqueues alligator tasks: no AWS needed.

Active wherever ``alligator[test]`` is installed (the ``pytest11`` entry
point), so a test can enqueue through your real code path and run the task
for real, with no moto fixtures of your own::

    def test_signup_sends_email(sqs_gator):
        signup("ada@example.com", gator=sqs_gator)   # enqueues
        [task] = drain(sqs_gator)                    # runs it, as a worker would
        assert task.status == SUCCESS

- ``sqs_endpoint`` (session fixture): moto's SQS server on a free loopback
  port; its URL. With ``ALLIGATOR_TEST_SQS_ENDPOINT`` set (for example
  ``http://localhost:4566`` for LocalStack, or
  ``https://sqs.us-east-1.amazonaws.com`` for real SQS, with your own
  credentials), that URL instead, and moto is neither started nor needed.
- ``sqs_gator`` (fixture): a ``Gator`` on a fresh queue with its DLQ.
- ``drain(gator)``: runs what is queued through the worker's own
  per-message path; returns the finished tasks.
- ``dead_letters(gator)``: what landed in the dead-letter queue.
- ``make_queue(endpoint)``: a fresh queue and DLQ; returns the DSN.

moto and alligator's worker are imported only when used, so importing this
module (which pytest does for every run) costs next to nothing. Without
moto installed, ``sqs_endpoint`` fails with one line naming the extra
(``pip install 'alligator[test]'``).

Queues are made in us-east-1 (``TEST_REGION``): moto and LocalStack take any
region, and real SQS must be its us-east-1 endpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pytest

from ._moto import DUMMY_AWS_ENVIRONMENT  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from .backends.base import Received
    from .gator import Gator
    from .outcome import Outcome
    from .tasks import Task

#: The region the helpers create queues in.
TEST_REGION = "us-east-1"


@pytest.fixture(scope="session")
def sqs_endpoint() -> Iterator[str]:
    """moto's SQS (and S3, DynamoDB) server on a free loopback port, or
    ``ALLIGATOR_TEST_SQS_ENDPOINT`` when set; yields its URL.

    Example:
        >>> def test_queue(sqs_endpoint):
        ...     dsn = make_queue(sqs_endpoint)
    """
    from . import _env
    from ._moto import dummy_credentials, start_moto
    from .exceptions import ConfigurationError

    given = _env.get(_env.TEST_SQS_ENDPOINT)
    if given is not None:
        if not given.startswith(("http://", "https://")):
            pytest.fail(
                f"{_env.TEST_SQS_ENDPOINT} must be an http:// or https:// URL, not {given!r}",
                pytrace=False,
            )
        yield given.rstrip("/")
        return
    with dummy_credentials():
        missing: str | None = None
        try:
            # Port 0: the OS picks a free port, with no window for another
            # process to take it between choosing and binding.
            server, url = start_moto(0)
        except ConfigurationError as exc:  # moto is not installed
            missing = str(exc)
        if missing is not None:  # outside the except: one line, no chain
            pytest.fail(f"sqs_endpoint: {missing}", pytrace=False)
        try:
            yield url
        finally:
            server.stop()


#: Empty receives ``drain`` tolerates while the queue still says it has
#: visible messages (SQS's short poll samples a subset of its servers, and
#: may answer empty), before it gives up rather than spin.
MAX_EMPTY_POLLS = 10


@pytest.fixture
def sqs_gator(sqs_endpoint: str) -> Iterator[Gator]:
    """A ``Gator`` on a fresh queue (with its DLQ) on ``sqs_endpoint``.

    Each test gets its own pair of queues, so nothing leaks between tests.
    The DSN (``sqs_gator.conn_string``) long-polls for 1 second only.

    Example:
        >>> def test_enqueue(sqs_gator):
        ...     sqs_gator.task(send_email, 42)
        ...     [task] = drain(sqs_gator)
    """
    from .gator import Gator

    gator = Gator(make_queue(sqs_endpoint))
    try:
        yield gator
    finally:
        gator.backend.close()


def drain(
    gator: Gator,
    max_tasks: int | None = None,
    *,
    import_allow: str | list[str] | None = None,
    signing_key: str | list[str] | None = None,
) -> list[Task]:
    """Run what is queued, in this process, the way a worker would.

    Each message goes through the worker's own per-message path
    (``Worker.check_and_run_task``: signature, allow-list, import, run,
    then delete, retry or dead-letter), with two differences that suit
    tests: a failed task is retried at once, with no backoff wait, and a
    receive never long-polls. It works on any backend.

    - One ``Task`` per message that *finished*, in the order they finished:
      succeeded (``SUCCESS``, ``task.result``), or dead-lettered once its
      retries were used up (``FAILED``, ``task.error`` the exception of the
      last run). A task that failed and then succeeded on a retry appears
      once, as a success; failed runs that were retried are not listed.
    - A task canceled through the status store is listed as ``CANCELED``;
      a duplicate of a task that already succeeded is deleted unrun and not
      listed again.
    - Poison messages (not a task, a bad signature, a module outside the
      allow-list) have no task: they are not listed. They land in the DLQ
      with the reason, as on a worker; see ``dead_letters``.
    - A delayed task is never run early: it stays in the queue and is not
      listed (``gator.len()`` still counts it). To test it, use
      ``locmem://`` and move the clock with freezegun, then drain again.
    - A task whose ``depends_on`` tasks are also queued runs once they
      have succeeded; if no message can make progress, drain returns.

    The import allow-list and signing keys come from the environment
    (``ALLIGATOR_IMPORT_ALLOW``, ``ALLIGATOR_SIGNING_KEY``) as on a worker,
    unless given here.

    Example:
        >>> gator.task(send_email, 42)
        >>> [task] = drain(gator)
        >>> task.status == SUCCESS

    Args:
        gator: the gator whose queue to drain.
        max_tasks: return once this many tasks finished (``None``: until the
            queue has nothing visible left).
        import_allow: module prefixes tasks may come from, as ``Worker``.
        signing_key: refuse messages without a valid signature, as ``Worker``.

    Returns:
        The finished tasks, failed ones included.
    """
    from .retries import Backoff
    from .worker import Worker

    collector = _Collector()
    worker = Worker(
        gator,
        import_allow=import_allow,
        signing_key=signing_key,
        on_outcome=collector.add,
        backoff=Backoff.IMMEDIATE,
    )
    empty_polls = 0
    try:
        while not collector.stalled:
            room = None if max_tasks is None else max_tasks - len(collector.finished)
            if room is not None and room <= 0:
                break
            if worker.check_and_run_task(wait_seconds=0, max_messages=room):
                empty_polls = 0
                continue
            empty_polls += 1
            if empty_polls > MAX_EMPTY_POLLS or _nothing_visible(gator):
                break
    finally:
        # Deletes are batched: send them, and hand back anything received
        # but not run (there is none unless a task raised BaseException).
        worker.close()
    return collector.finished


def _nothing_visible(gator: Gator) -> bool:
    stats = getattr(gator.queue, "stats", None)
    return stats is None or stats().visible == 0


class _Collector:
    """Keeps the final outcome of each message; notices a standstill."""

    def __init__(self) -> None:
        self.finished: list[Task] = []
        self.stalled = False
        # Tasks deferred since the last outcome that was not a deferral.
        self._deferred: set[str] = set()

    def add(self, outcome: Outcome) -> None:
        from .constants import CANCELED, FAILED
        from .exceptions import TaskFailed
        from .outcome import Action, Reason

        task = outcome.task
        if outcome.action is Action.DEFER and task is not None:
            # Waiting on a dependency is re-queued at once (drain waits for
            # nothing): the same task deferred twice with nothing else done
            # in between means nothing queued can satisfy it.
            self.stalled = self.stalled or task.task_id in self._deferred
            self._deferred.add(task.task_id)
            return
        self._deferred.clear()
        if outcome.action not in (Action.ACK, Action.DEAD) or task is None:
            return  # a retry, or a poison message (no task)
        if outcome.reason is Reason.DUPLICATE:
            return
        if outcome.action is Action.DEAD:
            task.status = FAILED
            if task.error is None:  # dead without a run: a failed dependency
                task.error = TaskFailed(outcome.error or "dead-lettered")
        elif outcome.reason is Reason.CANCELED:
            task.status = CANCELED
        self.finished.append(task)


def dead_letters(gator: Gator) -> list[Received]:
    """The messages in ``gator``'s dead-letter queue, left there.

    Each ``Received`` has the body as it was sent and the failure reason in
    ``attributes``: ``alligator-error`` (``"RuntimeError: boom"``),
    ``alligator-attempts`` and ``alligator-failed-at``.

    Example:
        >>> [letter] = dead_letters(gator)
        >>> letter.attributes["alligator-error"]
        'RuntimeError: boom'

    Raises:
        ConfigurationError: the queue has no dead-letter queue.
    """
    dlq = gator.queue.dlq_backend()  # type: ignore[attr-defined]
    held: list[Received] = []
    empty_polls = 0
    try:
        while empty_polls <= MAX_EMPTY_POLLS:
            got = dlq.receive(max_messages=dlq.batch_size, wait_seconds=0)
            held += got
            # What we hold is hidden: an empty queue reports nothing visible.
            if got:
                empty_polls = 0
            elif dlq.stats().visible == 0:
                break
            else:
                empty_polls += 1
        # Reading them leased them: make them visible again at once, so the
        # next look (or ``alligator dlq peek``) sees them too.
        if held:
            dlq.release(held)
    finally:
        dlq.close()
    return held


def make_queue(endpoint: str, name: str | None = None, *, fifo: bool = False) -> str:
    """Create a fresh queue with a dead-letter queue; return its DSN.

    The DLQ (``NAME-dlq``) is wired by a redrive policy with
    ``maxReceiveCount`` 10, and the DSN long-polls for 1 second only, so a
    test on an empty queue never hangs for 20.

    Example:
        >>> dsn = make_queue(sqs_endpoint)
        >>> gator = Gator(dsn)

    Args:
        endpoint: the SQS endpoint (``sqs_endpoint``).
        name: the queue name; a unique one when not given.
        fifo: make FIFO queues (``.fifo`` is appended to the name).

    Returns:
        ``sqs://us-east-1/NAME?endpoint_url=ENDPOINT&wait_time=1``.
    """
    import json

    base = name or f"test-{uuid.uuid4().hex[:12]}"
    base = base.removesuffix(".fifo")
    suffix = ".fifo" if fifo else ""
    attributes = {"FifoQueue": "true"} if fifo else {}
    client = _client("sqs", endpoint)
    dlq_url = client.create_queue(QueueName=f"{base}-dlq{suffix}", Attributes=attributes)[
        "QueueUrl"
    ]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 10})
    client.create_queue(
        QueueName=f"{base}{suffix}",
        Attributes={**attributes, "RedrivePolicy": redrive},
    )
    return f"sqs://{TEST_REGION}/{base}{suffix}?endpoint_url={endpoint}&wait_time=1"


@lru_cache(maxsize=16)
def _client(service: str, endpoint: str) -> Any:
    """One boto3 client per service and endpoint: making one loads the
    service model, which costs more than the calls a test makes with it.
    boto3 clients are thread-safe."""
    from ._aws import session_for

    return session_for(endpoint, service).client(
        service, region_name=TEST_REGION, endpoint_url=endpoint
    )
