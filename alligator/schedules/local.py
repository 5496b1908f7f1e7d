"""The local scheduler: ``alligator scheduler DSN MODULE:ATTRIBUTE``.

It enqueues the same tasks at the same times as EventBridge Scheduler
would, on any backend, for development, ``sqlite://``, the embedded
endpoint and setups without EventBridge. Run one per queue: two would
enqueue each firing twice (with one task id, so a status store still runs
it once).

Rules, all about firings rather than processes:

- It starts from now: firings missed while it was down are not made up.
- Each step enqueues, per schedule, at most one firing: the latest one due.
  Earlier ones that fell due while the process was suspended (a laptop
  lid, a stopped container) are skipped with a warning, never sent in a
  burst.
- A firing is enqueued once. The next one is always computed strictly
  after the last one sent, so a clock that jumps back never repeats one.
- A failed enqueue (SQS unreachable) is logged and tried again a few
  seconds later, until the schedule's next firing replaces it.

Time comes from a ``Clock``, so tests move it by hand and never sleep.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from .._text import printable
from .expressions import format_time
from .loader import checked
from .schedule import Schedule

if TYPE_CHECKING:
    from ..gator import Gator
    from ..tasks import Task

log = logging.getLogger("alligator")

#: The longest single wait, so that a jump of the wall clock (suspend,
#: NTP) is noticed within this many seconds.
MAX_WAIT_SECONDS = 30.0
#: Seconds before a failed enqueue is tried again.
RETRY_SECONDS = 5.0


class Clock(Protocol):
    """Where the scheduler reads the time and waits."""

    def now(self) -> datetime:
        """The current time, aware."""
        ...

    def wait(self, seconds: float, stop: threading.Event) -> None:
        """Wait ``seconds``, or less once ``stop`` is set."""
        ...


class SystemClock:
    """The machine's clock; waits end at once on ``stop``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, seconds: float, stop: threading.Event) -> None:
        stop.wait(max(seconds, 0.0))


@dataclass(frozen=True)
class Firing:
    """One firing handled by a step: its task, or the error that kept it
    off the queue (then it is tried again)."""

    schedule: Schedule
    scheduled: datetime
    task: Task | None
    skipped: int = 0
    error: BaseException | None = None


class Scheduler:
    """Enqueues each schedule's firings on ``gator``'s queue, on time.

    Example:
        >>> scheduler = Scheduler(Gator("sqlite:///tmp/q.db"), SCHEDULES)
        >>> scheduler.run(threading.Event())     # until the event is set

    Args:
        gator: where the tasks go.
        schedules: ``Schedule`` objects with distinct names.
        clock: the time source (``SystemClock()`` when not given).
        on_fire: called with each ``Firing`` after its enqueue.
    """

    def __init__(
        self,
        gator: Gator,
        schedules: Iterable[Schedule],
        *,
        clock: Clock | None = None,
        on_fire: Callable[[Firing], None] | None = None,
    ) -> None:
        self.gator = gator
        self.schedules = checked(list(schedules), "schedules")
        self.clock: Clock = clock or SystemClock()
        self.on_fire = on_fire
        self._due: dict[str, datetime | None] = {}
        self._hold_until: dict[str, datetime] = {}

    def start(self, now: datetime | None = None) -> None:
        """Plan each schedule's first firing strictly after ``now``."""
        now = now or self.clock.now()
        for schedule in self.schedules:
            due = schedule.next_after(now)
            self._due[schedule.name] = due
            when = format_time(due) if due else "none left"
            log.info(
                "schedule %s (%s, %s): next firing %s",
                schedule.name,
                schedule.expression_text,
                schedule.timezone,
                when,
            )

    def next_due(self) -> datetime | None:
        """The earliest time a step has something to do, or ``None``."""
        times = [self._ready_at(name, due) for name, due in self._due.items() if due]
        return min(times, default=None)

    def step(self, now: datetime | None = None) -> list[Firing]:
        """Enqueue every firing due at ``now``; returns what was handled."""
        if not self._due and self.schedules:
            self.start(now)
        now = now or self.clock.now()
        firings = []
        for schedule in self.schedules:
            due = self._due.get(schedule.name)
            if due is None or self._ready_at(schedule.name, due) > now:
                continue
            firings.append(self._fire(schedule, due, now))
        return firings

    def run(self, stop: threading.Event) -> None:
        """Step and wait until ``stop`` is set (a signal handler sets it)."""
        self.start()
        idle_logged = False
        while not stop.is_set():
            self.step()
            due = self.next_due()
            if due is None and not idle_logged:
                log.info("no schedule has a firing left; waiting for SIGTERM")
                idle_logged = True
            wait = MAX_WAIT_SECONDS
            if due is not None:
                wait = min(wait, (due - self.clock.now()).total_seconds())
            self.clock.wait(wait, stop)

    # -- helpers -------------------------------------------------------------

    def _ready_at(self, name: str, due: datetime) -> datetime:
        hold = self._hold_until.get(name)
        return max(due, hold) if hold else due

    def _fire(self, schedule: Schedule, due: datetime, now: datetime) -> Firing:
        latest, skipped = _latest_due(schedule, due, now)
        if skipped:
            log.warning(
                "schedule %s: skipped %d firing(s) from %s that fell due while the "
                "scheduler was not running on time; enqueuing only the latest, %s",
                schedule.name,
                skipped,
                format_time(due),
                format_time(latest),
            )
        try:
            task = schedule.task(latest)
            self.gator.push(task, schedule.func, *schedule.args, **schedule.kwargs)
        except Exception as exc:  # the queue may be down: try again soon
            self._due[schedule.name] = latest
            self._hold_until[schedule.name] = now + timedelta(seconds=RETRY_SECONDS)
            log.error(
                "schedule %s: could not enqueue %s, trying again in %.0f s: %s: %s",
                schedule.name,
                schedule.task_id(latest),
                RETRY_SECONDS,
                type(exc).__name__,
                printable(str(exc)),
            )
            return self._report(Firing(schedule, latest, None, skipped, exc))
        self._hold_until.pop(schedule.name, None)
        self._due[schedule.name] = schedule.next_after(latest)
        log.info(
            "schedule %s fired: task %s (%s) enqueued, message %s",
            schedule.name,
            task.task_id,
            schedule.callable_name,
            task.message_id,
        )
        return self._report(Firing(schedule, latest, task, skipped))

    def _report(self, firing: Firing) -> Firing:
        if self.on_fire is not None:
            self.on_fire(firing)
        return firing


def _latest_due(schedule: Schedule, due: datetime, now: datetime) -> tuple[datetime, int]:
    """The last firing at or before ``now``, from ``due`` on, and how many
    earlier ones it replaces."""
    latest, skipped = due, 0
    for moment in schedule.expression.firings(due):
        if moment > now:
            break
        latest, skipped = moment, skipped + 1
    return latest, skipped
