"""OpenTelemetry for the tracing tests: tasks that make spans of their own,
a tracer provider the tests switch on and off, and a file exporter for
worker subprocesses (set up by ``tests/otel_site/sitecustomize.py``).

The global tracer provider can be set once per process, and a real one would
make every later test in this process send ``traceparent`` attributes. So
the tests install ``SwitchedProvider`` once: OpenTelemetry's no-op tracer
while switched off (as if no SDK were configured), an SDK provider with an
in-memory exporter while a test has it on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

#: The instrumentation scope of the tasks' own spans.
TASKS_TRACER = "tests.otel_support"


# -- tasks ----------------------------------------------------------------------


def send_email(to: str) -> str:
    """A task with a span of its own, as an instrumented library would make."""
    with trace.get_tracer(TASKS_TRACER).start_as_current_span("render the email") as span:
        span.set_attribute("email.to", to)
    return f"sent to {to}"


def send_email_fails(to: str) -> str:
    with trace.get_tracer(TASKS_TRACER).start_as_current_span("render the email"):
        pass
    raise ConnectionError(f"the mail server refused {to}")


def dawdle(seconds: float) -> str:
    """Takes ``seconds``, in short sleeps (a time limit stops it between two)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)
    return "done"


# -- the switched provider ---------------------------------------------------------


class SwitchedProvider(trace.TracerProvider):
    """Delegates to ``active`` (an SDK provider) while set, else no-op."""

    def __init__(self) -> None:
        self.active: TracerProvider | None = None

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        if self.active is None:
            return trace.NoOpTracer()
        return self.active.get_tracer(*args, **kwargs)


def switched_provider() -> SwitchedProvider:
    """The process's global provider, installed on first use.

    Raises:
        RuntimeError: something else set the global provider first.
    """
    provider = trace.get_tracer_provider()
    if isinstance(provider, SwitchedProvider):
        return provider
    switched = SwitchedProvider()
    trace.set_tracer_provider(switched)
    if trace.get_tracer_provider() is not switched:
        raise RuntimeError(f"the global tracer provider is already {provider!r}")
    return switched


# -- spans as plain records ------------------------------------------------------------


def record(span: ReadableSpan) -> dict[str, Any]:
    """What the tests look at in a finished span, JSON-ready."""
    context = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{parent.span_id:016x}" if parent is not None else None,
        "attributes": {key: _plain(value) for key, value in (span.attributes or {}).items()},
        "links": [f"{link.context.span_id:016x}" for link in span.links],
        "status": span.status.status_code.name,
        "events": [
            {"name": event.name, **{k: _plain(v) for k, v in (event.attributes or {}).items()}}
            for event in span.events
        ],
        "pid": os.getpid(),
    }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class FileSpanExporter(SpanExporter):
    """Appends each span as a JSON line to a file that several processes
    share (one ``write`` per batch, on a file opened for appending)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        text = "".join(json.dumps(record(span)) + "\n" for span in spans)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def read_spans(path: str) -> list[dict[str, Any]]:
    """The spans a ``FileSpanExporter`` wrote (none if no file yet)."""
    try:
        with open(path) as spans:
            return [json.loads(line) for line in spans if line.strip()]
    except FileNotFoundError:
        return []
