"""One dead-lettered message at a time: ``redrive_message``,
``delete_message`` and ``delete_all`` from ``alligator.ops.dlq``, on a
sqlite file and on moto's SQS server.

SQS cannot fetch a message by id: these receive until they hold it, act on
it, and release everything else at once. What must hold: the others are
visible again right away, the target is sent before it is deleted, and an
interruption loses nothing.
"""

from __future__ import annotations

import json

import pytest

from alligator import Gator
from alligator.backends.base import ERROR_ATTRIBUTE, Outgoing
from alligator.backends.sqlite import SqliteBackend
from alligator.constants import FAILED
from alligator.ops import dlq as dlq_ops
from alligator.testing import make_queue
from tests import tasks


@pytest.fixture(params=["sqlite", "sqs"])
def gator(request, tmp_path):
    if request.param == "sqlite":
        dsn = f"sqlite://{tmp_path}/q.db"
    else:
        dsn = make_queue(request.getfixturevalue("sqs_endpoint"))
    gator = Gator(dsn)
    yield gator
    gator.backend.close()


def dead_letter(gator, count):
    """``count`` dead tasks; their ``DeadTask``s, by task id."""
    for n in range(count):
        gator.options(retries=0).task(tasks.fail, f"boom {n}")
    for _ in range(count):
        assert gator.pop().status == FAILED
    dead = dlq_ops.peek(gator.backend.dlq_backend(), count)  # stops once it has them all
    assert len(dead) == count
    return {task.task_id: task for task in dead}


def held_and_visible(backend):
    stats = backend.stats()
    return stats.in_flight, stats.visible


def in_queue(backend):
    """Task ids in a queue, left there."""
    held = []
    while batch := backend.receive(max_messages=10, wait_seconds=0 if not backend.blocking else 1):
        held += batch
    backend.release(held)
    return [json.loads(message.body)["task_id"] for message in held]


def test_redrive_message_moves_that_one_and_releases_the_rest(gator):
    # Given 25 dead tasks (three receives' worth)
    dead = dead_letter(gator, 25)
    dlq = gator.backend.dlq_backend()
    target = list(dead.values())[-1]
    # When one of them is redriven by its message id
    assert dlq_ops.redrive_message(gator.backend, dlq, target.message_id) is True
    # Then it is back in the queue, without its failure attributes
    [message] = gator.backend.receive(max_messages=1, wait_seconds=1)
    assert gator.backend.stats().visible == 0  # and it alone
    gator.backend.release([message])
    assert json.loads(message.body)["task_id"] == target.task_id
    assert ERROR_ATTRIBUTE not in message.attributes
    # ...and the other 24 are in the DLQ, visible at once (not after a lease)
    assert held_and_visible(dlq) == (0, 24)
    assert {task.task_id for task in dlq_ops.peek(dlq, 24)} == set(dead) - {target.task_id}


def test_delete_message_deletes_that_one_only(gator):
    dead = dead_letter(gator, 12)
    dlq = gator.backend.dlq_backend()
    target = next(iter(dead.values()))
    assert dlq_ops.delete_message(dlq, target.message_id) is True
    assert held_and_visible(dlq) == (0, 11)
    assert target.task_id not in {task.task_id for task in dlq_ops.peek(dlq, 11)}
    assert gator.backend.stats().visible == 0  # nothing was sent anywhere


def test_a_message_that_is_not_there_changes_nothing(gator):
    dead_letter(gator, 3)
    dlq = gator.backend.dlq_backend()
    assert dlq_ops.redrive_message(gator.backend, dlq, "no-such-message") is False
    assert dlq_ops.delete_message(dlq, "no-such-message") is False
    assert held_and_visible(dlq) == (0, 3)
    assert gator.backend.stats().visible == 0


def test_the_search_gives_up_after_its_limit(tmp_path, monkeypatch):
    # Given more dead tasks than the search may hold (sqlite hands them out
    # oldest first, so the last one is past the limit)
    gator = Gator(f"sqlite://{tmp_path}/q.db")
    dead = list(dead_letter(gator, 15).values())
    monkeypatch.setattr(dlq_ops, "SEARCH_LIMIT", 10)
    dlq = gator.backend.dlq_backend()
    # When the last one is looked for, it is not found, and nothing changed
    assert dlq_ops.delete_message(dlq, dead[-1].message_id) is False
    assert held_and_visible(dlq) == (0, 15)
    # ...while one within the limit is found
    assert dlq_ops.delete_message(dlq, dead[9].message_id) is True
    assert held_and_visible(dlq) == (0, 14)


def test_delete_all_empties_the_dlq_only(gator):
    dead_letter(gator, 13)
    gator.task(tasks.add, 1, 2)
    dlq = gator.backend.dlq_backend()
    assert dlq_ops.delete_all(dlq) == 13
    assert dlq.size() == 0
    assert gator.backend.stats().visible == 1


def test_delete_all_with_a_limit(gator):
    dead_letter(gator, 5)
    dlq = gator.backend.dlq_backend()
    assert dlq_ops.delete_all(dlq, limit=3) == 3
    assert dlq.size() == 2


def test_redrive_message_that_fails_to_send_loses_nothing(gator, monkeypatch):
    # Given a queue that refuses sends
    dead = dead_letter(gator, 3)
    dlq = gator.backend.dlq_backend()

    def refuse(messages):
        raise RuntimeError("throttled")

    monkeypatch.setattr(gator.backend, "send_many", refuse)
    # When a redrive of one message fails
    with pytest.raises(RuntimeError, match="throttled"):
        dlq_ops.redrive_message(gator.backend, dlq, next(iter(dead.values())).message_id)
    # Then every message is still in the DLQ, visible at once
    assert held_and_visible(dlq) == (0, 3)


def test_redrive_message_interrupted_before_its_delete_leaves_a_duplicate(tmp_path, monkeypatch):
    # Given a DLQ that fails its delete after the copy was sent
    gator = Gator(f"sqlite://{tmp_path}/q.db")
    dead = dead_letter(gator, 2)
    dlq = gator.backend.dlq_backend()

    def crash(self, messages, *, keep_payload=False):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(SqliteBackend, "ack", crash)
    target = next(iter(dead.values()))
    with pytest.raises(RuntimeError):
        dlq_ops.redrive_message(gator.backend, dlq, target.message_id)
    # Then the task is in both queues: a duplicate at worst, never a loss
    assert in_queue(gator.backend) == [target.task_id]
    assert held_and_visible(dlq) == (0, 2)


def test_poison_is_told_by_its_body_or_its_reason():
    good = json.dumps({"task_id": "t", "retries": 0, "async": True, "module": "m", "callable": "f"})
    assert dlq_ops.is_poison(good, None) is False
    assert dlq_ops.is_poison(good, "RuntimeError: boom") is False
    assert dlq_ops.is_poison(good, "PoisonMessageError: bad signature") is True
    for body in ("", "[]", "{}", "[" * 100_000, '{"task_id": "t"}', "\ud800"):
        assert dlq_ops.is_poison(body, None) is True


def test_a_peeked_poison_message_says_so(tmp_path):
    gator = Gator(f"sqlite://{tmp_path}/q.db")
    dead_letter(gator, 1)
    gator.backend.dlq_backend().send_many([Outgoing("nope")])
    dead = dlq_ops.peek(gator.backend.dlq_backend(), 10)
    assert sorted(task.poison for task in dead) == [False, True]
