"""The heartbeat: keeps every held message's lease, and every running
task's status-store lease, alive; sends deletes that waited too long.

A message is extended once it has been held for half its lease (batched:
``ChangeMessageVisibilityBatch`` for everything due, received-but-waiting
messages included). An extension that fails is tried again a quarter lease
later, then halfway to the end of the lease again after each failure: well
before the lease ends (``Inflight.retry_soon``). A finished message is no longer
extended, so its delete must go out well inside what is left of its lease:
the heartbeat sends any delete that waited a tick.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence

from .lane import Lane

log = logging.getLogger("alligator")

#: The longest pause between beats.
MAX_TICK_SECONDS = 1.0


class Heartbeat:
    """Beats for some lanes until ``until`` is set.

    Example:
        >>> with Heartbeat(lanes).running():
        ...     run_one_unit()
    """

    def __init__(self, lanes: Sequence[Lane]) -> None:
        self.lanes = list(lanes)
        self._renewed = time.monotonic()

    def tick_seconds(self) -> float:
        shortest = min(_lease(lane) for lane in self.lanes)
        return max(0.1, min(MAX_TICK_SECONDS, shortest / 8))

    def loop(self, until: threading.Event) -> None:
        tick = self.tick_seconds()
        while not until.wait(tick):
            self.beat(tick)

    def beat(self, tick: float) -> None:
        """One beat: flush stale deletes, extend due leases, renew status leases."""
        now = time.monotonic()
        renew = now - self._renewed >= min(_lease(lane) for lane in self.lanes) / 4
        if renew:
            self._renewed = now
        for lane in self.lanes:
            lease = _lease(lane)
            try:
                if lane.settler.waited >= tick:
                    lane.settler.flush()
            except Exception:
                log.exception("heartbeat: could not send deletes for %s", lane.name)
            due = lane.inflight.due(lease)
            if due:
                try:
                    lane.queue.extend(due, seconds=lease)
                except Exception:
                    lane.inflight.retry_soon(due, lease)
                    log.exception("heartbeat: could not extend leases on %s", lane.name)
            if renew:
                self._renew_status(lane, lease)

    def _renew_status(self, lane: Lane, lease: int) -> None:
        """Keep the status store's lease on running tasks alive too, so a
        second copy of a slow task is deferred rather than run twice."""
        store = lane.processor.store
        if store is None:
            return
        for task_id in lane.processor.running_task_ids():
            try:
                store.renew(task_id, owner=lane.processor.owner, lease_seconds=lease)
            except Exception:
                log.exception("heartbeat: could not renew the status lease of %s", task_id)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Beat in a thread while the block runs (step mode)."""
        done = threading.Event()
        thread = threading.Thread(target=self.loop, args=(done,), name="heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()


def _lease(lane: Lane) -> int:
    return max(1, int(lane.queue.visibility_timeout))
