"""What became of one message: the ``Outcome`` a consumer settles, logs and
counts. A plain value, so the read-outs (logs, metrics, traces) depend on it
and not on the engine that made it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from ._text import sqs_safe
from .backends.base import Received
from .tasks import Task
from .wire import ATTEMPTS_ATTRIBUTE, ERROR_ATTRIBUTE, FAILED_AT_ATTRIBUTE

#: The longest ``alligator-error`` text: the exception line, not a novel.
MAX_ERROR_CHARS = 1024


class Action(Enum):
    """What to do with a message once its task was (or was not) run."""

    ACK = "ack"  # delete: succeeded, canceled, or an already-done duplicate
    RETRY = "retry"  # failed with attempts left: visible again after a delay
    DEAD = "dead"  # exhausted or poison: copy to the DLQ, then delete
    DEFER = "defer"  # not due, or waiting on dependencies: wait, using no retry
    RELEASE = "release"  # never started: visible again at once


class Reason(Enum):
    """Why: the fact behind the action, for logs, metrics and tests."""

    SUCCEEDED = "success"
    CANCELED = "canceled"
    DUPLICATE = "duplicate"  # already succeeded: deleted unrun
    DUE_LATER = "due later"
    BUSY = "busy"  # another live consumer runs this task id
    WAITING = "waiting"  # on dependencies
    RETRYING = "retry"  # failed with attempts left
    EXHAUSTED = "dead"  # failed with none left
    POISON = "poison"  # must never run
    DEPENDENCY_FAILED = "dependency failed"
    LOAD_FAILED = "load failed"  # S3 or the like, not the message's fault
    NOT_STARTED = "released"


@dataclass
class Outcome:
    """The decision for one message, with what the logs and metrics need.

    Attributes:
        action: what the settler does.
        reason: why.
        message: the message it is about.
        task: the task, when the body was one.
        task_id: the task id, even for a poison body that names one.
        delay_seconds: the wait before the next look (RETRY, DEFER).
        error: ``"Type: message"`` of the failure, when any.
        attempt: the run this was (1 for the first), 0 when nothing ran.
        duration: seconds the run took.
        queued_for: seconds from the send to this receive, when known.
        queue: the queue's name.
        ran: the task ran (``max_tasks`` counts runs).
    """

    action: Action
    message: Received
    reason: Reason = Reason.SUCCEEDED
    task: Task | None = None
    task_id: str | None = None
    delay_seconds: int = 0
    error: str | None = None
    attempt: int = 0
    duration: float = 0.0
    queued_for: float | None = None
    queue: str = ""
    ran: bool = False

    def __post_init__(self) -> None:
        if self.task_id is None and self.task is not None:
            self.task_id = self.task.task_id

    @property
    def label(self) -> str:
        """One word for logs: success, retry, dead, deferred, canceled..."""
        if self.action is Action.ACK:
            return self.reason.value if self.reason is not Reason.SUCCEEDED else "success"
        return {
            Action.RETRY: "retry",
            Action.DEAD: "dead",
            Action.DEFER: "deferred",
            Action.RELEASE: "released",
        }[self.action]

    @property
    def note(self) -> str:
        """The reason of an ACK or DEFER that is not a plain success, as a
        word ("canceled", "duplicate", "due later", "busy", "waiting")."""
        if self.action in (Action.ACK, Action.DEFER) and self.reason is not Reason.SUCCEEDED:
            return str(self.reason.value)
        return ""


def dead_letter_attributes(outcome: Outcome) -> dict[str, str]:
    """The three dead-letter attributes for an outcome, each safe to send."""
    failed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    error = sqs_safe(outcome.error or "unknown error")[:MAX_ERROR_CHARS]
    return {
        ERROR_ATTRIBUTE: error,
        ATTEMPTS_ATTRIBUTE: str(outcome.attempt),
        FAILED_AT_ATTRIBUTE: failed_at,
    }


#: The name older code imported.
failure_reason = dead_letter_attributes
