"""Pure pieces of the SQS adapter: error translation, batch sizing, the
dead-letter attribute cap, and the Backend protocol."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from alligator.backends.base import (
    ATTEMPTS_ATTRIBUTE,
    ERROR_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
    SIGNATURE_ATTRIBUTE,
    Outgoing,
    Queue,
    QueueAdmin,
)
from alligator.exceptions import ConfigurationError
from alligator.sqs import SQSBackend, _batches
from alligator.sqs._errors import translate_errors


def client_error(code: str, operation: str = "SendMessage") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "nope"}}, operation)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (
            "AWS.SimpleQueueService.NonExistentQueue",
            "'emails' does not exist in eu-west-1",
        ),
        ("QueueDoesNotExist", "create it or add ?create=true"),
        ("InvalidClientTokenId", "refused the credentials"),
        ("UnrecognizedClientException", "refused the credentials"),
        ("AccessDenied", "access denied"),
        ("AccessDeniedException", "may not call SendMessage"),
    ],
)
def test_errors_the_user_must_fix_become_configuration_errors(code, says):
    with (
        pytest.raises(ConfigurationError) as caught,
        translate_errors("emails", "eu-west-1"),
    ):
        raise client_error(code)
    assert says in str(caught.value)
    assert isinstance(caught.value.__cause__, ClientError)


def test_missing_credentials_is_a_configuration_error():
    with (
        pytest.raises(ConfigurationError, match="no AWS credentials"),
        translate_errors("emails", "eu-west-1"),
    ):
        raise NoCredentialsError()


@pytest.mark.parametrize("code", ["InternalError", "RequestThrottled", "Oops"])
def test_other_errors_pass_through_unchanged(code):
    error = client_error(code)
    with pytest.raises(ClientError) as caught, translate_errors("emails", "eu-west-1"):
        raise error
    assert caught.value is error


def test_chunks_respect_entries_and_bytes():
    assert _batches.chunk_indices([1] * 25, max_entries=10, max_bytes=100) == [
        list(range(10)),
        list(range(10, 20)),
        list(range(20, 25)),
    ]
    assert _batches.chunk_indices([60, 30, 20, 100], max_entries=10, max_bytes=100) == [
        [0, 1],
        [2],
        [3],
    ]


def test_entry_bytes_count_body_and_attributes_in_utf8():
    entry = {
        "MessageBody": "é",
        "MessageAttributes": _batches.encode_attributes({"k": "vv"}),
    }
    assert _batches.entry_bytes(entry) == 2 + 1 + len("String") + 2


def test_size_attribute_is_a_number_and_empty_values_are_dropped():
    encoded = _batches.encode_attributes({"ExtendedPayloadSize": "9", "empty": ""})
    assert encoded == {"ExtendedPayloadSize": {"DataType": "Number", "StringValue": "9"}}


def test_dlq_attributes_reason_first_then_signature_then_the_rest():
    reason = {ERROR_ATTRIBUTE: "E", ATTEMPTS_ATTRIBUTE: "2", FAILED_AT_ATTRIBUTE: "t"}
    own = {f"a{i}": str(i) for i in range(8)}
    own |= {
        SIGNATURE_ATTRIBUTE: "sig",
        "ExtendedPayloadSize": "5",
        ERROR_ATTRIBUTE: "old",
    }
    merged = _batches.dlq_attributes(reason, own)
    assert list(merged)[:5] == [*reason, SIGNATURE_ATTRIBUTE, "ExtendedPayloadSize"]
    assert merged[ERROR_ATTRIBUTE] == "E"
    assert len(merged) == 10
    assert list(merged)[5:] == ["a0", "a1", "a2", "a3", "a4"]


def test_failed_deletes_are_retried_and_gone_ones_are_not(backend, caplog):
    # Given two received messages and a delete that fails one of each kind
    backend.send_many([Outgoing("a"), Outgoing("b")])
    held = backend.receive(max_messages=10, wait_seconds=0)
    by_body = {m.body: m for m in held}
    real = backend.client.delete_message_batch
    calls = []

    def flaky(**params):
        calls.append(len(params["Entries"]))
        if len(calls) > 1:
            return real(**params)
        gone = {"SenderFault": True, "Code": "ReceiptHandleIsInvalid"}
        busy = {"SenderFault": False, "Code": "InternalError"}
        return {
            "Successful": [],
            "Failed": [{"Id": "0", **gone}, {"Id": "1", **busy}],
        }

    backend.client.delete_message_batch = flaky
    # When
    with caplog.at_level(logging.DEBUG, logger="alligator"):
        backend.ack([by_body["a"], by_body["b"]])
    # Then only the server-side failure was sent again
    assert calls == [2, 1]
    assert "already" in caplog.text or "ReceiptHandleIsInvalid" in caplog.text
    assert [m.body for m in backend.receive(max_messages=10, wait_seconds=0)] == []


def test_it_has_every_member_of_the_backend_protocols():
    # Checked on the class, so no property makes a request
    members = set()
    for protocol in (Queue, QueueAdmin):
        members |= {name for name in vars(protocol) if not name.startswith("_")}
        members |= set(getattr(protocol, "__annotations__", {}))
    missing = sorted(
        name
        for name in members
        if not hasattr(SQSBackend, name)
        and name
        not in (
            "queue_name",
            "blocking",
            "fifo",
            "wait_time",
            "batch_size",
            "max_delay_seconds",
            "payloads",
        )
    )
    assert missing == []
    backend = SQSBackend("sqs://us-east-1/q?visibility_timeout=30")
    for name in ("queue_name", "fifo", "wait_time", "batch_size", "max_delay_seconds", "payloads"):
        assert hasattr(backend, name)
    backend.close()
