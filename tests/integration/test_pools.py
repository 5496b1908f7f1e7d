"""The process pool on moto's SQS, with real worker processes (CONTRACT.md
section 8): tasks run in child processes, a child that dies fails only
its own run, children are recycled, and a stop with children running loses
nothing."""

from __future__ import annotations

import os
import signal
from collections import Counter

from alligator import Gator
from tests.integration import jobs, pool_jobs
from tests.processes import wait_for


def _pids(path: str) -> dict[str, int]:
    """``{key: pid}`` from ``KEY PID`` lines."""
    return {key: int(pid) for key, pid in (line.split() for line in jobs.read(path))}


def test_the_process_pool_runs_each_task_once_in_a_child(queue, workers, tmp_path):
    # Given twelve tasks that record the process they ran in
    out = str(tmp_path / "pids")
    keys = [f"k{n}" for n in range(12)]
    Gator(queue.dsn).task_many([(pool_jobs.pid, (out, key), {}) for key in keys])
    # When a worker runs them with two child processes
    worker = workers(queue.dsn, "--pool", "processes", "--concurrency", "2")
    wait_for(lambda: len(jobs.read(out)) >= 12, what="twelve runs")
    wait_for(queue.empty, what="the deletes")
    assert worker.stop() == 0, worker.log
    # Then each ran exactly once, none in the worker's own process
    lines = jobs.read(out)
    assert Counter(line.split()[0] for line in lines) == Counter(keys)
    pids = set(_pids(out).values())
    assert worker.process.pid not in pids
    assert 1 <= len(pids) <= 2
    assert Counter(o["outcome"] for o in worker.outcomes()) == {"success": 12}
    assert queue.dlq_depth() == 0


def test_a_segfault_fails_only_its_own_run_and_the_child_is_replaced(new_queue, workers, tmp_path):
    # Given good tasks around one that dies of SIGSEGV (one retry, 1 s backoff)
    queue = new_queue(backoff_base=1, backoff_max=1)
    out = str(tmp_path / "pids")
    gator = Gator(queue.dsn)
    gator.task_many([(pool_jobs.pid, (out, f"before{n}"), {}) for n in range(4)])
    with gator.options(retries=1) as opts:
        crash = opts.task(pool_jobs.segfault, out, "crash")
    gator.task_many([(pool_jobs.pid, (out, f"after{n}"), {}) for n in range(4)])
    # When a worker with two children runs them
    worker = workers(queue.dsn, "--pool", "processes", "--concurrency", "2")
    wait_for(lambda: queue.dlq_depth() == 1, what="the dead letter")
    wait_for(lambda: len(jobs.read(out)) >= 10, what="every run")
    wait_for(queue.empty, what="the deletes")
    wait_for(lambda: len(worker.outcomes()) == 10, what="ten outcome lines")
    # Then the crash ran twice (a retry, then the DLQ with the signal named)...
    [dead] = queue.dlq_messages()
    assert dead["body"] == crash.serialize()
    error = dead["attributes"]["alligator-error"]
    assert error.startswith("WorkerLostError: "), error
    assert "SIGSEGV" in error, error
    assert dead["attributes"]["alligator-attempts"] == "2"
    crashes = [
        (o["outcome"], o["attempt"]) for o in worker.outcomes() if o["task_id"] == crash.task_id
    ]
    assert crashes == [("retry", 1), ("dead", 2)]
    # ...every good task ran exactly once, and no child that crashed ran
    # anything after its crash: it was replaced
    lines = [line.split() for line in jobs.read(out)]
    good = [key for key, _ in lines if key != "crash"]
    assert Counter(good) == Counter(
        [f"before{n}" for n in range(4)] + [f"after{n}" for n in range(4)]
    )
    for index, (key, pid) in enumerate(lines):
        if key == "crash":
            assert pid not in [later for _, later in lines[index + 1 :]], lines
    assert worker.process.pid not in {int(pid) for _, pid in lines}
    # And the worker is still up: a task sent now runs too
    assert worker.process.poll() is None, worker.log
    gator.task(pool_jobs.pid, out, "later")
    wait_for(lambda: "later" in [key for key, _ in (line.split() for line in jobs.read(out))])
    wait_for(queue.empty, what="the last delete")
    assert worker.stop() == 0, worker.log
    assert Counter(o["outcome"] for o in worker.outcomes()) == {"success": 9, "retry": 1, "dead": 1}


