"""``gator.wait(task_id, timeout=None)`` on every status store: it returns
the final ``TaskState`` once a worker (a thread here, a subprocess for
SQLite) finished the task, raises ``TimeoutError`` when the time runs out
first, and on DynamoDB a long wait costs few reads.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from alligator import Gator, Task, TaskState
from alligator.constants import CANCELED, DELAYED, FAILED, SUCCESS, WAITING
from alligator.exceptions import NotSupportedError
from tests import tasks
from tests.helpers import make_worker
from tests.processes import start_worker, stop

STORES = ["locmem", "sqlite", "dynamodb"]
#: Generous: a worker thread on a shared machine may take a while to start.
LONG = 60.0


@pytest.fixture(params=STORES)
def status(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A status store DSN of each kind (DynamoDB on moto)."""
    if request.param == "locmem":
        return "locmem://"
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/status.db"
    endpoint = request.getfixturevalue("sqs_endpoint")
    table = f"wait-{uuid.uuid4().hex[:12]}"
    return f"dynamodb://us-east-1/{table}?endpoint_url={endpoint}&create=true"


@pytest.fixture
def gator(status: str) -> Gator:
    """A gator on an in-memory queue with that store (the worker below
    shares this gator, so it sees the queue)."""
    return Gator("locmem://", status=status)


@contextmanager
def worker_thread(gator: Gator) -> Iterator[None]:
    """A worker consuming ``gator``'s queue in a thread for the block."""
    worker = make_worker(gator)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        worker.stop()
        thread.join(30)


def test_wait_returns_success_with_the_result(gator: Gator) -> None:
    # Given a task and a worker running
    with worker_thread(gator):
        task = gator.task(tasks.add, 2, 3)
        # When the producer waits for it
        state = gator.wait(task.task_id, timeout=LONG)
    # Then it gets the final state, with the result
    assert isinstance(state, TaskState)
    assert (state.task_id, state.status, state.result, state.error) == (
        task.task_id,
        SUCCESS,
        5,
        None,
    )
    assert state.attempts == 1


def test_wait_returns_failed_with_the_error_after_the_retries(gator: Gator) -> None:
    # Given a task that fails every run, with one retry
    with worker_thread(gator), gator.options(retries=1) as options:
        task = options.task(tasks.fail, "no luck")
        # When the producer waits: not returned at RETRYING, only at the end
        state = gator.wait(task.task_id, timeout=LONG)
    assert (state.status, state.attempts) == (FAILED, 2)
    assert state.error == "RuntimeError: no luck"
    assert state.result is None


def test_wait_returns_a_success_that_came_after_a_retry(gator: Gator) -> None:
    key = f"flaky-{uuid.uuid4().hex[:6]}"
    with worker_thread(gator), gator.options(retries=2) as options:
        task = options.task(tasks.fail_times, key, 1)
        state = gator.wait(task.task_id, timeout=LONG)
    assert (state.status, state.attempts) == (SUCCESS, 2)
    assert state.result == f"{key} ok on run 2"


def test_wait_returns_canceled_when_the_task_is_canceled_meanwhile(gator: Gator) -> None:
    # Given a task due in an hour, which the worker keeps deferring
    with worker_thread(gator):
        task = gator.push(Task(delay_by=3600), tasks.add, 1, 1)
        # When someone cancels it while the producer waits
        canceler = threading.Timer(0.3, gator.cancel, args=(task.task_id,))
        canceler.start()
        try:
            state = gator.wait(task.task_id, timeout=LONG)
        finally:
            canceler.join()
    # Then the wait ends with CANCELED
    assert state.status is CANCELED


def test_wait_raises_timeout_error_when_the_time_runs_out_first(gator: Gator) -> None:
    # Given a task nobody will run yet (no worker)
    task = gator.task(tasks.add, 1, 2)
    # When the producer waits half a second
    with pytest.raises(TimeoutError, match=r"is still waiting after 0\.5 s"):
        gator.wait(task.task_id, timeout=0.5)
    # Then the task is as it was
    assert gator.status(task.task_id).status is WAITING


def test_wait_for_an_unknown_id_times_out_too(gator: Gator) -> None:
    with pytest.raises(TimeoutError, match="is still unknown after"):
        gator.wait("never-enqueued", timeout=0.2)


def test_wait_without_a_status_store_is_not_supported() -> None:
    gator = Gator("locmem://")
    task = gator.task(tasks.add, 1, 2)
    with pytest.raises(NotSupportedError, match="status store"):
        gator.wait(task.task_id, timeout=1)


def test_a_3_second_wait_on_dynamodb_costs_at_most_10_reads(sqs_endpoint: str) -> None:
    # Given a task that stays DELAYED, and a producer whose store's client
    # counts the GetItem requests it sends (botocore's event hooks)
    table = f"wait-{uuid.uuid4().hex[:12]}"
    status = f"dynamodb://us-east-1/{table}?endpoint_url={sqs_endpoint}&create=true"
    producer = Gator("locmem://", status=status)
    task = producer.push(Task(delay_by=3600), tasks.add, 1, 2)
    reads: list[str] = []
    client = producer.status_store.client  # type: ignore[union-attr]
    client.meta.events.register(
        "before-call.dynamodb.GetItem", lambda **kwargs: reads.append("GetItem")
    )
    # When it waits 3 s for it
    with pytest.raises(TimeoutError, match="is still delayed"):
        producer.wait(task.task_id, timeout=3)
    # Then it polled, with a growing interval: 10 reads at most
    # (0, 0.05, 0.125, 0.24, 0.41, 0.66, 1.04, 1.61, 2.46, 3 s)
    assert 2 <= len(reads) <= 10, reads
    assert producer.status(task.task_id).status is DELAYED


def test_wait_on_sqlite_for_a_worker_subprocess(tmp_path: Any) -> None:
    # Given a queue and a status store in SQLite files, and a real
    # `alligator worker` process on them
    queue = f"sqlite://{tmp_path}/queue.db"
    status = f"sqlite://{tmp_path}/status.db"
    gator = Gator(queue, status=status)
    done = gator.task(tasks.add, 20, 22)
    failed = gator.task(tasks.fail, "in another process")
    worker = start_worker(queue, "--status", status, "--max-tasks", "2", "--wait-time", "1")
    try:
        # When the producer waits for both
        first = gator.wait(done.task_id, timeout=LONG)
        second = gator.wait(failed.task_id, timeout=LONG)
    finally:
        code, err = stop(worker, timeout=LONG)
    # Then it sees what the other process recorded
    assert (first.status, first.result) == (SUCCESS, 42)
    assert (second.status, second.error) == (FAILED, "RuntimeError: in another process")
    assert code == 0, err
