"""The worker survives what is not the task's fault, keeps leases alive in
step-by-step mode too, and leaves the process as it found it."""

from __future__ import annotations

import signal
import threading

from alligator import Gator, Worker
from alligator.status.local import LocmemStatusStore
from tests import tasks
from tests.processes import lines, wait_for


class FlakyStore(LocmemStatusStore):
    """A status store whose first claim fails, like a DynamoDB hiccup."""

    def __init__(self, dsn):
        super().__init__(dsn)
        self.failures = 1

    def claim(self, task_id, **kwargs):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("status store unreachable")
        return super().claim(task_id, **kwargs)


def test_a_status_store_error_loses_nothing_and_does_not_stop_the_worker():
    from alligator.dsn import parse_dsn

    # Given a status store that fails once, and a 1 s lease
    store = FlakyStore(parse_dsn("locmem://"))
    gator = Gator("locmem://?visibility_timeout=1", status=store)
    gator.task(tasks.count, "kept")
    outcomes = []
    worker = Worker(gator, import_allow=["tests"], on_outcome=outcomes.append, max_tasks=1)
    # When the worker runs until one task is done
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    thread.join(timeout=30)
    # Then the message came back after its lease and ran once; nothing lost
    assert not thread.is_alive()
    assert tasks.calls["kept"] == 1
    assert [o.label for o in outcomes] == ["success"]
    assert gator.len() == 0


def test_run_forever_puts_the_signal_handlers_back():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    gator = Gator("locmem://")
    gator.task(tasks.add, 1, 1)
    Worker(gator, import_allow=["tests"], max_tasks=1).run_forever()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_check_and_run_task_extends_the_lease_of_a_slow_task(tmp_path):
    # Given a task that runs 2.5 s on a 1 s lease, run step by step
    dsn = f"sqlite://{tmp_path}/q.db?visibility_timeout=1"
    gator = Gator(dsn)
    out = tmp_path / "runs"
    gator.task(tasks.record, str(out), "slow", 2.5)
    worker = Worker(gator, import_allow=["tests"])
    step = threading.Thread(target=worker.check_and_run_task)
    step.start()
    wait_for(lambda: lines(tmp_path / "runs.started") == ["slow"], what="the task to start")
    # When another consumer keeps asking while it runs
    other = Gator(dsn).backend
    stolen = []
    while step.is_alive():
        stolen += other.receive(max_messages=10, wait_seconds=0)
        step.join(timeout=0.1)
    # Then the heartbeat kept it hidden: nobody else got it, it ran once
    assert stolen == []
    assert lines(out) == ["slow"]
    assert gator.len() == 0
