"""Helpers many test files share: draining a queue with a real worker,
reading what landed in a dead-letter queue, and hostile task bodies."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
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
    gator: Gator | list[Gator],
    *,
    count: int | None = None,
    done: Callable[[list[Outcome]], bool] | None = None,
    timeout: float = 90.0,
    **worker_kwargs: Any,
) -> list[Outcome]:
    """``run_forever`` in a thread until ``count`` outcomes (or until
    ``done(outcomes)``); the outcomes."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    holder: list[Worker] = []
    if done is None and count is None:
        raise TypeError("run_until needs count= or done=")
    finished = done or (lambda seen: len(seen) >= (count or 0))

    def record(outcome: Outcome) -> None:
        with lock:
            outcomes.append(outcome)
            if finished(outcomes):
                holder[0].stop()

    worker = make_worker(gator, on_outcome=record, **worker_kwargs)
    holder.append(worker)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        worker.stop()
        thread.join(30)
        raise AssertionError(
            f"not done after {timeout} s: {len(outcomes)} messages handled, "
            f"{[o.label for o in outcomes]}"
        )
    return outcomes


def dead_letters(gator: Gator) -> list[Received]:
    """What is in ``gator``'s DLQ, left there (see ``alligator.testing``)."""
    from alligator.testing import dead_letters as read

    return read(gator)


#: Tasks that raise what is not an ``Exception``, by key: (the kind
#: ``tests.integration.jobs.raises`` raises, the ``alligator-error`` it must leave).
BASE_EXCEPTIONS = {
    "interrupt": ("KeyboardInterrupt", "KeyboardInterrupt"),
    "exit0": ("SystemExit:0", "SystemExit: 0"),
    "exit1": ("SystemExit:1", "SystemExit: 1"),
    "exit3": ("SystemExit:3", "SystemExit: 3"),
    "cancel": ("CancelledError", "CancelledError"),
}


def raw_task(
    module: str,
    name: str,
    *args: object,
    task_id: str,
    retries: int = 0,
    options: dict[str, object] | None = None,
) -> str:
    """A task body as any producer would write it (names unchecked)."""
    return json.dumps(
        {
            "task_id": task_id,
            "retries": retries,
            "async": True,
            "is_async": True,
            "module": module,
            "callable": name,
            "args": list(args),
            "kwargs": {},
            "options": options or {},
        }
    )
