"""The local backends (``locmem://`` and ``sqlite://``): SQS's lease semantics,
simulated. Every test runs on both; time moves with freezegun, never sleeps."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter

import pytest
from freezegun import freeze_time

from alligator.backends import sqlite as sqlite_module
from alligator.backends.base import Backend, Outgoing, QueueStats
from alligator.backends.locmem import LocmemBackend
from alligator.backends.sqlite import SqliteBackend
from alligator.dsn import parse_dsn
from alligator.exceptions import ConfigurationError

START = "2030-01-01 00:00:00"


@pytest.fixture(params=["locmem", "sqlite"])
def make(request, tmp_path):
    """make(options="", queue_name=None) -> a backend; all closed afterwards."""
    made = []

    def factory(options="", queue_name=None):
        query = f"?{options}" if options else ""
        if request.param == "locmem":
            backend = LocmemBackend(f"locmem://{query}", queue_name)
        else:
            backend = SqliteBackend(f"sqlite://{tmp_path}/q.db{query}", queue_name)
        made.append(backend)
        return backend

    yield factory
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make):
    return make()


def task_body(task_id):
    return json.dumps({"task_id": task_id, "retries": 0, "async": True})


def send(backend, *bodies, **kwargs):
    return backend.send_many([Outgoing(body, **kwargs) for body in bodies])


def receive(backend, n=10):
    return backend.receive(max_messages=n, wait_seconds=0)


# -- attributes and configuration -----------------------------------------------


def test_defaults(backend):
    assert isinstance(backend, Backend)
    assert backend.queue_name == "all"
    assert (backend.visibility_timeout, backend.batch_size, backend.wait_time) == (
        30,
        10,
        0,
    )
    assert backend.blocking is False and backend.fifo is False
    assert backend.max_delay_seconds == 10**9


def test_options(make):
    backend = make("visibility_timeout=5&batch_size=3&wait_time=2&backoff_base=1&backoff_max=8")
    assert (backend.visibility_timeout, backend.batch_size, backend.wait_time) == (
        5,
        3,
        2,
    )
    assert (backend.backoff.base, backend.backoff.maximum) == (1, 8)


@pytest.mark.parametrize(
    "options",
    [
        "visibility_timeout=43201",
        "visibility_timeout=-1",
        "visibility_timeout=0",
        "batch_size=0",
        "batch_size=11",
        "wait_time=21",
        "wait_time=soon",
        "backoff_base=10&backoff_max=5",
        "region=us-east-1",
    ],
)
def test_bad_options(make, options):
    with pytest.raises(ConfigurationError):
        make(options)


@pytest.mark.parametrize("dsn", ["locmem://somewhere", "locmem:///q.db"])
def test_locmem_takes_no_path(dsn):
    with pytest.raises(ConfigurationError, match="no path"):
        LocmemBackend(dsn)


def test_locmem_instances_share_nothing():
    one, two = LocmemBackend("locmem://"), LocmemBackend(parse_dsn("locmem://"))
    send(one, "x")
    assert (one.size(), two.size()) == (1, 0)


def test_sqlite_absolute_path(tmp_path):
    backend = SqliteBackend(f"sqlite://{tmp_path}/abs.db?visibility_timeout=5")
    send(backend, "x")
    backend.close()
    assert (tmp_path / "abs.db").exists()
    assert SqliteBackend(f"sqlite://{tmp_path}/abs.db").size() == 1


def test_sqlite_relative_path_and_query(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backend = SqliteBackend("sqlite://rel.db?visibility_timeout=5")
    assert backend.visibility_timeout == 5
    backend.close()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".db"] == ["rel.db"]


@pytest.mark.parametrize("dsn", ["sqlite://", "sqlite://?wait_time=1"])
def test_sqlite_needs_a_path(dsn):
    with pytest.raises(ConfigurationError, match="path"):
        SqliteBackend(dsn)


def test_sqlite_unopenable_file(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot open"):
        SqliteBackend(f"sqlite://{tmp_path}")  # a directory


def test_wrong_scheme():
    with pytest.raises(ConfigurationError, match="locmem://"):
        LocmemBackend("sqlite://q.db")


def test_queues_in_one_database_are_separate(tmp_path):
    dsn = f"sqlite://{tmp_path}/q.db"
    emails, reports = SqliteBackend(dsn, "emails"), SqliteBackend(dsn, "reports")
    send(emails, "e")
    assert (emails.size(), reports.size(), receive(reports)) == (1, 0, [])
    assert [m.body for m in receive(emails)] == ["e"]


# -- send, receive, ack ----------------------------------------------------------


def test_send_receive_ack(backend):
    with freeze_time(START) as clock:
        ids = send(backend, "a", "b", "c", attributes={"k": "v"})
        clock.tick(5)
        got = receive(backend, 2)
        assert [m.message_id for m in got] == ids[:2]
        assert [m.body for m in got] == ["a", "b"]
        assert {(m.attempt, m.sent_at) for m in got} == {(1, clock().timestamp() - 5)}
        assert got[0].attributes == {"k": "v"}
        backend.ack(got)
        assert backend.size() == 1
        assert [m.body for m in receive(backend)] == ["c"]
        assert receive(backend) == []


def test_receive_honours_max_messages(backend):
    send(backend, *map(str, range(15)))
    assert len(receive(backend, 10)) == 10
    assert len(receive(backend, 10)) == 5


def test_delayed_send(backend):
    with freeze_time(START) as clock:
        send(backend, "later", delay_seconds=100_000)  # far beyond SQS's 900 s
        assert receive(backend) == [] and backend.size() == 1
        clock.tick(99_999)
        assert receive(backend) == []
        clock.tick(1)
        assert [m.body for m in receive(backend)] == ["later"]


def test_lease_expires_and_receive_count_grows(make):
    backend = make("visibility_timeout=30")
    with freeze_time(START) as clock:
        send(backend, "x")
        [first] = receive(backend)
        clock.tick(29)
        assert receive(backend) == []
        clock.tick(1)
        [second] = receive(backend)
        assert (first.attempt, second.attempt) == (1, 2)
        assert second.message_id == first.message_id
        assert second.receipt != first.receipt


def test_stale_receipt_changes_nothing(backend):
    with freeze_time(START) as clock:
        send(backend, "x")
        [stale] = receive(backend)
        clock.tick(31)
        [current] = receive(backend)
        # Given a consumer whose lease expired and was taken over,
        # When it acks, retries, releases or extends with its old receipt,
        # Then the new holder's lease is untouched.
        backend.ack([stale])
        backend.retry(stale, delay_seconds=0)
        backend.release([stale])
        backend.extend([stale], seconds=1)
        assert backend.size() == 1 and receive(backend) == []
        backend.ack([current])
        assert backend.size() == 0


def test_retry_hides_for_the_delay(backend):
    with freeze_time(START) as clock:
        send(backend, "x")
        [message] = receive(backend)
        backend.retry(message, delay_seconds=10)
        clock.tick(9)
        assert receive(backend) == []
        clock.tick(1)
        [again] = receive(backend)
        assert again.attempt == 2


def test_release_makes_visible_at_once(backend):
    with freeze_time(START):
        send(backend, "a", "b")
        got = receive(backend)
        backend.release(got)
        assert [m.body for m in receive(backend)] == ["a", "b"]


def test_extend_keeps_the_lease(make):
    backend = make("visibility_timeout=30")
    with freeze_time(START) as clock:
        send(backend, "x")
        [message] = receive(backend)
        clock.tick(20)
        backend.extend([message], seconds=30)
        clock.tick(29)  # 49 s after receiving: the first lease would be over
        assert receive(backend) == []
        clock.tick(1)
        assert len(receive(backend)) == 1


def test_receive_waits_for_a_message(backend, monkeypatch):
    monkeypatch.setattr(sqlite_module, "POLL_SECONDS", 0.01)
    threading.Timer(0.05, send, (backend, "late")).start()
    assert [m.body for m in backend.receive(max_messages=1, wait_seconds=2)] == ["late"]


# -- dead letters, take, remove ------------------------------------------------


def test_send_to_dlq_copies_with_the_reason(backend):
    send(backend, "bad", attributes={"alligator-signature": "abc"})
    [message] = receive(backend)
    assert backend.send_to_dlq(message, {"alligator-error": "ValueError: no"})
    assert backend.size() == 1  # the caller acks the source
    backend.ack([message])
    dlq = backend.dlq_backend()
    assert dlq.queue_name == "all-dlq"
    [dead] = receive(dlq)
    assert dead.body == "bad" and dead.message_id != message.message_id
    assert dead.attributes == {
        "alligator-signature": "abc",
        "alligator-error": "ValueError: no",
    }
    dlq.close()  # the DLQ backend shares the database: closing it is harmless
    assert backend.stats().dlq_depth == 1


def test_take_leases_one_task(backend):
    with freeze_time(START) as clock:
        send(backend, task_body("t1"), task_body("t2"), "not json", "[1]")
        taken = backend.take("t2")
        assert json.loads(taken.body)["task_id"] == "t2" and taken.attempt == 1
        assert backend.take("t2") is None  # in flight now
        assert backend.take("missing") is None
        clock.tick(31)
        assert backend.take("t2").attempt == 2


def test_remove_a_waiting_task(backend):
    with freeze_time(START) as clock:
        send(backend, task_body("t1"), task_body("t2"))
        assert json.loads(backend.remove("t1"))["task_id"] == "t1"
        assert backend.remove("t1") is None and backend.size() == 1
        held = backend.take("t2")
        assert backend.remove("t2") is None  # a consumer is running it
        backend.retry(held, delay_seconds=60)
        assert backend.remove("t2") is not None  # waiting for its retry
        send(backend, task_body("t3"))
        backend.take("t3")
        clock.tick(31)  # the lease expired: waiting again
        assert backend.remove("t3") is not None
        assert backend.size() == 0


# -- the queue as a whole --------------------------------------------------------


def test_stats(make):
    backend = make("visibility_timeout=30")
    with freeze_time(START) as clock:
        assert backend.stats() == QueueStats(0, 0, 0, 0, None)
        send(backend, "a", "b", "c")
        clock.tick(10)
        send(backend, "later", delay_seconds=60)
        [a] = receive(backend, 1)
        backend.send_to_dlq(a, {"alligator-error": "x"})
        assert backend.stats() == QueueStats(2, 1, 1, 1, 10.0)
        assert backend.size() == 4


def test_purge_leaves_the_dlq(backend):
    send(backend, "a", "b")
    [a, _] = receive(backend)
    backend.send_to_dlq(a, {})
    backend.purge()
    assert backend.size() == 0 and backend.stats().dlq_depth == 1


def test_offload_and_load_pass_through(backend):
    big = "x" * 2_000_000
    assert backend.payloads.offload(big) == (big, {})
    assert backend.payloads.load(big) is big


# -- concurrency -----------------------------------------------------------------


def test_two_threads_receive_each_message_once(backend):
    send(backend, *(str(n) for n in range(200)))
    seen = []

    def consume():
        while got := receive(backend, 7):
            seen.extend(m.body for m in got)
            backend.ack(got)

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen, key=int) == [str(n) for n in range(200)]
    assert backend.size() == 0


CONSUMER = """
import sys
from alligator.backends.sqlite import SqliteBackend
backend = SqliteBackend(sys.argv[1])
while got := backend.receive(max_messages=3, wait_seconds=0):
    print(*(m.body for m in got), sep="\\n", flush=True)
    backend.ack(got)
"""


def test_processes_share_one_file(tmp_path):
    dsn = f"sqlite://{tmp_path}/shared.db?visibility_timeout=3600"
    producer = SqliteBackend(dsn)
    send(producer, *(str(n) for n in range(300)))
    workers = [
        subprocess.Popen([sys.executable, "-c", CONSUMER, dsn], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [worker.communicate(timeout=60)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0]
    counts = Counter(line for out in outputs for line in out.split())
    assert counts == Counter(str(n) for n in range(300))
    assert producer.size() == 0
    producer.close()