def test_a_child_killed_from_outside_loses_nothing(new_queue, workers, tmp_path):
    # Given a task that records its child's pid and sleeps on its first run
    # (one retry, 1 s backoff), and a quick task behind it
    queue = new_queue(backoff_base=1, backoff_max=1)
    out = str(tmp_path / "marks")
    gator = Gator(queue.dsn)
    with gator.options(retries=1) as opts:
        victim = opts.task(pool_jobs.sleep_first_run, out, "victim", 60.0)
    quick = gator.task(pool_jobs.pid, str(tmp_path / "pids"), "quick")
    worker = workers(queue.dsn, "--pool", "processes", "--concurrency", "2")
    wait_for(lambda: jobs.read(out), what="the victim to start")
    [start] = jobs.read(out)
    child = int(start.split()[-1])
    assert child != worker.process.pid
    # When that child is killed from outside (the OOM killer, an operator)
    os.kill(child, signal.SIGKILL)
    # Then the run fails with WorkerLostError naming the signal, is retried
    # in a new child and succeeds; nothing was lost, nothing dead-lettered
    wait_for(
        lambda: any(line.startswith("end victim") for line in jobs.read(out)), what="the retry"
    )
    wait_for(queue.empty, what="the deletes")
    assert worker.stop() == 0, worker.log
    runs = [
        (o["outcome"], o["attempt"]) for o in worker.outcomes() if o["task_id"] == victim.task_id
    ]
    assert runs == [("retry", 1), ("success", 2)]
    [lost] = worker.outcomes("retry")
    assert lost["error"].startswith("WorkerLostError: "), lost
    assert "SIGKILL" in lost["error"], lost
    second = jobs.read(out)[1:]
    assert [line.split()[:2] for line in second] == [["start", "victim"], ["end", "victim"]]
    assert int(second[0].split()[-1]) != child
    assert [o["task_id"] for o in worker.outcomes("success")].count(quick.task_id) == 1
    assert queue.dlq_depth() == 0


def test_max_tasks_per_child_replaces_the_child_every_n_tasks(queue, workers, tmp_path):
    # Given nine tasks that record their process
    out = str(tmp_path / "pids")
    keys = [f"k{n}" for n in range(9)]
    Gator(queue.dsn).task_many([(pool_jobs.pid, (out, key), {}) for key in keys])
    # When one child runs them, replaced after every three tasks
    worker = workers(queue.dsn, "--pool", "processes", "--max-tasks-per-child", "3")
    wait_for(lambda: len(jobs.read(out)) >= 9, what="nine runs")
    wait_for(queue.empty, what="the deletes")
    assert worker.stop() == 0, worker.log
    # Then the pid changes every three tasks, and each task ran once
    lines = [line.split() for line in jobs.read(out)]
    assert Counter(key for key, _ in lines) == Counter(keys)
    pids = [pid for _, pid in lines]
    assert pids[0] == pids[1] == pids[2] != pids[3] == pids[4] == pids[5] != pids[6]
    assert pids[6] == pids[7] == pids[8]
    assert len(set(pids)) == 3
    assert Counter(o["outcome"] for o in worker.outcomes()) == {"success": 9}


def test_max_memory_per_child_replaces_a_child_that_grew(queue, workers, tmp_path):
    # Given small tasks, then one that keeps 100 MiB alive in its process
    # (a leak), then small tasks again
    out = str(tmp_path / "pids")
    gator = Gator(queue.dsn)
    gator.task_many([(pool_jobs.pid, (out, f"before{n}"), {}) for n in range(3)])
    gator.task(pool_jobs.grow, out, "grow", 100)
    gator.task_many([(pool_jobs.pid, (out, f"after{n}"), {}) for n in range(3)])
    # When one child runs them with a memory limit well above what a fresh
    # child holds and well below what the leak adds
    worker = workers(queue.dsn, "--pool", "processes", "--max-memory-per-child", "90")
    wait_for(lambda: len(jobs.read(out)) >= 7, what="seven runs")
    wait_for(queue.empty, what="the deletes")
    assert worker.stop() == 0, worker.log
    # Then the small tasks did not replace the child; the one that grew ran
    # to success in it, and the child was replaced right after it
    pids = dict(line.split() for line in jobs.read(out))
    assert pids["before0"] == pids["before1"] == pids["before2"] == pids["grow"]
    assert pids["after0"] == pids["after1"] == pids["after2"] != pids["grow"]
    assert Counter(o["outcome"] for o in worker.outcomes()) == {"success": 7}
    assert "max_memory_per_child" in worker.log


