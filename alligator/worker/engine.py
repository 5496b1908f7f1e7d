"""``Engine``: the state every thread of a worker shares, and the two things
they all do with it: start the next unit, and finish an outcome.

The threads (see the modules named after them): per queue, a receiver that
keeps the pacer's receives in flight and flushers that send the batched
deletes; one slot per unit of concurrency that runs tasks (a thread, or a
thread driving a child process); one heartbeat. They meet here, on one
lock and one condition.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..backends.base import Received
from ..consume import Executor, Step, run_in_order
from ..exceptions import ConfigurationError
from ..logs import log_outcome
from ..outcome import Action, Outcome
from .lane import Lane, Unit
from .picker import Picker

log = logging.getLogger("alligator")


class Engine:
    """Lanes, the picker, the stop signals and the counters.

    Args:
        lanes: one per queue, in priority order.
        picker: chooses the lane a free slot starts from.
        slots: the concurrency.
        max_tasks: stop after this many runs (0: never).
        on_outcome: called with every settled ``Outcome``.
    """

    def __init__(
        self,
        lanes: Sequence[Lane],
        picker: Picker,
        *,
        slots: int,
        max_tasks: int = 0,
        on_outcome: Callable[[Outcome], Any] | None = None,
    ) -> None:
        self.lanes = list(lanes)
        self.picker = picker
        self.slots = slots
        self.max_tasks = max_tasks
        self.on_outcome = on_outcome
        self.lock = threading.Lock()
        #: Receivers wait on it: notified when a slot takes a unit or frees
        #: up, a receive ends, deletes go out (room to receive may have come).
        self.changed = threading.Condition(self.lock)
        #: Slots wait on it (the same lock): notified when a receive ends.
        #: Two conditions, so that a slot taking a unit does not wake every
        #: idle slot, nor a receive every receiver.
        self.arrived = threading.Condition(self.lock)
        #: Set by a signal or ``stop()``: stop receiving and starting.
        self.stopping = threading.Event()
        #: Set once the slots are done (or the grace is over): the heartbeat
        #: stops then, not at the stop signal, so tasks finishing during the
        #: grace keep their leases and are not handed to another consumer.
        self.drained = threading.Event()
        self.busy = 0  # slots running a unit
        self.runs = 0  # task runs finished (for max_tasks)
        self.outcomes = 0  # messages settled
        self.fatal: BaseException | None = None

    def ident(self) -> str:
        """A name for logs, with the process id (1.0)."""
        return f"Alligator Worker (#{os.getpid()})"

    # -- starting --------------------------------------------------------------------

    def next_unit(self, timeout: float) -> tuple[Lane, Unit] | None:
        """The next unit to run, as the picker chooses; None after
        ``timeout`` or once stopping."""
        with self.changed:
            if self.stopping.is_set():
                return None
            got = self._take_ready()
            if got is None:
                self.arrived.wait(timeout)
                if self.stopping.is_set():
                    return None
                got = self._take_ready()
            if got is not None:
                self.busy += 1
                self.changed.notify_all()  # a receiver may want to refill
                if self.picker.priority == "strict" and len(self.lanes) > 1:
                    # An earlier queue's last unit gone: a later one's may start.
                    self.arrived.notify_all()
            return got

    def _take_ready(self) -> tuple[Lane, Unit] | None:
        index = self.picker.pick(self.lanes)
        if index is None:
            return None
        lane = self.lanes[index]
        unit = lane.take()
        return None if unit is None else (lane, unit)

    def unit_done(self) -> None:
        with self.changed:
            self.busy -= 1
            self.changed.notify_all()

    def idle_slots(self) -> int:
        with self.lock:
            return max(0, self.slots - self.busy)

    def remaining(self) -> int | None:
        """Runs ``max_tasks`` still allows, less the messages held."""
        if not self.max_tasks:
            return None
        held = sum(len(lane.inflight) for lane in self.lanes)
        return max(0, self.max_tasks - self.runs - held)

    # -- running -------------------------------------------------------------------------

    def run_unit(
        self,
        lane: Lane,
        unit: Unit,
        executor: Executor,
        *,
        may_start: Callable[[], bool] | None = None,
        position: list[int] | None = None,
        abandoned: Callable[[], bool] | None = None,
    ) -> None:
        """Run a unit's messages in order (the FIFO rule), settling each.

        Args:
            may_start: whether the next message may start (not stopping).
            position: updated with the index of the message running, so a
                run concluded elsewhere (its time limit) knows the rest.
            abandoned: true once the unit was taken over elsewhere (a
                thread pool's run past its limit): the rest is not ours.
        """

        def step(message: Received) -> Step:
            if position is not None:
                position[0] = unit.index(message)
            try:
                outcome = lane.processor.handle(message, executor)
            except Exception:
                # The status store (or S3) failed, not the task. Leave the
                # message alone: it comes back after its lease, nothing lost.
                log.exception("%s: could not process %s", self.ident(), message.message_id)
                lane.inflight.forget([message])
                return Step(False, lane.queue.visibility_timeout)
            if outcome is None:  # concluded at its time limit, elsewhere
                return Step(True)
            return self.finish(lane, outcome)

        allowed = may_start or (lambda: not self.stopping.is_set())
        rest = run_in_order(unit, step, fifo=lane.queue.fifo, may_start=allowed)
        if rest.messages and not (abandoned is not None and abandoned()):
            hide, release = rest.split()
            if hide:
                self.put_back(lane, hide, rest.hide_seconds)
            if release:
                self.put_back(lane, release, None)

    def put_back(self, lane: Lane, messages: list[Received], hide_seconds: int | None) -> None:
        """Messages received and not run go back: released at once, or
        hidden (a FIFO group's tail behind a message that waits)."""
        lane.processor.note_unrun(messages)
        lane.inflight.forget(messages)
        if hide_seconds is None:
            self.safely("release", lane.settler.release, messages)
        else:
            self.safely("hide", lane.settler.hide, messages, hide_seconds)

    def finish(self, lane: Lane, outcome: Outcome) -> Step:
        """Settle an outcome, then log, count and report it."""
        finished = False
        try:
            finished = lane.settler.settle(outcome)
        except ConfigurationError as exc:
            log.error("%s: could not settle %s: %s", self.ident(), outcome.message.message_id, exc)
        except Exception:
            log.exception(
                "%s: could not settle %s; it comes back after its visibility timeout",
                self.ident(),
                outcome.message.message_id,
            )
        finally:
            lane.inflight.forget([outcome.message])
        if outcome.action is Action.DEFER and not finished:
            lane.processor.note_unrun([outcome.message])  # hidden, not run
        if outcome.ran:
            lane.pacer.task_finished(outcome.duration)
        log_outcome(outcome, dlq=lane.queue.dlq_name)
        with self.lock:
            self.outcomes += 1
            self.runs += 1 if _counts(outcome) else 0
            done = bool(self.max_tasks) and self.runs >= self.max_tasks
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:
                # A metrics hook must not take the worker down: the message
                # is settled already, so there is nothing to undo.
                log.exception("%s: the on_outcome hook failed", self.ident())
        if done:
            self.stop()
        return Step(finished, outcome.delay_seconds)

    # -- stopping ------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopping.set()
        with self.changed:
            self.changed.notify_all()
            self.arrived.notify_all()

    def release_buffered(self, lanes: Sequence[Lane] | None = None) -> None:
        """Release every received-but-unstarted message at once."""
        for lane in lanes if lanes is not None else self.lanes:
            messages = lane.take_all()
            if messages:
                self.put_back(lane, messages, None)

    def safely(self, what: str, call: Callable[..., Any], *args: Any) -> bool:
        """Call the queue, surviving an SQS that still fails after
        botocore's own retries: a thread must not die of an outage. Nothing
        is lost by giving up: an unsent delete or release only means the
        message comes back after its lease (and a finished task may run
        again, which at-least-once delivery allows)."""
        try:
            call(*args)
        except Exception:
            log.exception(
                "%s: could not %s; the messages come back after their visibility timeout",
                self.ident(),
                what,
            )
            return False
        return True


def _counts(outcome: Outcome) -> bool:
    """What ``max_tasks`` counts: every message the worker is done with for
    now, run or not (a success, a retry, a dead letter, a duplicate deleted
    unrun), but not one that only waits (a deferral) or goes back unstarted."""
    return outcome.action not in (Action.DEFER, Action.RELEASE)
