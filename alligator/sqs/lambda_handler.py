"""The same per-message processing as the worker, as a Lambda handler for an
SQS event source mapping with ``ReportBatchItemFailures``.

Lambda owns the records: it deletes every record we do not report as a
failure. So a success is simply not reported; a retry changes the record's
visibility to the backoff and is reported; an exhausted or poison record is
copied to the DLQ and reported as done. Configuration comes from the
environment (``ALLIGATOR_IMPORT_ALLOW``, ``ALLIGATOR_SIGNING_KEY``,
``ALLIGATOR_DLQ``, ``ALLIGATOR_STATUS``, ``ALLIGATOR_LOG_FORMAT``,
``ALLIGATOR_BACKOFF_BASE``, ``ALLIGATOR_BACKOFF_MAX``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol, TypedDict

from ..backends.base import Received
from ..gator import Gator
from ..logs import configure, log_outcome
from ..processing import Action, Outcome, Processor, failure_reason
from ..settle import Settler
from .payload import parse_pointer

log = logging.getLogger("alligator")

#: Stop starting tasks when less than this is left, or 1.5x the longest
#: task seen in this invocation if that is more.
MIN_MARGIN_MS = 1000


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

    Returns:
        ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}``.

    Raises:
        Exception: only when no record could be handled for a reason other
            than the tasks themselves (SQS unreachable, bad configuration).
    """
    records = event.get("Records") or []
    if not records:
        return {"batchItemFailures": []}
    gator = gator_for(records[0]["eventSourceARN"])
    return handle(event, context, gator=gator)


def gator_for(source_arn: str) -> Gator:
    """One ``Gator`` per source queue, kept across warm invocations."""
    with _gators_lock:
        if source_arn not in _gators:
            configure()
            _gators[source_arn] = Gator(dsn_for_arn(source_arn))
        return _gators[source_arn]


def dsn_for_arn(arn: str) -> str:
    """``arn:aws:sqs:REGION:ACCOUNT:NAME`` -> ``sqs://REGION/NAME``."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {arn!r}")
    return f"sqs://{parts[3]}/{parts[5]}"


def handle(
    event: dict[str, Any],
    context: LambdaContext | None,
    *,
    gator: Gator,
    processor: Processor | None = None,
) -> BatchResponse:
    """Process a batch of SQS records; see the module docstring."""
    processor = processor or gator.processor()
    records = event.get("Records") or []
    fifo = bool(records) and records[0]["eventSourceARN"].endswith(".fifo")
    failures: list[str] = []
    errors: list[BaseException] = []
    longest_ms = 0.0
    blocked = False
    for record in records:
        message_id = record["messageId"]
        if blocked or _nearly_out_of_time(context, longest_ms):
            failures.append(message_id)
            continue
        try:
            outcome = processor.handle(to_received(record))
            log_outcome(outcome)
            done = settle(gator, outcome)
            longest_ms = max(longest_ms, outcome.duration * 1000)
        except Exception as exc:  # SQS or the status store, not the task
            log.exception("record %s could not be handled", message_id)
            errors.append(exc)
            done = False
        if not done:
            failures.append(message_id)
            # FIFO: nothing after a failed record may run before it does.
            blocked = fifo
    if errors and len(errors) == len(records):
        raise errors[0]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failures]}


def settle(gator: Gator, outcome: Outcome) -> bool:
    """Apply an outcome; ``True`` when Lambda may delete the record."""
    backend, message = gator.backend, outcome.message
    if outcome.action is Action.ACK:
        if parse_pointer(message.body) is not None:
            # An S3 payload: delete the message ourselves, then its object.
            backend.ack([message])
        return True
    if outcome.action is Action.RETRY:
        backend.retry(message, delay_seconds=outcome.delay_seconds)
        return False
    if outcome.action is Action.DEFER:
        if backend.fifo:
            backend.retry(message, delay_seconds=outcome.delay_seconds)
            return False
        Settler(backend).defer(message, outcome.delay_seconds)
        return True
    if outcome.action is Action.DEAD:
        if backend.send_to_dlq(message, failure_reason(outcome)):
            return True
        log.error(
            "no dead-letter queue: record %s stays (%s)",
            message.message_id,
            outcome.error,
        )
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
        if "stringValue" in value
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
