"""A worker's life on SQS: SIGKILL, SIGTERM and the heartbeat, with real
processes (CONTRACT.md section 4, points 2, 5 and 6)."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from alligator import Gator
from tests import tasks
from tests.integration import jobs
from tests.processes import lines, wait_for

#: Ways a worker can stop mid-task, with the exit code each gives.
STOPS = {
    "sigkill": -signal.SIGKILL,
    "two_sigterms": 1,  # the second signal: out at once
    "sigterm_past_the_grace": 0,  # the task outlives --shutdown-grace
}


def _got_signal(worker) -> bool:
    return any("got signal" in record.get("message", "") for record in worker.records())


@pytest.mark.parametrize("how", list(STOPS))
def test_a_worker_stopped_mid_task_loses_nothing(new_queue, workers, tmp_path, how):
    # Given a worker running a slow task, with three quick ones received
    # behind it, on a 2 s lease (moto hands them out in the order sent)
    queue = new_queue(visibility_timeout=2)
    out = tmp_path / "runs"
    gator = Gator(queue.dsn)
    gator.task(tasks.slow_first_run, str(out), "slow", 60.0)
    gator.task_many([(tasks.record, (str(out), f"k{n}"), {}) for n in range(3)])
    first = workers(queue.dsn, "--shutdown-grace", "1")
    wait_for(lambda: lines(tmp_path / "runs.started") == ["slow"], what="the slow task")
    assert queue.counts()["in_flight"] == 4
    # When it is stopped mid-task: killed, or signalled twice, or signalled
    # once with the task running past the shutdown grace
    if how == "sigkill":
        first.send_signal(signal.SIGKILL)
    else:
        first.send_signal(signal.SIGTERM)
        if how == "two_sigterms":
            # (one at a time: two signals pending at once are one signal)
            wait_for(lambda: _got_signal(first), what="the first signal to land")
            first.send_signal(signal.SIGTERM)
    assert first.wait() == STOPS[how], first.log
    assert lines(out) == []  # nothing finished
    # Then, once the lease is over (or at once, for what a signal
    # released), a second worker runs all four to the end
    second = workers(queue.dsn)
    wait_for(lambda: len(lines(out)) == 4, what="all four runs")
    wait_for(queue.empty, what="the deletes")
    assert second.stop() == 0, second.log
    # The slow one ran twice (cut short once), the others once; each came
    # back as its second receive; nothing was lost and nothing dead-lettered
    assert Counter(lines(out)) == {"slow": 1, "k0": 1, "k1": 1, "k2": 1}
    assert Counter(lines(tmp_path / "runs.started")) == {"slow": 2, "k0": 1, "k1": 1, "k2": 1}
    assert [o["attempt"] for o in second.outcomes("success")] == [2, 2, 2, 2]
    assert queue.dlq_depth() == 0


def test_sigterm_finishes_the_running_task_and_releases_the_rest_at_once(
    new_queue, workers, tmp_path
):
    # Given a worker running one of five slow tasks (all five received) on a
    # 120 s lease: only a release can bring the other four back quickly
    queue = new_queue(visibility_timeout=120)
    out = str(tmp_path / "marks")
    keys = [f"k{n}" for n in range(5)]
    Gator(queue.dsn).task_many([(jobs.mark, (out, key, 1.0), {}) for key in keys])
    first = workers(queue.dsn)
    wait_for(lambda: len(jobs.read(out)) == 1, what="the first task to start")
    assert queue.counts()["in_flight"] == 5
    # When it gets SIGTERM mid-task
    first.send_signal(signal.SIGTERM)
    # Then it finishes that task and exits 0...
    assert first.wait() == 0, first.log
    running = jobs.read(out)[0].split()[1]
    assert jobs.read(out) == [f"start {running}", f"end {running}"]
    assert [o["outcome"] for o in first.outcomes()] == ["success"]
    # ...and the four it never started are visible again at once: a second
    # worker gets them well inside the 120 s lease (the wait below gives up
    # after 30 s), each as its second receive
    second = workers(queue.dsn, "--concurrency", "4")
    rest = [key for key in keys if key != running]
    wait_for(lambda: len(jobs.read(out)) == 10, what="the released tasks")
    wait_for(queue.empty, what="the deletes")
    assert second.stop() == 0, second.log
    ends = [line.split()[1] for line in jobs.read(out) if line.startswith("end")]
    assert sorted(ends) == sorted(keys)
    assert sorted(o["task_id"] for o in second.outcomes("success")) == sorted(
        o["task_id"] for o in second.outcomes()
    )
    # (Their second receive, with no retries: a release costs a receive,
    # never a run.)
    assert [o["attempt"] for o in second.outcomes("success")] == [2] * len(rest)


def test_a_task_longer_than_the_lease_is_not_handed_to_a_second_worker(
    new_queue, workers, tmp_path
):
    # Given a 2 s lease; a quick task, a 5 s task, and one more waiting
    # behind it, all received by one worker with one runner; and a second
    # worker polling the queue at the same time
    queue = new_queue(visibility_timeout=2)
    out = str(tmp_path / "marks")
    gator = Gator(queue.dsn)
    for key, seconds in (("quick", 0.0), ("slow", 5.0), ("waiting", 0.0)):
        gator.task(jobs.mark, out, key, seconds)
    first = workers(queue.dsn)
    wait_for(lambda: "start slow" in jobs.read(out), what="the slow task to start")
    second = workers(queue.dsn)
    # When the slow task outlives its lease two times over
    wait_for(lambda: "end slow" in jobs.read(out), what="the slow task to end")
    wait_for(queue.empty, what="the deletes")
    # Then none of the three reached the second worker: the heartbeat kept
    # the slow one and the one waiting behind it hidden, and the quick one,
    # finished before it, was deleted rather than left to its lease
    assert first.stop() == 0, first.log
    assert second.stop() == 0, second.log
    assert jobs.read(out) == [
        "start quick",
        "end quick",
        "start slow",
        "end slow",
        "start waiting",
        "end waiting",
    ]
    assert second.outcomes() == []


def test_the_heartbeat_goes_on_while_a_sigterm_lets_a_task_finish(new_queue, workers, tmp_path):
    # Given a worker running a 6 s task on a 2 s lease, and a second worker
    # polling the queue
    queue = new_queue(visibility_timeout=2)
    out = str(tmp_path / "marks")
    Gator(queue.dsn).task(jobs.mark, out, "slow", 6.0)
    first = workers(queue.dsn)
    wait_for(lambda: "start slow" in jobs.read(out), what="the slow task to start")
    second = workers(queue.dsn)
    wait_for(second.consuming, what="the second worker")
    # When the first gets SIGTERM while the task has seconds left
    first.send_signal(signal.SIGTERM)
    # Then it lets the task finish, keeping its lease alive meanwhile, and
    # exits 0; the second worker never got the task
    assert first.wait() == 0, first.log
    wait_for(queue.empty, what="the delete")
    assert second.stop() == 0, second.log
    assert jobs.read(out) == ["start slow", "end slow"]
    assert second.outcomes() == []
