"""Tasks and faults that once stopped a worker, each against a worker
process on moto's SQS over HTTP (CONTRACT.md section 4, items 12 and 14;
issue 11, items 1, 6, 7 and 9).

Each test says what ran, what ran twice, what was lost (nothing) and where
every message ended; the worker must stay up and exit 0 at SIGTERM.
"""

from __future__ import annotations

import json
import re
import signal
from collections import Counter
from typing import Any

import pytest

from alligator import Gator
from tests.helpers import BASE_EXCEPTIONS, raw_task
from tests.integration import jobs
from tests.processes import start_worker, stop, wait_for
from tests.rule_proxy import RuleProxy


def task_id_of(message: dict[str, Any]) -> str:
    return json.loads(message["body"])["task_id"]


# -- 1. a task cannot stop its consumer -----------------------------------------------


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_base_exceptions_and_sys_exit_at_import_fail_their_run_and_the_worker_goes_on(
    new_queue, workers, tmp_path, pool
):
    # Given tasks that raise KeyboardInterrupt, SystemExit(0|1|3) and
    # CancelledError (from a function and from a coroutine), and one whose
    # allowed module calls sys.exit(3) at import, each with one retry; and
    # good tasks enqueued behind them
    queue = new_queue(backoff_base=1, backoff_max=1)
    out = str(tmp_path / "runs")
    gator = Gator(queue.dsn)
    expected: dict[str, str] = {}
    with gator.options(retries=1) as opts:
        for key, (kind, error) in BASE_EXCEPTIONS.items():
            expected[opts.task(jobs.raises, out, key, kind).task_id] = error
        expected[opts.task(jobs.cancelled, out, "async-cancel").task_id] = "CancelledError"
    queue.send_raw(raw_task("tests.exits_at_import", "run", task_id="at-import", retries=1))
    expected["at-import"] = "SystemExit: 3"
    good = [f"good{n}" for n in range(5)]
    gator.task_many([(jobs.append, (out, key), {}) for key in good])
    # When one worker consumes them all
    worker = workers(queue.dsn, "--pool", pool)
    wait_for(lambda: queue.dlq_depth() == len(expected), timeout=60, what="the DLQ copies")
    wait_for(lambda: all(key in jobs.read(out) for key in good), what="the good tasks")
    wait_for(queue.empty, what="the source deletes")
    # Then it is still up, and stops cleanly
    assert worker.process.poll() is None, worker.log
    assert worker.stop() == 0, worker.log
    # And each hostile task ran twice (its retry), each good one once
    runs = Counter(jobs.read(out))
    assert runs == {
        **{key: 2 for key in BASE_EXCEPTIONS},
        "async-cancel": 2,
        **dict.fromkeys(good, 1),
    }
    outcomes = Counter((o["task_id"], o["outcome"], o["attempt"]) for o in worker.outcomes())
    for task_id in expected:
        assert outcomes[(task_id, "retry", 1)] == 1, worker.log
        assert outcomes[(task_id, "dead", 2)] == 1, worker.log
    assert Counter(o["outcome"] for o in worker.outcomes()) == {
        "retry": len(expected),
        "dead": len(expected),
        "success": len(good),
    }
    # And each ended in the DLQ, named by its exception, after two attempts
    dead = {task_id_of(m): m["attributes"] for m in queue.dlq_messages()}
    assert set(dead) == set(expected)
    for task_id, error in expected.items():
        assert dead[task_id]["alligator-error"] == error, (task_id, dead[task_id])
        assert dead[task_id]["alligator-attempts"] == "2"


# -- 7. an on_success hook that raises --------------------------------------------------


def test_an_on_success_hook_that_raises_leaves_a_success_run_once(queue, workers, tmp_path):
    # Given tasks whose on_success hook raises an error, or calls sys.exit(1)
    out = str(tmp_path / "runs")
    gator = Gator(queue.dsn)
    with gator.options(on_success=jobs.hook_raises, retries=2) as opts:
        broken = opts.task(jobs.append, out, "broken-hook")
    with gator.options(on_success=jobs.hook_exits, retries=2) as opts:
        exits = opts.task(jobs.append, out, "exiting-hook")
    after = gator.task(jobs.append, out, "after")
    # When a worker consumes them
    worker = workers(queue.dsn)
    wait_for(lambda: len(jobs.read(out)) == 3, what="three runs")
    wait_for(queue.empty, what="the deletes")
    assert worker.process.poll() is None, worker.log
    assert worker.stop() == 0, worker.log
    # Then each ran once and counts as a success: deleted, not retried, not
    # dead-lettered
    assert sorted(jobs.read(out)) == ["after", "broken-hook", "exiting-hook"]
    outcomes = {o["task_id"]: (o["outcome"], o["attempt"]) for o in worker.outcomes()}
    assert outcomes == {
        broken.task_id: ("success", 1),
        exits.task_id: ("success", 1),
        after.task_id: ("success", 1),
    }
    assert queue.dlq_depth() == 0
    # And each hook's error is logged
    errors = [r for r in worker.records() if r["level"] == "error"]
    for task in (broken, exits):
        assert any(
            r["message"].startswith("hook ") and task.task_id in r["message"] for r in errors
        ), errors
    assert any("on_success broke" in r.get("exception", "") for r in errors), errors
    assert any("SystemExit: 1" in r.get("exception", "") for r in errors), errors


