"""Traces through the queue, with the OpenTelemetry SDK's in-memory exporter
(and, for worker subprocesses, a file exporter set up by a test-only
``sitecustomize``, the way ``opentelemetry-instrument`` sets up the SDK).

Each test follows one request: an HTTP span enqueues a task (a PRODUCER
span, whose context the message carries), a consumer runs it in a CONSUMER
span whose parent is that producer span, and the task's own span nests in
the consumer's. Consumers: a thread-pool worker, a worker subprocess with
either pool, and the Lambda handler.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import (
    TraceContextTextMapPropagator,
)

from alligator import Gator, Task, tracing
from alligator.backends.base import Received
from alligator.consume import Owner, Settler
from alligator.outcome import Action
from alligator.sqs import _batches, lambda_handler
from alligator.testing import make_queue
from alligator.wire import SIGNATURE_ATTRIBUTE
from tests import otel_support
from tests.helpers import dead_letters, run_until
from tests.integration.conftest import WorkerProcess
from tests.otel_support import read_spans, record, switched_provider
from tests.processes import ROOT
from tests.test_lambda_handler import lambda_record

SEND_EMAIL = "tests.otel_support.send_email"
SEND_EMAIL_FAILS = "tests.otel_support.send_email_fails"
#: The test-only sitecustomize that configures the SDK in worker subprocesses.
SITE = ROOT / "tests" / "otel_site"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The SDK on, for this test, exporting to memory."""
    switched = switched_provider()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    switched.active = provider
    try:
        yield exporter
    finally:
        switched.active = None
        provider.shutdown()


