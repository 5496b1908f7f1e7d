"""The gate: everything that stops an admitted task from running now, before
its run is claimed: not due yet, dependencies not done, or already finished
(canceled, or a duplicate of a success). None of these use a retry.
"""

from __future__ import annotations

import math

from ..backends.base import Received
from ..constants import CANCELED, SUCCESS
from ..outcome import Action, Outcome, Reason
from ..status import Dependencies, StatusStore, TaskState
from ..tasks import Task
from ..wire import NOT_BEFORE_ATTRIBUTE
from .config import ConsumerConfig


class Gate:
    """Decides, for an admitted task, whether it may run now.

    Args:
        config: the consumer's configuration (its status store, backoff and
            lease owner).
    """

    def __init__(self, config: ConsumerConfig) -> None:
        self.store: StatusStore | None = config.store
        self.backoff = config.backoff
        self.owner = config.owner

    def check(self, message: Received, task: Task, now: float, attempt: int) -> Outcome | None:
        """Why ``task`` may not run now, or ``None``; ``attempt`` is its
        receive-count attempt (for a dead letter without a status store)."""
        # Strictly, with no tolerance: a task never runs early. A message
        # back a little before its due time (another host's clock, a
        # producer that rounds down) waits once more, for a whole second.
        due = task.delay_until
        not_before = whole(message.attributes.get(NOT_BEFORE_ATTRIBUTE))
        if not_before > now and (due is None or not_before > due):
            due = not_before  # a retry's backoff, carried across a re-send
        if (due is None or due <= now) and not task.depends_on:
            return None
        state = None
        if self.store is not None:
            # Before waiting again: a canceled or finished task is deleted
            # now, not re-sent every poll until it is due.
            state = self.store.get(task.task_id)
            if state is not None and state.status in (CANCELED, SUCCESS):
                return self.unrun(message, task, canceled=state.status is CANCELED)
        if due is not None and due > now:
            if self.store is not None:
                self.store.waiting(task.task_id, delayed=True)
            wait = math.ceil(due - now)
            return Outcome(Action.DEFER, message, Reason.DUE_LATER, task, delay_seconds=wait)
        return self._dependencies(message, task, state, attempt)

    def unrun(self, message: Received, task: Task, *, canceled: bool) -> Outcome:
        """Delete a canceled task, or a duplicate of one that succeeded, unrun."""
        if canceled:
            task.to_canceled()
            return Outcome(Action.ACK, message, Reason.CANCELED, task)
        return Outcome(Action.ACK, message, Reason.DUPLICATE, task)

    def busy(self, message: Received, task: Task) -> Outcome:
        """Another live consumer runs this task: look again in a while."""
        delay = self.backoff.poll_seconds()
        return Outcome(Action.DEFER, message, Reason.BUSY, task, delay_seconds=delay)

    def _dependencies(
        self, message: Received, task: Task, state: TaskState | None, attempt: int
    ) -> Outcome | None:
        if self.store is None:
            error = "ConfigurationError: depends_on needs a status store (status=...)"
            return Outcome(Action.DEAD, message, Reason.POISON, task, error=error, attempt=attempt)
        verdict, failed_id = self.store.dependencies(task.depends_on or [])
        if verdict is Dependencies.READY:
            return None
        if verdict is Dependencies.WAITING:
            # Unknown ids count as waiting: a dependency may be enqueued
            # after its dependent. Canceling the id ends the wait.
            self.store.waiting(task.task_id, delayed=False)
            delay = self.backoff.poll_seconds()
            return Outcome(Action.DEFER, message, Reason.WAITING, task, delay_seconds=delay)
        failed = self.store.get(failed_id) if failed_id else None
        how = "was canceled" if failed is not None and failed.status is CANCELED else "failed"
        error = f"DependencyFailed: dependency {failed_id} {how}"
        self.store.failed(task.task_id, owner=self.owner, error=error, final=True)
        task.to_failed()
        # It never ran: the store's count of runs, not the receive count.
        attempts = state.attempts if state is not None else 0
        return Outcome(
            Action.DEAD, message, Reason.DEPENDENCY_FAILED, task, error=error, attempt=attempts
        )


def whole(text: str | None) -> int:
    """A whole number from an attribute; 0 when absent or not one."""
    return int(text) if text and text.isdigit() and len(text) < 16 else 0
