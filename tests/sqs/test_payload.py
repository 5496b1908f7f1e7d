"""Large payloads through S3 (moto serves S3 on the same endpoint), in the
format the AWS extended-client libraries read and write."""

from __future__ import annotations

import json
from contextlib import contextmanager

import boto3
import pytest

from alligator.backends.base import Outgoing
from alligator.exceptions import PayloadTooLargeError, PoisonMessageError
from alligator.sqs import SQSBackend
from alligator.sqs.payload import POINTER_CLASS, make_pointer

BIG = "é" * 6000  # 12,000 UTF-8 bytes: the limit counts bytes, not characters


@pytest.fixture
def offloading(queue_dsn, bucket):
    """A backend whose limit is 10,000 bytes, offloading to ``bucket``."""
    backend = SQSBackend(queue_dsn + f"&payload_bucket={bucket}")
    backend.max_message_bytes = 10_000
    backend.attribute_headroom_bytes = 0
    yield backend
    backend.close()


def keys(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_small_bodies_stay_in_the_message(offloading):
    assert offloading.payloads.offload("small") == ("small", {})


def test_big_body_goes_to_s3_and_comes_back(offloading, s3, bucket):
    # When
    body, attributes = offloading.payloads.offload(BIG)
    # Then the body is the extended client's pointer, with the byte size
    kind, where = json.loads(body)
    assert kind == POINTER_CLASS
    assert where["s3BucketName"] == bucket
    assert attributes == {"ExtendedPayloadSize": "12000"}
    assert keys(s3, bucket) == [where["s3Key"]]
    # and a consumer gets the original back
    offloading.send_many([Outgoing(body, attributes=attributes)])
    [message] = offloading.receive(max_messages=1, wait_seconds=0)
    assert message.attributes == attributes
    assert offloading.payloads.load(message.body) == BIG


def test_ack_deletes_the_payload_unless_kept(offloading, s3, bucket):
    kept, _ = offloading.payloads.offload(BIG)
    dropped, _ = offloading.payloads.offload(BIG + "!")
    offloading.send_many([Outgoing(kept), Outgoing(dropped)])
    by_body = {m.body: m for m in offloading.receive(max_messages=2, wait_seconds=0)}
    # When
    offloading.ack([by_body[kept]], keep_payload=True)
    offloading.ack([by_body[dropped]])
    # Then
    assert keys(s3, bucket) == [json.loads(kept)[1]["s3Key"]]


def test_too_big_without_a_bucket(queue_dsn):
    backend = SQSBackend(queue_dsn)
    size = backend.max_message_bytes + 1
    with pytest.raises(PayloadTooLargeError, match="payload_bucket=BUCKET") as caught:
        backend.payloads.offload("x" * size)
    assert f"{size} bytes" in str(caught.value)
    assert "1048576" in str(caught.value)


def test_headroom_is_kept_for_attributes(queue_dsn):
    # A body just under 1 MiB would not survive a signature or a DLQ reason.
    backend = SQSBackend(queue_dsn)
    with pytest.raises(PayloadTooLargeError):
        backend.payloads.offload("x" * (backend.max_message_bytes - 100))


def test_load_leaves_ordinary_bodies_alone(backend):
    body = '{"task_id": "t", "retries": 0, "async": true}'
    assert backend.payloads.load(body) is body
    assert backend.payloads.load('["not", "a pointer"]') == '["not", "a pointer"]'
    assert backend.payloads.load("[oops") == "[oops"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (json.dumps([POINTER_CLASS]), "pointer"),
        (json.dumps([POINTER_CLASS, "s3://b/k"]), "pointer"),
        (json.dumps([POINTER_CLASS, {"s3Key": "k"}]), "s3BucketName"),
        (json.dumps([POINTER_CLASS, {"s3BucketName": "b", "s3Key": ""}]), "s3Key"),
    ],
)
def test_bad_pointers_are_poison(offloading, body, problem):
    with pytest.raises(PoisonMessageError, match=problem):
        offloading.payloads.load(body)


def test_missing_payload_is_poison(offloading, bucket):
    with pytest.raises(PoisonMessageError, match="does not exist"):
        offloading.payloads.load(make_pointer(bucket, "gone"))


def test_a_pointer_is_followed_only_into_the_own_bucket(offloading, backend, bucket):
    # Another bucket, or no bucket configured: poison, before any S3 call
    with pytest.raises(PoisonMessageError, match="not this consumer's payload_bucket"):
        offloading.payloads.load(make_pointer("someone-elses", "k"))
    with pytest.raises(PoisonMessageError, match="has no payload_bucket"):
        backend.payloads.load(make_pointer(bucket, "k"))


def test_legacy_pointer_is_read(offloading, s3, bucket):
    s3.put_object(Bucket=bucket, Key="old", Body=b"from java")
    legacy = json.dumps(
        [
            "com.amazon.sqs.javamessaging.MessageS3Pointer",
            {"s3BucketName": bucket, "s3Key": "old"},
        ]
    )
    assert offloading.payloads.load(legacy) == "from java"


@contextmanager
def extended_client(endpoint, bucket):
    """An amazon-sqs-extended-client SQS client on moto. Importing the
    library replaces ``boto3.session.Session`` for everyone; undo that."""
    saved = boto3.session.Session, boto3.Session, boto3.DEFAULT_SESSION
    try:
        from sqs_extended_client.client import SQSExtendedClientSession

        session = SQSExtendedClientSession(region_name="us-east-1")
        client = session.client("sqs", endpoint_url=endpoint)
    finally:
        boto3.session.Session, boto3.Session, boto3.DEFAULT_SESSION = saved
    client.s3_client = boto3.session.Session().client(
        "s3", region_name="us-east-1", endpoint_url=endpoint
    )
    client.large_payload_support = bucket
    yield client
    client.close()


def test_interoperates_with_the_aws_extended_client(offloading, bucket, sqs_endpoint):
    with extended_client(sqs_endpoint, bucket) as theirs:
        url = offloading.queue_url
        # Given a message we offloaded, the extended client reads it
        body, attributes = offloading.payloads.offload(BIG)
        offloading.send_many([Outgoing(body, attributes=attributes)])
        response = theirs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])
        [message] = response["Messages"]
        assert message["Body"] == BIG
        theirs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        # and one it offloaded, we read
        theirs.always_through_s3 = True
        theirs.send_message(QueueUrl=url, MessageBody="from the extended client")
        [ours] = offloading.receive(max_messages=1, wait_seconds=0)
        assert "ExtendedPayloadSize" in ours.attributes
        assert offloading.payloads.load(ours.body) == "from the extended client"
