"""A test-only stand-in for what ``opentelemetry-instrument`` does: its own
``sitecustomize`` (put first on ``PYTHONPATH``) configures the SDK in every
Python process started with that path: the worker, its fork server, and the
children forked from it.

Like the distro, it exports through a ``BatchSpanProcessor``, here with a
delay far longer than a test, so spans reach the file only when a process
flushes them: at exit (the SDK's exit handler), or, in a child process,
which ends with ``os._exit``, by alligator's own flush. Nothing happens
unless ``ALLIGATOR_TEST_SPANS`` names the file.
"""

from __future__ import annotations

import os

_path = os.environ.get("ALLIGATOR_TEST_SPANS")
if _path:
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from tests.otel_support import FileSpanExporter

    _provider = TracerProvider(resource=Resource.create({"service.name": "alligator-worker"}))
    _provider.add_span_processor(
        BatchSpanProcessor(FileSpanExporter(_path), schedule_delay_millis=600_000)
    )
    trace.set_tracer_provider(_provider)
