"""Large payloads end to end: Gator -> S3 -> Worker / Lambda, and the AWS
extended client on either side. moto's server serves S3 at the SQS endpoint.

``test_payload.py`` covers the backend's pieces; these tests follow a task
through the whole path and check when its S3 object goes away: after the
message is deleted, never while a retry or a dead letter still points at it.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from alligator import Gator, Worker
from alligator.backends.base import ERROR_ATTRIBUTE, SIGNATURE_ATTRIBUTE, Outgoing
from alligator.exceptions import ConfigurationError, PayloadTooLargeError
from alligator.outcome import Action
from alligator.sqs import lambda_handler
from alligator.sqs.payload import POINTER_CLASS, SIZE_ATTRIBUTE
from alligator.tasks import Task
from tests import tasks
from tests.helpers import make_worker
from tests.sqs.test_payload import extended_client, keys

BIG = "é" * 6000  # 12,000 UTF-8 bytes: over the lowered limit below


def offloading_gator(dsn: str, bucket: str, **kwargs) -> Gator:
    """A gator offloading anything over 10,000 bytes (fast to test)."""
    gator = Gator(f"{dsn}&payload_bucket={bucket}", **kwargs)
    gator.backend.max_message_bytes = 10_000
    gator.backend.attribute_headroom_bytes = 0
    return gator


def drain(worker: Worker) -> list:
    outcomes: list = []
    worker.on_outcome = outcomes.append
    while worker.check_and_run_task(wait_seconds=0):
        pass
    worker.close()
    return outcomes


def dlq(gator: Gator):
    return gator.backend.dlq_backend()


def test_a_2_mb_argument_runs_on_a_worker_and_its_object_goes_after(queue_dsn, bucket, s3):
    # Given a gator with a payload bucket and SQS's real 1 MiB limit
    gator = Gator(f"{queue_dsn}&payload_bucket={bucket}")
    big = "x" * 2_000_000
    # When a task with a 2 MB argument is enqueued
    task = gator.task(tasks.count, big)
    # Then its body is in S3, not in the message
    assert len(keys(s3, bucket)) == 1
    # And a worker on the same queue and bucket runs it
    outcomes = drain(Worker(Gator(f"{queue_dsn}&payload_bucket={bucket}"), import_allow="tests"))
    assert [o.action for o in outcomes] == [Action.ACK]
    assert outcomes[0].task.task_id == task.task_id
    assert tasks.calls[big] == 1
    # and, the message deleted, so is its object
    assert keys(s3, bucket) == []
    assert gator.len() == 0


def test_the_signature_covers_the_pointer_as_sent(queue_dsn, bucket, s3):
    # Given a signing producer that offloads
    gator = offloading_gator(queue_dsn, bucket, signing_key="k")
    gator.task(tasks.count, BIG)
    # When the message is looked at as sent
    [message] = gator.backend.receive(max_messages=1, wait_seconds=0)
    kind, where = json.loads(message.body)
    # Then it is a pointer, and the signature is over the pointer
    assert kind == POINTER_CLASS
    expected = hmac.new(b"k", message.body.encode(), hashlib.sha256).hexdigest()
    assert message.attributes[SIGNATURE_ATTRIBUTE] == expected
    stored = s3.head_object(Bucket=bucket, Key=where["s3Key"])["ContentLength"]
    assert message.attributes[SIZE_ATTRIBUTE] == str(stored)
    gator.backend.release([message])
    # And a worker with the key runs it
    drain(Worker(gator, signing_key="k", import_allow="tests"))
    assert tasks.calls[BIG] == 1
    assert keys(s3, bucket) == []


def test_a_refused_offloaded_message_keeps_its_object_in_the_dlq(queue_dsn, bucket, s3):
    # Given an offloaded message signed with another key
    gator = offloading_gator(queue_dsn, bucket, signing_key="theirs")
    task = gator.task(tasks.count, BIG)
    [key] = keys(s3, bucket)
    # When a worker with our key refuses it
    outcomes = drain(Worker(gator, signing_key="ours", import_allow="tests"))
    # Then it is in the DLQ as the same pointer, and the object is still there
    assert [o.error for o in outcomes] == ["PoisonMessageError: signature is wrong"]
    assert keys(s3, bucket) == [key]
    [dead] = dlq(gator).receive(max_messages=1, wait_seconds=0)
    assert json.loads(dlq(gator).payloads.load(dead.body))["task_id"] == task.task_id
    assert gator.len() == 0 and tasks.calls[BIG] == 0


def test_a_retry_keeps_the_object_and_success_removes_it(queue_dsn, bucket, s3):
    # Given an offloaded task that fails once, with a retry left
    gator = offloading_gator(queue_dsn, bucket)
    with gator.options(retries=1) as opts:
        opts.task(tasks.fail_times, BIG, 1)
    [key] = keys(s3, bucket)
    worker = make_worker(gator, import_allow="tests")
    # When the first run fails
    assert worker.check_and_run_task(wait_seconds=0)
    worker.close()
    # Then the object stays for the retry
    assert keys(s3, bucket) == [key]
    # and goes once the second run succeeded
    outcomes = drain(worker)
    assert [o.label for o in outcomes] == ["success"]
    assert keys(s3, bucket) == []
    assert gator.len() == 0


def test_an_exhausted_offloaded_task_keeps_its_object_in_the_dlq(queue_dsn, bucket, s3):
    gator = offloading_gator(queue_dsn, bucket)
    task = gator.task(tasks.fail, BIG)
    [key] = keys(s3, bucket)
    outcomes = drain(make_worker(gator, import_allow="tests"))
    assert [o.label for o in outcomes] == ["dead"]
    assert keys(s3, bucket) == [key]
    [dead] = dlq(gator).receive(max_messages=1, wait_seconds=0)
    assert dead.attributes[ERROR_ATTRIBUTE] == f"RuntimeError: {BIG}"[:1024]
    assert json.loads(dlq(gator).payloads.load(dead.body))["task_id"] == task.task_id


def test_a_task_sent_by_the_extended_client_runs_on_our_worker(queue_dsn, bucket, s3, sqs_endpoint):
    # Given a task body sent through S3 by amazon-sqs-extended-client, into
    # the bucket our consumer is configured with
    gator = Gator(f"{queue_dsn}&payload_bucket={bucket}")
    task = Task()
    task.to_call(tasks.count, "from-extended-client")
    with extended_client(sqs_endpoint, bucket) as theirs:
        theirs.always_through_s3 = True
        theirs.send_message(QueueUrl=gator.backend.queue_url, MessageBody=task.serialize())
    assert len(keys(s3, bucket)) == 1
    # When our worker consumes the queue
    outcomes = drain(make_worker(gator, import_allow="tests"))
    # Then the task ran and its object was removed with the message
    assert [o.task.task_id for o in outcomes] == [task.task_id]
    assert tasks.calls["from-extended-client"] == 1
    assert keys(s3, bucket) == []


def test_our_offloaded_task_is_read_by_the_extended_client(queue_dsn, bucket, s3, sqs_endpoint):
    # Given a task we offloaded
    gator = offloading_gator(queue_dsn, bucket)
    task = gator.task(tasks.count, BIG)
    with extended_client(sqs_endpoint, bucket) as theirs:
        # When their client receives it
        url = gator.backend.queue_url
        response = theirs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])
        [message] = response["Messages"]
        # Then it sees the task's JSON, and its delete removes the object
        assert Task.deserialize(message["Body"]).task_id == task.task_id
        assert json.loads(message["Body"])["args"] == [BIG]
        theirs.delete_payload_from_s3 = True
        theirs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert keys(s3, bucket) == []
    assert gator.len() == 0


def test_the_lambda_handler_reads_pointers_and_removes_the_object(
    queue_dsn, bucket, s3, aws, monkeypatch, sqs_endpoint
):
    # Given an offloaded task received by Lambda's event source mapping
    gator = offloading_gator(queue_dsn, bucket)
    gator.task(tasks.count, BIG)
    url = gator.backend.queue_url
    arn = aws.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    [message] = aws.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "messageAttributes": {
            name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "eventSourceARN": arn,
    }
    # When the handler, told its bucket by ALLIGATOR_PAYLOAD_BUCKET, runs it
    monkeypatch.setenv("ALLIGATOR_PAYLOAD_BUCKET", bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sqs_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", sqs_endpoint)
    lambda_handler.clear_gators()
    try:
        response = lambda_handler.handler({"Records": [record]}, None)
    finally:
        lambda_handler.clear_gators()
    # Then the task ran, and the message and its object are gone
    assert response == {"batchItemFailures": []}
    assert tasks.calls[BIG] == 1
    assert keys(s3, bucket) == []
    assert gator.len() == 0


def test_oversize_without_a_bucket_is_refused_at_enqueue_and_nothing_is_sent(queue_dsn):
    gator = Gator(queue_dsn)
    big = "x" * 1_100_000
    with pytest.raises(PayloadTooLargeError, match="set payload_bucket=BUCKET"):
        gator.task(tasks.count, big)
    # A batch with one oversized task sends none of them
    with pytest.raises(PayloadTooLargeError):
        gator.task_many([(tasks.count, ("small",), {}), (tasks.count, (big,), {})])
    assert gator.len() == 0


def test_a_missing_bucket_is_a_configuration_error_at_enqueue(queue_dsn):
    gator = Gator(f"{queue_dsn}&payload_bucket=no-such-bucket-here")
    with pytest.raises(ConfigurationError, match="'no-such-bucket-here' does not exist"):
        gator.task(tasks.count, "x" * 1_100_000)
    assert gator.len() == 0


def test_a_pointer_into_another_bucket_is_poison_never_fetched_nor_deleted(queue_dsn, bucket, s3):
    # Given a queue whose consumer owns one bucket, and a stranger's object
    # in another bucket its role could read
    other = f"{bucket}-other"
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=other, Key="secret", Body=b"{}")
    gator = Gator(f"{queue_dsn}&payload_bucket={bucket}")
    pointer = json.dumps([POINTER_CLASS, {"s3BucketName": other, "s3Key": "secret"}])
    gator.backend.send_many([Outgoing(pointer)])
    # When a worker meets the pointer
    outcomes = drain(make_worker(gator))
    # Then it is poison, dead-lettered with the reason, and the object stays
    [outcome] = outcomes
    assert outcome.action is Action.DEAD
    assert "not this consumer's payload_bucket" in outcome.error
    assert keys(s3, other) == ["secret"]
    [dead] = dlq(gator).receive(max_messages=1, wait_seconds=0)
    assert dead.body == pointer


def test_a_pointer_with_no_bucket_configured_is_poison(queue_dsn, bucket, s3):
    # Given a consumer with no payload bucket at all
    gator = offloading_gator(queue_dsn, bucket)
    gator.task(tasks.count, BIG)
    # When a worker without payload_bucket meets the pointer
    outcomes = drain(make_worker(Gator(queue_dsn)))
    # Then it is poison and its object is left alone
    [outcome] = outcomes
    assert outcome.action is Action.DEAD and "has no payload_bucket" in outcome.error
    assert len(keys(s3, bucket)) == 1
    assert tasks.calls[BIG] == 0


def test_an_object_over_payload_max_is_poison_unread(queue_dsn, bucket, s3):
    # Given an offloaded task of 20 kB and a consumer that reads at most 15 kB
    gator = offloading_gator(queue_dsn, bucket)
    gator.task(tasks.count, "y" * 20_000)
    consumer = Gator(f"{queue_dsn}&payload_bucket={bucket}&payload_max=15000")
    # When it meets the pointer
    [outcome] = drain(make_worker(consumer))
    # Then it is dead-lettered as over payload_max, never run
    assert outcome.action is Action.DEAD and "over payload_max" in outcome.error
    assert tasks.calls["y" * 20_000] == 0


def test_the_payload_itself_is_signed_and_a_swapped_object_is_poison(queue_dsn, bucket, s3):
    # Given a signing producer that offloads, and someone who can write the
    # bucket swapping the object for another task
    gator = offloading_gator(queue_dsn, bucket, signing_key="k")
    gator.task(tasks.count, BIG)
    [key] = keys(s3, bucket)
    swapped = Task()
    swapped.to_call(tasks.count, "swapped")
    s3.put_object(Bucket=bucket, Key=key, Body=swapped.serialize().encode())
    # When a worker with the key meets it
    [outcome] = drain(make_worker(gator, signing_key="k"))
    # Then the payload's own signature does not match: poison, nothing ran
    assert outcome.action is Action.DEAD
    assert "payload signature is wrong" in outcome.error
    assert tasks.calls["swapped"] == 0 and tasks.calls[BIG] == 0
