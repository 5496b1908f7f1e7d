"""A worker against an SQS that misbehaves (CONTRACT.md section 4, point 2;
section 5): 5xx answers, throttling, connection resets, an endpoint that
goes away for a moment, a delete that fails for good. Nothing is lost and
the worker stays up.

The proxy fails requests *before* forwarding them, so moto never sees a
failed request and a retry cannot duplicate anything: every task must run
exactly once. (A fault *after* forwarding, a lost answer to a
DeleteMessageBatch, would make a task run again after its lease: that is
the last test here, done in-process.)
"""

from __future__ import annotations

import threading
from collections import Counter

from botocore.exceptions import EndpointConnectionError

from alligator import Gator, Worker
from tests import tasks
from tests.integration import jobs
from tests.integration.conftest import Proxy
from tests.processes import wait_for
from tests.sqs_proxy import FAULT_KINDS


def test_faults_on_a_fifth_of_requests_lose_and_duplicate_nothing(
    queue, workers, sqs_endpoint, tmp_path, atomic_receives
):
    # Given a worker behind a proxy that fails a fifth of its requests
    # (500, throttling and connection resets, in turn), the first three
    # for sure, so every kind happens
    proxy = Proxy(sqs_endpoint, fault_rate=0.2, seed=20).start()
    try:
        proxy.fail_next(3)
        worker = workers(proxy.dsn(queue.dsn), "--concurrency", "2")
        # When 100 tasks are enqueued (directly, not through the proxy)
        out = str(tmp_path / "runs")
        keys = [f"f{n}" for n in range(100)]
        Gator(queue.dsn).task_many([(jobs.append, (out, key), {}) for key in keys])
        # (generous: botocore backs off up to 20 s on a throttled retry, and a
        # busy machine stretches every wait)
        wait_for(lambda: len(jobs.read(out)) >= 100, timeout=150, what="100 runs")
        wait_for(queue.empty, timeout=60, what="the deletes")
        # Then the worker is still up and stops cleanly...
        assert worker.process.poll() is None
        assert worker.stop() == 0, worker.log
    finally:
        proxy.stop()
    # ...every kind of fault happened, botocore retried them all, and each
    # task ran exactly once: none lost, none twice
    assert set(proxy.faults) == set(FAULT_KINDS)
    ran = Counter(jobs.read(out))
    assert [key for key, n in ran.items() if n > 1] == []
    assert ran == Counter(keys)
    assert Counter(o["outcome"] for o in worker.outcomes()) == {"success": 100}
    assert queue.dlq_depth() == 0


def test_an_endpoint_down_for_a_moment_is_ridden_out(
    queue, workers, sqs_endpoint, tmp_path, atomic_receives
):
    # Given an idle worker long-polling through a proxy
    proxy = Proxy(sqs_endpoint).start()
    try:
        worker = workers(proxy.dsn(queue.dsn))
        wait_for(lambda: "ReceiveMessage" in proxy.in_flight, what="a long poll")
        # When the endpoint goes away, its open connections cut (the long
        # poll among them), and tasks are enqueued meanwhile
        proxy.stop()
        assert proxy.cut >= 1
        # (The cut long poll still runs its course on the server; a task
        # sent before it ends could be received by it, the answer lost, and
        # come back only after its lease: wait until it is over.)
        wait_for(lambda: not proxy.in_flight, what="the cut long poll to end")
        out = str(tmp_path / "runs")
        keys = [f"d{n}" for n in range(20)]
        Gator(queue.dsn).task_many([(jobs.append, (out, key), {}) for key in keys])
        # ...and comes back on the same address once the worker has found
        # it gone (a request refused while it was down)
        wait_for(lambda: proxy.refused > 0, what="a request to the dead endpoint")
        proxy.start()
        # Then the worker, still up, drains the queue
        wait_for(lambda: len(jobs.read(out)) >= 20, what="20 runs")
        wait_for(queue.empty, what="the deletes")
        assert worker.process.poll() is None
        assert worker.stop() == 0, worker.log
    finally:
        proxy.stop()
    assert Counter(jobs.read(out)) == Counter(keys)


def test_a_delete_that_fails_for_good_costs_a_rerun_not_the_worker(
    new_queue, in_thread, monkeypatch
):
    # Given a 1 s lease, and SQS refusing the first delete past botocore's
    # own retries
    queue = new_queue(visibility_timeout=1)
    gator = Gator(queue.dsn)
    backend = gator.backend
    real_ack = backend.ack
    failures = []

    def ack(messages, **kwargs):
        if not failures:
            failures.append(len(messages))
            raise EndpointConnectionError(endpoint_url=queue.url)
        return real_ack(messages, **kwargs)

    monkeypatch.setattr(backend, "ack", ack)
    gator.task(tasks.count, "once")
    # When a worker runs the task
    seen = []
    lock = threading.Lock()

    def on_outcome(outcome):
        with lock:
            seen.append(outcome)

    worker = Worker(gator, import_allow=["tests"], on_outcome=on_outcome)
    thread = in_thread(worker)
    # Then the message came back after its lease and ran again (at least
    # once), its second delete went through, and the worker never stopped
    wait_for(lambda: len(seen) == 2, what="the second run")
    wait_for(queue.empty, what="the second delete")
    assert thread.is_alive()
    assert failures == [1]
    assert tasks.calls["once"] == 2
    assert [outcome.message.attempt for outcome in seen] == [1, 2]
