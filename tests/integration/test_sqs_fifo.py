"""FIFO queues with a worker process (CONTRACT.md section 4, point 8):
order is kept within a message group, also across a failure."""

from __future__ import annotations

from alligator import Gator
from tests.integration import jobs
from tests.processes import wait_for


def _enqueue(
    gator: Gator, out: str, groups: dict[str, list[str]], failing: tuple[str, ...] = ()
) -> None:
    """Enqueue each group's keys, interleaving the groups, one send each;
    the ``failing`` keys fail on their first run."""
    rounds = max(len(keys) for keys in groups.values())
    for n in range(rounds):
        for group, keys in groups.items():
            if n < len(keys):
                func = jobs.fail_once if keys[n] in failing else jobs.append
                with gator.options(group=group, retries=1) as opts:
                    opts.task(func, out, keys[n])


def _by_group(lines: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key in lines:
        found.setdefault(key[0], []).append(key)
    return found


def test_order_is_kept_within_each_group(new_queue, workers, tmp_path):
    # Given 20 tasks in two groups, enqueued interleaved
    queue = new_queue(fifo=True)
    out = str(tmp_path / "runs")
    groups = {"a": [f"a{n:02}" for n in range(10)], "b": [f"b{n:02}" for n in range(10)]}
    _enqueue(Gator(queue.dsn), out, groups)
    # When a worker with two runners consumes them (the groups run side by
    # side)
    worker = workers(queue.dsn, "--concurrency", "2")
    wait_for(lambda: len(jobs.read(out)) == 20, what="20 runs")
    wait_for(queue.empty, what="the deletes")
    assert worker.stop() == 0, worker.log
    # Then each group ran once each, in the order it was enqueued
    assert _by_group(jobs.read(out)) == groups


def test_a_failure_does_not_let_the_rest_of_its_group_overtake_it(
    new_queue, workers, tmp_path, atomic_receives
):
    # Given two groups in which one task each fails on its first run, and
    # succeeds on its retry (after a 1 s backoff)
    queue = new_queue(fifo=True, backoff_base=1, backoff_max=1)
    out = str(tmp_path / "runs")
    groups = {"a": [f"a{n:02}" for n in range(6)], "b": [f"b{n:02}" for n in range(6)]}
    _enqueue(Gator(queue.dsn), out, groups, failing=("a01", "b03"))
    # When a worker with two runners consumes them
    worker = workers(queue.dsn, "--concurrency", "2")
    wait_for(lambda: len(jobs.read(out)) == 12, what="12 successful runs")
    wait_for(queue.empty, what="the deletes")
    assert worker.stop() == 0, worker.log
    # Then the two failed once and were retried, and each group's successful
    # runs are still in the order enqueued: the rest of the group waited
    assert sorted(jobs.read(out + ".tries")) == ["a01", "a01", "b03", "b03"]
    assert len(worker.outcomes("retry")) == 2
    assert _by_group(jobs.read(out)) == groups
    assert queue.dlq_depth() == 0
