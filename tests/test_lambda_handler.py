"""The Lambda handler, fed events in the exact AWS SQS event shape.

Every record is built from a real message: sent through ``Gator`` (or raw,
for the bad ones) to moto's server, received with ``ReceiveMessage`` (so the
receipt handles are valid) and converted as Lambda's event source mapping
does. The handler finds moto through ``AWS_ENDPOINT_URL_SQS``, as boto3 does
on Lambda. Lambda itself is not here: the records the handler does not
report stay in the queue, where Lambda would delete them.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.retries import standard

from alligator import Gator
from alligator._aws import MAX_ATTEMPTS
from alligator.constants import SUCCESS
from alligator.exceptions import ConfigurationError
from alligator.sqs import _batches, lambda_handler
from alligator.sqs.lambda_handler import dsn_for_arn, gator_for, handler
from alligator.tasks import Task
from alligator.testing import make_queue
from tests import tasks
from tests.conftest import ALLIGATOR_VARIABLES
from tests.processes import wait_for
from tests.sqs_proxy import SQSProxy

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
#: The system attributes Lambda copies into a record, when the message has them.
RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
)


class FakeContext:
    """Lambda's context: the remaining times it returns, in turn; the last
    one again once they are used up."""

    def __init__(self, *remaining_ms: int) -> None:
        self.remaining_ms = list(remaining_ms)

    def get_remaining_time_in_millis(self) -> int:
        if len(self.remaining_ms) > 1:
            return self.remaining_ms.pop(0)
        return self.remaining_ms[0]


# ------------------------------------------------------------------ fixtures
@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch: pytest.MonkeyPatch, sqs_endpoint: str) -> Iterator[None]:
    # Given a function whose boto3 finds moto by the environment, with none
    # of alligator's variables set, no gator cached from another test, and
    # alligator's logger as the runtime would leave it (the handler
    # configures it; restored afterwards for the other tests' caplog).
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sqs_endpoint)
    for name in ALLIGATOR_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_batches, "ENTRY_RETRY_SECONDS", 0)
    logger = logging.getLogger("alligator")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    logger.handlers.clear()
    # As a fresh process has it: propagating (or pytest would attach its
    # capture handler here, and the handler would think logging configured).
    logger.propagate = True
    lambda_handler.clear_gators()
    yield
    lambda_handler.clear_gators()
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture(scope="module")
def sqs(sqs_endpoint: str) -> Iterator[Any]:
    """A plain boto3 client on moto, to send raw bodies and look behind
    the handler."""
    client = boto3.session.Session().client("sqs", region_name=REGION, endpoint_url=sqs_endpoint)
    yield client
    client.close()


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore waits up to 20 s between its attempts; the attempts are what
    # these tests are about, not the waiting.
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda *a: 0)


@pytest.fixture
def receive_event(sqs: Any) -> Callable[..., dict[str, Any]]:
    """The event factory: ``receive_event(dsn, count)`` receives ``count``
    messages from the queue and returns them as Lambda's SQS event.

    ``visibility_timeout=0`` receives them without hiding them, so a test
    can see which records the handler itself hid.
    """

    def receive(dsn: str, count: int, *, visibility_timeout: int | None = None) -> dict[str, Any]:
        name = queue_name(dsn)
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        extra = {} if visibility_timeout is None else {"VisibilityTimeout": visibility_timeout}
        messages: dict[str, dict[str, Any]] = {}

        def got_them() -> bool:
            response = sqs.receive_message(
                QueueUrl=url,
                # moto's long poll returns early only with a full batch
                MaxNumberOfMessages=min(10, count - len(messages)),
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                **extra,
            )
            for message in response.get("Messages", []):
                messages.setdefault(message["MessageId"], message)
            return len(messages) >= count

        wait_for(got_them, timeout=30, what=f"{count} message(s) on {name}")
        assert len(messages) == count
        return {"Records": [lambda_record(m, name) for m in messages.values()]}

    return receive


def lambda_record(message: dict[str, Any], name: str) -> dict[str, Any]:
    """A received SQS message as a record of Lambda's SQS event."""
    system = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {key: system[key] for key in RECORD_ATTRIBUTES if key in system},
        "messageAttributes": {
            key: lambda_attribute(value)
            for key, value in message.get("MessageAttributes", {}).items()
        },
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update(
        md5OfBody=message["MD5OfBody"],
        eventSource="aws:sqs",
        eventSourceARN=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
        awsRegion=REGION,
    )
    return record


