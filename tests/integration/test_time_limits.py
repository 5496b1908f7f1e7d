"""Time limits on moto's SQS, with real worker processes (CONTRACT.md
section 8): a run still going at its limit fails with ``TimeLimitExceeded``
and is retried or dead-lettered like any failed run, while the others keep
running, in each pool and for coroutines; its lease is not kept.

Every limit here comes from one of the three places a limit can come from:
the task option, the worker's ``--time-limit``, ``ALLIGATOR_TIME_LIMIT``.
"""

from __future__ import annotations

from collections import Counter

from alligator import Gator
from tests.integration import jobs, pool_jobs
from tests.processes import wait_for

#: Seconds a stuck task would take without its limit: "forever".
FOREVER = 1000.0


def _errors(queue) -> dict[str, str]:
    """``{body: alligator-error}`` of everything in the DLQ."""
    return {d["body"]: d["attributes"]["alligator-error"] for d in queue.dlq_messages()}


def test_threads_stop_a_busy_loop_and_cancel_a_coroutine_at_their_limits(
    new_queue, workers, tmp_path
):
    # Given a pure-Python busy loop with a 1 s limit of its own and one
    # retry, a coroutine awaiting a long sleep (the worker's 1 s limit
    # applies), a task longer than the worker's limit whose own limit
    # allows it, and quick tasks
    queue = new_queue(backoff_base=1, backoff_max=1)
    out = str(tmp_path / "marks")
    gator = Gator(queue.dsn)
    with gator.options(time_limit=1, retries=1) as opts:
        spinner = opts.task(pool_jobs.spin, out, "spinner", FOREVER)
    sleeper = gator.task(pool_jobs.async_sleep, out, "sleeper", FOREVER)
    with gator.options(time_limit=30) as opts:
        longer = opts.task(pool_jobs.spin, out, "longer", 1.5)
    quick = gator.task_many([(jobs.mark, (out, f"q{n}"), {}) for n in range(4)])
    # When a thread-pool worker with a 1 s default limit runs them
    worker = workers(queue.dsn, "--concurrency", "2", "--time-limit", "1")
    wait_for(lambda: len(worker.outcomes()) == 8, what="eight outcomes")
    wait_for(queue.empty, what="the queue to empty")
    # Then both stuck runs failed with TimeLimitExceeded at their limits and
    # ended in the DLQ (the busy loop after its retry): neither was held
    errors = _errors(queue)
    assert errors.keys() == {spinner.serialize(), sleeper.serialize()}
    assert errors[spinner.serialize()].startswith("TimeLimitExceeded: ")
    assert errors[sleeper.serialize()].startswith("TimeLimitExceeded: ")
    by_task = Counter((o["task_id"], o["outcome"]) for o in worker.outcomes())
    assert by_task[(spinner.task_id, "retry")] == 1
    assert by_task[(spinner.task_id, "dead")] == 1
    assert by_task[(sleeper.task_id, "dead")] == 1
    # ...and everything else ran to success, once, meanwhile
    assert by_task[(longer.task_id, "success")] == 1
    assert sorted(o["task_id"] for o in worker.outcomes("success")) == sorted(
        [longer.task_id] + [task.task_id for task in quick]
    )
    ends = [line for line in jobs.read(out) if line.startswith("end")]
    assert sorted(ends) == sorted(["end longer"] + [f"end q{n}" for n in range(4)])
    # The busy loop's thread and the coroutine's came back: none abandoned
    assert "has not returned" not in worker.log
    assert worker.process.poll() is None
    assert worker.stop() == 0, worker.log


