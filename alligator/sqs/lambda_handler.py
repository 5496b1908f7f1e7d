"""The same per-message processing as the worker, as a Lambda handler for an
SQS event source mapping with ``ReportBatchItemFailures``.

Lambda owns the records: when the handler returns, it deletes every record
not reported as a failure. So a success is simply not reported; a retry
changes the record's visibility to the backoff and is reported; an exhausted
or poison record is copied to the DLQ, deleted, and reported as done. Records
the handler did not start (a FIFO batch after a failure, or the time running
out) are reported and released, so they come back at once rather than after
the visibility timeout.

Configuration comes from the environment: ``ALLIGATOR_IMPORT_ALLOW``,
``ALLIGATOR_SIGNING_KEY``, ``ALLIGATOR_DLQ``, ``ALLIGATOR_STATUS``,
``ALLIGATOR_LOG_FORMAT``, ``ALLIGATOR_BACKOFF_BASE``,
``ALLIGATOR_BACKOFF_MAX``, and ``ALLIGATOR_METRICS=emf`` (ours: print
CloudWatch Embedded Metric Format lines, one per outcome per invocation).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol, TypedDict

from ..backends.base import Backend, Received
from ..exceptions import ConfigurationError
from ..gator import Gator
from ..logs import configure, log_outcome
from ..metrics import Metrics, metrics_format
from ..outcome import Action, Outcome, failure_reason
from ..processing import Processor
from ..settle import Settler
from ._settings import QUEUE_ARN
from .payload import parse_pointer

log = logging.getLogger("alligator")

#: Stop starting tasks when less than this is left, or 1.5x the longest
#: record seen in this invocation if that is more: a task cut off by the
#: timeout fails the whole batch, the records already done included.
MIN_MARGIN_MS = 1000
#: Release unstarted records only while this much time is left; past it they
#: wait for their visibility timeout, which is slower but loses nothing.
RELEASE_MARGIN_MS = 200
#: ``ChangeMessageVisibilityBatch`` takes 10 entries; the time is checked
#: between requests.
RELEASE_CHUNK = 10


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
            tasks themselves (SQS or the status store unreachable), so that
            Lambda records an invocation error and retries the batch.
    """
    emf = metrics_format() == "emf"
    if not log.handlers:
        # Lambda's runtime logs at WARNING through the root logger; the
        # outcome lines are INFO, and go out in ALLIGATOR_LOG_FORMAT.
        configure()
    records = event.get("Records") or []
    if not records:
        return {"batchItemFailures": []}
    gator = gator_for(records[0]["eventSourceARN"])
    metrics = Metrics(queue=gator.backend.queue_name) if emf else None
    try:
        return handle(event, context, gator=gator, metrics=metrics)
    finally:
        if metrics is not None:
            for line in metrics.emf_lines():
                print(line, flush=True)


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
            check = getattr(gator.backend, "check", None)
            try:
                if check is not None:
                    check()
            except BaseException:
                gator.backend.close()
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
        gator.backend.close()


def dsn_for_arn(arn: str) -> str:
    """``arn:aws:sqs:REGION:ACCOUNT:NAME`` -> ``sqs://REGION/NAME``.

    The endpoint is boto3's own resolution (``AWS_ENDPOINT_URL_SQS``).

    Raises:
        ConfigurationError: not an SQS queue ARN.
    """
    match = QUEUE_ARN.match(arn)
    if match is None:
        raise ConfigurationError(f"eventSourceARN {arn!r} is not an SQS queue ARN")
    region, _account, name = match.groups()
    return f"sqs://{region}/{name}"


