"""Worker processes on moto's SQS over HTTP: throughput, retries, poison,
concurrency, idle cost and request count (CONTRACT.md section 4, points 1,
2, 3, 4, 7 and 11)."""

from __future__ import annotations

import calendar
import json
import threading
import time
import uuid
from collections import Counter

import pytest

from alligator import Gator, Worker
from alligator.outcome import Action
from tests import tasks
from tests.integration import jobs
from tests.processes import lines, wait_for


@pytest.mark.moto_only  # atomic_receives patches moto's SQS
def test_300_tasks_run_exactly_once_across_two_concurrent_workers(
    queue, workers, tmp_path, atomic_receives
):
    # Given two worker processes, four runners each, on one queue
    out = str(tmp_path / "runs")
    keys = [f"t{n}" for n in range(300)]
    both = [workers(queue.dsn, "--concurrency", "4") for _ in range(2)]
    # When 300 tasks are enqueued in batches, by a producer that keeps up to
    # about 75 waiting (moto's receive costs time in proportion to the
    # queue's length: a steady trickle keeps this test fast)
    gator = Gator(queue.dsn)
    for start in range(0, len(keys), 50):
        wait_for(lambda n=start: len(lines(tmp_path / "runs")) >= n - 25, what="the workers")
        gator.task_many([(tasks.record, (out, key), {}) for key in keys[start : start + 50]])
    wait_for(lambda: len(lines(tmp_path / "runs")) >= 300, timeout=60, what="300 runs")
    wait_for(queue.empty, what="the queue to empty")
    # Then each task ran exactly once, and both stop cleanly
    for worker in both:
        assert worker.stop() == 0, worker.log
    assert Counter(lines(tmp_path / "runs")) == Counter(keys)
    assert Counter(lines(tmp_path / "runs.started")) == Counter(keys)
    outcomes = [o for worker in both for o in worker.outcomes()]
    assert Counter(o["outcome"] for o in outcomes) == {"success": 300}
    assert queue.dlq_depth() == 0


