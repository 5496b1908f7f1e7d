"""``alligator demo``: the whole flow on an embedded SQS, with no AWS account.

The demo starts moto's SQS server in-process, enqueues a few dozen tasks in
batches, runs a worker until the queue is empty, and prints what ran, what
was retried and what sits in the dead-letter queue, with the reason; then
one scheduled task firing on the same queue.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

from ._moto import dummy_credentials, start_moto
from .outcome import Action, Outcome

#: How many times each flaky call has run, so a retry can succeed.
_runs: collections.Counter[int] = collections.Counter()
_runs_lock = threading.Lock()


def add(a: int, b: int) -> int:
    """A task that always works."""
    return a + b


def flaky(n: int) -> str:
    """Fails on its first run, works on the second."""
    with _runs_lock:
        _runs[n] += 1
        runs = _runs[n]
    if runs == 1:
        raise RuntimeError(f"flaky({n}) failed on its first run")
    return f"flaky({n}) worked on run {runs}"


def broken(order_id: int) -> None:
    """Always fails: it ends in the dead-letter queue."""
    raise ValueError(f"order {order_id} has no customer")


def run_demo(out: Any = None) -> int:
    """Enqueue, run, retry and dead-letter on an embedded endpoint."""
    out = out or sys.stdout
    _runs.clear()
    with dummy_credentials():
        return _run_demo(out)


def _run_demo(out: Any) -> int:
    from .gator import Gator
    from .worker import Worker

    server, url = start_moto()
    try:
        dsn = (
            f"sqs://us-east-1/demo?endpoint_url={url}&create=true"
            "&wait_time=1&backoff_base=1&backoff_max=1"
        )
        gator = Gator(dsn)
        requests = count_requests(gator.backend.client)
        calls: list[tuple[Any, tuple[int, ...], dict[str, Any]]] = [
            (add, (n, n), {}) for n in range(30)
        ]
        calls += [(flaky, (n,), {}) for n in range(5)]
        tasks = gator.task_many(calls, retries=2)
        tasks.append(gator.options(retries=2).task(broken, 1234))
        print(f"enqueued {len(tasks)} tasks on {url} (FIFO: no, DLQ: demo-dlq)", file=out)
        outcomes: list[Outcome] = []

        def record(outcome: Outcome) -> None:
            outcomes.append(outcome)
            if sum(o.action in (Action.ACK, Action.DEAD) for o in outcomes) == len(tasks):
                worker.stop()

        worker = Worker(
            gator,
            concurrency=4,
            import_allow=["alligator.demo", "alligator.schedules.demo"],
            on_outcome=record,
        )
        with _short_log():
            worker.run_forever()
        _summary(outcomes, gator, out)
        total = sum(requests.values())
        print(f"SQS requests: {total} for {len(tasks)} tasks: {dict(requests)}", file=out)
        from .schedules.demo import fire_once

        print("\na scheduled task (the local scheduler, on the same queue):", file=out)
        with _short_log():
            fire_once(gator, out)
    finally:
        server.stop()
    return 0


#: Success lines the demo's log shows before it only counts them.
SHOWN_SUCCESSES = 3


class _ShortLog(logging.Filter):
    """Lets through the first few success lines, every retry and dead
    letter, and the worker's own lines: a run log that fits on a screen."""

    def __init__(self) -> None:
        super().__init__()
        self.successes = 0

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, "fields", None)
        if fields is None or fields.get("outcome") != "success":
            return True
        self.successes += 1
        if self.successes == SHOWN_SUCCESSES + 1:
            record.msg, record.args = "… (more successes: counted below)", None
            del record.fields  # type: ignore[attr-defined]
            return True
        return self.successes <= SHOWN_SUCCESSES


@contextlib.contextmanager
def _short_log() -> Iterator[None]:
    logger = logging.getLogger("alligator")
    short = _ShortLog()
    for handler in logger.handlers:
        handler.addFilter(short)
    try:
        yield
    finally:
        for handler in logger.handlers:
            handler.removeFilter(short)


def count_requests(client: Any) -> collections.Counter[str]:
    """Count a boto3 client's requests by operation, as they are made."""
    counts: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def hook(model: Any, **_: Any) -> None:
        with lock:
            counts[model.name] += 1

    client.meta.events.register("before-call.sqs", hook)
    return counts


def _summary(outcomes: list[Outcome], gator: Any, out: Any) -> None:
    counts = collections.Counter(o.label for o in outcomes)
    print(f"\nran {len(outcomes)} times: {dict(counts)}", file=out)
    for outcome in outcomes:
        if outcome.action is Action.RETRY and outcome.task is not None:
            print(
                f"  retried  {outcome.task.callable_name} "
                f"attempt {outcome.attempt}: {outcome.error}",
                file=out,
            )
    dlq = gator.backend.dlq_backend()
    for message in dlq.receive(max_messages=10, wait_seconds=1):
        print(
            f"  in DLQ   {message.attributes.get('alligator-error')} "
            f"(attempts {message.attributes.get('alligator-attempts')})",
            file=out,
        )
