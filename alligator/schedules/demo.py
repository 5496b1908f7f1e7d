"""One scheduled task firing, for ``alligator demo``.

``fire_once(gator, out)`` makes an ``at()`` schedule a moment ahead, lets
the local scheduler enqueue it at its time, and runs it with a worker: the
whole path of a periodic task in about two seconds, on whatever queue the
demo uses (the embedded SQS endpoint).
"""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .local import Firing, Scheduler
from .schedule import Schedule

if TYPE_CHECKING:
    from ..gator import Gator
    from ..tasks import Task

#: Seconds ahead the demo's at() fires.
LEAD_SECONDS = 2
#: Receives the worker makes before the demo gives up on its task.
MAX_RECEIVES = 20
#: Task ids ``tick`` ran, so the demo can report its own.
ran: list[str] = []


def tick(label: str) -> str:
    """The demo's scheduled task."""
    ran.append(label)
    return f"tick from {label}"


def fire_once(gator: Gator, out: Any = None) -> Task | None:
    """Schedule ``tick`` two seconds ahead; enqueue it on time; run it.

    Example:
        >>> fire_once(Gator(dsn), sys.stdout)
        scheduled demo-tick at(2026-12-02T02:00:03) (UTC)
        ...

    Returns:
        The enqueued task, or ``None`` if the worker never saw it run.
    """
    out = out or sys.stdout
    when = (datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS + 1)).replace(microsecond=0)
    expression = f"at({when:%Y-%m-%dT%H:%M:%S})"
    schedule = Schedule("demo-tick", expression, tick, f"demo-tick@{when:%H:%M:%S}")
    print(f"scheduled {schedule.name} {expression} (UTC)", file=out, flush=True)
    fired: list[Firing] = []
    stop = threading.Event()

    def record(firing: Firing) -> None:
        fired.append(firing)
        if firing.task is not None:
            stop.set()

    Scheduler(gator, [schedule], on_fire=record).run(stop)
    task = fired[-1].task
    assert task is not None  # run() returns only once a firing was enqueued
    print(f"the scheduler enqueued {task.task_id} at its time", file=out, flush=True)
    if _run_with_worker(gator, schedule):
        print(f"a worker ran {task.task_id}: tick({ran[0]!r})", file=out)
        return task
    print(f"no worker run of {task.task_id} seen", file=out)
    return None


def _run_with_worker(gator: Gator, schedule: Schedule) -> bool:
    from ..worker import Worker

    ran.clear()
    worker = Worker(gator, import_allow=[__name__])
    try:
        for _ in range(MAX_RECEIVES):
            worker.check_and_run_task()
            if ran:
                return True
    finally:
        worker.close()
    return False
