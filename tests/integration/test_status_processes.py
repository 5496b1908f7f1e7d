"""Duplicate suppression and leases across real worker processes, with the
status store they share: an sqlite file next to an sqlite queue, or
DynamoDB next to SQS (both on moto's server, over HTTP).

The store is given to the workers both ways the contract allows: the
``--status`` argument (sqlite) and ``ALLIGATOR_STATUS`` (DynamoDB).
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from alligator import Gator, Task
from alligator.backends.base import Outgoing
from alligator.constants import RUNNING, SUCCESS
from tests import tasks
from tests.processes import lines, wait_for


@dataclass
class Setup:
    """A queue and a status store that test and workers share."""

    queue: str
    status: str
    args: tuple[str, ...]  # how workers get the store
    env: dict[str, str]

    def gator(self) -> Gator:
        return Gator(self.queue, status=self.status)


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's UpdateItem atomic, as DynamoDB's is: moto checks the
    condition and writes unlocked, so two racing claims could both pass.
    The server runs in this process, so a lock restores the guarantee."""
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.update_item
    lock = threading.Lock()

    def update_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", update_item)


@pytest.fixture(params=["sqlite", pytest.param("sqs", marks=pytest.mark.moto_only)])
def setup(request: pytest.FixtureRequest, tmp_path: Any) -> Callable[..., Setup]:
    """``setup(**queue_options)``: a fresh queue and store for one test.
    Retries and polls of busy or waiting tasks come after 1 s."""

    def make(**options: Any) -> Setup:
        options = {"batch_size": 1, "backoff_base": 1, **options}
        query = "&".join(f"{key}={value}" for key, value in options.items())
        if request.param == "sqlite":
            status = f"sqlite://{tmp_path}/status.db"
            return Setup(f"sqlite://{tmp_path}/q.db?{query}", status, ("--status", status), {})
        request.getfixturevalue("atomic_moto")
        queue = request.getfixturevalue("new_queue")(**options)
        table = f"status-{uuid.uuid4().hex[:12]}"
        endpoint = request.getfixturevalue("sqs_endpoint")
        status = f"dynamodb://us-east-1/{table}?endpoint_url={endpoint}&create=true"
        return Setup(queue.dsn, status, (), {"ALLIGATOR_STATUS": status})

    return make


def _dead_letters(gator: Gator) -> int:
    dlq = gator.backend.dlq_backend()
    try:
        return dlq.size()
    finally:
        dlq.close()


def test_two_worker_processes_holding_copies_of_one_message_run_it_once(setup, workers, tmp_path):
    # Given one task (2 s long) sent twice, as SQS may deliver it
    shared = setup()
    gator = shared.gator()
    out = str(tmp_path / "runs")
    task = Task()
    task.to_call(tasks.record, out, "twice", 2.0)
    gator.backend.send_many([Outgoing(task.serialize())] * 2)
    # When one worker is running a copy as a second worker takes the other
    first = workers(shared.queue, "--max-tasks", "1", *shared.args, env=shared.env)
    wait_for(lambda: lines(tmp_path / "runs.started") == ["twice"], what="the first run")
    assert gator.status(task.task_id).status is RUNNING
    second = workers(shared.queue, *shared.args, env=shared.env)
    assert first.wait() == 0, first.log  # done after its one task
    wait_for(lambda: gator.len() == 0, what="both copies gone")
    assert second.stop() == 0, second.log
    # Then it ran once: the second copy waited while the first ran (its
    # lease kept alive by the heartbeat), then was deleted unrun
    assert lines(tmp_path / "runs.started") == ["twice"]
    assert lines(tmp_path / "runs") == ["twice"]
    assert [o["outcome"] for o in first.outcomes()] == ["success"]
    seconds = [o["outcome"] for o in second.outcomes()]
    assert seconds[-1] == "duplicate" and set(seconds) <= {"deferred", "duplicate"}, seconds
    state = gator.status(task.task_id)
    assert (state.status, state.attempts, state.result) == (SUCCESS, 1, "twice")
    assert _dead_letters(gator) == 0


def test_a_worker_killed_holding_a_lease_the_task_still_runs_on_another(setup, workers, tmp_path):
    # Given a worker running a task, holding its message and its status
    # lease for the 2 s visibility timeout, kept alive by the heartbeat
    shared = setup(visibility_timeout=2)
    gator = shared.gator()
    out = str(tmp_path / "runs")
    task = gator.task(tasks.slow_first_run, out, "orphan", 60.0)
    first = workers(shared.queue, *shared.args, env=shared.env)
    wait_for(lambda: lines(tmp_path / "runs.started") == ["orphan"], what="the first run")
    assert gator.status(task.task_id).status is RUNNING
    # When it is killed mid-task
    first.send_signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL
    # Then the message and the lease expire, and another worker runs it
    second = workers(shared.queue, *shared.args, env=shared.env)
    wait_for(lambda: lines(tmp_path / "runs") == ["orphan"], what="the run on the second worker")
    wait_for(lambda: gator.len() == 0, what="the delete")
    assert second.stop() == 0, second.log
    assert lines(tmp_path / "runs.started") == ["orphan", "orphan"]
    outcomes = [o["outcome"] for o in second.outcomes()]
    assert outcomes[-1] == "success" and set(outcomes) <= {"deferred", "success"}, outcomes
    state = gator.status(task.task_id)
    assert (state.status, state.attempts, state.result) == (SUCCESS, 2, "orphan")
    assert _dead_letters(gator) == 0
