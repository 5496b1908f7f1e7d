"""The two pools: ``concurrency`` slots, each a thread that takes the next
unit from the engine and runs it. They differ only in the ``Executor`` a
slot runs its tasks with:

- ``ThreadPool``: in the slot's own thread. A run past its time limit gets
  ``TimeLimitExceeded`` raised in that thread; if the thread does not come
  back with it within ``ABANDON_GRACE_SECONDS`` (stuck in a C call), the run
  is concluded elsewhere with that failure, the thread is abandoned and a
  fresh thread takes its slot.
- ``ProcessPool``: in the slot's child process, which the slot thread
  drives (see ``processes``). The parent alone receives, checks, holds and
  settles, so requests per task do not grow with the children.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

from ..consume import INLINE, Executor, InlineExecutor, Run, RunResult, describe
from ..exceptions import TimeLimitExceeded
from .engine import Engine
from .lane import Lane, Unit
from .processes import ChildProcess

log = logging.getLogger("alligator")

#: Seconds a thread gets, past its time limit, to come back with the
#: ``TimeLimitExceeded`` raised in it before it is abandoned (as a child
#: gets ``processes.KILL_GRACE_SECONDS`` before it is killed).
ABANDON_GRACE_SECONDS = 1.0


class Slot:
    """One unit of concurrency: what it runs now, and with what."""

    def __init__(self, number: int, executor: Executor) -> None:
        self.number = number
        self.executor = executor
        self.lane: Lane | None = None
        self.unit: Unit = []
        self.position = [0]
        #: Abandoned at a time limit: another thread has its place.
        self.retired = False
        self.thread: threading.Thread | None = None


class Pool:
    """Slots that run units until the engine stops; see the module docstring."""

    def __init__(self, engine: Engine, concurrency: int) -> None:
        self.engine = engine
        self.concurrency = concurrency
        self.slots: list[Slot] = []

    def make_executor(self, number: int) -> Executor:
        return INLINE

    def start(self) -> None:
        for number in range(self.concurrency):
            slot = Slot(number, self.make_executor(number))
            self.slots.append(slot)
            self._serve(slot)

    def _serve(self, slot: Slot) -> None:
        slot.thread = threading.Thread(
            target=self._loop, args=(slot,), name=f"slot-{slot.number}", daemon=True
        )
        slot.thread.start()

    def _loop(self, slot: Slot) -> None:
        engine = self.engine
        while not slot.retired:
            got = engine.next_unit(0.1)
            if got is None:
                if engine.stopping.is_set():
                    return
                continue
            lane, unit = got
            slot.lane, slot.unit, slot.position[0] = lane, unit, 0
            try:
                engine.run_unit(
                    lane,
                    unit,
                    slot.executor,
                    may_start=lambda: not (slot.retired or engine.stopping.is_set()),
                    position=slot.position,
                    abandoned=lambda: slot.retired,
                )
            finally:
                if not slot.retired:
                    engine.unit_done()

    def join(self, deadline: float) -> list[str]:
        """Wait for the slots until ``deadline``; the names still running."""
        for slot in list(self.slots):
            if slot.thread is not None and not slot.retired:
                slot.thread.join(max(0.0, deadline - time.monotonic()))
        return [
            f"slot-{slot.number}"
            for slot in self.slots
            if slot.thread is not None and slot.thread.is_alive() and not slot.retired
        ]

    def close(self) -> None:
        """End what the slots hold (children); after the grace."""


class ThreadPool(Pool):
    """Slots that run tasks in their own threads."""

    def make_executor(self, number: int) -> Executor:
        return InlineExecutor(on_expire=lambda run: self._expired(number, run))

    def _expired(self, number: int, run: Run) -> None:
        """From the watchdog: the run is past its limit, and
        ``TimeLimitExceeded`` was just raised in its thread. A thread that
        was between Python instructions comes back with it at once and
        concludes its own run; give it ``ABANDON_GRACE_SECONDS`` to do so
        before taking the run and the slot away (a C call that never
        returns). Not here: this is the watchdog's thread."""
        timer = threading.Timer(ABANDON_GRACE_SECONDS, self._abandon, args=(number, run))
        timer.daemon = True
        timer.name = f"abandon-{number}"
        timer.start()

    def _abandon(self, number: int, run: Run) -> None:
        """The run is still going a grace after its limit: conclude it now
        and give the slot to a fresh thread; the old one leaves when it can."""
        if not run.expire():
            return  # it came back in time
        old = self.slots[number]
        old.retired = True
        fresh = Slot(number, self.make_executor(number))
        self.slots[number] = fresh
        lane, rest = old.lane, old.unit[old.position[0] + 1 :]
        thread = threading.Thread(
            target=self._conclude_then_serve,
            args=(fresh, lane, run, rest),
            name=f"slot-{number}",
            daemon=True,
        )
        fresh.thread = thread
        thread.start()

    def _conclude_then_serve(self, slot: Slot, lane: Lane, run: Run, rest: Unit) -> None:
        engine = self.engine
        limit = run.time_limit or 0.0
        error = describe(TimeLimitExceeded(f"the run went past its time limit of {limit:g} s"))
        duration = time.monotonic() - run.started
        result = RunResult(ok=False, error=error, retries=run.task.retries, duration=duration)
        result.timed_out = True
        log.warning(
            "%s: task %s is past its time limit and its thread has not returned; "
            "its slot goes to a fresh thread",
            engine.ident(),
            run.task.task_id,
        )
        try:
            outcome = lane.processor.conclude(run, result)
            outcome.queue = lane.name
            step = engine.finish(lane, outcome)
            if rest:
                hide = step.wait_seconds if lane.queue.fifo and not step.finished else None
                engine.put_back(lane, rest, hide)
        finally:
            engine.unit_done()
        self._loop(slot)


