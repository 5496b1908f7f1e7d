"""One contract suite, run against every backend: locmem, sqlite and SQS
(moto's server over HTTP). What a user can rely on must hold on all three."""

from __future__ import annotations

import json

import pytest

from alligator import Gator
from alligator.backends.base import ATTEMPTS_ATTRIBUTE, ERROR_ATTRIBUTE, Outgoing
from alligator.constants import FAILED, SUCCESS
from tests import tasks
from tests.helpers import make_worker

BACKENDS = ["locmem", "sqlite", "sqs"]


@pytest.fixture(params=BACKENDS)
def gator(request, tmp_path):
    if request.param == "locmem":
        gator = Gator("locmem://")
    elif request.param == "sqlite":
        gator = Gator(f"sqlite://{tmp_path}/queue.db")
    else:
        from alligator.testing import make_queue

        gator = Gator(make_queue(request.getfixturevalue("sqs_endpoint")))
    yield gator
    gator.backend.close()


def drain(worker, limit=1000):
    ran = 0
    while worker.check_and_run_task() and ran < limit:
        ran += 1
    worker.close()
    return ran


def dlq_messages(gator):
    dlq = gator.backend.dlq_backend()
    return dlq.receive(max_messages=10, wait_seconds=0)


def test_enqueue_run_delete(gator):
    task = gator.task(tasks.count, "a")
    assert task.message_id and task.task_id != task.message_id
    assert drain(make_worker(gator)) == 1
    assert tasks.calls["a"] == 1
    assert gator.len() == 0


def test_task_many_runs_each_exactly_once(gator):
    made = gator.task_many([(tasks.count, (f"k{n}",), {}) for n in range(25)])
    assert len({t.task_id for t in made}) == 25
    drain(make_worker(gator))
    assert sorted(tasks.calls) == sorted(f"k{n}" for n in range(25))
    assert set(tasks.calls.values()) == {1}
    assert gator.len() == 0


def test_retries_then_dead_letter_with_reason(gator):
    with gator.options(retries=2) as opts:
        task = opts.task(tasks.fail_times, "f", 10)
    outcomes = []
    drain(make_worker(gator, on_outcome=outcomes.append))
    assert tasks.calls["f"] == 3  # retries=2 means at most 3 runs
    assert [o.label for o in outcomes] == ["retry", "retry", "dead"]
    assert gator.len() == 0
    [dead] = dlq_messages(gator)
    assert json.loads(dead.body)["task_id"] == task.task_id
    assert dead.attributes[ERROR_ATTRIBUTE] == "RuntimeError: f failed on run 3"
    assert dead.attributes[ATTEMPTS_ATTRIBUTE] == "3"


def test_a_retry_that_succeeds_is_deleted(gator):
    with gator.options(retries=1) as opts:
        opts.task(tasks.fail_times, "g", 1)
    outcomes = []
    drain(make_worker(gator, on_outcome=outcomes.append))
    assert [o.label for o in outcomes] == ["retry", "success"]
    assert outcomes[-1].task.status == SUCCESS
    assert gator.len() == 0 and dlq_messages(gator) == []


def test_on_error_that_raises_retries_is_honoured(gator):
    with gator.options(retries=0, on_error=tasks.bump_retries) as opts:
        opts.task(tasks.fail_times, "h", 2)
    drain(make_worker(gator))
    assert tasks.calls["h"] == 3
    assert gator.len() == 0 and dlq_messages(gator) == []


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        json.dumps({"task_id": "x", "retries": 0}),
        json.dumps(
            {
                "task_id": "x",
                "retries": 0,
                "async": True,
                "module": "no.such.module",
                "callable": "f",
            }
        ),
        json.dumps(
            {
                "task_id": "x",
                "retries": 0,
                "async": True,
                "module": "os",
                "callable": "system",
                "args": ["echo pwned"],
            }
        ),
    ],
    ids=["not-json", "missing-keys", "unknown-module", "not-allowed"],
)
def test_poison_goes_to_the_dlq_and_good_tasks_behind_it_run(gator, body):
    gator.backend.send_many([Outgoing(body=body)])
    gator.task(tasks.count, "good")
    outcomes = []
    drain(make_worker(gator, on_outcome=outcomes.append))
    assert tasks.calls["good"] == 1
    assert sorted(o.label for o in outcomes) == ["dead", "success"]
    [dead] = dlq_messages(gator)
    assert dead.body == body
    assert dead.attributes[ERROR_ATTRIBUTE].startswith("PoisonMessageError")
    assert dead.attributes[ATTEMPTS_ATTRIBUTE] == "1"
    assert gator.len() == 0


def test_pop_processes_one(gator):
    gator.task(tasks.add, 1, 2)
    done = gator.pop()
    assert done.status == SUCCESS and done.result == 3
    assert gator.pop() is None


def test_pop_of_a_failing_task_leaves_it_for_a_retry(gator):
    with gator.options(retries=1) as opts:
        opts.task(tasks.fail)
    done = gator.pop()
    assert done.status != SUCCESS
    assert gator.len() == 1


def test_not_async_runs_in_process_with_retries(gator):
    with gator.options(is_async=False, retries=2) as opts:
        task = opts.task(tasks.fail_times, "s", 2)
    assert task.status == SUCCESS and tasks.calls["s"] == 3
    assert gator.len() == 0
    with gator.options(is_async=False, retries=1) as opts, pytest.raises(RuntimeError):
        opts.task(tasks.fail)


def test_delayed_task_does_not_run_early(gator):
    with gator.options(delay_by=600) as opts:
        opts.task(tasks.count, "later")
    drain(make_worker(gator))
    assert tasks.calls["later"] == 0
    assert gator.len() == 1


def test_failed_task_status_is_failed_in_outcome(gator):
    gator.task(tasks.fail)
    outcomes = []
    drain(make_worker(gator, on_outcome=outcomes.append))
    assert outcomes[0].task.status == FAILED


def test_a_task_calling_sys_exit_is_dead_lettered_and_the_worker_goes_on(gator):
    gator.task(tasks.exits, 3)
    gator.task(tasks.count, "after")
    outcomes = []
    drain(make_worker(gator, on_outcome=outcomes.append))
    assert sorted(o.label for o in outcomes) == ["dead", "success"]
    assert tasks.calls["after"] == 1
    [dead] = dlq_messages(gator)
    assert dead.attributes[ERROR_ATTRIBUTE] == "SystemExit: 3"