def finished(exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    return [record(span) for span in exporter.get_finished_spans()]


def only(found: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    """The one span with these fields."""
    hits = [span for span in found if all(span[key] == value for key, value in match.items())]
    assert len(hits) == 1, (match, [(s["name"], s["kind"]) for s in found])
    return hits[0]


def every(found: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [span for span in found if all(span[key] == value for key, value in match.items())]


def request() -> Any:
    """The HTTP request a producer enqueues from."""
    return trace.get_tracer("tests.web").start_as_current_span("POST /signup", kind=SpanKind.SERVER)


def consumer_attributes(queue: str, message_id: str, task: Task, **more: Any) -> dict[str, Any]:
    return {
        "messaging.system": "aws_sqs",
        "messaging.destination.name": queue,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": message_id,
        "alligator.callable": task.callable_name,
        "alligator.task_id": task.task_id,
        "alligator.outcome": "success",
        "alligator.reason": "success",
        "alligator.attempt": 1,
        "alligator.receive_count": 1,
        **more,
    }


# -- the worker, thread pool, in this process -------------------------------------


def test_a_thread_pool_worker_runs_the_task_in_a_consumer_span_child_of_the_producer(
    spans, sqs_gator
):
    # Given a task enqueued while serving an HTTP request
    with request():
        task = sqs_gator.task(otel_support.send_email, "ada@example.com")
    # When a worker with a thread pool runs it
    run_until(sqs_gator, count=1, concurrency=2)
    # Then the trace goes request -> send -> process -> the task's own span
    found = finished(spans)
    web = only(found, name="POST /signup")
    producer = only(found, kind="PRODUCER")
    consumer = only(found, kind="CONSUMER")
    own = only(found, name="render the email")
    queue = sqs_gator.queue.queue_name
    assert producer["name"] == f"send {queue}"
    assert producer["parent_id"] == web["span_id"]
    assert producer["attributes"] == {
        "messaging.system": "aws_sqs",
        "messaging.destination.name": queue,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.message.id": task.message_id,
        "alligator.task_id": task.task_id,
        "alligator.callable": SEND_EMAIL,
    }
    assert consumer["name"] == f"process {SEND_EMAIL}"
    assert consumer["parent_id"] == producer["span_id"]
    assert consumer["links"] == [producer["span_id"]]
    assert consumer["trace_id"] == web["trace_id"]
    assert consumer["attributes"] == consumer_attributes(queue, task.message_id, task)
    assert consumer["status"] == "UNSET"
    assert own["parent_id"] == consumer["span_id"]
    assert own["attributes"] == {"email.to": "ada@example.com"}


def test_a_failed_run_records_the_error_and_its_retry_and_dead_letter(spans, sqs_gator):
    # Given a task that fails each time, with one retry
    with request(), sqs_gator.options(retries=1) as options:
        task = options.task(otel_support.send_email_fails, "bob@example.com")
    # When a worker runs it twice
    run_until(sqs_gator, count=2)
    # Then both runs are CONSUMER spans under the one producer span
    found = finished(spans)
    producer = only(found, kind="PRODUCER")
    first, second = sorted(
        every(found, kind="CONSUMER"), key=lambda s: s["attributes"]["alligator.attempt"]
    )
    error = "the mail server refused bob@example.com"
    for span, attempt, outcome in ((first, 1, "retry"), (second, 2, "dead")):
        assert span["parent_id"] == producer["span_id"]
        assert span["name"] == f"process {SEND_EMAIL_FAILS}"
        assert span["status"] == "ERROR"
        attributes = span["attributes"]
        assert attributes["alligator.outcome"] == outcome
        assert attributes["alligator.attempt"] == attempt
        assert attributes["alligator.receive_count"] == attempt
        assert attributes["error.type"] == "ConnectionError"
        [exception] = [event for event in span["events"] if event["name"] == "exception"]
        assert exception["exception.type"] == "ConnectionError"
        assert exception["exception.message"] == error
        assert "exception.stacktrace" in exception  # it ran in this process
    # And the task's own span nests in each run
    assert {s["parent_id"] for s in every(found, name="render the email")} == {
        first["span_id"],
        second["span_id"],
    }
    assert [letter.attributes["alligator-attempts"] for letter in dead_letters(sqs_gator)] == ["2"]
    assert task.task_id == second["attributes"]["alligator.task_id"]


def test_a_run_past_its_time_limit_ends_its_span_where_it_is_concluded(spans, sqs_gator):
    # Given a task that would take 30 s, with a limit of half a second
    with request(), sqs_gator.options(time_limit=0.5) as options:
        options.task(otel_support.dawdle, 30)
    # When a thread-pool worker runs it (the run is concluded at the limit,
    # by another thread than the task's)
    [outcome] = run_until(sqs_gator, count=1)
    # Then its one CONSUMER span is finished, with the failure
    assert outcome.action is Action.DEAD
    found = finished(spans)
    consumer = only(found, kind="CONSUMER")
    assert consumer["parent_id"] == only(found, kind="PRODUCER")["span_id"]
    assert consumer["status"] == "ERROR"
    assert consumer["attributes"]["alligator.outcome"] == "dead"
    assert consumer["attributes"]["error.type"] == "TimeLimitExceeded"


def test_one_producer_span_for_a_batch_and_each_message_a_child_of_it(spans, sqs_gator):
    # Given three tasks enqueued in one batch
    with request():
        batch = sqs_gator.task_many(
            [(otel_support.send_email, (f"u{n}@example.com",)) for n in range(3)]
        )
    # When a worker runs them
    run_until(sqs_gator, count=3, concurrency=2)
    # Then there is one PRODUCER span for the batch
    found = finished(spans)
    producer = only(found, kind="PRODUCER")
    assert producer["attributes"]["messaging.batch.message_count"] == 3
    assert producer["attributes"]["alligator.task_ids"] == [task.task_id for task in batch]
    assert "messaging.message.id" not in producer["attributes"]
    # And each run is its child, with its own message id
    consumers = every(found, kind="CONSUMER")
    assert {span["parent_id"] for span in consumers} == {producer["span_id"]}
    assert sorted(span["attributes"]["messaging.message.id"] for span in consumers) == sorted(
        task.message_id for task in batch
    )


# -- the consumer path, one message at a time ------------------------------------------


def message(task: Task, attributes: dict[str, str], message_id: str = "m-1") -> Received:
    return Received(
        body=task.serialize(), message_id=message_id, receipt="r", attributes=attributes
    )


def email_task(**options: Any) -> Task:
    task = Task(**options)
    task.to_call(otel_support.send_email, "cy@example.com")
    return task


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"traceparent": "garbage"},
        {"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"},
        {"traceparent": "ff-" + "a" * 32 + "-" + "b" * 16 + "-01"},
        {"traceparent": "00-" + "a" * 10_000},
        {"traceparent": "", "tracestate": "vendor=1"},
        {"tracestate": "=,=,=" * 100},
    ],
    ids=["none", "garbage", "zero-ids", "version-ff", "huge", "empty", "state-only"],
)
def test_a_message_without_a_usable_traceparent_runs_in_a_fresh_trace(spans, attributes):
    # Given a message whose trace context is missing or garbled
    gator = Gator("locmem://")
    task = email_task()
    # When it is processed
    outcome = gator.processor(import_allow="tests").handle(message(task, attributes))
    # Then the task ran, in a CONSUMER span that starts a trace of its own
    assert outcome.action is Action.ACK and outcome.task.result == "sent to cy@example.com"
    found = finished(spans)
    consumer = only(found, kind="CONSUMER")
    assert (consumer["parent_id"], consumer["links"]) == (None, [])
    assert consumer["attributes"]["alligator.outcome"] == "success"
    assert only(found, name="render the email")["parent_id"] == consumer["span_id"]


