"""The queue protocol's lease contract, one suite over every backend:
locmem, sqlite and SQS (moto's server over HTTP), as huey runs one storage
suite over every storage. What the consumers rely on must hold on all three;
backend-specific behaviour (SQS's batching by size, its 12-hour cap, FIFO
deduplication; sqlite's files) stays in tests/sqs/ and test_local_backends.

No test waits for a lease to run out: leases are moved with ``retry``,
``release`` and ``extend``, which is what consumers do.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alligator import Gator
from alligator.backends.base import Outgoing, Queue, Received
from alligator.testing import make_queue

BACKENDS = ["locmem", "sqlite", "sqs"]


@pytest.fixture(params=BACKENDS)
def queue(request, tmp_path) -> Iterator[Queue]:
    if request.param == "locmem":
        gator = Gator("locmem://")
    elif request.param == "sqlite":
        gator = Gator(f"sqlite://{tmp_path}/q.db")
    else:
        gator = Gator(make_queue(request.getfixturevalue("sqs_endpoint")))
    yield gator.queue
    gator.queue.close()


def send(queue: Queue, *bodies: str, **options) -> list[str]:
    return queue.send_many([Outgoing(body, **options) for body in bodies])


def receive_all(queue: Queue, limit: int = 10) -> list[Received]:
    """Everything visible, up to ``limit`` (SQS may answer in parts)."""
    got: list[Received] = []
    for _ in range(10):
        batch = queue.receive(max_messages=min(10, limit - len(got)), wait_seconds=0)
        got += batch
        if len(got) >= limit or (not batch and queue.stats().visible == 0):
            break
    return got


def test_send_receive_ack(queue):
    # Given three messages, one with an attribute
    ids = send(queue, "a", "b")
    ids += send(queue, "c", attributes={"k": "v"})
    # When they are received
    got = {message.body: message for message in receive_all(queue, 3)}
    # Then each comes once, with its id, a receipt, attempt 1 and its attributes
    assert sorted(got) == ["a", "b", "c"]
    assert sorted(message.message_id for message in got.values()) == sorted(ids)
    assert all(message.receipt and message.attempt == 1 for message in got.values())
    assert got["c"].attributes == {"k": "v"}
    assert all(message.sent_at for message in got.values())
    # and acked, they are gone
    queue.ack(list(got.values()))
    assert receive_all(queue) == [] and queue.size() == 0


def test_a_received_message_is_hidden_until_released(queue):
    send(queue, "x")
    [first] = receive_all(queue)
    # While leased, nobody else gets it
    assert receive_all(queue) == []
    assert queue.stats().in_flight == 1
    # Released, it is visible at once, with one more receive counted
    queue.release([first])
    [second] = receive_all(queue)
    assert second.message_id == first.message_id and second.attempt == 2


def test_retry_hides_for_the_delay_and_keeps_the_receive_count(queue):
    send(queue, "x")
    [first] = receive_all(queue)
    queue.retry(first, delay_seconds=300)
    assert receive_all(queue) == []
    # A retry of 0 makes it visible again: the count goes on
    queue.retry(first, delay_seconds=0)
    [second] = receive_all(queue)
    assert second.attempt == 2


def test_extend_moves_the_lease(queue):
    send(queue, "x", "y")
    held = receive_all(queue, 2)
    queue.extend(held, seconds=0)
    again = receive_all(queue, 2)
    assert sorted(m.body for m in again) == ["x", "y"]
    queue.extend(again, seconds=300)
    assert receive_all(queue) == []


def test_a_stale_receipt_settles_nothing(queue):
    # Given a message received, released and received again
    send(queue, "x")
    [old] = receive_all(queue)
    queue.release([old])
    [new] = receive_all(queue)
    # When the first consumer, whose lease is gone, acks with its old receipt
    queue.ack([old])
    queue.release([new])
    # Then on SQS the old receipt may still delete; locally it must not:
    # either way nothing is lost that is still leased by someone else
    remaining = receive_all(queue)
    assert len(remaining) in (0, 1)


def test_send_to_dlq_keeps_the_body_and_adds_the_reason(queue):
    send(queue, '{"not": "a task"}', attributes={"alligator-signature": "abc"})
    [message] = receive_all(queue)
    reason = {
        "alligator-error": "PoisonMessageError: boom",
        "alligator-attempts": "1",
        "alligator-failed-at": "2026-12-01T00:00:00Z",
    }
    assert queue.send_to_dlq(message, reason) is True
    queue.ack([message], keep_payload=True)
    dlq = queue.dlq_backend()  # type: ignore[attr-defined]
    try:
        [dead] = receive_all(dlq)
        assert dead.body == message.body
        assert dead.attributes == {**reason, "alligator-signature": "abc"}
        assert queue.stats().dlq_depth == 1
    finally:
        dlq.close()


def test_stats_count_visible_in_flight_and_delayed(queue):
    send(queue, "a", "b")
    send(queue, "later", delay_seconds=300)
    [one] = queue.receive(max_messages=1, wait_seconds=0)
    stats = queue.stats()
    assert (stats.visible, stats.in_flight, stats.delayed) == (1, 1, 1)
    assert queue.size() == 3
    queue.release([one])


def test_len_and_drop_all_as_1_0_had_them(queue):
    send(queue, "a", "b")
    assert queue.len() == 2  # 1.0's backend.len(queue)
    queue.drop_all()  # 1.0's backend.drop_all(queue): a purge
    assert queue.size() == 0
    # (SQS takes one purge a minute per queue, so one purge per test.)


def test_every_backend_has_the_protocols_members(queue):
    for name in ("queue_name", "fifo", "blocking", "wait_time", "batch_size", "payloads"):
        assert hasattr(queue, name), name
    assert isinstance(queue.visibility_timeout, int) and queue.visibility_timeout >= 1
    assert queue.max_delay_seconds >= 900
    assert queue.dlq_name
