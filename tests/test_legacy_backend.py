"""A backend written for alligator 1.0 works unchanged (CONTRACT section 3):
the ``Client`` of 1.0's docs/extending.rst, with ``len``, ``drop_all``,
``push``, ``pop`` and ``get``, plugged in with ``backend_class=``, with 1.0's
semantics: a popped message is gone."""

from __future__ import annotations

import sqlite3
import time

import pytest

from alligator import Gator, Worker
from alligator.constants import CANCELED, SUCCESS
from alligator.exceptions import ConfigurationError
from alligator.retries import Backoff
from tests import tasks
from tests.helpers import make_worker


class Client:
    """1.0's extending guide's sqlite ``Client``, as it is: its connection
    may be used only in the thread that made it, and ``pop`` fails on an
    empty queue (``res[0]`` of ``None``)."""

    def __init__(self, conn_string):
        self.conn_string = conn_string
        path = self.conn_string.split("://", 1)[1]
        self.conn = sqlite3.connect(path, isolation_level=None)

    def _run_query(self, query, args):
        cur = self.conn.cursor()
        cur.execute(query, args or [])
        return cur

    def _setup_tables(self, queue_name="all"):
        self._run_query(
            f"CREATE TABLE IF NOT EXISTS `{queue_name}` "
            "(task_id text, data text, delay_until integer)",
            None,
        )

    def len(self, queue_name):
        return self._run_query(f"SELECT COUNT(task_id) FROM `{queue_name}`", []).fetchone()[0]

    def drop_all(self, queue_name):
        self._run_query(f"DELETE FROM `{queue_name}`", [])

    def push(self, queue_name, task_id, data, delay_until=None):
        if delay_until is None:
            delay_until = int(time.time())
        self._run_query(
            f"INSERT INTO `{queue_name}` (task_id, data, delay_until) VALUES (?, ?, ?)",
            [task_id, data, delay_until],
        )
        return task_id

    def pop(self, queue_name):
        now = int(time.time())
        res = self._run_query(
            f"SELECT task_id, data FROM `{queue_name}` WHERE delay_until <= ? LIMIT 1", [now]
        ).fetchone()
        self._run_query(f"DELETE FROM `{queue_name}` WHERE task_id = ?", [res[0]])
        return res[1]

    def get(self, queue_name, task_id):
        res = self._run_query(
            f"SELECT task_id, data FROM `{queue_name}` WHERE task_id = ?", [task_id]
        ).fetchone()
        if res is None:
            return None
        self._run_query(f"DELETE FROM `{queue_name}` WHERE task_id = ?", [task_id])
        return res[1]


@pytest.fixture
def gator(tmp_path):
    # Given a Gator on 1.0's Client, as the guide shows it
    gator = Gator(f"sqlite://{tmp_path}/legacy.db", backend_class=Client)
    gator.backend._setup_tables()
    return gator


def test_gator_backend_is_the_users_own_client(gator):
    # gator.backend is the object 1.0 code talks to (len, drop_all)
    assert isinstance(gator.backend, Client)
    gator.task(tasks.add, 1, 2)
    assert gator.backend.len("all") == 1 == gator.len()
    gator.backend.drop_all("all")
    assert gator.len() == 0


def test_push_pop_and_a_popped_message_is_gone(gator):
    # When a task is enqueued and popped
    task = gator.task(tasks.add, 2, 3)
    assert task.message_id == task.task_id  # 1.0's push returns the task id
    done = gator.pop()
    # Then it ran, and the message is gone (1.0's semantics)
    assert done.status == SUCCESS and done.result == 5
    assert gator.len() == 0
    assert gator.pop() is None


def test_get_and_cancel_by_task_id(gator):
    first = gator.task(tasks.add, 1, 1)
    second = gator.task(tasks.add, 2, 2)
    # get takes that very task and runs it
    assert gator.get(second.task_id).result == 4
    # cancel removes the other unrun
    canceled = gator.cancel(first.task_id)
    assert canceled.status == CANCELED and canceled.task_id == first.task_id
    assert gator.len() == 0