def handle(
    event: dict[str, Any],
    context: LambdaContext | None,
    *,
    gator: Gator,
    processor: Processor | None = None,
    metrics: Metrics | None = None,
) -> BatchResponse:
    """Process a batch of SQS records with a gator of your own (a custom
    ``task_class``, a status store object); see the module docstring.

    Example:
        >>> gator = Gator("sqs://us-east-1/emails", task_class=MyTask)
        >>> def my_handler(event, context):
        ...     return handle(event, context, gator=gator)

    Raises:
        Exception: as ``handler``, when no record could be handled and at
            least one failed for a reason other than its task.
    """
    processor = processor or gator.processor()
    backend = gator.backend
    records = event.get("Records") or []
    fifo = backend.fifo or any(r.get("eventSourceARN", "").endswith(".fifo") for r in records)
    failures: list[str] = []
    unstarted: list[Received] = []
    errors: list[Exception] = []
    handled = 0
    longest_ms = 0.0
    for record in records:
        message = to_received(record)
        if (fifo and failures) or _nearly_out_of_time(context, longest_ms):
            # FIFO: nothing after a failed record may run before it does.
            failures.append(message.message_id)
            unstarted.append(message)
            continue
        started = time.monotonic()
        try:
            outcome = processor.handle(message)
            log_outcome(outcome)
            if metrics is not None:
                metrics.record(outcome)
            done = settle(backend, outcome)
            handled += 1
        except Exception as exc:  # SQS, S3 or the status store, not the task
            log.exception("record %s could not be handled", message.message_id)
            if metrics is not None:
                metrics.add("error")
            errors.append(exc)
            done = False
        longest_ms = max(longest_ms, (time.monotonic() - started) * 1000)
        if not done:
            failures.append(message.message_id)
    if errors and not handled:
        raise errors[0]
    if unstarted:
        log.warning("%d record(s) not started; reported for retry", len(unstarted))
        if metrics is not None:
            metrics.add("unstarted", len(unstarted))
        _release(backend, unstarted, context)
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failures]}


def settle(backend: Backend, outcome: Outcome) -> bool:
    """Apply an outcome; ``True`` when Lambda may delete the record.

    What leaves a copy behind (the DLQ, a re-sent deferral) deletes the
    record at once too: if this invocation later timed out, Lambda would
    hand the record back and the copy would be made twice.
    """
    message = outcome.message
    if outcome.action is Action.ACK:
        if parse_pointer(message.body) is not None:
            # An S3 payload: delete the message ourselves, then its object.
            backend.ack([message])
        return True
    if outcome.action is Action.RETRY:
        backend.retry(message, delay_seconds=outcome.delay_seconds)
        return False
    if outcome.action is Action.DEFER:
        # Standard queue: a fresh copy with the remaining wait, the record
        # deleted. FIFO: hidden for the wait, and reported, to keep order.
        Settler(backend).defer(message, outcome.delay_seconds)
        return not backend.fifo and backend.max_delay_seconds > 0
    if outcome.action is Action.DEAD:
        if backend.send_to_dlq(message, failure_reason(outcome)):
            backend.ack([message], keep_payload=True)
            return True
        log.error(
            "no dead-letter queue for %s: record %s stays in the queue (%s)",
            backend.queue_name,
            message.message_id,
            outcome.error,
        )
        # Hidden for the longest backoff, so it does not spin; the queue's
        # own redrive or retention decides its fate.
        backend.retry(message, delay_seconds=int(backend.backoff.maximum))
        return False
    return False  # RELEASE: not started


def to_received(record: dict[str, Any]) -> Received:
    """An SQS event record as the ``Received`` the processor expects."""
    attributes = record.get("attributes") or {}
    sent = attributes.get("SentTimestamp")
    message_attributes = {
        name: value["stringValue"]
        for name, value in (record.get("messageAttributes") or {}).items()
        if isinstance(value, dict) and value.get("stringValue") is not None
    }
    return Received(
        body=record["body"],
        message_id=record["messageId"],
        receipt=record["receiptHandle"],
        attempt=int(attributes.get("ApproximateReceiveCount", 1)),
        attributes=message_attributes,
        sent_at=int(sent) / 1000 if sent else None,
        group=attributes.get("MessageGroupId"),
    )


def _nearly_out_of_time(context: LambdaContext | None, longest_ms: float) -> bool:
    if context is None:
        return False
    remaining = context.get_remaining_time_in_millis()
    return remaining < max(MIN_MARGIN_MS, 1.5 * longest_ms)


def _release(backend: Backend, messages: Sequence[Received], context: LambdaContext | None) -> None:
    """Make unstarted records visible again at once, as far as time allows.

    Reported records are not deleted, but without this they would stay
    hidden for the whole visibility timeout (6x the function timeout); on a
    FIFO queue that would hold back their group's retry just as long. A
    FIFO group stays ordered: SQS delivers none of it while an earlier
    record is hidden.
    """
    for start in range(0, len(messages), RELEASE_CHUNK):
        if context is not None and context.get_remaining_time_in_millis() < RELEASE_MARGIN_MS:
            return
        try:
            backend.release(messages[start : start + RELEASE_CHUNK])
        except Exception:
            log.warning(
                "could not release unstarted records; they return after the visibility timeout",
                exc_info=True,
            )
            return
