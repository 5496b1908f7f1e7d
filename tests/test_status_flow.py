"""Status, cancel, depends_on and duplicate suppression end to end: Gator
and Worker on every queue (locmem, sqlite, SQS on moto) with every status
store (locmem, sqlite, DynamoDB on moto), plus the Lambda handler.

Workers run one message at a time (``check_and_run_task``), from queues that
hand out one message per receive (``batch_size=1``), so two workers in one
test each hold their own copy. Their processors retry and re-poll at once
(``Backoff.IMMEDIATE``, as ``drain`` does): deferrals and retries are real, but
no test waits out a backoff. Only the lease test waits for a visibility
timeout (1 s) to run out, since that is what it tests.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from alligator import Gator, Task, TaskState, Worker
from alligator.backends.base import Outgoing, Received
from alligator.constants import CANCELED, DELAYED, FAILED, RETRYING, RUNNING, SUCCESS, WAITING
from alligator.exceptions import ConfigurationError, NotSupportedError
from alligator.outcome import Action, Outcome
from alligator.sqs import lambda_handler
from alligator.testing import make_queue
from tests.helpers import make_worker
from tests.processes import wait_for

QUEUES = ["locmem", "sqlite", "sqs"]
STORES = ["locmem", "sqlite", "dynamodb"]
#: Each queue and each store once, as deployed together, for the slower
#: tests (a visibility timeout to wait out, many steps).
DIAGONAL = [("locmem", "locmem"), ("sqlite", "sqlite"), ("sqs", "dynamodb")]

# -- task functions (workers import them by path: tests.test_status_flow) ----

runs: Counter[str] = Counter()
order: list[str] = []
seen: list[tuple[str, Any]] = []
watched: dict[str, Any] = {}
started: dict[str, threading.Event] = {}
release = threading.Event()
_lock = threading.Lock()


def _count(key: str) -> int:
    with _lock:
        runs[key] += 1
        order.append(key)
        return runs[key]


def run(key: str) -> dict[str, Any]:
    """Counts its runs; returns a JSON result."""
    return {"key": key, "run": _count(key)}


def flaky(key: str) -> dict[str, Any]:
    """Fails its first run, then returns a JSON result."""
    runs = _count(key)
    if runs == 1:
        raise RuntimeError(f"{key} fails its first run")
    return {"key": key, "run": runs}


def fail(key: str) -> None:
    _count(key)
    raise RuntimeError(f"{key} always fails")


def hold(key: str, fail: bool = False) -> str:
    """Says it started, then waits for the test to let it finish."""
    started.setdefault(key, threading.Event()).set()
    assert release.wait(30), "the test never released the task"
    _count(key)
    if fail:
        raise RuntimeError(f"{key} failed after the cancel")
    return key


def watch(task: Task) -> None:
    """``on_start`` hook: what the status store says while the task runs."""
    state = watched["store"].get(task.task_id)
    seen.append((task.task_id, state.status, state.attempts))


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    runs.clear()
    order.clear()
    seen.clear()
    watched.clear()
    started.clear()
    release.clear()
    yield
    release.set()  # a failed test must not leave a thread waiting


# -- queues, stores, workers --------------------------------------------------


def status_dsn(kind: str, request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if kind == "locmem":
        return "locmem://"
    if kind == "sqlite":
        return f"sqlite://{tmp_path}/status.db"
    endpoint = request.getfixturevalue("sqs_endpoint")
    table = f"status-{uuid.uuid4().hex[:12]}"
    return f"dynamodb://us-east-1/{table}?endpoint_url={endpoint}&create=true"


def queue_dsn(kind: str, request: pytest.FixtureRequest, tmp_path: Any, **options: Any) -> str:
    # One message per receive, and waits of a second at most.
    options = {"batch_size": 1, "backoff_base": 1, **options}
    query = "&".join(f"{key}={value}" for key, value in options.items())
    if kind == "locmem":
        return f"locmem://?{query}"
    if kind == "sqlite":
        return f"sqlite://{tmp_path}/queue.db?{query}"
    # wait_time=0: a worker stepping through an empty queue never long-polls.
    dsn = make_queue(request.getfixturevalue("sqs_endpoint"))
    return dsn.replace("wait_time=1", "wait_time=0") + "&" + query


class Flow:
    """A gator with a status store, its workers, and what they did."""

    def __init__(self, queue: str, status: str) -> None:
        self.gator = Gator(queue, status=status)
        self.store = self.gator.status_store
        self.outcomes: list[Outcome] = []
        watched["store"] = self.store

    def worker(self) -> Worker:
        """A worker with its own processor, so its own lease owner id."""
        return make_worker(self.gator, on_outcome=self.outcomes.append)

    def step_until(self, condition: Callable[[], bool], *workers: Worker, what: str) -> None:
        """Let the workers take one message each, in turn, until ``condition``."""

        def stepped() -> bool:
            for worker in workers:
                worker.check_and_run_task()
            return condition()

        wait_for(stepped, what=what)

    def labels(self, task_id: str) -> list[str]:
        """The outcomes of one task's messages, in order, with notes."""
        return [
            f"{o.label}:{o.note}" if o.action is Action.DEFER else o.label
            for o in self.outcomes
            if o.task is not None and o.task.task_id == task_id
        ]

    def status(self, task_id: str) -> TaskState:
        state = self.gator.status(task_id)
        assert state is not None, f"the store does not know {task_id}"
        return state

    def dead_letters(self) -> list[Received]:
        dlq = self.gator.backend.dlq_backend()
        try:
            return dlq.receive(max_messages=10, wait_seconds=0)
        finally:
            dlq.close()

    def close(self) -> None:
        self.gator.backend.close()
        if self.store is not None:
            self.store.close()


