"""The usual way to run a service with tracing: ``opentelemetry-instrument``
(the distro configures the SDK, botocore's instrumentation traces every AWS
call, spans go to the console exporter), for a producer process and an
``alligator worker --pool processes`` on moto's SQS.

The trace must go from the producer's request through the queue into the
worker's child process, and botocore's instrumentation must add nothing to
the message attributes (its X-Ray propagator, asked for here, travels in
HTTP headers, which SQS keeps as the ``AWSTraceHeader`` system attribute).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from alligator.sqs import _batches
from tests.processes import ROOT

INSTRUMENT = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(INSTRUMENT is None, reason="opentelemetry-distro is not installed")

PRODUCE = textwrap.dedent(
    """
    import json, sys
    from opentelemetry import trace
    from alligator import Gator
    from tests import otel_support

    gator = Gator(sys.argv[1])
    with trace.get_tracer("web").start_as_current_span("POST /signup"):
        good = gator.task(otel_support.send_email, "ada@example.com")
        bad = gator.task(otel_support.send_email_fails, "bob@example.com")
    print("RESULT " + json.dumps({"good": good.message_id, "bad": bad.message_id}))
    """
)


def instrumented(*command: str, service: str) -> list[str]:
    return [INSTRUMENT or "", "--service_name", service, *command]


def environment() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        # alligator writes W3C attributes whatever the propagators are
        "OTEL_PROPAGATORS": "tracecontext,xray",
        "OTEL_BSP_SCHEDULE_DELAY": "600000",  # only the flushes export
    }


def console_spans(text: str) -> list[dict[str, Any]]:
    """The spans ConsoleSpanExporter printed (indented JSON objects)."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while (start := text.find("{", index)) >= 0:
        try:
            value, index = decoder.raw_decode(text, start)
        except ValueError:
            index = start + 1
            continue
        if isinstance(value, dict) and "context" in value and "kind" in value:
            found.append(value)
    return found


def test_a_worker_under_opentelemetry_instrument_continues_the_producer_trace(sqs_gator, aws):
    # Given a producer run under opentelemetry-instrument
    dsn = sqs_gator.conn_string
    produced = subprocess.run(
        instrumented(sys.executable, "-c", PRODUCE, dsn, service="web"),
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert produced.returncode == 0, produced.stderr
    [line] = [line for line in produced.stdout.splitlines() if line.startswith("RESULT ")]
    ids = json.loads(line.removeprefix("RESULT "))
    producer_spans = console_spans(produced.stdout)
    # Then botocore traced the send, and added no message attribute of its own
    assert any(span["name"] == "SQS.SendMessage" for span in producer_spans)
    url = aws.get_queue_url(QueueName=sqs_gator.queue.queue_name)["QueueUrl"]
    peeked = aws.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
    )["Messages"]
    for message in peeked:
        assert set(_batches.decode_attributes(message["MessageAttributes"])) == {"traceparent"}
    # When an instrumented worker with a process pool runs both tasks
    worker = subprocess.run(
        instrumented(
            sys.executable,
            "-m",
            "alligator",
            "worker",
            dsn,
            "--import-allow",
            "tests",
            "--pool",
            "processes",
            "--max-tasks",
            "2",
            service="worker",
        ),
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr
    # Then each run is a CONSUMER span whose parent is alligator's PRODUCER span
    spans = console_spans(worker.stdout)
    sends = {
        span["attributes"]["messaging.message.id"]: span
        for span in producer_spans
        if span["kind"] == "SpanKind.PRODUCER"
    }
    for key, outcome in (("good", "success"), ("bad", "dead")):
        send = sends[ids[key]]
        [consumer] = [
            span
            for span in spans
            if span["kind"] == "SpanKind.CONSUMER"
            and span["attributes"].get("messaging.message.id") == ids[key]
        ]
        assert consumer["parent_id"] == send["context"]["span_id"]
        assert consumer["context"]["trace_id"] == send["context"]["trace_id"]
        assert consumer["attributes"]["alligator.outcome"] == outcome
        assert consumer["resource"]["attributes"]["service.name"] == "worker"
        # and the task's own span, made and flushed by the child, nests in it
        [own] = [
            span
            for span in spans
            if span["name"] == "render the email"
            and span["parent_id"] == consumer["context"]["span_id"]
        ]
        assert own["context"]["trace_id"] == send["context"]["trace_id"]