def lambda_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """``{"StringValue": ..., "DataType": ...}`` as Lambda spells it."""
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    attribute.update(stringListValues=[], binaryListValues=[], dataType=value["DataType"])
    return attribute


# ------------------------------------------------------------------- helpers
def queue_name(dsn: str) -> str:
    return dsn.split("?")[0].rsplit("/", 1)[-1]


def dlq_name(dsn: str) -> str:
    name = queue_name(dsn)
    if name.endswith(".fifo"):
        return name.removesuffix(".fifo") + "-dlq.fifo"
    return name + "-dlq"


def queue_url(sqs: Any, name: str) -> str:
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def failures(*message_ids: str) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": i} for i in message_ids]}


def ids(event: dict[str, Any]) -> list[str]:
    return [record["messageId"] for record in event["Records"]]


def visible_ids(sqs: Any, dsn: str) -> list[str]:
    """The messages receivable right now (received without hiding them)."""
    response = sqs.receive_message(
        QueueUrl=queue_url(sqs, queue_name(dsn)),
        MaxNumberOfMessages=10,
        WaitTimeSeconds=0,
        VisibilityTimeout=0,
    )
    return sorted(message["MessageId"] for message in response.get("Messages", []))


def counts(sqs: Any, name: str) -> dict[str, int]:
    """visible, in flight and delayed messages of a queue."""
    keys = {
        "visible": "ApproximateNumberOfMessages",
        "in_flight": "ApproximateNumberOfMessagesNotVisible",
        "delayed": "ApproximateNumberOfMessagesDelayed",
    }
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url(sqs, name), AttributeNames=list(keys.values())
    )["Attributes"]
    return {short: int(attributes[key]) for short, key in keys.items()}


def dead_letters(sqs: Any, dsn: str) -> list[dict[str, Any]]:
    """Everything in the queue's DLQ: body and string attributes."""
    url = queue_url(sqs, dlq_name(dsn))
    response = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
    )
    return [
        {
            "body": message["Body"],
            **{k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()},
        }
        for message in response.get("Messages", [])
    ]


