"""Time limits for runs on threads: ``TimeLimitExceeded`` raised inside the
task's own thread at its limit.

CPython can raise an exception in another thread
(``PyThreadState_SetAsyncExc``); it takes effect at that thread's next
Python instruction, so it stops a loop or a ``time.sleep`` between steps, not
a C call that never returns. The one ``Watchdog`` thread keeps every armed
limit and fires each at its deadline; a caller that needs to go on without
the stuck thread (the worker's thread pool refills the slot) passes
``on_expire``.

The exception must never go off outside the run it was aimed at, so arming,
firing and disarming are serialised on one lock, and disarming clears an
exception that was set but not yet raised. A fired limit raises again every
``REFIRE_SECONDS`` until its run ends, since a ``__del__``, a gc callback or
a task's ``except Exception`` may swallow it. That leaves the edges: an
exception set as the run ends can land in the few Python instructions
that enter or leave a ``with`` block (``Limit.__exit__`` itself, before it
can clear it), and from there it escapes the block. ``Watchdog.call``
catches it there too; use it rather than ``with WATCHDOG.arm(...)``.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from ..exceptions import TimeLimitExceeded

T = TypeVar("T")

#: How often a fired limit raises again in a run that has not ended.
REFIRE_SECONDS = 0.5

# Two prototypes of one C function: one sets an exception *class* (CPython
# 3.11 takes no instance there), one passes NULL, which clears it.
_SIGNATURE = ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
_raise_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(_SIGNATURE)
_clear_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(_SIGNATURE)


class Limit:
    """One armed limit; a context manager around the run it guards (see
    the module docstring: ``Watchdog.call`` also covers the block's edges).

    Example:
        >>> with WATCHDOG.arm(30) as limit:
        ...     task.run()
        >>> limit.fired
        False
    """

    def __init__(
        self,
        watchdog: Watchdog,
        seconds: float,
        thread_id: int,
        on_expire: Callable[[], object] | None,
    ) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.thread_id = thread_id
        self.on_expire = on_expire
        self.fired = False
        self.done = False
        self._watchdog = watchdog

    def __enter__(self) -> Limit:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        self.disarm()
        # The limit's own exception ends here, as the run's failure; the
        # caller reads ``fired``.
        return kind is not None and issubclass(kind, TimeLimitExceeded) and self.fired

    def disarm(self) -> None:
        """Stop the limit; clears an exception set but not yet raised."""
        while True:
            try:
                self._watchdog._disarm(self)
                return
            except TimeLimitExceeded:
                # Set just before we took the lock, raised just after: this
                # very exception is the one being cleared; go round again.
                continue

    def error(self) -> TimeLimitExceeded:
        """The failure to report for a run that went past this limit."""
        return TimeLimitExceeded(f"the run went past its time limit of {self.seconds:g} s")


class Watchdog:
    """Fires armed limits at their deadlines from one daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Limit]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(
        self,
        seconds: float,
        *,
        thread_id: int | None = None,
        on_expire: Callable[[], object] | None = None,
    ) -> Limit:
        """A limit of ``seconds`` on the calling thread (or ``thread_id``)."""
        limit = Limit(self, seconds, thread_id or threading.get_ident(), on_expire)
        with self._lock:
            heapq.heappush(self._heap, (limit.deadline, next(self._order), limit))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="time-limits", daemon=True)
                self._thread.start()
            self._wake.notify()
        return limit

    def call(
        self,
        seconds: float,
        func: Callable[[], T],
        *,
        on_expire: Callable[[], object] | None = None,
    ) -> tuple[T | None, bool]:
        """``func()`` on the calling thread within ``seconds``: its result
        (``None`` if the limit interrupted it) and whether the limit fired.
        The limit's ``TimeLimitExceeded`` never escapes, wherever it lands.

        Example:
            >>> value, fired = WATCHDOG.call(30, task.run)
        """
        limit: Limit | None = None
        value: T | None = None
        try:
            limit = self.arm(seconds, on_expire=on_expire)
            with limit:
                value = func()
        except TimeLimitExceeded:
            # It fired as the block was entered or left, in instructions
            # ``Limit.__exit__`` does not cover (or in ``func``, which let
            # it through): the limit went off, once, and nothing is pending.
            if limit is not None:
                limit.disarm()
            return value, True
        assert limit is not None
        return value, limit.fired

    def _disarm(self, limit: Limit) -> None:
        with self._lock:
            limit.done = True
            if limit.fired:
                _clear_in(limit.thread_id, None)  # what was set but not yet raised

    def _loop(self) -> None:
        while True:
            expired: list[Limit] = []
            with self._lock:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    limit = heapq.heappop(self._heap)[2]
                    if limit.done:
                        continue
                    _raise_in(limit.thread_id, TimeLimitExceeded)
                    # Raised again until the run ends: a ``__del__`` or a gc
                    # callback the exception lands in swallows it, and so
                    # does a task that catches ``Exception``.
                    heapq.heappush(self._heap, (now + REFIRE_SECONDS, next(self._order), limit))
                    if not limit.fired:
                        limit.fired = True
                        expired.append(limit)
                if not expired:
                    timeout = self._heap[0][0] - now if self._heap else None
                    self._wake.wait(timeout)
                    continue
            for limit in expired:
                if limit.on_expire is not None:
                    limit.on_expire()


#: The process's one watchdog.
WATCHDOG = Watchdog()
