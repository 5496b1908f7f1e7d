"""``Task``: one call of an importable function, as it travels and runs.

The API and the JSON wire format are alligator 1.0's, so 1.0 producers and
workers interoperate with this version in both directions.
"""

from __future__ import annotations

import calendar
import datetime as dt
import inspect
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

from . import wire
from .callables import (
    call_hook,
    callable_path,
    describe,
    dumps_naming_culprit,
    import_attr,
    run_awaitable,
)
from .constants import (
    CANCELED,
    FAILED,
    RETRYING,
    RUNNING,
    SUCCESS,
    WAITING,
    TaskStatus,
)
from .exceptions import (
    MultipleDelayError,
    UnserializableTaskError,
)

Hook = Callable[..., Any]
TASK_OPTIONS = ("group", "dedup_id", "time_limit")


class Task:
    """A call to make later, somewhere else.

    Example:
        >>> task = Task(retries=2, on_error=alert)
        >>> task.to_call(send_email, 42, subject="hi")
        >>> Task.deserialize(task.serialize()).run().result

    Args:
        task_id: a unique id; a uuid4 string when not given.
        retries: how many times a failed run is tried again.
        is_async: ``False`` runs the task in-process at once (``async`` is
            accepted as a keyword too, as 1.0 spelled it).
        on_start, on_success, on_error: importable hooks, called as
            ``on_start(task)``, ``on_success(task, result)``,
            ``on_error(task, exc)``.
        depends_on: task ids that must have succeeded first (status store).
        delay_by: seconds to wait before running.
        delay_until: a Unix time, or a ``datetime``/``date`` (naive is UTC).
        **options: ``group`` (FIFO message group), ``dedup_id`` and
            ``time_limit`` (seconds a run may take).

    Raises:
        MultipleDelayError: both ``delay_by`` and ``delay_until`` were given.
        ValueError: a field every consumer would refuse (``retries`` outside
            0-1000, a ``task_id`` that is not 1-128 printable characters, a
            negative, infinite or too distant delay, more than 100
            ``depends_on`` ids, a ``time_limit`` outside 0-43200 seconds).
    """

    def __init__(
        self,
        task_id: str | None = None,
        retries: int = 0,
        is_async: bool = True,
        on_start: Hook | None = None,
        on_success: Hook | None = None,
        on_error: Hook | None = None,
        depends_on: list[str] | None = None,
        delay_by: float | None = None,
        delay_until: float | dt.date | None = None,
        **options: Any,
    ) -> None:
        if "async" in options:
            is_async = options.pop("async")
        unknown = sorted(set(options) - set(TASK_OPTIONS))
        if unknown:
            raise TypeError(f"Task() got an unexpected option {unknown[0]!r}")
        if delay_by is not None and delay_until is not None:
            raise MultipleDelayError(
                "Only one of 'delay_by' or 'delay_until' can be used at a time."
            )
        # Only a missing id is made up: an empty one is refused by check().
        self.task_id = str(uuid.uuid4()) if task_id is None else task_id
        self.retries = retries if isinstance(retries, bool) else int(retries)
        self.is_async = bool(is_async)
        self.status = WAITING
        self.on_start = on_start
        self.on_success = on_success
        self.on_error = on_error
        self.depends_on = list(depends_on) if depends_on else None
        self.delay_until = _unix_time(delay_until)
        if delay_by is not None:
            seconds = float(delay_by)
            if not math.isfinite(seconds) or seconds < 0:
                raise ValueError(f"delay_by must be finite seconds, 0 or more, not {delay_by}")
            self.delay_until = time.time() + seconds
            if self.delay_until > wire.MAX_UNIX_TIME:
                raise ValueError(f"delay_by of {delay_by} s ends past the year 9999")
        self.group: str | None = options.get("group")
        self.dedup_id: str | None = options.get("dedup_id")
        self.time_limit: float | None = options.get("time_limit")
        self.check()
        self.func: Callable[..., Any] | None = None
        #: ``(module, callable)`` as a message named them, before the import.
        self.target: tuple[str, str] | None = None
        self.func_args: list[Any] = []
        self.func_kwargs: dict[str, Any] = {}
        self.result: Any = None
        self.error: BaseException | None = None
        self.message_id: str | None = None

    def __repr__(self) -> str:
        name = describe(self.func) if self.func else "nothing"
        return f"<Task {self.task_id} {name} {self.status.name}>"

    def check(self) -> None:
        """Refuse, at the source, what every consumer would dead-letter.

        Raises:
            ValueError: naming the field.
        """
        wire.check_fields(
            task_id=self.task_id,
            retries=self.retries,
            delay_until=self.delay_until,
            depends_on=self.depends_on,
            time_limit=self.time_limit,
        )

    def to_call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Set the callable and its arguments.

        Any callable does for a direct ``run()`` in this process (1.0 took a
        local function too); one a worker cannot import (a lambda, a
        closure, a bound method, a local function) is refused when the task
        is serialised, so at enqueue.

        Raises:
            UnserializableTaskError: ``func`` is not callable.
        """
        if not callable(func):
            raise UnserializableTaskError(f"{func!r} is not callable")
        self.func = func
        self.func_args = list(args)
        self.func_kwargs = dict(kwargs)

    def to_waiting(self) -> None:
        """Mark WAITING."""
        self.status = WAITING

    def to_success(self) -> None:
        """Mark SUCCESS."""
        self.status = SUCCESS

    def to_failed(self) -> None:
        """Mark FAILED."""
        self.status = FAILED

    def to_retrying(self) -> None:
        """Mark RETRYING."""
        self.status = RETRYING

    def to_canceled(self) -> None:
        """Mark CANCELED."""
        self.status = CANCELED

    def serialize(self) -> str:
        """The task as one JSON message (both ``async`` and ``is_async``).

        Raises:
            UnserializableTaskError: the callable, a hook or an argument
                cannot travel as JSON; the message names which.
        """
        if self.func is None:
            raise UnserializableTaskError("nothing to call: use to_call() first")
        self.check()
        module, name = callable_path(self.func, for_worker=True)
        odd = [key for key in self.func_kwargs if not wire.NAME_PATTERN.match(key)]
        if odd:
            raise UnserializableTaskError(
                f"keyword argument {odd[0]!r} is not an identifier; a worker refuses it"
            )
        options: dict[str, Any] = {}
        for hook in wire.HOOKS:
            hook_func = getattr(self, hook)
            if hook_func is not None:
                hook_module, hook_name = callable_path(hook_func, for_worker=True)
                options[hook] = {"module": hook_module, "callable": hook_name}
        if self.delay_until is not None:
            options["delay_until"] = self.delay_until
        if self.depends_on:
            options["depends_on"] = self.depends_on
        if self.time_limit is not None:
            options["time_limit"] = self.time_limit
        data = {
            "task_id": self.task_id,
            "retries": self.retries,
            "async": self.is_async,
            "is_async": self.is_async,
            "module": module,
            "callable": name,
            "args": self.func_args,
            "kwargs": self.func_kwargs,
            "options": options,
        }
        return dumps_naming_culprit(data, f"{module}.{name}", self.func)

    @classmethod
    def deserialize(cls, data: str | bytes) -> Task:
        """Build a task from a message body, importing what it names.

        Raises:
            PoisonMessageError: the body is not a task.
            UnknownModuleError, UnknownCallableError: it names nothing real.
        """
        return cls.from_dict(wire.decode(data))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        """Build a task from a decoded (already checked) message, importing
        its callable and hooks.

        Raises:
            UnknownModuleError, UnknownCallableError: it names nothing real.
        """
        task = cls.unresolved(data)
        task.resolve(data)
        return task

    @classmethod
    def unresolved(cls, data: dict[str, Any]) -> Task:
        """The task a decoded message describes, with nothing imported yet:
        what a consumer needs to decide whether to run it (its id, retries,
        due time, dependencies, time limit)."""
        options = data.get("options") or {}
        task = cls(
            task_id=data["task_id"],
            retries=data["retries"],
            is_async=bool(data.get("is_async", data.get("async"))),
            depends_on=options.get("depends_on"),
            delay_until=options.get("delay_until"),
        )
        task.time_limit = options.get("time_limit")
        task.target = (data["module"], data["callable"])
        task.func_args = list(data.get("args", []))
        task.func_kwargs = dict(data.get("kwargs", {}))
        return task

    def resolve(self, data: dict[str, Any]) -> None:
        """Import the callable and hooks a decoded message names.

        Raises:
            UnknownModuleError, UnknownCallableError: it names nothing real.
        """
        self.func = import_attr(data["module"], data["callable"])
        options = data.get("options") or {}
        for hook in wire.HOOKS:
            target = options.get(hook)
            if target:
                setattr(self, hook, import_attr(target["module"], target["callable"]))

    def run(self, *, time_limit: float | None = None) -> Task:
        """Run the hooks and the callable; a coroutine is run to completion
        (and cancelled at ``time_limit``).

        Whatever the callable or ``on_start`` raises, ``BaseException``s
        included, fails the run: ``on_error`` is called and it is re-raised.
        An exception from ``on_error`` is logged and the task's own is
        re-raised; one from ``on_success`` is logged and the task still
        succeeded (it ran, and running it again would do it twice).

        Returns:
            The task, with ``status`` and ``result`` (or ``error``) set.

        Raises:
            BaseException: whatever the callable raised, after ``on_error``.
        """
        if self.func is None:
            raise UnserializableTaskError("nothing to call: use to_call() first")
        self.status = RUNNING
        try:
            if self.on_start:
                self.on_start(self)
            result = self.func(*self.func_args, **self.func_kwargs)
            if inspect.isawaitable(result):
                result = run_awaitable(result, time_limit=time_limit)
        except BaseException as exc:
            self.to_failed()
            self.error = exc
            if self.on_error:
                call_hook(self.on_error, self, exc)
            raise
        self.result = result
        self.error = None
        self.to_success()
        if self.on_success:
            call_hook(self.on_success, self, result)
        return self

    @property
    def callable_name(self) -> str:
        """``module.name`` of the callable, for logs."""
        if self.func is not None:
            return describe(self.func)
        if self.target is not None:
            return ".".join(self.target)
        return "?"

    @property
    def status_name(self) -> str:
        """The status as a lower-case word."""
        return TaskStatus(self.status).name.lower()


def _unix_time(value: float | dt.date | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return calendar.timegm(value.timetuple()) + value.microsecond / 1e6
        return value.timestamp()
    if isinstance(value, dt.date):
        return float(calendar.timegm(value.timetuple()))
    return float(value)


__all__ = ["Task", "callable_path", "import_attr", "run_awaitable"]