@pytest.mark.parametrize(
    "options",
    [{"retries": 2}, {"retries": 0, "on_error": tasks.bump_retries}],
    ids=["retries=2", "on_error raises retries to 2"],
)
def test_retries_2_runs_three_times_then_lands_in_the_dlq_with_the_reason(
    new_queue, workers, options
):
    # Given a task that always fails, with two retries (given, or granted by
    # its on_error hook, 1.0's documented pattern) and a 1 s backoff
    queue = new_queue(backoff_base=1, backoff_max=1)
    with Gator(queue.dsn).options(**options) as opts:
        task = opts.task(tasks.fail, "boom")
    # When a worker consumes it
    worker = workers(queue.dsn)
    wait_for(lambda: queue.dlq_depth() == 1, what="the dead-lettered copy")
    wait_for(queue.empty, what="the source delete")
    assert worker.stop() == 0, worker.log
    # Then it ran three times: two retries, then the DLQ, with the reason
    runs = [(o["outcome"], o["attempt"]) for o in worker.outcomes()]
    assert runs == [("retry", 1), ("retry", 2), ("dead", 3)]
    [dead] = queue.dlq_messages()
    assert dead["body"] == task.serialize()  # unchanged
    reason = dead["attributes"]
    assert reason["alligator-error"] == "RuntimeError: boom"
    assert reason["alligator-attempts"] == "3"
    failed_at = calendar.timegm(time.strptime(reason["alligator-failed-at"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(failed_at - time.time()) < 600


def test_with_no_dlq_an_exhausted_task_stays_in_the_queue_with_an_error(sqs_endpoint, aws, workers):
    # Given a queue with no dead-letter queue, and a task that fails
    name = f"test-{uuid.uuid4().hex[:12]}"
    url = aws.create_queue(QueueName=name)["QueueUrl"]
    dsn = f"sqs://us-east-1/{name}?endpoint_url={sqs_endpoint}&wait_time=1&backoff_base=1"
    Gator(dsn).task(tasks.fail, "boom")
    # When a worker has run it (no retries) and found nowhere to put it
    worker = workers(dsn)
    wait_for(lambda: worker.outcomes("dead"), what="the failure")
    assert worker.stop() == 0, worker.log
    # Then it was not dropped: it is still in the queue (hidden for the
    # longest backoff, for the queue's own redrive or retention to decide),
    # and an ERROR says so
    attributes = aws.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    errors = [r["message"] for r in worker.records() if r["level"] == "error"]
    assert any("no dead-letter queue" in message for message in errors), errors


def _body(module: str, callable_name: str, *args: object, retries: int = 3) -> str:
    return json.dumps(
        {
            "task_id": f"{module}.{callable_name}",
            "retries": retries,
            "async": True,
            "module": module,
            "callable": callable_name,
            "args": list(args),
            "kwargs": {},
            "options": {},
        }
    )


def test_poison_goes_to_the_dlq_with_reasons_and_good_tasks_behind_it_run(queue, workers, tmp_path):
    # Given poison of every kind, then good tasks behind it
    out = str(tmp_path / "runs")
    # (body -> what its reason must say)
    poison = {
        "not json {": "body is not JSON",
        json.dumps([1, 2, 3]): "not an object",
        json.dumps({"task_id": "k", "module": "tests.tasks"}): "retries is missing",
        _body("json", "dumps", "outside"): "'json' is not in the import allow-list",
        _body("tests.tasks", "__setattr__"): "dunder part '__setattr__'",
        _body("tests.__init__", "run"): "dunder part '__init__'",
    }
    for body in poison:
        queue.send_raw(body)
    Gator(queue.dsn).task_many([(jobs.append, (out, f"good{n}"), {}) for n in range(5)])
    # When a worker allowed only "tests" consumes the queue
    worker = workers(queue.dsn)
    wait_for(lambda: len(jobs.read(out)) == 5, what="the good tasks")
    wait_for(lambda: queue.dlq_depth() == len(poison), what="the poison in the DLQ")
    wait_for(queue.empty, what="the source deletes")
    # Then it is still up, the good tasks ran once each, and every bad body
    # is in the DLQ, unchanged, with its reason and its first attempt
    assert worker.process.poll() is None
    assert worker.stop() == 0, worker.log
    assert sorted(jobs.read(out)) == [f"good{n}" for n in range(5)]
    dead = {message["body"]: message["attributes"] for message in queue.dlq_messages()}
    assert set(dead) == set(poison)
    for body, reason in poison.items():
        assert dead[body]["alligator-error"].startswith("PoisonMessageError"), body
        assert reason in dead[body]["alligator-error"], body
        assert dead[body]["alligator-attempts"] == "1"


def test_a_module_missing_inside_the_allow_list_is_a_failed_run_with_its_retries(
    new_queue, workers, tmp_path
):
    # Given tasks naming a module and a callable that do not exist (yet: a
    # rolling deploy where the producers updated first), with one retry each
    queue = new_queue(backoff_base=1, backoff_max=1)
    missing = {
        _body("tests.no_such_module", "run", retries=1): "UnknownModuleError",
        _body("tests.tasks", "no_such_callable", retries=1): "UnknownCallableError",
    }
    for body in missing:
        queue.send_raw(body)
    # When a worker allowed "tests" consumes the queue
    worker = workers(queue.dsn)
    wait_for(lambda: queue.dlq_depth() == 2, what="both in the DLQ")
    wait_for(queue.empty, what="the source deletes")
    assert worker.stop() == 0, worker.log
    # Then each was retried once (said so in the log), then dead-lettered
    # with the import error after its two runs, not as poison on arrival
    assert len(worker.outcomes("retry")) == 2
    dead = {message["body"]: message["attributes"] for message in queue.dlq_messages()}
    for body, error in missing.items():
        assert dead[body]["alligator-error"].startswith(error), dead[body]
        assert dead[body]["alligator-attempts"] == "2"


def test_concurrency_4_runs_four_slow_tasks_at_once(queue, workers, tmp_path):
    # Given four slow tasks
    out = str(tmp_path / "marks")
    Gator(queue.dsn).task_many([(jobs.mark, (out, f"k{n}", 2.0), {}) for n in range(4)])
    # When one worker with four runners consumes them
    worker = workers(queue.dsn, "--concurrency", "4")
    wait_for(lambda: len(jobs.read(out)) == 8, what="four starts and four ends")
    assert worker.stop() == 0, worker.log
    # Then all four started before the first one ended
    events = [line.split()[0] for line in jobs.read(out)]
    assert events == ["start"] * 4 + ["end"] * 4


def test_an_idle_worker_long_polls_once_per_wait_time(queue, workers, proxy):
    # Given an idle worker (wait_time=1) talking to SQS through a proxy
    worker = workers(proxy.dsn(queue.dsn))
    # When it has made four long polls
    wait_for(lambda: len(proxy.receives) >= 4, what="four long polls")
    counts = dict(proxy.counts)
    first, fourth = proxy.receives[0][0], proxy.receives[3][0]
    assert worker.stop() == 0, worker.log
    # Then each asks for a full batch and waits the DSN's wait_time...
    for _, params in proxy.receives[:4]:
        assert params["WaitTimeSeconds"] == 1
        assert params["MaxNumberOfMessages"] == 10
    # ...and apart from resolving the queue at start-up (its URL, its
    # attributes, the DLQ's URL) it made no other request: no busy loop, no
    # heartbeat with nothing held.
    others = {action: n for action, n in counts.items() if action != "ReceiveMessage"}
    assert sum(others.values()) <= 3, others
    # Long polling is time-based, so this one bound is about time: three
    # 1 s long polls lie between the first and the fourth receive. A busy
    # loop would make them milliseconds apart. (A loose lower bound only:
    # nothing here depends on how fast the machine is.)
    assert fourth - first >= 2.0


@pytest.mark.moto_only  # atomic_receives patches moto's SQS
def test_draining_200_tasks_costs_at_most_035_requests_per_task(queue, proxy, atomic_receives):
    # atomic_receives: the worker's two receivers can otherwise both be
    # handed one message by moto (see the fixture), which real SQS avoids.
    # Given 200 tasks enqueued in batches, through a counting proxy
    gator = Gator(proxy.dsn(queue.dsn))
    keys = [f"r{n}" for n in range(200)]
    gator.task_many([(tasks.count, (key,), {}) for key in keys])
    # When an in-process worker (one runner) drains them
    seen: Counter[Action] = Counter()
    worker = Worker(
        gator, max_tasks=200, import_allow=["tests"], on_outcome=lambda o: seen.update([o.action])
    )
    # (A thread, so the worker installs no signal handlers in pytest.)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    # Then each ran once, the queue is empty, and every request counted
    # (sends, receives, deletes, queue lookups) is at most 0.35 per task
    assert seen == {Action.ACK: 200}
    assert all(tasks.calls[key] == 1 for key in keys)
    assert queue.empty(), queue.counts()
    per_task = proxy.requests / len(keys)
    assert per_task <= 0.35, dict(proxy.counts)
    gator.backend.close()
