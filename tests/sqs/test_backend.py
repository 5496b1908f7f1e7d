"""SQSBackend against moto's server over HTTP: the leases, batches and
dead-letter copies the worker relies on. Nothing here sleeps."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from alligator import Gator
from alligator.backends.base import (
    ATTEMPTS_ATTRIBUTE,
    ERROR_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
    SIGNATURE_ATTRIBUTE,
    Lookup,
    Outgoing,
)
from alligator.exceptions import (
    AlligatorException,
    ConfigurationError,
    NotSupportedError,
    PayloadTooLargeError,
)
from alligator.sqs import SQSBackend
from alligator.testing import make_queue
from tests.sqs_proxy import with_endpoint

REASON = {
    ERROR_ATTRIBUTE: "ValueError: boom",
    ATTEMPTS_ATTRIBUTE: "3",
    FAILED_AT_ATTRIBUTE: "2025-01-01T00:00:00Z",
}


def receive_all(backend, *, limit=100):
    """Everything visible now, in as many receives as it takes."""
    received = []
    while len(received) < limit:
        batch = backend.receive(max_messages=10, wait_seconds=0)
        if not batch:
            return received
        received += batch
    return received


def redrive_policy(aws, name):
    url = aws.get_queue_url(QueueName=name)["QueueUrl"]
    attributes = aws.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    return attributes["Attributes"]


# -- the queue: missing, created ----------------------------------------------


def test_missing_queue_fails_at_first_use_not_construction(sqs_endpoint):
    # Given a backend on a queue that does not exist
    backend = SQSBackend(
        f"sqs://us-east-1/nope-{uuid.uuid4().hex[:8]}?endpoint_url={sqs_endpoint}&wait_time=0"
    )
    # When / Then: check() and the first real call both name the problem
    with pytest.raises(ConfigurationError, match="does not exist in us-east-1"):
        backend.check()
    with pytest.raises(ConfigurationError, match=r"\?create=true"):
        backend.send_many([Outgoing("x")])


def test_missing_dlq_fails_at_check(sqs_endpoint, queue_dsn):
    backend = SQSBackend(queue_dsn + "&dlq=no-such-dlq")
    with pytest.raises(ConfigurationError, match="'no-such-dlq' does not exist"):
        backend.check()


@pytest.mark.parametrize("fifo", [False, True])
def test_create_makes_the_queue_and_its_dlq(sqs_endpoint, aws, fifo):
    # Given
    base = f"made-{uuid.uuid4().hex[:8]}"
    name = base + (".fifo" if fifo else "")
    backend = SQSBackend(f"sqs://us-east-1/{name}?endpoint_url={sqs_endpoint}&create=true")
    # When
    backend.check()
    # Then the DLQ is NAME-dlq (NAME-dlq.fifo), wired with maxReceiveCount 10
    dlq_name = base + ("-dlq.fifo" if fifo else "-dlq")
    policy = json.loads(redrive_policy(aws, name)["RedrivePolicy"])
    assert policy["deadLetterTargetArn"].endswith(":" + dlq_name)
    assert int(policy["maxReceiveCount"]) == 10
    assert backend.dlq_url.endswith("/" + dlq_name)
    if fifo:
        assert redrive_policy(aws, name)["FifoQueue"] == "true"
        assert redrive_policy(aws, dlq_name)["FifoQueue"] == "true"


def test_create_leaves_an_existing_queue_alone(sqs_endpoint, queue_dsn, aws):
    name = queue_dsn.split("/")[3].split("?")[0]
    before = redrive_policy(aws, name)["RedrivePolicy"]
    SQSBackend(queue_dsn + "&create=true").check()
    assert redrive_policy(aws, name)["RedrivePolicy"] == before


def test_visibility_timeout_is_the_queues_own(sqs_endpoint, aws):
    name = f"vt-{uuid.uuid4().hex[:8]}"
    aws.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "77"})
    backend = SQSBackend(f"sqs://us-east-1/{name}?endpoint_url={sqs_endpoint}")
    assert backend.visibility_timeout == 77


# -- sending ------------------------------------------------------------------


def test_send_many_batches_by_ten_and_keeps_order(queue_dsn, proxy):
    # Given
    backend = SQSBackend(with_endpoint(queue_dsn, proxy.url))
    backend.check()
    proxy.reset()
    # When
    ids = backend.send_many([Outgoing(f"body-{i}") for i in range(25)])
    # Then three requests, and each id belongs to its message
    assert proxy.counts["SendMessageBatch"] == 3
    assert len(set(ids)) == 25
    by_id = {m.message_id: m.body for m in receive_all(backend)}
    assert [by_id[message_id] for message_id in ids] == [f"body-{i}" for i in range(25)]


def test_one_message_is_one_send_message(queue_dsn, proxy):
    backend = SQSBackend(with_endpoint(queue_dsn, proxy.url))
    backend.check()
    proxy.reset()
    [message_id] = backend.send_many([Outgoing("solo", attributes={"k": "v"})])
    assert dict(proxy.counts) == {"SendMessage": 1}
    [received] = backend.receive(max_messages=10, wait_seconds=0)
    assert (received.message_id, received.attributes) == (message_id, {"k": "v"})


def test_batches_split_at_one_mib(queue_dsn, proxy):
    # Given three 400 kB bodies: two fit in one 1 MiB request, three do not
    backend = SQSBackend(with_endpoint(queue_dsn, proxy.url))
    backend.check()
    proxy.reset()
    bodies = [c * 400_000 for c in "abc"]
    # When
    backend.send_many([Outgoing(body) for body in bodies])
    # Then
    assert proxy.counts["SendMessageBatch"] == 2
    assert sorted(m.body for m in receive_all(backend)) == bodies


def test_batch_limit_counts_attributes_and_is_overridable(queue_dsn, proxy):
    # Given a lower limit: 10 messages of ~300 bytes each make 4 requests
    backend = SQSBackend(with_endpoint(queue_dsn, proxy.url))
    backend.max_message_bytes = 1000
    backend.check()
    proxy.reset()
    messages = [Outgoing("x" * 250, attributes={"k": "v" * 40}) for _ in range(10)]
    # When
    backend.send_many(messages)
    # Then
    assert proxy.counts["SendMessageBatch"] == 4
    with pytest.raises(PayloadTooLargeError, match="over the SQS limit of 1000"):
        backend.send_many([Outgoing("y" * 1001)])


def test_delay_is_capped_at_900_seconds(backend):
    captured = []
    backend.client.meta.events.register(
        "provide-client-params.sqs.SendMessage",
        lambda params, **_: captured.append(params),
    )
    backend.send_many([Outgoing("later", delay_seconds=5000)])
    assert captured[0]["DelaySeconds"] == 900
    assert backend.receive(max_messages=10, wait_seconds=0) == []
    assert backend.stats().delayed == 1


def test_server_side_entry_failures_are_resent(backend, monkeypatch):
    # Given a batch where entry 0 fails once with SenderFault false
    real = backend.client.send_message_batch
    calls = []

    def flaky(**params):
        calls.append([entry["Id"] for entry in params["Entries"]])
        if len(calls) == 1:
            params = {**params, "Entries": params["Entries"][1:]}
            response = real(**params)
            response["Failed"] = [{"Id": "0", "SenderFault": False, "Code": "InternalError"}]
            return response
        return real(**params)

    monkeypatch.setattr(backend.client, "send_message_batch", flaky)
    # When
    ids = backend.send_many([Outgoing("a"), Outgoing("b")])
    # Then entry 0 alone was sent again, and both ids are there
    assert calls == [["0", "1"], ["0"]]
    assert all(ids) and len(set(ids)) == 2


def test_refused_entries_raise_naming_the_code(backend, monkeypatch):
    def refused(**params):
        return {
            "Successful": [],
            "Failed": [
                {
                    "Id": e["Id"],
                    "SenderFault": True,
                    "Code": "InvalidMessageContents",
                    "Message": "bad characters",
                }
                for e in params["Entries"]
            ],
        }

    monkeypatch.setattr(backend.client, "send_message_batch", refused)
    with pytest.raises(AlligatorException, match="InvalidMessageContents"):
        backend.send_many([Outgoing("a"), Outgoing("b")])


# -- receiving and settling ---------------------------------------------------


def test_receive_reads_attributes_count_and_time(backend):
    backend.send_many([Outgoing("hello", attributes={SIGNATURE_ATTRIBUTE: "ab"})])
    [message] = backend.receive(max_messages=10, wait_seconds=0)
    assert message.body == "hello"
    assert message.attempt == 1
    assert message.attributes == {SIGNATURE_ATTRIBUTE: "ab"}
    assert message.sent_at is not None and message.sent_at > 1_600_000_000
    assert message.group is None


def test_ack_deletes_in_batches_of_ten(queue_dsn, proxy):
    # Given 25 received messages
    backend = SQSBackend(with_endpoint(queue_dsn, proxy.url))
    backend.send_many([Outgoing(str(i)) for i in range(25)])
    received = receive_all(backend)
    assert len(received) == 25
    proxy.reset()
    # When
    backend.ack(received)
    # Then
    assert dict(proxy.counts) == {"DeleteMessageBatch": 3}
    assert backend.size() == 0


def test_ack_twice_and_settling_gone_messages_is_harmless(backend):
    backend.send_many([Outgoing("x"), Outgoing("y")])
    received = receive_all(backend)
    backend.ack(received)
    # When the same messages are settled again: no error
    backend.ack(received)
    backend.release(received)
    backend.extend(received, seconds=60)
    backend.retry(received[0], delay_seconds=5)
    assert backend.size() == 0


def test_retry_now_comes_back_with_the_next_attempt(backend):
    backend.send_many([Outgoing("again")])
    [first] = backend.receive(max_messages=1, wait_seconds=0)
    # When
    backend.retry(first, delay_seconds=0)
    # Then
    [second] = backend.receive(max_messages=1, wait_seconds=0)
    assert (second.message_id, second.attempt) == (first.message_id, 2)


def test_retry_later_stays_hidden(backend):
    backend.send_many([Outgoing("later")])
    [message] = backend.receive(max_messages=1, wait_seconds=0)
    backend.retry(message, delay_seconds=300)
    assert backend.receive(max_messages=10, wait_seconds=0) == []
    assert backend.stats().in_flight == 1


def test_retry_past_twelve_hours_is_shortened_not_refused(backend):
    # moto, like SQS, refuses a total in-flight time over 12 hours
    backend.send_many([Outgoing("long")])
    [message] = backend.receive(max_messages=1, wait_seconds=0)
    backend.retry(message, delay_seconds=10**9)
    assert backend.receive(max_messages=10, wait_seconds=0) == []


def test_extend_past_twelve_hours_is_shortened_not_refused(backend):
    backend.send_many([Outgoing("a"), Outgoing("b")])
    held = receive_all(backend)
    backend.extend(held, seconds=43200)
    assert backend.receive(max_messages=10, wait_seconds=0) == []
    assert backend.stats().in_flight == 2


def test_release_makes_messages_visible_at_once(backend):
    backend.send_many([Outgoing(str(i)) for i in range(12)])
    held = receive_all(backend)
    assert len(held) == 12
    assert backend.receive(max_messages=10, wait_seconds=0) == []
    # When
    backend.release(held)
    # Then
    assert sorted(m.body for m in receive_all(backend)) == sorted(str(i) for i in range(12))


def test_extend_moves_the_lease_both_ways(backend):
    # Given two received messages
    backend.send_many([Outgoing("a"), Outgoing("b")])
    held = receive_all(backend, limit=2)
    assert len(held) == 2
    # When their lease is cut to nothing, they are visible again at once
    backend.extend(held, seconds=0)
    again = receive_all(backend, limit=2)
    assert sorted(m.body for m in again) == ["a", "b"]
    # and when it is extended, they stay hidden
    backend.extend(again, seconds=300)
    assert backend.receive(max_messages=10, wait_seconds=0) == []


def test_a_visibility_timeout_of_0_is_refused(queue_dsn):
    # Every task would run twice: refused at construction, naming the option
    with pytest.raises(ConfigurationError, match="visibility_timeout must be between 1"):
        SQSBackend(queue_dsn + "&visibility_timeout=0")


# -- the dead-letter queue -----------------------------------------------------


def test_send_to_dlq_keeps_body_and_signature_and_adds_reason(backend):
    # Given a message with a signature and nine more attributes
    own = {SIGNATURE_ATTRIBUTE: "cafe"} | {f"extra-{i}": str(i) for i in range(9)}
    backend.send_many([Outgoing("doomed", attributes=own)])
    [message] = backend.receive(max_messages=1, wait_seconds=0)
    # When
    assert backend.send_to_dlq(message, REASON) is True
    # Then the copy is in the DLQ, the source is untouched (the caller acks)
    [copy] = backend.dlq_backend().receive(max_messages=10, wait_seconds=0)
    assert copy.body == "doomed"
    assert len(copy.attributes) == 10
    assert {k: copy.attributes[k] for k in REASON} == REASON
    assert copy.attributes[SIGNATURE_ATTRIBUTE] == "cafe"
    assert backend.stats().in_flight == 1


def test_send_to_dlq_without_a_dlq_is_false(sqs_endpoint, aws):
    name = f"lonely-{uuid.uuid4().hex[:8]}"
    aws.create_queue(QueueName=name)
    backend = SQSBackend(f"sqs://us-east-1/{name}?endpoint_url={sqs_endpoint}")
    backend.send_many([Outgoing("x")])
    [message] = backend.receive(max_messages=1, wait_seconds=0)
    assert backend.dlq_url is None
    assert backend.send_to_dlq(message, REASON) is False
    assert backend.stats().dlq_depth is None
    with pytest.raises(ConfigurationError, match="no dead-letter queue"):
        backend.dlq_backend()


def test_fifo_dlq_gets_group_and_dedup_ids(sqs_endpoint):
    backend = SQSBackend(make_queue(sqs_endpoint, fifo=True))
    backend.send_many([Outgoing("f", group="g1")])
    [message] = backend.receive(max_messages=1, wait_seconds=0)
    assert backend.send_to_dlq(message, REASON)
    [copy] = backend.dlq_backend().receive(max_messages=1, wait_seconds=0)
    assert (copy.body, copy.group) == ("f", "g1")


def test_dlq_resolution_order(sqs_endpoint, queue_dsn, aws, monkeypatch):
    # Given the queue's redrive target, another queue for the environment,
    # and a third for the DSN option
    env_name, option_name = (f"dead-{uuid.uuid4().hex[:8]}" for _ in range(2))
    env_url = aws.create_queue(QueueName=env_name)["QueueUrl"]
    option_url = aws.create_queue(QueueName=option_name)["QueueUrl"]
    # Then the redrive policy is the fallback
    assert SQSBackend(queue_dsn).dlq_url.endswith("-dlq")
    # ALLIGATOR_DLQ overrides the queue
    monkeypatch.setenv("ALLIGATOR_DLQ", env_name)
    assert SQSBackend(queue_dsn).dlq_url == env_url
    # and the DSN overrides the environment
    assert SQSBackend(queue_dsn + f"&dlq={option_name}").dlq_url == option_url


def test_dlq_by_name_url_or_arn(queue_dsn, aws):
    name = f"dead-{uuid.uuid4().hex[:8]}"
    url = aws.create_queue(QueueName=name)["QueueUrl"]
    arn = aws.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    for form in (name, url, arn):
        assert SQSBackend(queue_dsn + f"&dlq={form}").dlq_url == url


def test_the_dlq_backend_has_no_dlq_of_its_own(backend, monkeypatch):
    monkeypatch.setenv("ALLIGATOR_DLQ", backend.queue_name)
    dlq = backend.dlq_backend()
    assert dlq.queue_name == backend.queue_name + "-dlq"
    assert dlq.dlq_url is None


# -- FIFO -----------------------------------------------------------------------


def test_fifo_sets_group_and_dedup_and_never_a_delay(sqs_endpoint):
    backend = SQSBackend(make_queue(sqs_endpoint, fifo=True))
    captured = []
    backend.client.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: captured.append(params),
    )
    # When
    backend.send_many(
        [
            Outgoing("one", group="g", dedup_id="d1", delay_seconds=30),
            Outgoing("two", delay_seconds=30),
        ]
    )
    # Then
    one, two = captured[0]["Entries"]
    assert (one["MessageGroupId"], one["MessageDeduplicationId"]) == ("g", "d1")
    assert two["MessageGroupId"] == "default"
    assert len(two["MessageDeduplicationId"]) == 64  # sha256 of the body
    assert "DelaySeconds" not in one and "DelaySeconds" not in two
    groups = {m.body: m.group for m in receive_all(backend)}
    assert groups == {"one": "g", "two": "default"}


# -- the queue as a whole --------------------------------------------------------


def test_stats_size_and_purge(backend):
    backend.send_many([Outgoing(str(i)) for i in range(5)])
    backend.send_many([Outgoing("late", delay_seconds=60)])
    backend.receive(max_messages=2, wait_seconds=0)
    stats = backend.stats()
    assert (stats.visible, stats.in_flight, stats.delayed) == (3, 2, 1)
    assert stats.dlq_depth == 0
    assert stats.oldest_age_seconds is None  # CloudWatch only
    assert backend.size() == 6
    backend.purge()
    assert backend.size() == 0


def test_sqs_cannot_look_up_by_task_id(queue_dsn):
    # SQS is no ``Lookup``: 1.0's get and a store-less cancel say why
    gator = Gator(queue_dsn)
    assert not isinstance(gator.queue, Lookup)
    with pytest.raises(NotSupportedError, match="status store"):
        gator.get("some-task-id")
    with pytest.raises(NotSupportedError, match="status store"):
        gator.cancel("some-task-id")


def test_threads_share_one_queue_lookup(queue_dsn, proxy):
    # Given a fresh backend used by eight threads at once
    backend = SQSBackend(with_endpoint(queue_dsn, proxy.url))
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: backend.send_many([Outgoing(str(i))]), range(8)))
    # Then the queue URL was looked up once, and every message was sent
    assert proxy.counts["GetQueueUrl"] == 1
    assert len({message_id for [message_id] in ids}) == 8
