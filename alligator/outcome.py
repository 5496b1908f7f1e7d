"""What became of one message: the ``Outcome`` a consumer settles, logs and
counts. A plain value, so the read-outs (logs, metrics) depend on it and not
on the engine that made it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from .backends.base import ATTEMPTS_ATTRIBUTE, ERROR_ATTRIBUTE, FAILED_AT_ATTRIBUTE, Received
from .tasks import Task


class Action(Enum):
    """What to do with a message once its task was (or was not) run."""

    ACK = "ack"  # delete: succeeded, canceled, or an already-done duplicate
    RETRY = "retry"  # failed with attempts left: visible again after a delay
    DEAD = "dead"  # exhausted or poison: copy to the DLQ, then delete
    DEFER = "defer"  # not due, or waiting on dependencies: wait, using no retry
    RELEASE = "release"  # never started: visible again at once


@dataclass
class Outcome:
    """The decision for one message, with what the logs and metrics need."""

    action: Action
    message: Received
    task: Task | None = None
    delay_seconds: int = 0
    error: str | None = None
    attempt: int = 0
    duration: float = 0.0
    queued_for: float | None = None
    note: str = ""

    @property
    def label(self) -> str:
        """One word for logs: success, retry, dead, deferred, skipped..."""
        if self.action is Action.ACK:
            return "success" if self.note == "" else self.note
        return {
            Action.RETRY: "retry",
            Action.DEAD: "dead",
            Action.DEFER: "deferred",
            Action.RELEASE: "released",
        }[self.action]


def failure_reason(outcome: Outcome) -> dict[str, str]:
    """The three dead-letter attributes for an outcome."""
    failed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    error = (outcome.error or "unknown error")[:1024]
    return {
        ERROR_ATTRIBUTE: error,
        ATTEMPTS_ATTRIBUTE: str(outcome.attempt),
        FAILED_AT_ATTRIBUTE: failed_at,
    }