# -- 6. a broken dead-letter queue ------------------------------------------------------


@pytest.mark.parametrize("how", ["deleted", "access denied"])
def test_a_broken_dlq_leaves_the_poison_in_its_queue_and_the_worker_goes_on(
    new_queue, workers, tmp_path, sqs_endpoint, how
):
    # Given a worker on a queue whose DLQ passed the start-up check, and
    # then was deleted, or refuses our copies (AccessDenied on SendMessage)
    queue = new_queue(backoff_base=1, backoff_max=3)
    dlq_name = queue.dlq_url.rsplit("/", 1)[-1]

    def deny_the_dlq(action: str, params: dict[str, Any]) -> str | None:
        to_dlq = str(params.get("QueueUrl", "")).endswith("/" + dlq_name)
        if how == "access denied" and action.startswith("SendMessage") and to_dlq:
            return "AccessDenied"
        return None

    out = str(tmp_path / "runs")
    with RuleProxy(sqs_endpoint, deny_the_dlq) as proxy:
        worker = workers(proxy.dsn(queue.dsn))
        wait_for(worker.consuming, what="the worker to start")
        if how == "deleted":
            queue.client.delete_queue(QueueUrl=queue.dlq_url)
        # When the first poison message arrives, with good tasks behind it
        poison = queue.send_raw("this is not a task")
        Gator(queue.dsn).task_many([(jobs.append, (out, f"good{n}"), {}) for n in range(3)])
        wait_for(lambda: len(jobs.read(out)) == 3, what="the good tasks")
        wait_for(lambda: worker.outcomes("dead"), what="the poison's outcome")
        # Then the worker is still up and goes on
        assert worker.process.poll() is None, worker.log
        # And the poison is still in its queue, hidden for backoff_max (the
        # good tasks deleted)
        left = {"visible": 0, "in_flight": 1, "delayed": 0}
        wait_for(lambda: queue.counts() == left, what="the good tasks' deletes")
        assert worker.stop() == 0, worker.log
        if how == "access denied":
            assert proxy.refused["SendMessage"] >= 1
    # And an ERROR said why, naming the message and the wait
    errors = [r["message"] for r in worker.records() if r["level"] == "error"]
    assert any(
        "cannot copy to the dead-letter queue" in m and poison in m and "hidden for 3 s" in m
        for m in errors
    ), errors
    # And the good tasks ran once each, and nothing was lost: the poison
    # comes back, unchanged, once its backoff_max is over
    assert sorted(jobs.read(out)) == ["good0", "good1", "good2"]

    def back() -> list[dict[str, Any]]:
        return queue.client.receive_message(
            QueueUrl=queue.url, WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])

    found: list[dict[str, Any]] = []
    wait_for(lambda: found.extend(back()) or found, what="the poison to come back")
    assert [(m["MessageId"], m["Body"]) for m in found] == [(poison, "this is not a task")]


# -- 9. the smaller ones ----------------------------------------------------------------


def test_after_one_failed_heartbeat_the_next_try_keeps_the_lease(
    new_queue, workers, tmp_path, sqs_endpoint
):
    # Given a 4 s lease, a worker whose first heartbeat extension
    # (ChangeMessageVisibilityBatch) is refused, and a second worker
    # polling the same queue directly
    queue = new_queue(visibility_timeout=4)
    out = str(tmp_path / "marks")
    refused: list[str] = []

    def refuse_first_extension(action: str, params: dict[str, Any]) -> str | None:
        if action == "ChangeMessageVisibilityBatch" and not refused:
            refused.append(action)
            return "AccessDenied"
        return None

    with RuleProxy(sqs_endpoint, refuse_first_extension) as proxy:
        Gator(queue.dsn).task(jobs.mark, out, "slow", 7.0)
        first = workers(proxy.dsn(queue.dsn))
        wait_for(lambda: "start slow" in jobs.read(out), what="the slow task to start")
        second = workers(queue.dsn)
        # When the task outlives its lease, with one extension failed
        wait_for(lambda: "end slow" in jobs.read(out), what="the slow task to end")
        wait_for(queue.empty, what="the delete")
        assert first.stop() == 0, first.log
        assert second.stop() == 0, second.log
        extensions = proxy.requests("ChangeMessageVisibilityBatch")
    # Then the failed extension was tried again before the lease ended: the
    # task ran once, on the first worker, and never reached the second
    assert refused == ["ChangeMessageVisibilityBatch"]
    assert len(extensions) >= 2
    assert jobs.read(out) == ["start slow", "end slow"]
    assert [o["outcome"] for o in first.outcomes()] == ["success"]
    assert second.outcomes() == []
    assert any("could not extend leases" in r["message"] for r in first.records()), first.log
    assert queue.dlq_depth() == 0


