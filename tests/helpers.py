"""Helpers many test files share: draining a queue with a real worker, and
reading what landed in a dead-letter queue."""

from __future__ import annotations

import threading
from typing import Any

from alligator import Gator, Worker
from alligator.backends.base import Received
from alligator.outcome import Outcome
from alligator.retries import Backoff


def make_worker(gator: Gator | list[Gator], **kwargs: Any) -> Worker:
    """A worker allowed to import ``tests``, retrying at once (no backoff
    wait in tests) unless told otherwise."""
    kwargs.setdefault("import_allow", ["tests"])
    kwargs.setdefault("backoff", Backoff.IMMEDIATE)
    return Worker(gator, **kwargs)


def drain_outcomes(
    gator: Gator, *, limit: int = 1000, wait_seconds: int = 0, **worker_kwargs: Any
) -> list[Outcome]:
    """Step a worker until the queue has nothing visible; every outcome."""
    outcomes: list[Outcome] = []
    worker = make_worker(gator, on_outcome=outcomes.append, **worker_kwargs)
    steps = 0
    while steps < limit and worker.check_and_run_task(wait_seconds=wait_seconds):
        steps += 1
    worker.close()
    return outcomes


def run_until(
    gator: Gator | list[Gator], *, count: int, timeout: float = 90.0, **worker_kwargs: Any
) -> list[Outcome]:
    """``run_forever`` in a thread until ``count`` outcomes; the outcomes."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    holder: list[Worker] = []

    def record(outcome: Outcome) -> None:
        with lock:
            outcomes.append(outcome)
            if len(outcomes) >= count:
                holder[0].stop()

    worker = make_worker(gator, on_outcome=record, **worker_kwargs)
    holder.append(worker)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        worker.stop()
        thread.join(30)
        raise AssertionError(f"the worker handled {len(outcomes)} of {count} messages")
    return outcomes


def dead_letters(gator: Gator) -> list[Received]:
    """What is in ``gator``'s DLQ, left there (see ``alligator.testing``)."""
    from alligator.testing import dead_letters as read

    return read(gator)