@pytest.fixture(params=QUEUES)
def queue_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def new_flow(queue_kind, store_kind, request, tmp_path) -> Iterator[Callable[..., Flow]]:
    """``new_flow(**queue_options)``: one per test, on every queue x store."""
    made: list[Flow] = []

    def make(**options: Any) -> Flow:
        queue = queue_dsn(queue_kind, request, tmp_path, **options)
        flow = Flow(queue, status_dsn(store_kind, request, tmp_path))
        made.append(flow)
        return flow

    yield make
    for flow in made:
        flow.close()


@pytest.fixture
def flow(new_flow) -> Flow:
    return new_flow()


@pytest.fixture
def local_flow(store_kind, request, tmp_path) -> Iterator[Flow]:
    """A locmem queue with every store: for what the queue does not change."""
    flow = Flow(queue_dsn("locmem", request, tmp_path), status_dsn(store_kind, request, tmp_path))
    yield flow
    flow.close()


# -- a task's life --------------------------------------------------------------


def test_states_through_a_task_life(flow):
    # Given a task that fails its first run, with one retry
    with flow.gator.options(retries=1, on_start=watch) as opts:
        task = opts.task(flaky, "life")
    queued = flow.status(task.task_id)
    assert (queued.status, queued.attempts, queued.result, queued.error) == (WAITING, 0, None, None)
    assert queued.created_at > 0
    worker = flow.worker()
    # When a worker runs it once: RUNNING during the run, RETRYING after
    flow.step_until(lambda: runs["life"] == 1, worker, what="the first run")
    retrying = flow.status(task.task_id)
    assert (retrying.status, retrying.attempts) == (RETRYING, 1)
    assert retrying.error == "RuntimeError: life fails its first run"
    # and again: SUCCESS, with its JSON result and the error gone
    flow.step_until(lambda: flow.status(task.task_id).status is SUCCESS, worker, what="success")
    done = flow.status(task.task_id)
    assert seen == [(task.task_id, RUNNING, 1), (task.task_id, RUNNING, 2)]
    assert (done.attempts, done.result, done.error) == (2, {"key": "life", "run": 2}, None)
    assert queued.created_at == done.created_at <= retrying.updated_at <= done.updated_at
    assert json.loads(json.dumps(done.to_dict())) == {
        "task_id": task.task_id,
        "status": "success",
        "attempts": 2,
        "result": {"key": "life", "run": 2},
        "error": None,
        "created_at": done.created_at,
        "updated_at": done.updated_at,
    }
    # Then the message is gone, ran twice, and nothing was dead-lettered
    assert flow.labels(task.task_id) == ["retry", "success"]
    assert flow.gator.len() == 0
    assert flow.dead_letters() == []


