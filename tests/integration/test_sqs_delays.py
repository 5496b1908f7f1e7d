"""Delays on SQS (CONTRACT.md section 4, points 3 and 9): a task never runs
before it is due, and waiting never uses a retry.

Up to 900 s a standard queue delays the message itself (``DelaySeconds``).
Past that, or on a FIFO queue (no per-message delay there), the consumer
defers it: a standard queue gets a fresh copy with the remaining wait (and
a fresh receive count), a FIFO queue keeps the message hidden with its
visibility timeout so the group's order holds.

The workers here run in-process so a test can lower the queue's longest
delay and see the outcomes; the SQS endpoint is still moto over HTTP.
"""

from __future__ import annotations

import threading
import time

from alligator import Gator, Task, Worker
from alligator.constants import DELAYED
from alligator.outcome import Action, Outcome
from tests.integration import jobs
from tests.processes import wait_for


class Outcomes(list):
    """Collects a worker's outcomes (``on_outcome`` runs in runner threads)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def __call__(self, outcome: Outcome) -> None:
        with self._lock:
            self.append(outcome)

    def actions(self) -> list[Action]:
        with self._lock:
            return [outcome.action for outcome in self]

    def acked(self) -> bool:
        return Action.ACK in self.actions()


def _worker(gator: Gator, seen: Outcomes) -> Worker:
    return Worker(gator, import_allow=["tests"], on_outcome=seen)


def _ran_at(path: str, key: str) -> list[float]:
    return [float(line.split()[1]) for line in jobs.read(path) if line.split()[0] == key]


def test_a_task_due_in_two_hours_is_resent_unrun_on_a_standard_queue(queue, in_thread, tmp_path):
    # Given a task due in two hours whose message arrives at once (a
    # producer that put the due time in the body only, as 1.0 did)
    gator = Gator(queue.dsn, status=f"sqlite://{tmp_path}/status.db")
    out = str(tmp_path / "runs")
    task = Task(delay_until=time.time() + 7200)
    task.to_call(jobs.stamp, out, "late")
    gator.status_store.created(task.task_id, delayed=True)
    original = queue.send_raw(task.serialize())
    # When a worker receives it
    seen = Outcomes()
    worker = _worker(gator, seen)
    thread = in_thread(worker)
    wait_for(lambda: seen, what="the deferral")
    worker.stop()
    thread.join(30)
    # Then it did not run: a fresh copy waits out SQS's longest delay
    # (900 s, then it is looked at again), the original is deleted, nothing
    # is in the DLQ, and no attempt was used
    [outcome] = seen
    assert outcome.action is Action.DEFER and outcome.message.message_id == original
    assert 7100 <= outcome.delay_seconds <= 7200
    assert jobs.read(out) == []
    assert queue.counts() == {"visible": 0, "in_flight": 0, "delayed": 1}
    assert queue.dlq_depth() == 0
    state = gator.status(task.task_id)
    assert state.status is DELAYED and state.attempts == 0


def test_a_task_due_in_two_hours_stays_hidden_unrun_on_a_fifo_queue(new_queue, in_thread, tmp_path):
    # Given a FIFO queue (no per-message delays: the message arrives at
    # once) and a task due in two hours
    queue = new_queue(fifo=True)
    gator = Gator(queue.dsn, status=f"sqlite://{tmp_path}/status.db")
    out = str(tmp_path / "runs")
    with gator.options(delay_by=7200) as opts:
        task = opts.task(jobs.stamp, out, "late")
    # When a worker receives it
    seen = Outcomes()
    worker = _worker(gator, seen)
    thread = in_thread(worker)
    wait_for(lambda: seen, what="the deferral")
    worker.stop()
    thread.join(30)
    # Then it did not run and stays hidden until due (no copy: that would
    # break the group's order), with no attempt used
    [outcome] = seen
    assert outcome.action is Action.DEFER
    assert 7100 <= outcome.delay_seconds <= 7200
    assert jobs.read(out) == []
    assert queue.counts() == {"visible": 0, "in_flight": 1, "delayed": 0}
    assert queue.dlq_depth() == 0
    state = gator.status(task.task_id)
    assert state.status is DELAYED and state.attempts == 0


def test_a_fifo_task_due_in_3_s_runs_once_when_due_even_with_no_retries(
    new_queue, in_thread, tmp_path
):
    # Given a FIFO task due in 3 s, with no retries
    queue = new_queue(fifo=True)
    gator = Gator(queue.dsn)
    out = str(tmp_path / "runs")
    with gator.options(delay_by=3, retries=0) as opts:
        task = opts.task(jobs.stamp, out, "soon")
    # When a worker consumes the queue
    seen = Outcomes()
    in_thread(_worker(gator, seen))
    wait_for(seen.acked, what="the run")
    wait_for(queue.empty, what="the delete")
    # Then it was deferred with its visibility (the same message), ran once,
    # not before its due time, and never went near the DLQ
    actions = seen.actions()
    assert actions[-1] is Action.ACK and set(actions[:-1]) == {Action.DEFER}
    assert len({outcome.message.message_id for outcome in seen}) == 1
    [ran_at] = _ran_at(out, "soon")
    assert ran_at >= task.delay_until
    assert queue.dlq_depth() == 0


def test_a_task_due_later_than_the_queue_can_delay_is_resent_until_due(queue, in_thread, tmp_path):
    # Given a standard queue whose longest per-message delay is lowered from
    # SQS's 900 s to 1 s (so re-sending fits in a test), and a task due in
    # 3 s, with no retries
    gator = Gator(queue.dsn)
    gator.backend.max_delay_seconds = 1
    out = str(tmp_path / "runs")
    with gator.options(delay_by=3, retries=0) as opts:
        task = opts.task(jobs.stamp, out, "soon")
    # When a worker (sharing that backend) consumes the queue
    seen = Outcomes()
    in_thread(_worker(gator, seen))
    wait_for(seen.acked, what="the run")
    wait_for(queue.empty, what="the deletes")
    # Then it came back early at least once and was re-sent each time (a new
    # message, so a fresh receive count), ran once as its first attempt, not
    # before its due time, and never went near the DLQ
    actions = seen.actions()
    assert actions[-1] is Action.ACK and set(actions[:-1]) == {Action.DEFER}
    assert len(actions) >= 2
    assert len({outcome.message.message_id for outcome in seen}) == len(seen)
    assert [outcome.message.attempt for outcome in seen] == [1] * len(seen)
    [ran_at] = _ran_at(out, "soon")
    assert ran_at >= task.delay_until
    assert queue.dlq_depth() == 0