def test_threads_abandon_a_thread_stuck_in_a_c_call_and_refill_its_slot(
    new_queue, workers, tmp_path
):
    # Given, on a 2 s lease, two tasks that each block in one time.sleep (a
    # C call no exception can interrupt; one of them has a retry), then two
    # pairs of tasks that each wait for their partner to start (with their
    # own, longer limit)
    queue = new_queue(visibility_timeout=2, backoff_base=1, backoff_max=1)
    out = str(tmp_path / "marks")
    gator = Gator(queue.dsn)
    with gator.options(retries=1) as opts:
        retried = opts.task(pool_jobs.block, out, "b0", FOREVER)
    stuck = [retried, gator.task(pool_jobs.block, out, "b1", FOREVER)]
    with gator.options(time_limit=30) as opts:
        pairs = opts.task_many(
            [
                (pool_jobs.meet, (out, "m0", "m1"), {}),
                (pool_jobs.meet, (out, "m1", "m0"), {}),
                (pool_jobs.meet, (out, "m2", "m3"), {}),
                (pool_jobs.meet, (out, "m3", "m2"), {}),
            ]
        )
    # When a worker with two threads and ALLIGATOR_TIME_LIMIT=1 runs them
    worker = workers(queue.dsn, "--concurrency", "2", env={"ALLIGATOR_TIME_LIMIT": "1"})
    wait_for(lambda: len(worker.outcomes()) == 7, what="seven outcomes")
    wait_for(queue.empty, what="the queue to empty")
    # Then the stuck runs failed with TimeLimitExceeded although their
    # threads never came back, and their leases were not kept: the one with
    # a retry came back after its 1 s backoff, and both were dead-lettered
    errors = _errors(queue)
    assert errors.keys() == {task.serialize() for task in stuck}
    assert all(error.startswith("TimeLimitExceeded: ") for error in errors.values())
    runs = [
        (o["outcome"], o["attempt"]) for o in worker.outcomes() if o["task_id"] == retried.task_id
    ]
    assert runs == [("retry", 1), ("dead", 2)]
    assert worker.log.count("has not returned") == 3
    # ...and their slots were refilled: the next tasks still ran two at a
    # time, each pair meeting, each task once
    lines = jobs.read(out)
    assert sorted(line for line in lines if not line.startswith("start")) == [
        "met m0",
        "met m1",
        "met m2",
        "met m3",
    ]
    assert Counter(line for line in lines if line.startswith(("start b", "end b"))) == {
        "start b0": 2,
        "start b1": 1,
    }
    assert sorted(o["task_id"] for o in worker.outcomes("success")) == sorted(
        task.task_id for task in pairs
    )
    assert worker.stop() == 0, worker.log


def test_processes_kill_a_child_past_its_limit_and_go_on(new_queue, workers, tmp_path):
    # Given, on a 2 s lease, a busy loop (one retry) and a task blocked in a
    # C call, both past the worker's 1 s limit, and quick tasks
    queue = new_queue(visibility_timeout=2, backoff_base=1, backoff_max=1)
    out = str(tmp_path / "marks")
    pids = str(tmp_path / "pids")
    gator = Gator(queue.dsn)
    with gator.options(retries=1) as opts:
        spinner = opts.task(pool_jobs.spin, out, "spinner", FOREVER)
    blocked = gator.task(pool_jobs.block, out, "blocked", FOREVER)
    quick = gator.task_many([(pool_jobs.pid, (pids, f"q{n}"), {}) for n in range(4)])
    # When a worker with two children and --time-limit 1 runs them
    worker = workers(queue.dsn, "--pool", "processes", "--concurrency", "2", "--time-limit", "1")
    wait_for(lambda: len(worker.outcomes()) == 7, what="seven outcomes")
    wait_for(queue.empty, what="the queue to empty")
    # Then both were dead-lettered with TimeLimitExceeded (the busy loop
    # after its retry), their children replaced; the quick tasks ran once
    errors = _errors(queue)
    assert errors.keys() == {spinner.serialize(), blocked.serialize()}
    assert all(error.startswith("TimeLimitExceeded: ") for error in errors.values())
    runs = [
        (o["outcome"], o["attempt"]) for o in worker.outcomes() if o["task_id"] == spinner.task_id
    ]
    assert runs == [("retry", 1), ("dead", 2)]
    assert sorted(o["task_id"] for o in worker.outcomes("success")) == sorted(
        task.task_id for task in quick
    )
    assert Counter(line.split()[0] for line in jobs.read(pids)) == {f"q{n}": 1 for n in range(4)}
    # Three children were replaced: two for the busy loop's runs (their own
    # watchdog stopped it), one killed by the parent a second past the limit
    # (a C call keeps a child's watchdog from firing)
    assert worker.log.count("its task went past its time limit") == 3
    assert errors[blocked.serialize()].endswith("its child was killed")
    assert worker.process.poll() is None
    assert worker.stop() == 0, worker.log