def test_a_task_that_is_not_due_is_delayed_and_uses_no_attempt(local_flow):
    flow = local_flow
    # Given a task due in an hour (past SQS's 900 s delay: a worker sees it)
    task = flow.gator.push(Task(delay_by=3600), run, "later")
    assert flow.status(task.task_id).status is DELAYED
    # When a worker receives it early
    outcome = flow.worker().processor.handle(_as_received(task))
    # Then it is deferred: still DELAYED, no run, no attempt counted
    assert (outcome.action, outcome.note) == (Action.DEFER, "due later")
    assert outcome.delay_seconds > 3500
    state = flow.status(task.task_id)
    assert (state.status, state.attempts) == (DELAYED, 0)
    assert runs["later"] == 0


def _as_received(task: Task) -> Received:
    """A task's body as a consumer would receive it (the queue stays as is)."""
    return Received(task.serialize(), message_id="m-" + task.task_id, receipt="r")


def test_an_unknown_id_has_no_status_and_no_store_is_an_error(local_flow):
    assert local_flow.gator.status("never-enqueued") is None
    with pytest.raises(NotSupportedError, match="status store"):
        Gator("locmem://").status("anything")


# -- cancel ---------------------------------------------------------------------


def test_cancel_before_a_worker_starts_deletes_it_unrun(flow):
    # Given a queued task, canceled before any worker saw it
    task = flow.gator.task(run, "canceled")
    kept = flow.gator.task(run, "kept")
    canceled = flow.gator.cancel(task.task_id)
    assert canceled is not None and canceled.status is CANCELED
    assert flow.status(task.task_id).status is CANCELED
    # When a worker consumes the queue
    worker = flow.worker()
    flow.step_until(lambda: flow.gator.len() == 0, worker, what="an empty queue")
    # Then the canceled task was deleted unrun, the other one ran
    assert runs == {"kept": 1}
    assert flow.labels(task.task_id) == ["canceled"]
    state = flow.status(task.task_id)
    assert (state.status, state.attempts) == (CANCELED, 0)
    assert flow.status(kept.task_id).status is SUCCESS
    assert flow.dead_letters() == []
    # and a finished task cannot be canceled any more
    assert flow.gator.cancel(kept.task_id) is None
    assert flow.status(kept.task_id).status is SUCCESS


def test_cancel_while_running_records_no_success_and_deletes_it(local_flow):
    # Given a task running on a worker
    flow = local_flow
    task = flow.gator.task(hold, "busy")
    worker = flow.worker()
    thread = threading.Thread(target=worker.check_and_run_task)
    thread.start()
    assert started.setdefault("busy", threading.Event()).wait(30)
    # When it is canceled mid-run, and then finishes
    assert flow.gator.cancel(task.task_id) is not None
    release.set()
    thread.join(30)
    # Then the run was not interrupted, but the store keeps CANCELED
    assert runs == {"busy": 1}
    assert flow.status(task.task_id).status is CANCELED
    assert flow.gator.len() == 0


def test_cancel_while_running_a_failing_task_stops_its_retries(local_flow):
    # Given a task with retries left, running on a worker
    flow = local_flow
    with flow.gator.options(retries=3) as opts:
        task = opts.task(hold, "doomed", True)
    worker = flow.worker()
    thread = threading.Thread(target=worker.check_and_run_task)
    thread.start()
    assert started.setdefault("doomed", threading.Event()).wait(30)
    # When it is canceled mid-run, and then fails
    flow.gator.cancel(task.task_id)
    release.set()
    thread.join(30)
    # Then it is deleted: not retried, not dead-lettered
    assert flow.labels(task.task_id) == ["canceled"]
    state = flow.status(task.task_id)
    assert (state.status, state.attempts) == (CANCELED, 1)
    assert flow.gator.len() == 0
    assert flow.dead_letters() == []
    assert runs == {"doomed": 1}


def test_a_canceled_task_waiting_for_its_time_is_deleted_at_once(local_flow):
    # Given a delayed task, canceled
    flow = local_flow
    task = flow.gator.push(Task(delay_by=3600), run, "never")
    flow.gator.cancel(task.task_id)
    # When a consumer receives it before it is due
    outcome = flow.worker().processor.handle(_as_received(task))
    # Then it is deleted now, not deferred again and again until due
    assert (outcome.action, outcome.note) == (Action.ACK, "canceled")


# -- depends_on -----------------------------------------------------------------


