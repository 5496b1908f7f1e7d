"""Workers as real processes on sqlite: SIGKILL and SIGTERM mid-task."""

from __future__ import annotations

import signal

from alligator import Gator
from tests import tasks
from tests.processes import lines, start_worker, stop, wait_for


def test_sigkill_mid_task_loses_nothing_and_the_task_runs_again(tmp_path):
    # Given a task that a worker is running, and a 1 s lease
    dsn = f"sqlite://{tmp_path}/q.db?visibility_timeout=1"
    gator = Gator(dsn)
    out = tmp_path / "runs"
    gator.task(tasks.slow_first_run, str(out), "k")
    first = start_worker(dsn)
    started = tmp_path / "runs.started"
    wait_for(lambda: lines(started) == ["k"], what="the task to start")
    # When the worker is killed with SIGKILL mid-task
    first.send_signal(signal.SIGKILL)
    code, _ = stop(first)
    assert code == -signal.SIGKILL
    assert lines(out) == []  # it never finished
    # Then the lease expires and a second worker runs it again, to the end
    second = start_worker(dsn)
    try:
        wait_for(lambda: lines(out) == ["k"], what="the second run")
        wait_for(lambda: gator.len() == 0, what="the delete")
    finally:
        second.send_signal(signal.SIGTERM)
        assert stop(second)[0] == 0
    assert lines(started) == ["k", "k"]  # ran twice, finished once, lost nothing


def test_sigterm_finishes_the_running_task_releases_the_rest_and_exits_0(tmp_path):
    # Given a worker running the first of five tasks (all five received)
    dsn = f"sqlite://{tmp_path}/q.db?visibility_timeout=300"
    gator = Gator(dsn)
    out = tmp_path / "runs"
    gator.task(tasks.record, str(out), "first", 2.0)
    gator.task_many([(tasks.record, (str(out), f"rest{n}"), {}) for n in range(4)])
    worker = start_worker(dsn)
    wait_for(lambda: lines(tmp_path / "runs.started") == ["first"], what="first task")
    # When it gets SIGTERM mid-task
    worker.send_signal(signal.SIGTERM)
    code, err = stop(worker)
    # Then it exits 0 after finishing the running task...
    assert code == 0, err
    assert lines(out) == ["first"]
    # ...and the four unstarted messages are visible again at once, not
    # after the 300 s visibility timeout
    assert gator.len() == 4
    released = gator.backend.receive(max_messages=10, wait_seconds=0)
    assert len(released) == 4


def test_bad_dsn_exits_2_with_one_line(tmp_path):
    worker = start_worker("nosuch://queue")
    code, err = stop_when_done(worker)
    assert code == 2
    assert err.strip().count("\n") == 0 and "unknown scheme" in err


def stop_when_done(process):
    _, err = process.communicate(timeout=60)
    return process.returncode, err
