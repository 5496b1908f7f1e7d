"""One contract suite for every status store: locmem, sqlite, DynamoDB.

DynamoDB runs on moto's server over HTTP (the ``sqs_endpoint`` fixture from
``alligator.testing``: moto serves every service on one port). Lease expiry
is tested with freezegun, even for DynamoDB: ``lease_until`` is written and
compared with the client's clock, never the server's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from freezegun import freeze_time

from alligator.constants import (
    CANCELED,
    DELAYED,
    FAILED,
    RETRYING,
    RUNNING,
    SUCCESS,
    WAITING,
)
from alligator.exceptions import ConfigurationError
from alligator.status import (
    Claim,
    Dependencies,
    StatusStore,
    TaskState,
    Verdict,
    open_status,
)
from alligator.status.dynamodb import DynamoDBStatusStore
from alligator.status.local import LocmemStatusStore, SqliteStatusStore

REGION = "us-east-1"
LEASE = 60


def _table_dsn(endpoint: str, table: str | None = None, **options: str) -> str:
    table = table or f"status-{uuid.uuid4().hex[:12]}"
    query = "&".join(f"{k}={v}" for k, v in {"endpoint_url": endpoint, **options}.items())
    return f"dynamodb://{REGION}/{table}?{query}"


@pytest.fixture(params=["locmem", "sqlite", "dynamodb"])
def open_store(request, tmp_path) -> Iterator[Callable[[], StatusStore]]:
    """A factory of stores that share one set of task states.

    Each call is another client on the same data (another sqlite connection,
    another DynamoDB client), as another consumer process would be; locmem
    has one instance per process, so it hands out the same one.
    """
    if request.param == "locmem":
        shared = open_status("locmem://")
        dsn = None
    elif request.param == "sqlite":
        shared, dsn = None, f"sqlite://{tmp_path / 'status.db'}"
    else:
        endpoint = request.getfixturevalue("sqs_endpoint")
        shared, dsn = None, _table_dsn(endpoint, create="true")
    opened: list[StatusStore] = []

    def factory() -> StatusStore:
        store = shared or open_status(dsn)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store) -> StatusStore:
    return open_store()


def test_stores_satisfy_the_protocol(store):
    assert isinstance(store, StatusStore)


def test_a_task_through_its_life(store):
    # Given a task just enqueued
    store.created("t1")
    assert store.get("t1").status is WAITING
    assert store.get("t1").attempts == 0
    # When it runs, fails once, and runs again successfully
    assert store.claim("t1", owner="w1", lease_seconds=LEASE) == Claim(Verdict.RUN, 1)
    assert store.get("t1").status is RUNNING
    store.failed("t1", owner="w1", error="ValueError: boom", final=False)
    retrying = store.get("t1")
    assert (retrying.status, retrying.error) == (RETRYING, "ValueError: boom")
    assert store.claim("t1", owner="w2", lease_seconds=LEASE) == Claim(Verdict.RUN, 2)
    store.succeeded("t1", owner="w2", result={"sent": 3, "to": ["ada"]})
    # Then the store tells the whole story
    state = store.get("t1")
    assert state.status is SUCCESS
    assert state.attempts == 2
    assert state.result == {"sent": 3, "to": ["ada"]}
    assert state.error is None
    assert 0 < state.created_at <= state.updated_at


def test_created_never_overwrites(store):
    store.created("t1", delayed=True)
    assert store.get("t1").status is DELAYED
    store.claim("t1", owner="w1", lease_seconds=LEASE)
    # A second enqueue of the same id (a producer retry) changes nothing.
    store.created("t1")
    assert store.get("t1").status is RUNNING


def test_unknown_task(store):
    assert store.get("nobody") is None
    # A message from a 1.0 producer: the store never heard of the task.
    assert store.claim("new", owner="w1", lease_seconds=LEASE) == Claim(Verdict.RUN, 1)
    assert store.get("new").status is RUNNING


def test_duplicate_after_success_is_done(store):
    store.created("t1")
    store.claim("t1", owner="w1", lease_seconds=LEASE)
    store.succeeded("t1", owner="w1", result=None)
    # SQS delivers the message a second time, to another consumer.
    assert store.claim("t1", owner="w2", lease_seconds=LEASE).verdict is Verdict.DONE
    assert store.get("t1").attempts == 1


def test_cancel_before_claim(store):
    store.created("t1")
    assert store.cancel("t1") is True
    assert store.cancel("t1") is True  # still canceled
    assert store.claim("t1", owner="w1", lease_seconds=LEASE).verdict is (Verdict.CANCELED)
    assert store.get("t1").status is CANCELED


def test_cancel_that_races_ahead_of_the_enqueue_wins(store):
    assert store.cancel("t1") is True
    store.created("t1")
    assert store.claim("t1", owner="w1", lease_seconds=LEASE).verdict is (Verdict.CANCELED)


def test_cancel_after_finishing_is_refused(store):
    store.claim("ok", owner="w1", lease_seconds=LEASE)
    store.succeeded("ok", owner="w1", result=1)
    store.claim("bad", owner="w1", lease_seconds=LEASE)
    store.failed("bad", owner="w1", error="E", final=True)
    assert store.cancel("ok") is False
    assert store.cancel("bad") is False
    assert store.get("ok").status is SUCCESS
    assert store.get("bad").status is FAILED


def test_success_never_overwrites_a_cancel(store):
    store.claim("t1", owner="w1", lease_seconds=LEASE)
    assert store.cancel("t1") is True  # canceled while running
    store.succeeded("t1", owner="w1", result=1)
    store.failed("t1", owner="w1", error="E", final=True)
    assert store.get("t1").status is CANCELED


def test_lease_busy_while_alive_run_after_expiry(store):
    with freeze_time("2030-01-01 00:00:00") as clock:
        # Given w1 holds the lease, renewed by its heartbeat
        assert store.claim("t1", owner="w1", lease_seconds=LEASE).verdict is (Verdict.RUN)
        assert store.claim("t1", owner="w2", lease_seconds=LEASE) == Claim(Verdict.BUSY)
        clock.tick(LEASE - 10)
        store.renew("t1", owner="w1", lease_seconds=LEASE)
        clock.tick(LEASE - 10)
        # Then a second copy of the message waits
        assert store.claim("t1", owner="w2", lease_seconds=LEASE).verdict is (Verdict.BUSY)
        # When w1 dies and its lease runs out, w2 takes over
        clock.tick(20)
        assert store.claim("t1", owner="w2", lease_seconds=LEASE) == Claim(Verdict.RUN, 2)
        # and w1's late failure and heartbeat do not disturb w2's run
        store.failed("t1", owner="w1", error="late", final=True)
        store.renew("t1", owner="w1", lease_seconds=LEASE)
        assert store.get("t1").status is RUNNING
        clock.tick(LEASE - 1)
        assert store.claim("t1", owner="w1", lease_seconds=LEASE).verdict is (Verdict.BUSY)


def test_the_same_owner_may_claim_again(store):
    # The visibility timeout ran out and SQS gave the message back to us.
    store.claim("t1", owner="w1", lease_seconds=LEASE)
    assert store.claim("t1", owner="w1", lease_seconds=LEASE) == Claim(Verdict.RUN, 2)


def test_waiting_after_a_deferral(store):
    store.claim("t1", owner="w1", lease_seconds=LEASE)
    store.failed("t1", owner="w1", error="E", final=False)
    store.waiting("t1", delayed=True)
    assert store.get("t1").status is DELAYED
    store.waiting("t1", delayed=False)
    assert store.get("t1").status is WAITING
    assert store.get("t1").attempts == 1
    # A finished task stays finished, and a live run stays running.
    store.claim("t1", owner="w1", lease_seconds=LEASE)
    store.waiting("t1", delayed=False)
    assert store.get("t1").status is RUNNING
    store.succeeded("t1", owner="w1", result=None)
    store.waiting("t1", delayed=False)
    assert store.get("t1").status is SUCCESS


def test_dependencies(store):
    for task_id in ("a", "b", "c", "d"):
        store.created(task_id)
    for task_id in ("a", "b"):
        store.claim(task_id, owner="w1", lease_seconds=LEASE)
        store.succeeded(task_id, owner="w1", result=None)
    store.claim("c", owner="w1", lease_seconds=LEASE)
    store.failed("c", owner="w1", error="E", final=True)
    store.cancel("d")

    assert store.dependencies([]) == (Dependencies.READY, None)
    assert store.dependencies(["a", "b", "a"]) == (Dependencies.READY, None)
    assert store.dependencies(["a", "unknown"]) == (Dependencies.WAITING, None)
    assert store.dependencies(["a", "c"]) == (Dependencies.FAILED, "c")
    assert store.dependencies(["unknown", "d"]) == (Dependencies.FAILED, "d")
    store.claim("e", owner="w1", lease_seconds=LEASE)
    store.failed("e", owner="w1", error="E", final=False)
    assert store.dependencies(["a", "e"]) == (Dependencies.WAITING, None)


@pytest.fixture
def atomic_moto(monkeypatch) -> None:
    """Make moto's UpdateItem atomic, as DynamoDB's is.

    moto checks a condition and then writes, unlocked, so two server threads
    can both pass it; DynamoDB applies conditional writes to one item one at
    a time. The server runs in this process, so a lock around the backend
    method restores the guarantee the store relies on.
    """
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.update_item
    lock = threading.Lock()

    def update_item(self, *args, **kwargs):
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", update_item)


@pytest.mark.moto_only  # atomic_moto patches moto's DynamoDB
@pytest.mark.parametrize("known", [True, False], ids=["created", "unknown"])
def test_racing_claims_run_exactly_once(open_store, known, atomic_moto):
    # Given eight consumers, each with its own connection, holding copies
    # of one message
    racers = 8
    stores = [open_store() for _ in range(racers)]
    if known:
        stores[0].created("t1")
    barrier = threading.Barrier(racers)
    verdicts: list[Claim] = []

    def race(index: int) -> None:
        barrier.wait()
        claim = stores[index].claim("t1", owner=f"w{index}", lease_seconds=LEASE)
        verdicts.append(claim)

    # When they all claim at once
    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then exactly one runs it
    assert sorted(v.verdict.value for v in verdicts) == ["busy"] * 7 + ["run"]
    assert Claim(Verdict.RUN, 1) in verdicts
    assert stores[0].get("t1").attempts == 1


def test_to_dict_is_json_with_a_lower_case_status(store):
    store.claim("t1", owner="w1", lease_seconds=LEASE)
    store.succeeded("t1", owner="w1", result=[1, "two", None])
    state = store.get("t1")
    assert isinstance(state, TaskState)
    data = json.loads(json.dumps(state.to_dict()))
    assert data["status"] == "success"
    assert data["result"] == [1, "two", None]
    assert data["attempts"] == 1
    assert isinstance(data["updated_at"], float)


@pytest.mark.parametrize(
    "result", [{1, 2}, datetime(2030, 1, 1), float("nan")], ids=["set", "dt", "nan"]
)
def test_a_non_json_result_is_stored_as_its_repr(store, result):
    store.claim("t1", owner="w1", lease_seconds=LEASE)
    store.succeeded("t1", owner="w1", result=result)
    assert store.get("t1").status is SUCCESS
    assert store.get("t1").result == repr(result)


def test_long_errors_are_truncated(store):
    store.claim("t1", owner="w1", lease_seconds=LEASE)
    store.failed("t1", owner="w1", error="x" * 100_000, final=True)
    assert len(store.get("t1").error) == 4096


# -- the local stores ------------------------------------------------------


def test_open_status_picks_the_class(tmp_path):
    assert type(open_status("locmem://")) is LocmemStatusStore
    sqlite = open_status(f"sqlite://{tmp_path}/s.db")
    assert type(sqlite) is SqliteStatusStore
    sqlite.close()


def test_sqlite_path_as_written(tmp_path, monkeypatch):
    # sqlite://rel.db is rel.db in the working directory, as for the queue.
    monkeypatch.chdir(tmp_path)
    store = open_status("sqlite://rel.db")
    store.created("t1")
    store.close()
    again = open_status(f"sqlite://{tmp_path / 'rel.db'}")
    assert again.get("t1").status is WAITING
    again.close()


@pytest.mark.parametrize(
    "dsn", ["sqlite://", "locmem://somewhere", "locmem://?x=1", "sqlite:///a.db?x=1"]
)
def test_local_dsn_errors(dsn):
    with pytest.raises(ConfigurationError):
        open_status(dsn)


_CLAIM_IN_A_PROCESS = """
import sys
from alligator.status import open_status
store = open_status(sys.argv[1])
print(store.claim("t1", owner=sys.argv[2], lease_seconds=60).verdict.value)
"""


def test_sqlite_processes_racing_claims_run_exactly_once(tmp_path):
    # Given four worker processes sharing one status file
    dsn = f"sqlite://{tmp_path / 'status.db'}"
    open_status(dsn).close()
    # When each claims the same task at about the same time
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIM_IN_A_PROCESS, dsn, f"w{index}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(4)
    ]
    verdicts = sorted(racer.communicate(timeout=30)[0].strip() for racer in racers)
    # Then exactly one runs it
    assert verdicts == ["busy", "busy", "busy", "run"]


def test_sqlite_unopenable_path(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot open"):
        open_status(f"sqlite://{tmp_path}/no/such/dir/s.db")


# -- DynamoDB only ---------------------------------------------------------


def _dynamodb(endpoint: str):
    return boto3.session.Session().client("dynamodb", region_name=REGION, endpoint_url=endpoint)


def test_dynamodb_create_makes_the_table_with_ttl(sqs_endpoint):
    table = f"status-{uuid.uuid4().hex[:12]}"
    store = open_status(_table_dsn(sqs_endpoint, table, create="true", ttl_days="2"))
    assert type(store) is DynamoDBStatusStore
    store.created("t1")
    client = _dynamodb(sqs_endpoint)
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    billing = client.describe_table(TableName=table)["Table"]["BillingModeSummary"]
    assert billing["BillingMode"] == "PAY_PER_REQUEST"
    item = client.get_item(TableName=table, Key={"task_id": {"S": "t1"}})["Item"]
    expires_at = int(item["expires_at"]["N"])
    assert abs(expires_at - (time.time() + 2 * 86400)) < 60
    # A second store with create=true finds the table and uses it.
    other = open_status(_table_dsn(sqs_endpoint, table, create="true"))
    assert other.get("t1").status is WAITING
    for closing in (store, other, client):
        closing.close()


def test_dynamodb_ttl_days_zero_keeps_records(sqs_endpoint):
    table = f"status-{uuid.uuid4().hex[:12]}"
    store = open_status(_table_dsn(sqs_endpoint, table, create="true", ttl_days="0"))
    store.created("t1")
    client = _dynamodb(sqs_endpoint)
    item = client.get_item(TableName=table, Key={"task_id": {"S": "t1"}})["Item"]
    assert "expires_at" not in item
    store.close()
    client.close()


def test_dynamodb_missing_table_is_a_configuration_error(sqs_endpoint):
    # No network at construction: the error comes at first use.
    store = open_status(_table_dsn(sqs_endpoint, "no-such-table"))
    with pytest.raises(ConfigurationError, match="'no-such-table' does not exist") as e:
        store.get("t1")
    assert isinstance(e.value.__cause__, ClientError)
    with pytest.raises(ConfigurationError, match=r"\?create=true"):
        store.claim("t1", owner="w1", lease_seconds=LEASE)
    store.close()


@pytest.mark.parametrize(
    "dsn",
    [
        "dynamodb://us-east-1/table?colour=red",
        "dynamodb://us-east-1/",
        "dynamodb:///table",
        "dynamodb://us-east-1/a/b",
        "dynamodb://us-east-1/table?ttl_days=-1",
        "dynamodb://us-east-1/table?create=maybe",
        "dynamodb://us-east-1/table?endpoint_url=localhost:5000",
    ],
)
def test_dynamodb_dsn_errors(dsn):
    with pytest.raises(ConfigurationError):
        open_status(dsn)