def send_raw(sqs: Any, dsn: str, body: str, **params: Any) -> str:
    """A message no alligator producer wrote; its MessageId."""
    url = queue_url(sqs, queue_name(dsn))
    return sqs.send_message(QueueUrl=url, MessageBody=body, **params)["MessageId"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------- success, retry, poison
def test_a_mixed_batch_reports_only_the_record_to_retry(
    sqs, sqs_endpoint, receive_event, monkeypatch
):
    # Given a success, a failure with retries left and a poison message
    monkeypatch.setenv("ALLIGATOR_BACKOFF_BASE", "600")
    dsn = make_queue(sqs_endpoint)
    gator = Gator(dsn)
    ok = gator.task(tasks.count, "ok")
    with gator.options(retries=2) as opts:
        failing = opts.task(tasks.fail, "boom")
    poison = send_raw(sqs, dsn, "this is not a task")
    event = receive_event(dsn, 3, visibility_timeout=0)
    # When
    response = handler(event, None)
    # Then only the failure is reported; the success ran once
    assert response == failures(failing.message_id)
    assert tasks.calls == {"ok": 1}
    # And the poison is in the DLQ with the reason, and gone from the queue
    [dead] = dead_letters(sqs, dsn)
    assert dead["body"] == "this is not a task"
    assert dead["alligator-error"].startswith("PoisonMessageError")
    assert dead["alligator-attempts"] == "1"
    assert dead["alligator-failed-at"].endswith("Z")
    assert poison not in visible_ids(sqs, dsn)
    # And the failure is hidden for its backoff; the success is left for
    # Lambda to delete (received with visibility 0, so still visible)
    assert visible_ids(sqs, dsn) == [ok.message_id]
    assert counts(sqs, queue_name(dsn)) == {"visible": 1, "in_flight": 1, "delayed": 0}


def test_a_retried_record_comes_back_after_its_backoff_and_then_succeeds(
    sqs, sqs_endpoint, receive_event, monkeypatch
):
    # Given the shortest backoff (1 s) and a task that fails once
    monkeypatch.setenv("ALLIGATOR_BACKOFF_BASE", "1")
    dsn = make_queue(sqs_endpoint)
    with Gator(dsn).options(retries=1) as opts:
        task = opts.task(tasks.fail_times, "flaky", 1)
    # When the first delivery fails
    first = receive_event(dsn, 1)
    assert handler(first, None) == failures(task.message_id)
    # Then it is received again once the backoff is over, as attempt 2
    second = receive_event(dsn, 1)
    assert second["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    # And that run succeeds: nothing to report, nothing dead-lettered
    assert handler(second, None) == failures()
    assert tasks.calls == {"flaky": 2}
    assert dead_letters(sqs, dsn) == []


def test_an_exhausted_record_goes_to_the_dlq_and_is_reported_done(sqs, sqs_endpoint, receive_event):
    # Given a task with one retry, received for the second time
    dsn = make_queue(sqs_endpoint)
    with Gator(dsn).options(retries=1) as opts:
        task = opts.task(tasks.fail, "again")
    receive_event(dsn, 1, visibility_timeout=0)
    event = receive_event(dsn, 1)
    assert event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    # When its second run fails too
    response = handler(event, None)
    # Then it is not reported: it is in the DLQ, and deleted from the queue
    assert response == failures()
    [dead] = dead_letters(sqs, dsn)
    assert json.loads(dead["body"])["task_id"] == task.task_id
    assert dead["alligator-error"] == "RuntimeError: again"
    assert dead["alligator-attempts"] == "2"
    assert counts(sqs, queue_name(dsn)) == {"visible": 0, "in_flight": 0, "delayed": 0}


def test_without_a_dlq_a_poison_record_stays_and_is_reported(
    sqs, sqs_endpoint, receive_event, capsys
):
    # Given a queue with no redrive policy and no ALLIGATOR_DLQ
    name = f"no-dlq-{uuid.uuid4().hex[:12]}"
    sqs.create_queue(QueueName=name)
    dsn = f"sqs://{REGION}/{name}"
    poison = send_raw(sqs, dsn, "[not, a task")
    # When
    response = handler(receive_event(dsn, 1, visibility_timeout=0), None)
    # Then it is reported, kept, hidden (for the longest backoff), and an
    # ERROR says so
    assert response == failures(poison)
    assert visible_ids(sqs, dsn) == []
    assert counts(sqs, name)["in_flight"] == 1
    assert f"no dead-letter queue for {name}: message {poison} stays" in capsys.readouterr().err


# ---------------------------------------------------------------------- FIFO
def test_fifo_reports_the_first_failure_and_everything_after_it_unrun(
    sqs, sqs_endpoint, receive_event, monkeypatch
):
    # Given a FIFO batch: a success, a failure, then one record of the same
    # group and one of another group
    monkeypatch.setenv("ALLIGATOR_BACKOFF_BASE", "600")
    dsn = make_queue(sqs_endpoint, fifo=True)
    gator = Gator(dsn)
    gator.task(tasks.count, "a1")
    with gator.options(retries=3) as opts:
        failing = opts.task(tasks.fail, "a2")
    later = gator.task(tasks.count, "a3")
    with gator.options(group="other") as opts:
        other = opts.task(tasks.count, "b1")
    event = receive_event(dsn, 4)
    assert len(ids(event)) == 4
    # When
    response = handler(event, None)
    # Then the failure and every later record are reported, and none of
    # the later ones ran
    assert response == failures(failing.message_id, later.message_id, other.message_id)
    assert tasks.calls == {"a1": 1}
    # And the unstarted records went back: the other group's at once, while
    # the failed record's group is hidden for as long as it waits, so order
    # holds even where SQS would hand out a group's later message
    assert visible_ids(sqs, dsn) == [other.message_id]
    # (in flight: the two hidden, and a1, which Lambda would delete)
    assert counts(sqs, queue_name(dsn))["in_flight"] == 3


def test_fifo_poison_goes_to_the_dlq_without_blocking_the_batch(sqs, sqs_endpoint, receive_event):
    # Given a poison record first in a FIFO batch, then a task of its group
    dsn = make_queue(sqs_endpoint, fifo=True)
    send_raw(sqs, dsn, "poison", MessageGroupId="default", MessageDeduplicationId="p1")
    Gator(dsn).task(tasks.count, "after")
    event = receive_event(dsn, 2)
    # When
    response = handler(event, None)
    # Then both are done: the poison dead-lettered, the task run
    assert response == failures()
    assert tasks.calls == {"after": 1}
    assert [dead["body"] for dead in dead_letters(sqs, dsn)] == ["poison"]


# ------------------------------------------------------------------ deadline
def test_a_nearly_spent_deadline_starts_nothing(sqs, sqs_endpoint, receive_event):
    # Given a batch, and half a second left
    dsn = make_queue(sqs_endpoint)
    Gator(dsn).task_many([(tasks.count, (f"k{i}",)) for i in range(3)])
    event = receive_event(dsn, 3)
    # When
    response = handler(event, FakeContext(500))
    # Then every record is reported, none ran
    assert response == failures(*ids(event))
    assert tasks.calls == {}
    # And they were released, so they come back now rather than after the
    # visibility timeout
    assert visible_ids(sqs, dsn) == sorted(ids(event))


def test_the_deadline_is_checked_before_each_record(sqs_endpoint, receive_event):
    # Given a minute left for the first record, then half a second
    dsn = make_queue(sqs_endpoint)
    Gator(dsn).task_many([(tasks.count, (f"k{i}",)) for i in range(3)])
    event = receive_event(dsn, 3)
    first, *rest = ids(event)
    # When
    response = handler(event, FakeContext(60_000, 500))
    # Then the first ran, the other two are reported unrun
    assert response == failures(*rest)
    assert sum(tasks.calls.values()) == 1


# ---------------------------------------------------- infrastructure failures
def test_a_missing_dlq_is_a_configuration_error_before_any_task_runs(
    sqs, sqs_endpoint, receive_event, monkeypatch
):
    # Given ALLIGATOR_DLQ naming a queue that does not exist
    monkeypatch.setenv("ALLIGATOR_DLQ", "no-such-dlq")
    dsn = make_queue(sqs_endpoint)
    Gator(dsn).task(tasks.count, "never")
    event = receive_event(dsn, 1)
    # When / Then the invocation fails, naming the queue, and runs nothing
    with pytest.raises(ConfigurationError, match="no-such-dlq"):
        handler(event, None)
    assert tasks.calls == {}
    assert counts(sqs, queue_name(dsn))["in_flight"] == 1


def test_unreachable_sqs_raises(sqs_endpoint, receive_event, monkeypatch, no_backoff):
    # Given records from the queue, and a function that cannot reach SQS
    dsn = make_queue(sqs_endpoint)
    Gator(dsn).task(tasks.count, "never")
    event = receive_event(dsn, 1)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{closed_port()}")
    # When / Then
    with pytest.raises(Exception, match="(?i)connect"):
        handler(event, None)
    assert tasks.calls == {}


def test_sqs_failing_for_every_record_raises_and_loses_nothing(
    sqs, sqs_endpoint, receive_event, monkeypatch, no_backoff
):
    # Given a warm function, reaching SQS through a proxy, and two poison
    # records to dead-letter
    dsn = make_queue(sqs_endpoint)
    send_raw(sqs, dsn, "poison 1")
    send_raw(sqs, dsn, "poison 2")
    event = receive_event(dsn, 2)
    with SQSProxy(sqs_endpoint, fault_kinds=("500",)) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.url)
        gator_for(event["Records"][0]["eventSourceARN"])
        proxy.reset()
        # When every request to SQS fails from now on
        proxy.fail_next(1000)
        with pytest.raises(Exception, match="InternalError"):
            handler(event, None)
        # Then both were tried (the first attempt and botocore's 8 retries
        # each), then hidden as a broken DLQ calls for (which failed too),
        # and nothing was lost: no copy in the DLQ, both still queued
        assert proxy.counts == {
            "SendMessage": 2 * (1 + MAX_ATTEMPTS),
            "ChangeMessageVisibility": 2 * (1 + MAX_ATTEMPTS),
        }
    assert dead_letters(sqs, dsn) == []
    assert counts(sqs, queue_name(dsn))["in_flight"] == 2


def test_one_record_handled_is_enough_not_to_raise(
    sqs, sqs_endpoint, receive_event, monkeypatch, no_backoff
):
    # Given a success (no SQS call: Lambda deletes it) and a poison record
    dsn = make_queue(sqs_endpoint)
    ok = Gator(dsn).task(tasks.count, "ok")
    poison = send_raw(sqs, dsn, "poison")
    event = receive_event(dsn, 2)
    with SQSProxy(sqs_endpoint, fault_kinds=("500",)) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.url)
        gator_for(event["Records"][0]["eventSourceARN"])
        # When SQS fails for the poison record's DLQ copy
        proxy.fail_next(1000)
        response = handler(event, None)
    # Then the success is done and the poison reported, to try again later
    assert response == failures(poison)
    assert tasks.calls == {"ok": 1}
    assert ok.message_id in ids(event)


