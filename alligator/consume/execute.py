"""Running one task: the step a thread pool does in its own thread and a
process pool hands to a child. Both answer with a ``RunResult``.

Importing the task's module is part of the run, not of the admission: a
module that cannot be imported (during a rolling deploy, producers update
first) or that raises at import (even ``sys.exit()``) fails that run, which
is retried like any other.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..exceptions import TimeLimitExceeded
from ..tasks import Task
from .run import Run
from .timelimit import WATCHDOG

#: Seconds past its limit before a coroutine that blocks its event loop
#: gets the thread's own ``TimeLimitExceeded``.
COROUTINE_GRACE_SECONDS = 1.0


@dataclass
class RunResult:
    """How one run went.

    Attributes:
        ok: it succeeded.
        result: its return value (``ok``), JSON-ready or a ``repr``.
        error: ``"Type: message"`` of the failure.
        exception: the exception itself, when the run was in this process.
        retries: ``task.retries`` after the hooks ran (1.0's ``on_error``
            may raise it to ask for more attempts).
        duration: seconds it took.
        timed_out: it was stopped at its time limit.
        task: the task as it ran (imported), when in this process.
    """

    ok: bool
    result: Any = None
    error: str | None = None
    exception: BaseException | None = None
    retries: int | None = None
    duration: float = 0.0
    timed_out: bool = False
    task: Task | None = None


class Executor(Protocol):
    """Runs one admitted task and says how it went; never raises."""

    def execute(self, run: Run) -> RunResult:
        """Import and run ``run.task`` (from ``run.data``) within ``run.time_limit``."""
        ...


def describe(exc: BaseException) -> str:
    """``"Type: message"``, the form of ``alligator-error``."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class InlineExecutor:
    """Runs the task in the calling thread (the thread pool, ``drain``, the
    Lambda handler, a child process), with its time limit raised in that
    thread.

    Args:
        on_expire: called from the watchdog's thread when a run passes its
            limit (the thread pool concludes it there, see ``Run``).
    """

    def __init__(self, on_expire: Callable[[Run], object] | None = None) -> None:
        self.on_expire = on_expire

    def execute(self, run: Run) -> RunResult:
        task, time_limit = run.task, run.time_limit
        started = time.monotonic()
        if task.func is None:
            failed, fired = self._limited(
                run, time_limit, lambda: self._resolve(task, run.data, started)
            )
            if fired:
                return _failed(task, _limit_error(time_limit), started, timed_out=True)
            if failed is not None:
                return failed
        if time_limit is None:
            return self._run(task, None, started)
        # A coroutine is cancelled at its limit by its own event loop; the
        # thread's limit is the backstop for one that blocks the loop.
        backstop = time_limit + COROUTINE_GRACE_SECONDS if _is_coroutine(task) else time_limit
        result, fired = self._limited(run, backstop, lambda: self._run(task, time_limit, started))
        if result is None or (fired and not result.ok):
            # (None: the limit went off between the task and here.)
            return _failed(task, _limit_error(time_limit), started, timed_out=True)
        return result

    def _limited(
        self, run: Run, seconds: float | None, call: Callable[[], RunResult | None]
    ) -> tuple[RunResult | None, bool]:
        """``call()`` within ``seconds`` (``None``: no limit); its result
        and whether the limit fired (``WATCHDOG.call``: the limit's
        exception never escapes, wherever it lands)."""
        if seconds is None:
            return call(), False
        on_expire = None if self.on_expire is None else functools.partial(self.on_expire, run)
        return WATCHDOG.call(seconds, call, on_expire=on_expire)

    def _resolve(self, task: Task, data: dict[str, Any], started: float) -> RunResult | None:
        try:
            task.resolve(data)
        except BaseException as exc:  # an import can fail in any way, sys.exit() too
            return _failed(task, exc, started, timed_out=False)
        return None

    def _run(self, task: Task, time_limit: float | None, started: float) -> RunResult:
        try:
            task.run(time_limit=time_limit)
        except BaseException as exc:  # a task cannot stop its consumer
            return _failed(task, exc, started, timed_out=isinstance(exc, TimeLimitExceeded))
        return RunResult(
            ok=True,
            result=task.result,
            retries=task.retries,
            duration=time.monotonic() - started,
            task=task,
        )


def _is_coroutine(task: Task) -> bool:
    return inspect.iscoroutinefunction(task.func)


def _limit_error(seconds: float | None) -> TimeLimitExceeded:
    return TimeLimitExceeded(f"the run went past its time limit of {seconds or 0:g} s")


def _failed(task: Task, exc: BaseException, started: float, *, timed_out: bool) -> RunResult:
    return RunResult(
        ok=False,
        error=describe(exc),
        exception=exc,
        retries=task.retries,
        duration=time.monotonic() - started,
        timed_out=timed_out,
        task=task,
    )


#: The executor of every in-process run.
INLINE = InlineExecutor()

__all__ = ["INLINE", "Executor", "InlineExecutor", "RunResult", "describe"]
