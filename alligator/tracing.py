"""OpenTelemetry traces through the queue, where ``opentelemetry-api`` is
installed (``pip install 'alligator[otel]'``). See docs/tracing.md.

- Enqueue is a PRODUCER span ``send QUEUE`` (one for a whole batch), and its
  context travels in the message attributes ``traceparent`` and
  ``tracestate`` (W3C Trace Context, whatever ``OTEL_PROPAGATORS`` says, so
  the keys and their number never change).
- Each message is handled in a CONSUMER span, named ``process CALLABLE``
  once the body says which callable (``process QUEUE`` until then, and for a
  body that is no task), from admission to the outcome. Its parent is the
  producer's context; it also links to it and, when it runs inside another
  span (the Lambda layer's invocation span), to that one. A missing or
  garbled ``traceparent`` starts a fresh trace (or a child of that
  surrounding span). A process pool's child attaches the consumer span's
  context (sent with the job) around the run, so the task's own spans nest
  under it.

The attribute budget. SQS takes at most 10 message attributes. A message
carries at most 5 of ours: ``alligator-signature`` (signed),
``alligator-payload-signature`` (signed, payload in S3),
``ExtendedPayloadSize`` (payload in S3), ``traceparent`` and ``tracestate``
(only when the trace has vendor state; baggage is never carried). A copy
re-sent to wait past the queue's retention adds ``alligator-not-before`` and
``alligator-prior-attempts`` (7), and a dead-letter copy adds the three
failure attributes (10 at most); ``_batches.dlq_attributes`` keeps the
reason and the signatures first should anything else ever crowd in.
botocore's OpenTelemetry instrumentation writes no SQS message attribute
(AWS's X-Ray propagator travels in the ``AWSTraceHeader`` *system*
attribute, which does not count); boto3sqs's instrumentation writes its own
``traceparent`` over ours (the same key: no duplicate, no extra attribute).

Without the package nothing is imported: the first call looks for it once
(``importlib.util.find_spec`` imports nothing), and every later call is a
check of one module global. With the API but no SDK configured, the spans
are OpenTelemetry's no-op spans, and a message that carries no context gets
none at all; ``opentelemetry-instrument`` or the Lambda
layer configures the SDK as usual. alligator never configures it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from .wire import TRACEPARENT_ATTRIBUTE, TRACESTATE_ATTRIBUTE

#: The instrumentation scope's name.
TRACER_NAME = "alligator"
#: OpenTelemetry's name for SQS in ``messaging.system``.
MESSAGING_SYSTEM = "aws_sqs"
#: The W3C limits: longer values are not a trace context, and are ignored.
MAX_TRACEPARENT_CHARS = 512
MAX_TRACESTATE_CHARS = 512
#: An ``error.type`` is an exception's name, not a sentence.
MAX_ERROR_TYPE_CHARS = 128
#: How long a thread whose run expired waits for the conclusion made
#: elsewhere to end its span (it ends it itself after that).
EXPIRED_WAIT_SECONDS = 1.0
#: How long a child process waits for its spans to be exported at exit.
FLUSH_MILLIS = 5000

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
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import (
            TraceContextTextMapPropagator,
        )
    except ImportError:
        return False
    return (trace, TraceContextTextMapPropagator(), context)


# -- producing -----------------------------------------------------------------


@contextmanager
def producing(queue: Any, tasks: Sequence[Any]) -> Iterator[dict[str, str]]:
    """A PRODUCER span around sending ``tasks``; yields the attributes that
    carry its context (empty without OpenTelemetry, or without a recording
    or propagated trace)."""
    if not enabled():
        yield {}
        return
    trace, w3c, _ = _api
    name = getattr(queue, "queue_name", None) or "queue"
    attributes: dict[str, Any] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": name,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
    }
    if len(tasks) > 1:
        attributes["messaging.batch.message_count"] = len(tasks)
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(
        f"send {name}", kind=trace.SpanKind.PRODUCER, attributes=attributes
    ) as span:
        carrier: dict[str, str] = {}
        w3c.inject(carrier)
        try:
            yield {key: value for key, value in carrier.items() if value}
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            raise
        if span.is_recording():
            _describe_sent(span, tasks)


def _describe_sent(span: Any, tasks: Sequence[Any]) -> None:
    if len(tasks) == 1:
        task = tasks[0]
        if task.message_id:
            span.set_attribute("messaging.message.id", task.message_id)
        span.set_attribute("alligator.task_id", task.task_id)
        span.set_attribute("alligator.callable", task.callable_name)
    else:
        span.set_attribute("alligator.task_ids", [task.task_id for task in tasks][:100])


# -- consuming -----------------------------------------------------------------


class _NoSpan:
    """What ``consuming`` yields without OpenTelemetry: does nothing."""

    def named(self, task: Any) -> None:
        return None

    def outcome(self, outcome: Any) -> None:
        return None

    def end(self) -> None:
        return None

    def wait_ended(self, timeout: float = EXPIRED_WAIT_SECONDS) -> None:
        return None


class _Span:
    """The CONSUMER span of one message; ended once, by ``end``."""

    def __init__(self, span: Any) -> None:
        self.span = span
        self._ended = threading.Event()
        self._lock = threading.Lock()

    def named(self, task: Any) -> None:
        """The callable is known: ``process CALLABLE``."""
        if task is not None and self.span.is_recording():
            self.span.update_name(f"process {task.callable_name}")
            self.span.set_attribute("alligator.callable", task.callable_name)

    def outcome(self, outcome: Any) -> None:
        """Record how the message ended: the outcome, the attempt, the error."""
        span = self.span
        if outcome is None or not span.is_recording():
            return
        self.named(outcome.task)
        if outcome.task_id:
            span.set_attribute("alligator.task_id", outcome.task_id)
        span.set_attribute("alligator.outcome", outcome.label)
        span.set_attribute("alligator.reason", outcome.reason.value)
        span.set_attribute("alligator.attempt", outcome.attempt)
        span.set_attribute("alligator.receive_count", outcome.message.attempt)
        if outcome.delay_seconds:
            span.set_attribute("alligator.delay_seconds", outcome.delay_seconds)
        if outcome.error:
            self._error(outcome.error, getattr(outcome.task, "error", None))

    def _error(self, error: str, exception: Any) -> None:
        trace, span = _api[0], self.span
        kind, _, message = error.partition(": ")
        kind = kind[:MAX_ERROR_TYPE_CHARS]
        span.set_attribute("error.type", kind)
        if isinstance(exception, BaseException) and type(exception).__name__ == kind:
            span.record_exception(exception)  # this process ran it: with its traceback
        else:  # a child process ran it, or it never ran: what the text says
            span.add_event(
                "exception", {"exception.type": kind, "exception.message": message or error}
            )
        span.set_status(trace.Status(trace.StatusCode.ERROR, error[:1024]))

    def end(self) -> None:
        """End the span (again: nothing)."""
        with self._lock:
            if self._ended.is_set():
                return
            self._ended.set()
        self.span.end()

    def wait_ended(self, timeout: float = EXPIRED_WAIT_SECONDS) -> None:
        """Wait a while for another thread to end the span (a run concluded
        at its time limit, away from the thread that ran it)."""
        self._ended.wait(timeout)


_NO_SPAN = _NoSpan()


@contextmanager
def consuming(queue: Any, message: Any) -> Iterator[Any]:
    """A CONSUMER span, current around processing ``message``, child of the
    context its attributes carry; yields an object with ``named(task)``,
    ``outcome(outcome)`` and ``end()`` (which the exit calls too)."""
    if not enabled() or (_no_sdk() and TRACEPARENT_ATTRIBUTE not in message.attributes):
        # (With no SDK and no context to pass on, a span would be a no-op
        # that costs a third of a Lambda record's handling.)
        yield _NO_SPAN
        return
    trace, w3c, _ = _api
    name = getattr(queue, "queue_name", None) or "queue"
    creation = _extract(w3c, message.attributes)
    links = []
    found = _span_context(trace, creation)
    if found is not None and found.is_valid:
        # The producer's context is the parent, and linked as the messaging
        # conventions ask; a surrounding span (the Lambda layer's) is linked
        # so that it keeps its relation to this message.
        links.append(trace.Link(found))
        ambient = trace.get_current_span().get_span_context()
        if ambient.is_valid:
            links.append(trace.Link(ambient))
    else:
        creation = None  # a fresh trace, or a child of the surrounding span
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": name,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": message.message_id,
    }
    span = trace.get_tracer(TRACER_NAME).start_span(
        f"process {name}",
        context=creation,
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
        links=links,
    )
    consumption = _Span(span)
    try:
        with trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            yield consumption
    except BaseException as exc:  # not the task's: SQS, S3 or the status store
        if span.is_recording():
            span.set_attribute("error.type", type(exc).__qualname__)
            span.record_exception(exc)
            error = f"{type(exc).__name__}: {exc}"[:1024]
            span.set_status(trace.Status(trace.StatusCode.ERROR, error))
        raise
    finally:
        consumption.end()


def _no_sdk() -> bool:
    """No tracer provider is set yet (OpenTelemetry's proxy stands in)."""
    trace = _api[0]
    return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _extract(w3c: Any, attributes: Mapping[str, Any]) -> Any:
    """The context a message's attributes carry, or ``None``."""
    parent = attributes.get(TRACEPARENT_ATTRIBUTE)
    if not isinstance(parent, str) or not parent or len(parent) > MAX_TRACEPARENT_CHARS:
        return None
    carrier = {TRACEPARENT_ATTRIBUTE: parent}
    state = attributes.get(TRACESTATE_ATTRIBUTE)
    if isinstance(state, str) and state and len(state) <= MAX_TRACESTATE_CHARS:
        carrier[TRACESTATE_ATTRIBUTE] = state
    try:
        return w3c.extract(carrier)
    except Exception:  # a garbled value is no context, never a failed message
        return None


def _span_context(trace: Any, context: Any) -> Any:
    if context is None:
        return None
    return trace.get_current_span(context).get_span_context()


# -- the process pool's child -------------------------------------------------------


def carrier() -> dict[str, str]:
    """The current trace context as ``traceparent``/``tracestate`` (for a
    child's job); empty without OpenTelemetry or a trace."""
    if not enabled():
        return {}
    found: dict[str, str] = {}
    _api[1].inject(found)
    return found


@contextmanager
def attached(fields: Mapping[str, Any]) -> Iterator[None]:
    """Make the context in ``fields`` (``carrier()``'s, from the parent)
    current around a run in a child process."""
    if not fields.get(TRACEPARENT_ATTRIBUTE) or not enabled():
        yield
        return
    _, w3c, context = _api
    found = _extract(w3c, fields)
    if found is None:
        yield
        return
    token = context.attach(found)
    try:
        yield
    finally:
        context.detach(token)


def flush() -> None:
    """Export what the tracer provider still holds: a child process ends
    with ``os._exit``, which skips the SDK's own flush at exit."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return  # nothing here imported OpenTelemetry: nothing to flush
    provider = trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if callable(force_flush):
        with contextlib.suppress(Exception):  # an exporter's trouble never fails a worker
            force_flush(FLUSH_MILLIS)


__all__ = ["attached", "carrier", "consuming", "enabled", "flush", "producing"]
