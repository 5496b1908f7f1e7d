"""``Schedule``: a task to enqueue on an EventBridge Scheduler expression.

Everything is checked when the ``Schedule`` is made, so a mistake fails at
import of the user's module (and at ``schedule sync``), never at 2 a.m.:
the name (EventBridge's rules), the expression, the time zone, and that the
call can travel (an importable function, JSON arguments).

Each firing is its own task, ``task_id = NAME@SCHEDULED_TIME`` (ISO 8601,
UTC, to the second): EventBridge fills the time in from
``<aws.scheduler.scheduled-time>``, the local scheduler from its own
computation of the same instant. A firing delivered twice therefore has one
task id, and runs once where a status store is configured.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .. import wire
from ..exceptions import ConfigurationError, PoisonMessageError, UnserializableTaskError
from ..tasks import Task, callable_path
from .expressions import At, CronExpression, Rate, format_time, parse

#: EventBridge Scheduler schedule names: 1-64 of letters, digits, ``-_.``.
#: https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html
NAME = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")
#: The context attribute EventBridge Scheduler replaces in a target's input.
#: https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
#: ``retries`` as the wire format's producers allow it (CONTRACT.md section 4).
MAX_RETRIES = 1000


class Schedule:
    """Enqueue ``func(*args, **kwargs)`` whenever ``expression`` fires.

    Example:
        >>> SCHEDULES = [
        ...     Schedule("nightly-report", "cron(0 2 * * ? *)", send_report,
        ...              timezone="Europe/Paris", retries=2),
        ...     Schedule("poll-inbox", "rate(5 minutes)", poll_inbox, "support"),
        ... ]

    Args:
        name: unique in its list; EventBridge's schedule name (1-64 letters,
            digits, ``-``, ``_``, ``.``) and the prefix of each task id.
        expression: ``rate(...)``, ``cron(...)`` or ``at(...)``, as
            EventBridge Scheduler reads them.
        func: a module-level function a worker can import.
        *args: its positional arguments (JSON).
        timezone: the IANA time zone ``cron()`` and ``at()`` are read in.
        retries: how many times a failed run of a firing is tried again.
        **kwargs: its keyword arguments (JSON).

    Raises:
        ConfigurationError: a bad name, expression or time zone, or a call
            that cannot travel; the message names the schedule and the part.
    """

    def __init__(
        self,
        name: str,
        expression: str,
        func: Callable[..., Any],
        *args: Any,
        timezone: str = "UTC",
        retries: int = 0,
        **kwargs: Any,
    ) -> None:
        if not isinstance(name, str) or not NAME.match(name):
            raise ConfigurationError(
                f"schedule name {name!r} is not 1-64 letters, digits, '-', '_' or '.' "
                "(EventBridge Scheduler's rule)"
            )
        self.name = name
        self.timezone = timezone
        self.expression_text = expression
        self.expression = _parse(name, expression, timezone)
        if type(retries) is not int or not 0 <= retries <= MAX_RETRIES:
            raise ConfigurationError(
                f"schedule {name!r}: retries must be a whole number 0-{MAX_RETRIES}, "
                f"not {retries!r}"
            )
        self.retries = retries
        self.func = func
        self.args = list(args)
        self.kwargs = dict(kwargs)
        self.input_body = self._checked_body()

    def __repr__(self) -> str:
        return f"Schedule({self.name!r}, {self.expression_text!r}, timezone={self.timezone!r})"

    @property
    def kind(self) -> str:
        """``rate``, ``cron`` or ``at``."""
        kinds = {Rate: "rate", CronExpression: "cron", At: "at"}
        return kinds[type(self.expression)]

    @property
    def callable_name(self) -> str:
        """``module.function`` of the task, for logs and descriptions."""
        module, name = callable_path(self.func, for_worker=True)
        return f"{module}.{name}"

    def next_after(self, moment: datetime) -> datetime | None:
        """The first firing strictly after ``moment`` (aware), in UTC."""
        return self.expression.next_after(moment)

    def task_id(self, scheduled: datetime) -> str:
        """``NAME@2026-12-02T02:00:00Z``: the id of the firing at ``scheduled``."""
        return f"{self.name}@{format_time(scheduled)}"

    def task(self, scheduled: datetime) -> Task:
        """The task of the firing at ``scheduled``, ready to ``gator.push``.

        Example:
            >>> gator.push(schedule.task(when), schedule.func, *schedule.args,
            ...            **schedule.kwargs)
        """
        task = Task(task_id=self.task_id(scheduled), retries=self.retries, group=self.name)
        task.to_call(self.func, *self.args, **self.kwargs)
        return task

    def _checked_body(self) -> str:
        """The wire body EventBridge sends, ``task_id`` left for it to fill
        in; made now so that a call that cannot travel fails here."""
        task = Task(task_id=f"{self.name}@{SCHEDULED_TIME}", retries=self.retries)
        try:
            task.to_call(self.func, *self.args, **self.kwargs)
            body = task.serialize()
            # What every consumer checks first; a real firing's id is
            # shorter than the placeholder.
            wire.decode(body)
        except (UnserializableTaskError, PoisonMessageError) as exc:
            raise ConfigurationError(f"schedule {self.name!r}: {exc}") from None
        return body


def _parse(name: str, expression: str, timezone: str) -> Rate | At | CronExpression:
    try:
        return parse(expression, timezone)
    except ConfigurationError as exc:
        raise ConfigurationError(f"schedule {name!r}: {exc}") from None
