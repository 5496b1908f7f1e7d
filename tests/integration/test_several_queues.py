"""One worker process for several queues (CONTRACT.md section 9): each queue
keeps its own DLQ, backoff and FIFO rules; strict and weighted priority
decide which queue's message starts; an idle worker keeps one long poll per
queue; SIGTERM releases what every queue holds; signatures and the
allow-list apply to all. Workers are ``alligator worker DSN DSN ...``
subprocesses on moto's server.
"""

from __future__ import annotations

import json
import signal
import threading
from collections import Counter, defaultdict
from typing import Any

import pytest

from alligator import Gator
from tests import tasks
from tests.integration import conftest, jobs
from tests.processes import start_worker, stop, wait_for

KEY = "several-queues-key"


def _name(url: str) -> str:
    """A queue URL's name (the proxy's URLs have its own host and port)."""
    return url.rsplit("/", 1)[-1]


def _starts(path: str) -> list[str]:
    """The keys of ``jobs.mark`` runs, in the order they started."""
    return [line.split()[1] for line in jobs.read(path) if line.startswith("start ")]


@pytest.fixture
def atomic_receives_per_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """``atomic_receives`` for one queue at a time: moto can hand one visible
    message to two concurrent receives of a queue (see that fixture). The
    lock is per queue, so an idle long poll on one queue never holds up the
    receives of another, as a global lock would."""
    from moto.sqs.models import SQSBackend as MotoSQS

    locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
    receive = MotoSQS.receive_message

    def atomic(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with locks[queue_name]:
            return receive(self, queue_name, *args, **kwargs)

    monkeypatch.setattr(MotoSQS, "receive_message", atomic)


# -- each queue keeps its own rules ----------------------------------------------


def test_two_queues_run_both_and_each_dead_letters_into_its_own_dlq(new_queue, workers, tmp_path):
    # Given a standard queue (1 s backoff) and a FIFO queue (3 s backoff),
    # each with good tasks and one that fails on both of its two runs; on
    # the FIFO queue a task of the failing task's group comes after it
    standard = new_queue(backoff_base=1, backoff_max=1)
    fifo = new_queue(fifo=True, backoff_base=3, backoff_max=3)
    out = str(tmp_path / "runs")
    plain, ordered = Gator(standard.dsn), Gator(fifo.dsn)
    plain.task_many([(jobs.append, (out, f"s{n}"), {}) for n in range(3)])
    with plain.options(retries=1) as opts:
        standard_bad = opts.task(tasks.fail, "standard boom")
    ordered.task(jobs.append, out, "f0")
    with ordered.options(retries=1) as opts:
        fifo_bad = opts.task(tasks.fail, "fifo boom")
    after = ordered.task(jobs.append, out, "f1")  # same group: only after fifo_bad
    with ordered.options(group="other") as opts:
        opts.task(jobs.append, out, "g0")
    # When one worker consumes both queues
    worker = workers(standard.dsn, fifo.dsn, "--concurrency", "2")
    wait_for(lambda: standard.dlq_depth() == 1 and fifo.dlq_depth() == 1, what="both DLQs")
    wait_for(lambda: len(jobs.read(out)) == 6, what="the good tasks")
    wait_for(lambda: standard.empty() and fifo.empty(), what="the deletes")
    assert worker.stop() == 0, worker.log
    # Then every good task of both queues ran once
    assert sorted(jobs.read(out)) == ["f0", "f1", "g0", "s0", "s1", "s2"]
    # ...each failing task is in its own queue's DLQ, body unchanged, with
    # its reason and its two attempts, and nothing strayed into the other
    [standard_dead] = standard.dlq_messages()
    [fifo_dead] = fifo.dlq_messages()
    assert standard_dead["body"] == standard_bad.serialize()
    assert standard_dead["attributes"]["alligator-error"] == "RuntimeError: standard boom"
    assert standard_dead["attributes"]["alligator-attempts"] == "2"
    assert fifo_dead["body"] == fifo_bad.serialize()
    assert fifo_dead["attributes"]["alligator-error"] == "RuntimeError: fifo boom"
    assert fifo_dead["attributes"]["alligator-attempts"] == "2"
    # ...each retry waited its own queue's backoff (1 s; 3 s x U(0.5, 1)
    # rounded up), and the outcome lines name the queue
    outcomes = worker.outcomes()
    retries = {o["task_id"]: o for o in outcomes if o["outcome"] == "retry"}
    assert retries[standard_bad.task_id]["delay_seconds"] == 1
    assert retries[fifo_bad.task_id]["delay_seconds"] in (2, 3)
    queue_of = {o["task_id"]: o["queue"] for o in outcomes}
    assert queue_of[standard_bad.task_id] == _name(standard.url)
    assert queue_of[fifo_bad.task_id] == _name(fifo.url)
    # ...and the FIFO rule held on the FIFO queue: f1 ran only after its
    # group's failing task was done with (dead-lettered)
    order = [o["task_id"] for o in outcomes if o["outcome"] in ("success", "dead")]
    assert order.index(fifo_bad.task_id) < order.index(after.task_id)


# -- priorities ----------------------------------------------------------------------


@pytest.mark.moto_only  # atomic_receives_per_queue patches moto's SQS
def test_strict_with_concurrency_1_starts_every_high_task_before_any_low_one(
    new_queue, workers, tmp_path, atomic_receives_per_queue
):
    # Given backlogs on both queues: more high tasks than one receive brings
    high, low = new_queue(), new_queue()
    out = str(tmp_path / "marks")
    Gator(high.dsn).task_many([(jobs.mark, (out, f"high{n}"), {}) for n in range(15)])
    Gator(low.dsn).task_many([(jobs.mark, (out, f"low{n}"), {}) for n in range(10)])
    # When one worker with one slot consumes them, strictly in that order
    worker = workers(high.dsn, low.dsn, "--priority", "strict", "--concurrency", "1")
    wait_for(lambda: len(_starts(out)) == 25, what="all 25 starts")
    wait_for(lambda: high.empty() and low.empty(), what="the deletes")
    assert worker.stop() == 0, worker.log
    # Then every high task started before any low task, and all ran once
    starts = _starts(out)
    assert [key[:3] for key in starts] == ["hig"] * 15 + ["low"] * 10, starts
    assert Counter(starts) == {key: 1 for key in starts}
    # ...and the low queue was never asked for more than the one idle slot:
    # it never prefetches behind the high queue
    assert high.dlq_depth() == low.dlq_depth() == 0


@pytest.mark.moto_only  # atomic_receives_per_queue patches moto's SQS
def test_strict_never_asks_a_lower_queue_for_more_than_the_idle_slots(
    new_queue, workers, proxy, tmp_path, atomic_receives_per_queue
):
    # Given a high queue with a backlog and a low queue with one too
    high, low = new_queue(), new_queue()
    out = str(tmp_path / "marks")
    Gator(high.dsn).task_many([(jobs.mark, (out, f"high{n}"), {}) for n in range(12)])
    Gator(low.dsn).task_many([(jobs.mark, (out, f"low{n}", 0.1), {}) for n in range(6)])
    # When a strict worker with three slots drains both through the proxy
    worker = workers(
        proxy.dsn(high.dsn), proxy.dsn(low.dsn), "--priority", "strict", "--concurrency", "3"
    )
    wait_for(lambda: len(_starts(out)) == 18, what="all 18 starts")
    wait_for(lambda: high.empty() and low.empty(), what="the deletes")
    assert worker.stop() == 0, worker.log
    # Then the high queue was received in whole batches, the low queue in
    # at most three (the idle slots) at a time
    asked: defaultdict[str, list[int]] = defaultdict(list)
    for _, params in proxy.receives:
        asked[_name(params["QueueUrl"])].append(params["MaxNumberOfMessages"])
    assert set(asked[_name(high.url)]) == {10}
    assert asked[_name(low.url)] and max(asked[_name(low.url)]) <= 3, asked[_name(low.url)]
    assert [key[:3] for key in _starts(out)][:12] == ["hig"] * 12


@pytest.mark.moto_only  # atomic_receives_per_queue patches moto's SQS
def test_weighted_3_to_1_shares_the_starts_by_the_weights(
    new_queue, workers, tmp_path, atomic_receives_per_queue
):
    # Given backlogs on both queues that outlast the first 60 starts
    high, low = new_queue(), new_queue()
    out = str(tmp_path / "marks")
    Gator(high.dsn).task_many([(jobs.mark, (out, f"high{n}", 0.05), {}) for n in range(60)])
    Gator(low.dsn).task_many([(jobs.mark, (out, f"low{n}", 0.05), {}) for n in range(30)])
    # When one worker with one slot consumes them, weighted 3:1
    worker = workers(high.dsn, low.dsn, "--weights", "3,1", "--concurrency", "1")
    wait_for(lambda: len(_starts(out)) >= 60, what="60 starts")
    assert worker.stop() == 0, worker.log
    # Then, among the 40 starts from the first high one on (until its first
    # receive is back the worker knows of no high backlog, and the low
    # queue rightly has the slot), the high queue has between 2:1 and 4:1
    # of them (3:1 exactly is 30 of 40), and the low queue is not starved
    starts = [key[:3] for key in _starts(out)]
    window = starts[starts.index("hig") :][:40]
    assert len(window) == 40, starts
    assert 27 <= window.count("hig") <= 32, "".join(key[0] for key in starts)
    assert "low" in window[:8], "".join(key[0] for key in starts)


# -- idle cost -----------------------------------------------------------------------


@pytest.fixture
def receives_in_flight(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The most ReceiveMessage requests the proxy had in flight at once, by
    queue name."""
    most: dict[str, int] = defaultdict(int)
    now: Counter[str] = Counter()
    lock = threading.Lock()
    forward = conftest._RecordingHandler._forward

    def counting(self: Any, body: bytes) -> None:
        action = str(self.headers.get("X-Amz-Target", "")).rsplit(".", 1)[-1]
        if action != "ReceiveMessage":
            return forward(self, body)
        url = _name(json.loads(body or b"{}").get("QueueUrl", ""))
        with lock:
            now[url] += 1
            most[url] = max(most[url], now[url])
        try:
            return forward(self, body)
        finally:
            with lock:
                now[url] -= 1

    monkeypatch.setattr(conftest._RecordingHandler, "_forward", counting)
    return most


@pytest.mark.parametrize("priority", ["weighted", "strict"])
def test_an_idle_worker_keeps_one_long_poll_per_queue(
    new_queue, workers, proxy, receives_in_flight, priority
):
    # Given an idle worker with four slots on two empty queues (wait_time=1)
    first, second = new_queue(), new_queue()
    worker = workers(
        proxy.dsn(first.dsn),
        proxy.dsn(second.dsn),
        "--priority",
        priority,
        "--concurrency",
        "4",
    )

    def per_queue() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {_name(first.url): [], _name(second.url): []}
        for _, params in list(proxy.receives):
            found[_name(params["QueueUrl"])].append(params)
        return found

    # When it has made four long polls on each queue
    wait_for(lambda: all(len(p) >= 4 for p in per_queue().values()), what="four polls each")
    counts = dict(proxy.counts)
    assert worker.stop() == 0, worker.log
    # Then each queue never had more than one receive in flight, so its
    # receives follow one another, each a long poll of the DSN's wait_time:
    # one request per wait_time per queue (3 a minute at the default 20 s)
    assert dict(receives_in_flight) == {_name(first.url): 1, _name(second.url): 1}
    for params in [p for polls in per_queue().values() for p in polls]:
        assert params["WaitTimeSeconds"] == 1
    # ...and apart from resolving both queues at start-up it made no other
    # request: no busy loop, no heartbeat with nothing held
    others = {action: n for action, n in counts.items() if action != "ReceiveMessage"}
    assert sum(others.values()) <= 6, others


# -- stopping ------------------------------------------------------------------------


def test_sigterm_releases_the_unstarted_messages_of_every_queue(new_queue, workers, tmp_path):
    # Given a worker with one slot running one of ten slow tasks, the other
    # nine received (five on each queue) on a 120 s lease
    first, second = new_queue(visibility_timeout=120), new_queue(visibility_timeout=120)
    out = str(tmp_path / "marks")
    Gator(first.dsn).task_many([(jobs.mark, (out, f"a{n}", 1.0), {}) for n in range(5)])
    Gator(second.dsn).task_many([(jobs.mark, (out, f"b{n}", 1.0), {}) for n in range(5)])
    worker = workers(first.dsn, second.dsn)
    wait_for(lambda: len(_starts(out)) == 1, what="the first start")
    wait_for(
        lambda: first.counts()["in_flight"] == second.counts()["in_flight"] == 5,
        what="both queues received",
    )
    # When it gets SIGTERM mid-task
    worker.send_signal(signal.SIGTERM)
    # Then it finishes that task, exits 0, and the nine it never started
    # are visible again at once on their own queues (well inside the lease)
    assert worker.wait() == 0, worker.log
    [running] = _starts(out)
    assert jobs.read(out) == [f"start {running}", f"end {running}"]
    counts = {"a": first.counts(), "b": second.counts()}
    ran, other = running[0], "b" if running[0] == "a" else "a"
    assert counts[ran] == {"visible": 4, "in_flight": 0, "delayed": 0}
    assert counts[other] == {"visible": 5, "in_flight": 0, "delayed": 0}


# -- security ------------------------------------------------------------------------


def test_signatures_and_the_allow_list_apply_to_every_queue(new_queue, workers, tmp_path):
    # Given two queues, each with a signed task, an unsigned one and a signed
    # one from a module outside the allow-list ("tests")
    first, second = new_queue(), new_queue()
    out = str(tmp_path / "runs")
    bad: dict[str, dict[str, str]] = {}
    for name, queue in (("first", first), ("second", second)):
        signed, unsigned = Gator(queue.dsn, signing_key=KEY), Gator(queue.dsn)
        signed.task(jobs.append, out, f"{name}-signed")
        bad[queue.url] = {
            unsigned.task(jobs.append, out, f"{name}-unsigned").serialize(): "signature",
            signed.task(json.dumps, "outside").serialize(): "allow-list",
        }
    # When one worker with the key consumes both
    worker = workers(first.dsn, second.dsn, env={"ALLIGATOR_SIGNING_KEY": KEY})
    wait_for(lambda: first.dlq_depth() == second.dlq_depth() == 2, what="both DLQs")
    wait_for(lambda: len(jobs.read(out)) == 2, what="the signed tasks")
    wait_for(lambda: first.empty() and second.empty(), what="the deletes")
    assert worker.stop() == 0, worker.log
    # Then only the signed, allowed tasks ran; the others are poison in
    # their own queue's DLQ, with the reason
    assert sorted(jobs.read(out)) == ["first-signed", "second-signed"]
    for queue in (first, second):
        dead = {m["body"]: m["attributes"]["alligator-error"] for m in queue.dlq_messages()}
        assert set(dead) == set(bad[queue.url])
        for body, reason in bad[queue.url].items():
            assert dead[body].startswith("PoisonMessageError"), dead[body]
            assert reason in dead[body], dead[body]


# -- the command line ----------------------------------------------------------------


def test_weights_that_do_not_match_the_queues_exit_2_with_one_line(new_queue):
    # Given two queues and one weight
    first, second = new_queue(), new_queue()
    # When a worker is started with them (the DSNs around an option, as a
    # script that adds options after the first DSN would write it)
    process = start_worker(first.dsn, second.dsn, "--weights", "3")
    code, err = stop(process)
    # Then it refuses at once, in one line naming the problem
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert "weights: 1 given for 2 queue(s)" in err