class ProcessExecutor:
    """A slot's child process, started on first use and replaced when it
    dies, passes its time limit or reaches a per-child limit."""

    def __init__(
        self, setup: dict[str, Any], *, max_tasks_per_child: int, max_memory_per_child: int
    ) -> None:
        self.setup = setup
        self.max_tasks = max_tasks_per_child
        self.max_memory_mib = max_memory_per_child
        self.child: ChildProcess | None = None
        #: The run in the child now (the pool ends it at the end of the grace).
        self.current: Run | None = None
        self._lock = threading.Lock()

    def execute(self, run: Run) -> RunResult:
        with self._lock:
            if self.child is not None and not self.child.alive():
                self.child.close()  # it died between tasks (killed from outside)
                self.child = None
            if self.child is None:
                self.child = ChildProcess(self.setup)
            child = self.child
            self.current = run
        try:
            result = child.run(run)
        finally:
            with self._lock:
                self.current = None
        self._recycle(child, result)
        return result

    def _recycle(self, child: ChildProcess, result: RunResult) -> None:
        """Replace the child after a death, a time limit, or a limit it reached."""
        reason = None
        if result.timed_out:  # (first: a child killed at its limit is dead too)
            reason = "its task went past its time limit"
            child.kill()
        elif not child.alive():
            reason = "it died"
        elif self.max_tasks and child.tasks >= self.max_tasks:
            reason = f"it ran {child.tasks} tasks (max_tasks_per_child)"
        elif self.max_memory_mib and child.rss_mib >= self.max_memory_mib:
            reason = f"it uses {child.rss_mib:.0f} MiB (max_memory_per_child)"
        if reason is None:
            return
        log.info("replacing child process %s: %s", child.pid, reason)
        if child.alive():
            child.stop()
        else:
            child.close()
        with self._lock:
            if self.child is child:
                self.child = None

    def end(self) -> Run | None:
        """Kill the child mid-task (the grace is over); the run it had."""
        with self._lock:
            run, child = self.current, self.child
        if run is not None and run.expire() and child is not None:
            child.kill()
            return run
        return None

    def close(self) -> None:
        with self._lock:
            child, self.child = self.child, None
        if child is not None:
            child.stop()


class ProcessPool(Pool):
    """Slots that each drive one child process."""

    def __init__(
        self,
        engine: Engine,
        concurrency: int,
        *,
        max_tasks_per_child: int = 0,
        max_memory_per_child: int = 0,
        log_format: str | None = None,
    ) -> None:
        super().__init__(engine, concurrency)
        self.setup = {
            "sys_path": list(sys.path),
            "log_format": log_format,
            # (reading /proc after every task only where a limit needs it)
            "measure_memory": bool(max_memory_per_child),
        }
        self.max_tasks_per_child = max_tasks_per_child
        self.max_memory_per_child = max_memory_per_child

    def make_executor(self, number: int) -> Executor:
        return ProcessExecutor(
            self.setup,
            max_tasks_per_child=self.max_tasks_per_child,
            max_memory_per_child=self.max_memory_per_child,
        )

    def close(self) -> None:
        """Kill children still running (the grace is over) and release their
        messages at once; stop the idle ones."""
        for slot in self.slots:
            executor = slot.executor
            if not isinstance(executor, ProcessExecutor):
                continue
            run = executor.end()
            if run is not None and slot.lane is not None:
                log.warning(
                    "%s: task %s still running at the end of the grace: its child was "
                    "killed and its message released",
                    self.engine.ident(),
                    run.task.task_id,
                )
                self.engine.put_back(slot.lane, [run.message], None)
        for slot in self.slots:
            if isinstance(slot.executor, ProcessExecutor):
                slot.executor.close()