def test_a_deferred_message_says_so_without_an_error(spans):
    # Given a task due in an hour, sent from a trace
    gator = Gator("locmem://")
    with request() as web:
        carried = tracing.carrier()
    # When a consumer receives it now
    outcome = gator.processor(import_allow="tests").handle(
        message(email_task(delay_by=3600), carried)
    )
    # Then its span is the deferral, not a failure
    assert outcome.action is Action.DEFER
    consumer = only(finished(spans), kind="CONSUMER")
    assert consumer["parent_id"] == f"{web.get_span_context().span_id:016x}"
    assert consumer["status"] == "UNSET"
    attributes = consumer["attributes"]
    assert (attributes["alligator.outcome"], attributes["alligator.reason"]) == (
        "deferred",
        "due later",
    )
    assert 3590 <= attributes["alligator.delay_seconds"] <= 3600
    assert attributes["alligator.attempt"] == 0  # nothing ran
    assert "error.type" not in attributes


def test_a_poison_message_is_a_span_named_after_its_queue_with_the_error(spans):
    gator = Gator("locmem://", queue_name="inbox")
    poison = Received(body="{not json", message_id="m-9", receipt="r")
    outcome = gator.processor(import_allow="tests").handle(poison)
    assert outcome.action is Action.DEAD
    consumer = only(finished(spans), kind="CONSUMER")
    assert consumer["name"] == f"process {gator.queue.queue_name}"
    assert consumer["status"] == "ERROR"
    assert consumer["attributes"]["error.type"] == "PoisonMessageError"
    assert consumer["attributes"]["alligator.outcome"] == "dead"


def test_without_a_configured_sdk_nothing_is_recorded_and_nothing_is_sent():
    # Given OpenTelemetry's API with no SDK (the provider switched off)
    switched_provider().active = None
    gator = Gator("locmem://")
    # When a task is enqueued and processed
    task = gator.task(otel_support.send_email, "dee@example.com")
    [received] = gator.queue.receive(max_messages=1, wait_seconds=0)
    # Then the message carries no trace attributes, and the run works
    assert received.attributes == {}
    outcome = gator.processor(import_allow="tests").handle(received)
    assert outcome.action is Action.ACK and outcome.task_id == task.task_id


# -- the attribute budget ---------------------------------------------------------