# ------------------------------------------------------------- configuration
def test_the_import_allow_list_refuses_os(sqs, sqs_endpoint, receive_event, monkeypatch):
    # Given a function allowed to import only from "tests"
    monkeypatch.setenv("ALLIGATOR_IMPORT_ALLOW", "tests")
    dsn = make_queue(sqs_endpoint)
    evil = {"task_id": "evil", "retries": 0, "async": True, "is_async": True}
    evil.update(module="os", callable="getcwd", args=[], kwargs={}, options={})
    send_raw(sqs, dsn, json.dumps(evil))
    Gator(dsn).task(tasks.count, "allowed")
    # When
    response = handler(receive_event(dsn, 2), None)
    # Then the allowed task ran, and the other is in the DLQ, unimported
    assert response == failures()
    assert tasks.calls == {"allowed": 1}
    [dead] = dead_letters(sqs, dsn)
    assert json.loads(dead["body"])["module"] == "os"
    assert "'os' is not in the import allow-list" in dead["alligator-error"]


def test_a_signing_key_refuses_unsigned_messages(sqs, sqs_endpoint, receive_event, monkeypatch):
    # Given one signed and one unsigned message
    dsn = make_queue(sqs_endpoint)
    Gator(dsn, signing_key="s3cret").task(tasks.count, "signed")
    unsigned = Gator(dsn).task(tasks.count, "unsigned")
    # When the function has the key
    monkeypatch.setenv("ALLIGATOR_SIGNING_KEY", "s3cret")
    response = handler(receive_event(dsn, 2), None)
    # Then only the signed one ran; the other is poison
    assert response == failures()
    assert tasks.calls == {"signed": 1}
    [dead] = dead_letters(sqs, dsn)
    assert json.loads(dead["body"])["task_id"] == unsigned.task_id
    assert dead["alligator-error"] == "PoisonMessageError: signature is missing"