def test_sigterm_settles_children_that_finish_in_the_grace_and_releases_the_rest(
    new_queue, workers, tmp_path
):
    # Given, on a 120 s lease, two tasks running in two children (one that
    # finishes when the test says, one that sleeps a minute on its first
    # run) and two received behind them, not started
    queue = new_queue(visibility_timeout=120)
    out = str(tmp_path / "marks")
    flag = str(tmp_path / "flag")
    gator = Gator(queue.dsn)
    quick = gator.task(pool_jobs.wait_for_file, out, "quick", flag)
    slow = gator.task(pool_jobs.sleep_first_run, out, "slow", 60.0)
    waiting = gator.task_many([(jobs.mark, (out, f"w{n}"), {}) for n in range(2)])
    first = workers(queue.dsn, "--pool", "processes", "--concurrency", "2", "--shutdown-grace", "5")
    started = {"start quick", "start slow"}
    wait_for(lambda: started <= {" ".join(line.split()[:2]) for line in jobs.read(out)})
    assert queue.counts()["in_flight"] == 4
    # When it gets SIGTERM, and the quick task finishes during the grace
    first.send_signal(signal.SIGTERM)
    wait_for(lambda: "got signal" in first.log, what="the signal to land")
    with open(flag, "w"):
        pass
    # Then it exits 0 once the grace is over
    assert first.wait() == 0, first.log
    # The quick task was settled (deleted); the slow one's child was killed
    # at the end of the grace and its message released at once, with the
    # two never started: all three are visible now, inside their 120 s lease
    assert [(o["task_id"], o["outcome"]) for o in first.outcomes()] == [(quick.task_id, "success")]
    assert "still running at the end of the grace" in first.log
    assert queue.counts() == {"visible": 3, "in_flight": 0, "delayed": 0}
    assert "end slow" not in " ".join(jobs.read(out))
    # And a second worker runs those three, each once, the slow one again
    second = workers(queue.dsn, "--pool", "processes", "--concurrency", "2")
    wait_for(lambda: len(second.outcomes()) == 3, what="the released tasks")
    wait_for(queue.empty, what="the deletes")
    assert second.stop() == 0, second.log
    assert sorted(o["task_id"] for o in second.outcomes("success")) == sorted(
        [slow.task_id] + [task.task_id for task in waiting]
    )
    assert [line.split()[:2] for line in jobs.read(out)].count(["end", "quick"]) == 1
    assert queue.dlq_depth() == 0


def test_with_threads_a_segfault_kills_the_worker_and_loses_nothing(new_queue, workers, tmp_path):
    # Given, on a 2 s lease, a task that dies of SIGSEGV on its first run
    # and four good tasks received with it
    queue = new_queue(visibility_timeout=2)
    out = str(tmp_path / "pids")
    gator = Gator(queue.dsn)
    crash = gator.task(pool_jobs.segfault_first_run, out, "crash")
    good = gator.task_many([(pool_jobs.pid, (out, f"g{n}"), {}) for n in range(4)])
    # When a thread-pool worker runs it: the whole worker dies, as expected
    # without child processes
    first = workers(queue.dsn, "--pool", "threads")
    assert first.wait() == -signal.SIGSEGV, first.log
    assert jobs.read(out) == [f"crash {first.process.pid}"]
    # Then nothing was dead-lettered without a reason: once their lease is
    # over, every message (the crash too) runs on the next worker, once
    assert queue.dlq_depth() == 0
    second = workers(queue.dsn, "--concurrency", "2")
    wait_for(lambda: len(second.outcomes()) == 5, what="every task on the next worker")
    wait_for(queue.empty, what="the deletes")
    assert second.stop() == 0, second.log
    assert sorted(o["task_id"] for o in second.outcomes("success")) == sorted(
        [crash.task_id] + [task.task_id for task in good]
    )
    assert Counter(line.split()[0] for line in jobs.read(out)) == {
        "crash": 2,
        "g0": 1,
        "g1": 1,
        "g2": 1,
        "g3": 1,
    }
    assert queue.dlq_depth() == 0
