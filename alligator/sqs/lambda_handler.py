"""The same per-message processing as the worker, as a Lambda handler for an
SQS event source mapping with ``ReportBatchItemFailures``.

Lambda owns the records: when the handler returns, it deletes every record
not reported as a failure. The settling rules are the worker's own
(``consume.Settler`` with ``Owner.LAMBDA``): a success is simply not
reported; a retry changes the record's visibility to the backoff and is
reported; an exhausted or poison record is copied to the DLQ, deleted, and
reported as done. Records the handler did not start (a FIFO batch after a
failure, or the time running out) are reported too: the FIFO tail hidden
for as long as the failed record waits, the rest released at once. Records
of several event source mappings (queues) may arrive in one function; each
is settled against the queue its ``eventSourceARN`` names.

Configuration comes from the environment: ``ALLIGATOR_IMPORT_ALLOW``,
``ALLIGATOR_SIGNING_KEY``, ``ALLIGATOR_DLQ``, ``ALLIGATOR_STATUS``,
``ALLIGATOR_LOG_FORMAT``, ``ALLIGATOR_BACKOFF_BASE``,
``ALLIGATOR_BACKOFF_MAX``, ``ALLIGATOR_TIME_LIMIT``, and two of ours:
``ALLIGATOR_PAYLOAD_BUCKET`` (the bucket offloaded payloads may be read
from; the DSN option, for a DSN made from an ARN) and
``ALLIGATOR_METRICS=emf`` (print CloudWatch Embedded Metric Format lines,
one per outcome per invocation).

The handler raises only when no record at all could be handled, for a
reason other than the tasks (SQS or the status store unreachable), so that
Lambda records an invocation error; unlike Powertools, it does not raise
when every *task* failed: those are retried by visibility already.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol, TypedDict
from urllib.parse import urlencode

from .. import _env
from ..backends.base import Received
from ..consume import INLINE, Owner, Processor, Settler, Step, run_in_order
from ..exceptions import ConfigurationError
from ..gator import Gator
from ..limits import MAX_BATCH_ENTRIES
from ..logs import configure, log_outcome
from ..metrics import Metrics, metrics_format
from ..outcome import Action, Outcome, Reason
from ._settings import QUEUE_ARN
from .messages import BadRecord, from_lambda_record

log = logging.getLogger("alligator")

#: Stop starting tasks when less than this is left, or 1.5x the longest
#: record seen in this invocation if that is more: a task cut off by the
#: timeout fails the whole batch, the records already done included.
MIN_MARGIN_MS = 1000
#: Release unstarted records only while this much time is left; past it they
#: wait for their visibility timeout, which is slower but loses nothing.
RELEASE_MARGIN_MS = 200


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


_gators: dict[str, Gator] = {}
_gators_lock = threading.Lock()


def handler(event: dict[str, Any], context: LambdaContext | None) -> BatchResponse:
    """The Lambda entry point: ``alligator.sqs.lambda_handler.handler``.

    Example (template.yaml):
        Handler: alligator.sqs.lambda_handler.handler
        # with FunctionResponseTypes: [ReportBatchItemFailures]

    Returns:
        ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}``: the
        records to retry, or not started.

    Raises:
        ConfigurationError: bad configuration (an unknown variable value, a
            missing queue or DLQ).
        Exception: no record could be handled for a reason other than the
            tasks themselves (SQS or the status store unreachable).
    """
    emf = metrics_format() == "emf"
    if not log.handlers:
        # Lambda's runtime logs at WARNING through the root logger; the
        # outcome lines are INFO, and go out in ALLIGATOR_LOG_FORMAT.
        configure()
    records = event.get("Records") or []
    if not records:
        return {"batchItemFailures": []}
    failures: list[BatchItemFailure] = []
    by_source = _by_source(records)
    # Every source's queue (and DLQ) is looked up before any task runs: a
    # configuration error must not come after another queue's tasks ran.
    sources: list[tuple[Gator, list[Any]]] = []
    for arn, group in by_source:
        try:
            sources.append((gator_for(arn), group))
        except ConfigurationError as exc:
            if len(by_source) == 1:
                raise  # a misconfigured function fails before it runs anything
            # Records of one bad source (no ARN, a queue gone) must not fail
            # the others' batch: reported for retry, alone.
            log.error("%s: %d record(s) reported for retry", exc, len(group))
            failures += [{"itemIdentifier": i} for i in _message_ids(group)]
    errors: list[Exception] = []
    for gator, group in sources:
        metrics = Metrics(queue=gator.queue.queue_name) if emf else None
        try:
            failures += handle({"Records": group}, context, gator=gator, metrics=metrics)[
                "batchItemFailures"
            ]
        except Exception as exc:
            # None of this queue's records could be handled (SQS or the
            # status store unreachable): they are retried, and the other
            # queues' records stay done. Raise only if no queue got anywhere.
            errors.append(exc)
            failures += [{"itemIdentifier": i} for i in _message_ids(group)]
        finally:
            if metrics is not None:
                for line in metrics.emf_lines():
                    print(line, flush=True)
    if errors and len(errors) == len(sources):
        raise errors[0]  # no source got anywhere (the rest could not be looked up)
    return {"batchItemFailures": failures}


def _by_source(records: Sequence[Any]) -> list[tuple[str, list[Any]]]:
    """Records grouped by their queue, in order of first appearance."""
    groups: dict[str, list[Any]] = {}
    for record in records:
        arn = record.get("eventSourceARN") if isinstance(record, dict) else None
        groups.setdefault(arn if isinstance(arn, str) else "", []).append(record)
    return list(groups.items())


def _message_ids(records: Sequence[Any]) -> list[str]:
    """The ``messageId`` of every record that has one."""
    found = [record.get("messageId") for record in records if isinstance(record, dict)]
    return [message_id for message_id in found if isinstance(message_id, str) and message_id]


def gator_for(source_arn: str) -> Gator:
    """One ``Gator`` per source queue, kept across warm invocations.

    The queue, its DLQ and its visibility timeout are checked when the gator
    is made, so a misconfigured function fails before it runs any task. A
    gator that fails the check is not kept: the next invocation tries again.

    Raises:
        ConfigurationError: not an SQS ARN, or the queue or DLQ is missing.
    """
    with _gators_lock:
        gator = _gators.get(source_arn)
        if gator is None:
            gator = Gator(dsn_for_arn(source_arn))
            try:
                gator.queue.check()  # type: ignore[attr-defined]
            except BaseException:
                gator.queue.close()
                raise
            _gators[source_arn] = gator
        return gator


def clear_gators() -> None:
    """Forget the cached gators and close their clients (tests, or after
    the environment changed in a warm process)."""
    with _gators_lock:
        gators = list(_gators.values())
        _gators.clear()
    for gator in gators:
        gator.queue.close()


def dsn_for_arn(arn: str) -> str:
    """``arn:aws:sqs:REGION:ACCOUNT:NAME`` -> ``sqs://REGION/NAME``, with
    ``payload_bucket`` from ``ALLIGATOR_PAYLOAD_BUCKET`` when it is set.

    The endpoint is boto3's own resolution (``AWS_ENDPOINT_URL_SQS``).

    Raises:
        ConfigurationError: not an SQS queue ARN.
    """
    match = QUEUE_ARN.match(arn)
    if match is None:
        raise ConfigurationError(f"eventSourceARN {arn!r} is not an SQS queue ARN")
    region, _account, name = match.groups()
    bucket = _env.get(_env.PAYLOAD_BUCKET)
    query = f"?{urlencode({'payload_bucket': bucket})}" if bucket else ""
    return f"sqs://{region}/{name}{query}"


def handle(
    event: dict[str, Any],
    context: LambdaContext | None,
    *,
    gator: Gator,
    processor: Processor | None = None,
    metrics: Metrics | None = None,
) -> BatchResponse:
    """Process a batch of one queue's SQS records with a gator of your own
    (a custom ``task_class``, a status store object); see the module
    docstring.

    Example:
        >>> gator = Gator("sqs://us-east-1/emails", task_class=MyTask)
        >>> def my_handler(event, context):
        ...     return handle(event, context, gator=gator)

    Raises:
        Exception: as ``handler``, when no record could be handled and at
            least one failed for a reason other than its task.
    """
    return _Invocation(gator, processor, context, metrics).run(event.get("Records") or [])


class _Invocation:
    """One batch of one queue's records."""

    def __init__(
        self,
        gator: Gator,
        processor: Processor | None,
        context: LambdaContext | None,
        metrics: Metrics | None,
    ) -> None:
        self.queue = gator.queue
        self.processor = processor or gator.processor()
        self.settler = Settler(self.queue, self.processor.config.backoff, owner=Owner.LAMBDA)
        self.context = context
        self.metrics = metrics
        self.failures: list[str] = []
        self.errors: list[Exception] = []
        self.handled = 0
        self.longest_ms = 0.0
        self._remaining: int | None = None  # ms, read before the record started

    def run(self, records: Sequence[Any]) -> BatchResponse:
        messages: list[Received] = []
        for record in records:
            try:
                messages.append(from_lambda_record(record))
            except BadRecord as exc:
                self._bad(exc)
        fifo = self.queue.fifo or any(
            str(record.get("eventSourceARN", "")).endswith(".fifo")
            for record in records
            if isinstance(record, dict)
        )
        rest = run_in_order(messages, self._step, fifo=fifo, may_start=self._time_left)
        if self.errors and not self.handled:
            raise self.errors[0]
        hide, release = rest.split()
        if hide:
            self._not_started(hide, rest.hide_seconds)
        if release:
            self._not_started(release, None)
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failures]}

    def _step(self, message: Received) -> Step:
        started = time.monotonic()
        try:
            outcome = self.processor.handle(message, INLINE, time_limit_cap=self._seconds_left())
            assert outcome is not None  # only a thread pool concludes runs elsewhere
            finished = self.settler.settle(outcome)
            self._report(outcome)  # (after: settling may turn a wait into a dead letter)
            self.handled += 1
            step = Step(finished, outcome.delay_seconds)
        except Exception as exc:  # SQS, S3 or the status store, not the task
            log.exception("record %s could not be handled", message.message_id)
            if self.metrics is not None:
                self.metrics.add("error")
            self.errors.append(exc)
            step = Step(False, self.queue.visibility_timeout)
        self.longest_ms = max(self.longest_ms, (time.monotonic() - started) * 1000)
        if not step.finished:
            self.failures.append(message.message_id)
        return step

    def _report(self, outcome: Outcome) -> None:
        log_outcome(outcome, dlq=self.queue.dlq_name)
        if self.metrics is not None:
            self.metrics.record(outcome)

    def _bad(self, problem: BadRecord) -> None:
        """A record that cannot run: dead-letter it alone if it can be
        settled, else report it; the others go on as usual."""
        received = problem.received
        if received is None:
            # Not reporting it would let Lambda delete it unrun.
            if problem.message_id is None:
                log.error("%s; it cannot be reported, nor run", problem)
            else:
                log.error("%s; reported for retry", problem)
                self.failures.append(problem.message_id)
            return
        outcome = Outcome(
            Action.DEAD,
            received,
            Reason.POISON,
            error=f"PoisonMessageError: {problem}",
            attempt=received.attempt,
            queue=self.queue.queue_name,
        )
        self._report(outcome)
        try:
            finished = self.settler.settle(outcome)
            self.handled += 1
        except Exception as exc:
            log.exception("record %s could not be dead-lettered", received.message_id)
            self.errors.append(exc)
            finished = False
        if not finished:
            self.failures.append(received.message_id)

    def _seconds_left(self) -> float | None:
        """The time a task may take: what was left when it was allowed to
        start (one reading of the clock per record), less the margin."""
        if self.context is None or self._remaining is None:
            return None
        return max(0.001, (self._remaining - MIN_MARGIN_MS) / 1000)

    def _time_left(self) -> bool:
        if self.context is None:
            return True
        remaining = self.context.get_remaining_time_in_millis()
        self._remaining = remaining
        return remaining >= max(MIN_MARGIN_MS, 1.5 * self.longest_ms)

    def _not_started(self, messages: list[Received], hide_seconds: int | None) -> None:
        """Report unstarted records; hide a FIFO tail for as long as the
        record ahead of it waits, release the rest at once, as far as time
        allows (without it they wait for their visibility timeout, 6x the
        function timeout)."""
        self.failures += [message.message_id for message in messages]
        if hide_seconds is None:
            log.warning("%d record(s) not started; reported for retry", len(messages))
            if self.metrics is not None:
                self.metrics.add("unstarted", len(messages))
        for start in range(0, len(messages), MAX_BATCH_ENTRIES):
            if self.context is not None and (
                self.context.get_remaining_time_in_millis() < RELEASE_MARGIN_MS
            ):
                return
            chunk = messages[start : start + MAX_BATCH_ENTRIES]
            try:
                if hide_seconds is None:
                    self.queue.release(chunk)
                else:
                    self.settler.hide(chunk, hide_seconds)
            except Exception:
                log.warning(
                    "could not release unstarted records; they return after the visibility timeout",
                    exc_info=True,
                )
                return