def test_a_status_store_keeps_a_duplicate_delivery_from_running_again(
    sqs_endpoint, receive_event, monkeypatch, tmp_path
):
    # Given a status store shared by the producer and the function
    monkeypatch.setenv("ALLIGATOR_STATUS", f"sqlite:///{tmp_path}/status.db")
    dsn = make_queue(sqs_endpoint)
    gator = Gator(dsn)
    task = gator.task(tasks.count, "once")
    # When the task succeeds, and SQS delivers it again (as if Lambda's
    # delete had been lost)
    assert handler(receive_event(dsn, 1, visibility_timeout=0), None) == failures()
    again = receive_event(dsn, 1)
    assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    response = handler(again, None)
    # Then the second delivery is done without running it
    assert response == failures()
    assert tasks.calls == {"once": 1}
    state = gator.status(task.task_id)
    assert (state.status, state.attempts) == (SUCCESS, 1)


def test_a_task_not_yet_due_is_re_sent_and_reported_done(sqs, sqs_endpoint, receive_event):
    # Given a task due in an hour, visible now (SQS delays at most 15 min)
    dsn = make_queue(sqs_endpoint)
    task = Task(delay_by=3600)
    task.to_call(tasks.count, "later")
    send_raw(sqs, dsn, task.serialize())
    event = receive_event(dsn, 1)
    # When
    response = handler(event, None)
    # Then it did not run and is not reported: a delayed copy replaced it
    assert response == failures()
    assert tasks.calls == {}
    assert counts(sqs, queue_name(dsn)) == {"visible": 0, "in_flight": 0, "delayed": 1}


