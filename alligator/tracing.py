"""OpenTelemetry traces through the queue, where ``opentelemetry-api`` is
installed (``pip install 'alligator[otel]'``).

- Enqueue is a PRODUCER span (one for a batch), and the current trace
  context travels in the message attributes ``traceparent`` and
  ``tracestate`` (W3C), beside the signature and payload attributes: a
  message carries at most 5 of its own, and a dead-letter copy adds 3, within
  SQS's limit of 10.
- Each run is a CONSUMER span ``process CALLABLE`` whose parent is that
  context, with OpenTelemetry's messaging attributes and the outcome. A
  missing or garbled ``traceparent`` starts a fresh trace.

Without the package nothing is imported: the first call looks for it once
(``importlib.util.find_spec`` imports nothing), and every later call is a
check of one module global. With the API but no SDK configured, the spans
are OpenTelemetry's no-op spans; ``opentelemetry-instrument`` or the Lambda
layer configures the SDK as usual.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .wire import TRACEPARENT_ATTRIBUTE, TRACESTATE_ATTRIBUTE

#: The instrumentation scope's name.
TRACER_NAME = "alligator"
#: OpenTelemetry's name for SQS in ``messaging.system``.
MESSAGING_SYSTEM = "aws_sqs"

_api: Any = None  # None: not looked for yet; False: not installed


def enabled() -> bool:
    """True when ``opentelemetry-api`` is installed (looked for once)."""
    global _api
    if _api is None:
        _api = _load()
    return _api is not False


def _load() -> Any:
    if importlib.util.find_spec("opentelemetry") is None:
        return False
    try:
        from opentelemetry import context, propagate, trace
    except ImportError:
        return False
    return (trace, propagate, context)


@contextmanager
def producing(queue: Any, tasks: Sequence[Any]) -> Iterator[dict[str, str]]:
    """A PRODUCER span around sending ``tasks``; yields the attributes that
    carry its context (empty without OpenTelemetry)."""
    if not enabled():
        yield {}
        return
    trace, propagate, _ = _api
    tracer = trace.get_tracer(TRACER_NAME)
    name = getattr(queue, "queue_name", "queue")
    attributes: dict[str, Any] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": name,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
    }
    if len(tasks) == 1:
        attributes["messaging.message.id"] = tasks[0].task_id
    else:
        attributes["messaging.batch.message_count"] = len(tasks)
    with tracer.start_as_current_span(
        f"send {name}", kind=trace.SpanKind.PRODUCER, attributes=attributes
    ) as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield {
            key: value
            for key, value in carrier.items()
            if key in (TRACEPARENT_ATTRIBUTE, TRACESTATE_ATTRIBUTE) and value
        }
        if len(tasks) > 1:
            span.set_attribute("alligator.task_ids", [task.task_id for task in tasks][:100])


class _NoSpan:
    """What ``consuming`` yields without OpenTelemetry: does nothing."""

    def outcome(self, outcome: Any) -> None:
        return None


class _Span:
    """Records an outcome on an OpenTelemetry span."""

    def __init__(self, span: Any) -> None:
        self.span = span

    def outcome(self, outcome: Any) -> None:
        """Name the span after the task and record how it ended."""
        if outcome is None:
            return
        from opentelemetry.trace import Status, StatusCode

        span, task = self.span, outcome.task
        if task is not None:
            span.update_name(f"process {task.callable_name}")
        if outcome.task_id:
            span.set_attribute("alligator.task_id", outcome.task_id)
        span.set_attribute("alligator.outcome", outcome.label)
        span.set_attribute("alligator.attempt", outcome.attempt)
        span.set_attribute("messaging.message.delivery_attempt", outcome.message.attempt)
        if outcome.error:
            span.set_attribute("error.type", outcome.error.split(":", 1)[0])
            exception = getattr(task, "error", None)
            if isinstance(exception, BaseException):
                span.record_exception(exception)
            span.set_status(Status(StatusCode.ERROR, outcome.error[:1024]))


_NO_SPAN = _NoSpan()


@contextmanager
def consuming(queue_name: str, message: Any) -> Iterator[Any]:
    """A CONSUMER span around processing ``message``, child of the context
    its attributes carry; yields an object whose ``outcome(outcome)``
    records the result."""
    if not enabled():
        yield _NO_SPAN
        return
    trace, propagate, _ = _api

    tracer = trace.get_tracer(TRACER_NAME)
    carrier = {
        key: value
        for key, value in message.attributes.items()
        if key in (TRACEPARENT_ATTRIBUTE, TRACESTATE_ATTRIBUTE)
    }
    parent = propagate.extract(carrier) if carrier else None
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": queue_name,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": message.message_id,
    }
    with tracer.start_as_current_span(
        "process",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=True,
    ) as span:
        yield _Span(span)