def test_control_characters_from_messages_are_escaped_in_the_text_log(queue, tmp_path):
    # Given messages whose error text and hook error hold a CR and ESC
    # sequences, and poison with control characters in its names
    out = str(tmp_path / "runs")
    gator = Gator(queue.dsn)
    gator.task(jobs.fail_with, out, "ctl", "line\rover\x1b[2J")
    with gator.options(on_success=jobs.hook_raises) as opts:
        opts.task(jobs.append, out, "hooked")
    queue.send_raw(raw_task("tests\x1b[2J", "run\r", task_id="id\r\x1b[31m"))
    queue.send_raw(raw_task("os", "system", "echo \x1b]0;pwned\x07", task_id="os-system"))
    # When a worker logging text consumes them
    worker = start_worker(queue.dsn, "--log-format", "text")
    try:
        wait_for(lambda: len(jobs.read(out)) == 2, what="two runs")
        wait_for(lambda: queue.dlq_depth() == 3, what="three dead letters")
        wait_for(queue.empty, what="the deletes")
    finally:
        worker.send_signal(signal.SIGTERM)
    code, err = stop(worker)
    assert code == 0, err
    # Then no raw CR or ESC reached the log, and the escaped text did
    assert "\r" not in err and "\x1b" not in err and "\x07" not in err, err
    # (logfmt quotes a value as JSON does: the escapes' backslashes doubled)
    assert 'error="RuntimeError: line\\\\rover\\\\x1b[2J"' in err, err
    assert "on_success broke\\r\\x1b[2J" in err, err
    assert "module 'os' is not in the import allow-list" in err, err
    assert len(re.findall(r" dead ", err)) == 3, err


def test_sigterm_with_a_finite_grace_flushes_the_last_deletes(new_queue, tmp_path):
    # Given a 60 s lease (so a delete left unsent would show as a message
    # in flight) and a task that SIGTERMs its own worker while it runs,
    # among others
    queue = new_queue(visibility_timeout=60)
    out = str(tmp_path / "runs")
    gator = Gator(queue.dsn)
    gator.task_many([(jobs.append, (out, f"t{n}"), {}) for n in range(3)])
    stopper = gator.task(jobs.terminate_worker, out, "stopper")
    # When a worker with a finite grace consumes them
    worker = start_worker(queue.dsn, "--log-format", "json", "--shutdown-grace", "5")
    code, err = stop(worker)
    # Then it exits 0 once the running task finished, with every delete sent:
    # nothing is left in flight; what it did not start was released at once
    assert code == 0, err
    ran = jobs.read(out)
    assert "stopper" in ran and len(ran) == len(set(ran)), ran
    counts = queue.counts()
    assert counts == {"visible": 4 - len(ran), "in_flight": 0, "delayed": 0}, (counts, err)
    assert stopper.task_id in err
    assert queue.dlq_depth() == 0


def test_fifo_attempts_count_runs_not_receives(new_queue, workers, tmp_path):
    # Given a worker on a FIFO queue, with no status store
    queue = new_queue(fifo=True, backoff_base=1, backoff_max=1)
    out = str(tmp_path / "runs")
    worker = workers(queue.dsn)
    wait_for(worker.consuming, what="the worker to start")
    # When a group arrives in one batch whose first task fails once (its
    # tail waits, hidden, behind it), and in another group a task due in
    # 4 s (deferred by visibility: FIFO queues have no per-message delay)
    gator = Gator(queue.dsn)
    calls = [(jobs.fail_once, (out, "a0"), {})] + [
        (jobs.append, (out, k), {}) for k in ("a1", "a2")
    ]
    head, *tail = gator.task_many(calls, group="a", retries=1)
    with gator.options(group="b", delay_by=4) as opts:
        later = opts.task(jobs.append, out, "b0")
    wait_for(lambda: len(jobs.read(out)) == 4, what="four successful runs")
    wait_for(queue.empty, what="the deletes")
    assert worker.stop() == 0, worker.log
    # Then the group kept its order, and every first run logged attempt=1,
    # however often its message was received before: only the failed task
    # counted a second attempt
    assert [key for key in jobs.read(out) if key.startswith("a")] == ["a0", "a1", "a2"]
    runs = [(o["task_id"], o["outcome"], o["attempt"]) for o in worker.outcomes()]
    ran = [run for run in runs if run[1] != "deferred"]
    assert sorted(ran) == sorted(
        [
            (head.task_id, "retry", 1),
            (head.task_id, "success", 2),
            (tail[0].task_id, "success", 1),
            (tail[1].task_id, "success", 1),
            (later.task_id, "success", 1),
        ]
    ), runs
    assert (later.task_id, "deferred", 0) in runs, runs
    assert queue.dlq_depth() == 0