def test_a_then_b_enqueued_in_reverse_order(flow):
    # Given B, depending on A, enqueued before A exists
    a_id = str(uuid.uuid4())
    b = flow.gator.push(Task(depends_on=[a_id]), run, "B")
    worker = flow.worker()
    # When a worker receives B: it waits, using no attempt
    flow.step_until(lambda: bool(flow.labels(b.task_id)), worker, what="B's deferral")
    assert flow.labels(b.task_id) == ["deferred:waiting"]
    assert (flow.status(b.task_id).status, flow.status(b.task_id).attempts) == (WAITING, 0)
    # and once A is enqueued, A runs, then B
    a = flow.gator.push(Task(task_id=a_id), run, "A")
    flow.step_until(lambda: flow.status(b.task_id).status is SUCCESS, worker, what="B's run")
    # Then each ran once, A first; B's waiting cost it no retry
    assert order == ["A", "B"]
    assert flow.status(a.task_id).attempts == 1
    assert flow.status(b.task_id).attempts == 1
    assert set(flow.labels(b.task_id)) == {"deferred:waiting", "success"}
    flow.step_until(lambda: flow.gator.len() == 0, worker, what="an empty queue")
    assert flow.dead_letters() == []


@pytest.mark.parametrize("queue_kind, store_kind", DIAGONAL)
def test_a_failed_or_canceled_dependency_dead_letters_with_the_reason(flow):
    # Given B waiting on A, which will fail; C on X, which is canceled; and
    # D on an id nobody ever enqueues
    a = flow.gator.task(fail, "A")
    b = flow.gator.push(Task(depends_on=[a.task_id]), run, "B")
    x = flow.gator.task(run, "X")
    flow.gator.cancel(x.task_id)
    c = flow.gator.push(Task(depends_on=[x.task_id]), run, "C")
    d = flow.gator.push(Task(depends_on=["never-enqueued"]), run, "D")
    worker = flow.worker()
    dependents = (b.task_id, c.task_id)
    # When a worker consumes the queue
    flow.step_until(
        lambda: all(flow.status(i).status is FAILED for i in dependents),
        worker,
        what="B and C to fail",
    )
    # Then D still waits for the id that never came...
    flow.step_until(lambda: flow.labels(d.task_id), worker, what="D's deferral")
    assert flow.status(d.task_id).status is WAITING
    # ...until that id is canceled: then D fails too
    flow.gator.cancel("never-enqueued")
    flow.step_until(lambda: flow.status(d.task_id).status is FAILED, worker, what="D to fail")
    flow.step_until(lambda: flow.gator.len() == 0, worker, what="an empty queue")
    # B, C and D never ran; each is in the DLQ with its reason, and so is A
    assert runs == {"A": 1}
    reasons = {
        json.loads(m.body)["task_id"]: (
            m.attributes["alligator-error"],
            m.attributes["alligator-attempts"],
        )
        for m in flow.dead_letters()
    }
    assert reasons == {
        a.task_id: ("RuntimeError: A always fails", "1"),
        b.task_id: (f"DependencyFailed: dependency {a.task_id} failed", "0"),
        c.task_id: (f"DependencyFailed: dependency {x.task_id} was canceled", "0"),
        d.task_id: ("DependencyFailed: dependency never-enqueued was canceled", "0"),
    }
    assert flow.status(b.task_id).error == reasons[b.task_id][0]
    assert flow.status(b.task_id).attempts == 0


def test_depends_on_needs_a_status_store():
    with pytest.raises(ConfigurationError, match="status store"):
        Gator("locmem://").push(Task(depends_on=["a"]), run, "B")


# -- duplicates -------------------------------------------------------------------


def _send_twice(gator: Gator, key: str) -> Task:
    """One task's body sent as two messages, as SQS may deliver it."""
    task = Task()
    task.to_call(hold, key)
    body = task.serialize()
    gator.backend.send_many([Outgoing(body), Outgoing(body)])
    return task