def test_retries_push_the_task_back_with_one_retry_fewer(gator):
    # Given a task that fails twice, then works, with two retries
    with gator.options(retries=2) as opts:
        opts.task(tasks.fail_times, "flaky", 2)
    # When a worker takes it until the queue is empty (retrying at once)
    worker = make_worker(gator)
    runs = 0
    while worker.check_and_run_task():
        runs += 1
    worker.close()
    # Then it ran three times and succeeded the third, as 1.0 retried
    assert runs == 3 and tasks.calls["flaky"] == 3
    assert gator.len() == 0


def test_an_exhausted_task_is_dropped_with_an_error_logged(gator, caplog):
    # 1.0 had no dead-letter queue: the task raised and was gone
    gator.task(tasks.fail, "no more")
    worker = Worker(gator, import_allow="tests")
    assert worker.check_and_run_task()
    worker.close()
    assert gator.len() == 0
    assert "has no dead-letter queue" in caplog.text


def test_a_worker_runs_forever_on_a_legacy_backend(gator):
    # Given the guide's client, whose connection works only in this thread,
    # with five tasks and one that fails once (its retry due after 1 s)
    gator.task_many([(tasks.count, (f"k{n}",)) for n in range(5)])
    with gator.options(retries=1) as opts:
        opts.task(tasks.fail_times, "flaky", 1)
    outcomes = []
    worker = Worker(
        gator,
        max_tasks=7,
        import_allow="tests",
        on_outcome=outcomes.append,
        backoff=Backoff(base=1, maximum=1),
    )
    # When a worker runs forever (as 1.0's did: in this thread)
    assert worker.run_forever() == 0
    # Then every task ran once, the flaky one twice, and the queue is empty
    assert tasks.calls == {**{f"k{n}": 1 for n in range(5)}, "flaky": 2}
    assert [outcome.label for outcome in outcomes].count("success") == 6
    assert gator.len() == 0


def test_drain_stops_at_an_empty_legacy_queue(gator):
    from alligator.testing import drain

    # The guide's pop fails on an empty queue: it is not asked then
    assert drain(gator) == []
    gator.task(tasks.add, 1, 2)
    [task] = drain(gator)
    assert task.result == 3
    assert Worker(gator, import_allow="tests").check_and_run_task() is False


@pytest.mark.parametrize("settings", [{"concurrency": 2}, {"pool": "processes"}])
def test_a_legacy_backend_runs_one_task_at_a_time(gator, settings):
    with pytest.raises(ConfigurationError, match="one task at a time"):
        Worker(gator, import_allow="tests", **settings)


def test_signing_needs_attributes_a_legacy_backend_cannot_carry(tmp_path):
    gator = Gator(f"sqlite://{tmp_path}/legacy.db", backend_class=Client, signing_key="k")
    gator.backend._setup_tables()
    with pytest.raises(ConfigurationError, match="carries no message attributes"):
        gator.task(tasks.add, 1, 2)


def test_is_async_false_runs_at_once_with_a_legacy_backend(gator):
    task = gator.options(is_async=False, retries=1).task(tasks.fail_times, "inline", 1)
    assert task.status == SUCCESS and tasks.calls["inline"] == 2
    # and the last error is raised once the retries are used up, as in 1.0
    with pytest.raises(RuntimeError):
        gator.options(is_async=False).task(tasks.fail, "x")
    assert gator.len() == 0


def test_our_own_backends_keep_1_0s_len_and_drop_all(tmp_path):
    for gator in (Gator("locmem://"), Gator(f"sqlite://{tmp_path}/q.db")):
        gator.task(tasks.add, 1, 2)
        assert gator.backend.len("all") == 1
        gator.backend.drop_all("all")
        assert gator.backend.len("all") == 0