def test_an_empty_event_does_nothing():
    assert handler({"Records": []}, None) == failures()
    assert handler({}, None) == failures()


def test_the_gator_comes_from_the_event_source_arn_and_is_kept(sqs_endpoint):
    dsn = make_queue(sqs_endpoint)
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name(dsn)}"
    assert dsn_for_arn(arn) == f"sqs://{REGION}/{queue_name(dsn)}"
    assert gator_for(arn) is gator_for(arn)
    with pytest.raises(ConfigurationError, match="not an SQS queue ARN"):
        dsn_for_arn("arn:aws:sns:us-east-1:123456789012:topic")


def test_a_bad_metrics_setting_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("ALLIGATOR_METRICS", "statsd")
    with pytest.raises(ConfigurationError, match="ALLIGATOR_METRICS"):
        handler({"Records": []}, None)


# ------------------------------------------------------------ logs, metrics
def test_json_logs_one_line_per_outcome(sqs, sqs_endpoint, receive_event, monkeypatch, capsys):
    # Given JSON logs, and a success, a retry and a poison record
    monkeypatch.setenv("ALLIGATOR_LOG_FORMAT", "json")
    dsn = make_queue(sqs_endpoint)
    gator = Gator(dsn)
    ok = gator.task(tasks.count, "ok")
    with gator.options(retries=1) as opts:
        failing = opts.task(tasks.fail, "boom")
    poison = send_raw(sqs, dsn, "poison")
    # When
    handler(receive_event(dsn, 3), None)
    # Then stderr has one JSON line per outcome, with the contract's fields
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    outcomes = {line["message_id"]: line for line in lines if "outcome" in line}
    assert {key: line["outcome"] for key, line in outcomes.items()} == {
        ok.message_id: "success",
        failing.message_id: "retry",
        poison: "dead",
    }
    for line in outcomes.values():
        assert {"task_id", "callable", "attempt", "outcome", "duration_ms", "queued_ms"} <= set(
            line
        )
        assert line["attempt"] == 1
        assert line["queued_ms"] >= 0 and line["duration_ms"] >= 0
    success = outcomes[ok.message_id]
    assert (success["task_id"], success["callable"]) == (ok.task_id, "tests.tasks.count")
    assert outcomes[failing.message_id]["error"] == "RuntimeError: boom"
    assert outcomes[poison]["task_id"] is None


def test_emf_metrics_one_line_per_outcome(sqs_endpoint, receive_event, monkeypatch, capsys):
    # Given ALLIGATOR_METRICS=emf, two successes and a retry
    monkeypatch.setenv("ALLIGATOR_METRICS", "emf")
    dsn = make_queue(sqs_endpoint)
    gator = Gator(dsn)
    gator.task_many([(tasks.count, ("a",)), (tasks.count, ("b",))])
    with gator.options(retries=1) as opts:
        opts.task(tasks.fail)
    # When
    handler(receive_event(dsn, 3), None)
    # Then stdout has one EMF document per outcome
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_outcome = {document["outcome"]: document for document in documents}
    assert sorted(by_outcome) == ["retry", "success"]
    success = by_outcome["success"]
    [directive] = success["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "alligator"
    assert directive["Dimensions"] == [["queue", "outcome"]]
    assert success["queue"] == queue_name(dsn)
    assert success["tasks"] == 2
    assert len(success["duration_ms"]) == len(success["queued_ms"]) == 2
    assert by_outcome["retry"]["tasks"] == 1