def test_two_workers_racing_on_a_message_sent_twice_run_it_once(flow):
    # Given one task sent twice, and two workers
    task = _send_twice(flow.gator, "twice")
    first, second = flow.worker(), flow.worker()
    assert first.processor.owner != second.processor.owner
    # When the first is running its copy as the second receives the other
    running = threading.Thread(target=first.check_and_run_task)
    running.start()
    assert started.setdefault("twice", threading.Event()).wait(30)
    flow.step_until(lambda: bool(flow.labels(task.task_id)), second, what="the second copy")
    # Then the second defers its copy (its lease is the first's), not runs it
    assert flow.labels(task.task_id) == ["deferred:busy"]
    assert (flow.status(task.task_id).status, flow.status(task.task_id).attempts) == (RUNNING, 1)
    # and once the first finished, the copy is deleted unrun
    release.set()
    running.join(30)
    flow.step_until(lambda: flow.gator.len() == 0, second, what="an empty queue")
    assert runs == {"twice": 1}
    assert flow.labels(task.task_id) == ["deferred:busy", "success", "duplicate"]
    state = flow.status(task.task_id)
    assert (state.status, state.attempts, state.result) == (SUCCESS, 1, "twice")
    assert flow.dead_letters() == []


def test_two_copies_in_one_worker_process_run_once(local_flow):
    # Given one task sent twice, both received by one worker (concurrency 2:
    # one process, one lease owner, two runner threads)
    flow = local_flow
    task = _send_twice(flow.gator, "both")
    processor = flow.worker().processor
    one, two = flow.gator.backend.receive(max_messages=1, wait_seconds=0) + (
        flow.gator.backend.receive(max_messages=1, wait_seconds=0)
    )
    # When the second copy arrives while the first runs
    running = threading.Thread(target=processor.handle, args=(one,))
    running.start()
    assert started.setdefault("both", threading.Event()).wait(30)
    outcome = processor.handle(two)
    release.set()
    running.join(30)
    # Then it is deferred, although the store would let the same owner in
    assert (outcome.action, outcome.note) == (Action.DEFER, "busy")
    assert runs == {"both": 1}
    assert flow.status(task.task_id).attempts == 1


@pytest.mark.parametrize("queue_kind, store_kind", DIAGONAL)
def test_a_worker_dying_with_the_lease_does_not_stop_the_task(new_flow):
    # Given a consumer that received the task and took its lease (1 s, its
    # visibility timeout), then died without a word
    flow = new_flow(visibility_timeout=1)
    task = flow.gator.task(run, "orphan")
    assert len(flow.gator.backend.receive(max_messages=1, wait_seconds=1)) == 1
    claim = flow.store.claim(task.task_id, owner="dead-worker", lease_seconds=1)
    assert claim.attempts == 1
    # When another worker polls: the message and the lease both expire
    worker = flow.worker()
    flow.step_until(lambda: runs["orphan"] == 1, worker, what="the run on another worker")
    # Then the task runs there, once, as attempt 2
    state = flow.status(task.task_id)
    assert (state.status, state.attempts) == (SUCCESS, 2)
    assert set(flow.labels(task.task_id)) <= {"deferred:busy", "success"}
    flow.step_until(lambda: flow.gator.len() == 0, worker, what="an empty queue")
    assert runs == {"orphan": 1}


def test_a_duplicate_of_a_task_that_succeeded_is_deleted_unrun(local_flow):
    # Given a task that ran, and a late duplicate of its message
    flow = local_flow
    task = flow.gator.task(run, "once")
    worker = flow.worker()
    flow.step_until(lambda: flow.gator.len() == 0, worker, what="the run")
    flow.gator.backend.send_many([Outgoing(task.serialize())])
    # When a worker receives the duplicate
    flow.step_until(lambda: flow.gator.len() == 0, worker, what="the duplicate")
    # Then it is deleted without running
    assert flow.labels(task.task_id) == ["success", "duplicate"]
    assert runs == {"once": 1}


# -- is_async=False ------------------------------------------------------------------


def test_in_process_runs_are_recorded(local_flow):
    gator = local_flow.gator
    # A success after a retry: attempts counted by the store
    with gator.options(is_async=False, retries=1) as opts:
        task = opts.task(flaky, "inline")
    assert task.status is SUCCESS
    state = gator.status(task.task_id)
    assert (state.status, state.attempts, state.result) == (SUCCESS, 2, {"key": "inline", "run": 2})
    # A failure: FAILED with its error, and the error raised
    with pytest.raises(RuntimeError, match="bad always fails"):
        gator.push(Task(task_id="bad", is_async=False), fail, "bad")
    failed = gator.status("bad")
    assert (failed.status, failed.attempts, failed.error) == (
        FAILED,
        1,
        "RuntimeError: bad always fails",
    )
    # A canceled or finished id is not run again
    gator.cancel("stopped")
    stopped = gator.push(Task(task_id="stopped", is_async=False), run, "stopped")
    again = gator.push(Task(task_id=task.task_id, is_async=False), run, "again")
    assert stopped.status is CANCELED
    assert (again.status, again.result) == (SUCCESS, {"key": "inline", "run": 2})
    assert runs == {"inline": 2, "bad": 1}