def test_the_trace_context_fits_sqs_attribute_limit_with_signatures_payloads_and_dlq(
    spans, sqs_endpoint, tmp_path
):
    # Given a signed producer offloading a large payload to S3, in a trace
    # that carries vendor state (so both traceparent and tracestate travel)
    s3 = boto3.session.Session().client("s3", region_name="us-east-1", endpoint_url=sqs_endpoint)
    bucket = f"payloads-{os.getpid()}-{time.monotonic_ns()}"
    s3.create_bucket(Bucket=bucket)
    dsn = f"{make_queue(sqs_endpoint)}&payload_bucket={bucket}"
    gator = Gator(dsn, signing_key="k" * 32)
    gator.backend.max_message_bytes = 10_000  # offload from 10 kB (fast to test)
    upstream = TraceContextTextMapPropagator().extract(
        {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01", "tracestate": "vendor=abc"}
    )
    token = context.attach(upstream)
    try:
        with gator.options(retries=0) as options:
            options.task(otel_support.send_email_fails, "x" * 20_000)
    finally:
        context.detach(token)
    # When it is received, runs and fails for good
    [received] = gator.queue.receive(max_messages=1, wait_seconds=1)
    assert sorted(received.attributes) == [
        "ExtendedPayloadSize",
        "alligator-payload-signature",
        SIGNATURE_ATTRIBUTE,
        "traceparent",
        "tracestate",
    ]
    assert received.attributes["tracestate"] == "vendor=abc"
    worker_gator = Gator(dsn, signing_key="k" * 32)
    outcome = worker_gator.processor(import_allow="tests").handle(received)
    assert Settler(worker_gator.queue, worker_gator.backoff, owner=Owner.WORKER).settle(outcome)
    # Then its dead-letter copy keeps the trace context beside the reason
    [letter] = dead_letters(gator)
    assert len(letter.attributes) == 8
    assert letter.attributes["traceparent"] == received.attributes["traceparent"]
    assert letter.attributes["tracestate"] == "vendor=abc"


def test_the_fullest_dead_letter_copy_keeps_all_ten_attributes():
    # A copy re-sent to wait past the retention (7 attributes of its own)
    # that is then dead-lettered (3 more): exactly SQS's limit, nothing lost.
    own = {
        SIGNATURE_ATTRIBUTE: "s",
        "alligator-payload-signature": "p",
        "ExtendedPayloadSize": "300000",
        "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
        "tracestate": "vendor=abc",
        "alligator-not-before": "1700000000",
        "alligator-prior-attempts": "2",
    }
    reason = {"alligator-error": "E: x", "alligator-attempts": "3", "alligator-failed-at": "t"}
    merged = _batches.dlq_attributes(reason, own)
    assert merged == {**reason, **own}
    assert len(merged) == 10


# -- worker subprocesses, set up as opentelemetry-instrument would ---------------------


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_a_worker_subprocess_continues_the_producer_trace(spans, sqs_gator, tmp_path, pool):
    # Given two tasks enqueued from a request: one works, one fails
    with request():
        good = sqs_gator.task(otel_support.send_email, "eve@example.com")
        bad = sqs_gator.task(otel_support.send_email_fails, "fay@example.com")
    producers = {
        span["attributes"]["alligator.task_id"]: span
        for span in every(finished(spans), kind="PRODUCER")
    }
    # When an `alligator worker` process with the SDK configured by a
    # sitecustomize runs them, then stops
    exported = tmp_path / "spans.jsonl"
    worker = WorkerProcess(
        sqs_gator.conn_string,
        "--pool",
        pool,
        "--max-tasks",
        "2",
        env={"PYTHONPATH": f"{SITE}{os.pathsep}{ROOT}", "ALLIGATOR_TEST_SPANS": str(exported)},
    )
    assert worker.wait(timeout=90) == 0, worker.log
    # Then each run is a CONSUMER span of the worker, child of its producer
    found = read_spans(str(exported))
    pid = worker.process.pid
    for task, outcome in ((good, "success"), (bad, "dead")):
        producer = producers[task.task_id]
        consumer = only(found, kind="CONSUMER", pid=pid, parent_id=producer["span_id"])
        assert consumer["trace_id"] == producer["trace_id"]
        assert consumer["attributes"]["alligator.outcome"] == outcome
        assert consumer["attributes"]["messaging.message.id"] == task.message_id
        assert consumer["attributes"]["messaging.system"] == "aws_sqs"
        # and the task's own span is its child, made where the task ran
        own = only(found, name="render the email", parent_id=consumer["span_id"])
        assert (own["pid"] != pid) is (pool == "processes")
    # And the failure in the child is recorded from its text
    failed = only(found, kind="CONSUMER", parent_id=producers[bad.task_id]["span_id"])
    assert failed["status"] == "ERROR"
    assert failed["attributes"]["error.type"] == "ConnectionError"
    [exception] = [event for event in failed["events"] if event["name"] == "exception"]
    assert exception["exception.type"] == "ConnectionError"
    assert exception["exception.message"] == "the mail server refused fay@example.com"


# -- the Lambda handler ---------------------------------------------------------------


def test_the_lambda_handler_runs_each_record_in_a_consumer_span_child_of_its_producer(
    spans, sqs_gator, aws
):
    # Given two tasks enqueued from a request, received as Lambda's event
    with request():
        good = sqs_gator.task(otel_support.send_email, "gil@example.com")
        bad = sqs_gator.task(otel_support.send_email_fails, "hal@example.com")
    producers = {
        span["attributes"]["alligator.task_id"]: span
        for span in every(finished(spans), kind="PRODUCER")
    }
    queue = sqs_gator.queue.queue_name
    url = aws.get_queue_url(QueueName=queue)["QueueUrl"]
    received: dict[str, Any] = {}
    while len(received) < 2:
        for raw in aws.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", []):
            received[raw["MessageId"]] = raw
    event = {"Records": [lambda_record(raw, queue) for raw in received.values()]}
    # When the handler runs inside the spans the Lambda layer makes around
    # it (the invocation, and a batch CONSUMER span)
    tracer = trace.get_tracer("opentelemetry.instrumentation.aws_lambda")
    with (
        tracer.start_as_current_span("my-function", kind=SpanKind.SERVER),
        tracer.start_as_current_span(f"process {queue}", kind=SpanKind.CONSUMER) as batch,
    ):
        response = lambda_handler.handle(
            event, None, gator=sqs_gator, processor=sqs_gator.processor(import_allow="tests")
        )
    # Then nothing is left to retry (one succeeded, one was dead-lettered)
    assert response == {"batchItemFailures": []}
    found = finished(spans)
    batch_id = f"{batch.get_span_context().span_id:016x}"
    for task, outcome in ((good, "success"), (bad, "dead")):
        producer = producers[task.task_id]
        consumer = only(found, kind="CONSUMER", parent_id=producer["span_id"])
        # a child of its producer, linked to it and to the layer's span
        assert consumer["links"] == [producer["span_id"], batch_id]
        assert consumer["trace_id"] == producer["trace_id"]
        assert consumer["attributes"]["alligator.outcome"] == outcome
        assert consumer["attributes"]["messaging.message.id"] == task.message_id
        assert only(found, name="render the email", parent_id=consumer["span_id"])