# -- FIFO and Lambda -----------------------------------------------------------------


def test_a_delayed_task_on_a_fifo_queue_is_delayed(sqs_endpoint):
    # FIFO queues take no per-message delay, yet the task is not due
    gator = Gator(make_queue(sqs_endpoint, fifo=True), status="locmem://")
    task = gator.push(Task(delay_by=3600), run, "fifo")
    assert gator.status(task.task_id).status is DELAYED


@pytest.fixture
def lambda_gator(sqs_endpoint, tmp_path, monkeypatch) -> Iterator[Gator]:
    """A gator on a fresh SQS queue, configured like the Lambda function:
    the status store comes from ``ALLIGATOR_STATUS``."""
    monkeypatch.setenv("ALLIGATOR_STATUS", f"sqlite://{tmp_path}/status.db")
    gator = Gator(make_queue(sqs_endpoint) + "&backoff_base=1")
    assert gator.status_store is not None
    yield gator
    gator.backend.close()
    gator.status_store.close()


def _event(gator: Gator, endpoint: str, expected: int) -> dict[str, Any]:
    """Receive ``expected`` messages as Lambda's SQS event source would."""
    client = boto3.session.Session().client("sqs", region_name="us-east-1", endpoint_url=endpoint)
    url = gator.backend.queue_url
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    records: list[dict[str, Any]] = []

    def received_all() -> bool:
        for message in client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", []):
            records.append(
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message["Attributes"],
                    "messageAttributes": {},
                    "eventSourceARN": arn,
                }
            )
        return len(records) >= expected

    wait_for(received_all, what=f"{expected} records")
    client.close()
    return {"Records": records}


def test_lambda_deletes_canceled_tasks_and_duplicates_unrun(lambda_gator, sqs_endpoint):
    # Given a task sent twice, a canceled task, and a task that already ran
    gator = lambda_gator
    twice = Task()
    twice.to_call(run, "twice")
    gator.backend.send_many([Outgoing(twice.serialize())] * 2)
    canceled = gator.task(run, "canceled")
    gator.cancel(canceled.task_id)
    ran = gator.task(run, "ran")
    gator.status_store.claim(ran.task_id, owner="earlier", lease_seconds=60)
    gator.status_store.succeeded(ran.task_id, owner="earlier", result="done")
    # When one invocation gets all four records
    response = lambda_handler.handle(_event(gator, sqs_endpoint, 4), None, gator=gator)
    # Then every record is done (Lambda deletes them) and only one run happened
    assert response == {"batchItemFailures": []}
    assert runs == {"twice": 1}
    assert gator.status(twice.task_id).status is SUCCESS
    assert gator.status(canceled.task_id).status is CANCELED
    assert gator.status(ran.task_id).result == "done"


def test_lambda_defers_busy_and_waiting_tasks_without_a_retry(lambda_gator, sqs_endpoint):
    # Given a task another consumer is running, and one waiting on another
    gator = lambda_gator
    busy = gator.task(run, "busy")
    gator.status_store.claim(busy.task_id, owner="ecs-task", lease_seconds=60)
    waiting = gator.push(Task(depends_on=["not-yet"]), run, "waiting")
    # When one invocation gets both records
    response = lambda_handler.handle(_event(gator, sqs_endpoint, 2), None, gator=gator)
    # Then neither runs nor fails: each is re-sent for later (a fresh copy,
    # a fresh receive count) and its record reported done
    assert response == {"batchItemFailures": []}
    assert runs == {}
    assert gator.len() == 2
    assert gator.status(busy.task_id).status is RUNNING
    assert (gator.status(waiting.task_id).status, gator.status(waiting.task_id).attempts) == (
        WAITING,
        0,
    )
