"""The status store interface: what a task's life looks like from outside.

SQS cannot look a message up or cancel one, and delivers at least once. A
small store keyed by task id makes ``gator.status()``, ``gator.cancel()``,
``depends_on`` and duplicate suppression work. Every state change is a
conditional write, so two consumers holding copies of one message cannot
both run it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from ..constants import CANCELED, FAILED, SUCCESS, TaskStatus

#: The longest error text kept: the exception line, not a novel.
MAX_ERROR_CHARS = 4096


@dataclass(frozen=True)
class TaskState:
    """A task as the status store knows it.

    Example:
        >>> state = gator.status(task.task_id)
        >>> state.status is SUCCESS and state.result
    """

    task_id: str
    status: TaskStatus
    attempts: int = 0
    result: Any = None
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, ``status`` as its lower-case name (``"success"``)."""
        return {
            "task_id": self.task_id,
            "status": self.status.name.lower(),
            "attempts": self.attempts,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class Verdict(Enum):
    """What a consumer may do with a task it just received."""

    RUN = "run"  # the lease is ours: run it
    DONE = "done"  # it already succeeded: delete the duplicate unrun
    CANCELED = "canceled"  # canceled: delete it unrun
    BUSY = "busy"  # another live consumer holds its lease: defer


@dataclass(frozen=True)
class Claim:
    """The answer to ``claim``: the verdict and the attempt number if RUN."""

    verdict: Verdict
    attempts: int = 0


class Dependencies(Enum):
    """Where a task's ``depends_on`` stand."""

    READY = "ready"  # all succeeded
    WAITING = "waiting"  # some are not finished (or unknown yet)
    FAILED = "failed"  # one failed for good or was canceled


@runtime_checkable
class StatusStore(Protocol):
    """Task states keyed by task id. Implementations: locmem, sqlite, DynamoDB."""

    def created(self, task_id: str, *, delayed: bool = False) -> None:
        """Record a task just enqueued (WAITING or DELAYED) unless it is known."""

    def get(self, task_id: str) -> TaskState | None:
        """The task's state, or ``None`` for an unknown id."""

    def claim(self, task_id: str, *, owner: str, lease_seconds: int) -> Claim:
        """Take the task's lease to run it, counting one more attempt.

        Conditional: RUN only when the task is neither SUCCESS nor CANCELED
        nor leased by another owner whose lease is still alive.
        """

    def renew(self, task_id: str, *, owner: str, lease_seconds: int) -> None:
        """Keep our lease alive (the heartbeat)."""

    def succeeded(self, task_id: str, *, owner: str, result: Any) -> None:
        """SUCCESS with its JSON result; the lease ends."""

    def failed(self, task_id: str, *, owner: str, error: str, final: bool) -> None:
        """FAILED when ``final``, else RETRYING; the lease ends."""

    def waiting(self, task_id: str, *, delayed: bool) -> None:
        """Back to WAITING (or DELAYED) after a deferral; no attempt counted."""

    def cancel(self, task_id: str) -> bool:
        """CANCELED unless it already finished; ``True`` if now canceled."""

    def dependencies(self, task_ids: list[str]) -> tuple[Dependencies, str | None]:
        """READY, WAITING, or FAILED with the id of the dependency that failed."""

    def close(self) -> None:
        """Release connections."""


def encode_result(result: Any) -> str:
    """A task's result as JSON text.

    A result that is not JSON (a ``datetime``, a model instance, ``nan``) is
    stored as its ``repr()`` string: the task has already succeeded, and
    failing it now, or losing the record of its success, would be worse than
    a lossy result.
    """
    try:
        return json.dumps(result, allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(repr(result))


def decode_result(text: str | None) -> Any:
    """The stored JSON text back as a value (``None`` when absent)."""
    return None if text is None else json.loads(text)


def dependency_verdict(
    task_ids: list[str], statuses: dict[str, int]
) -> tuple[Dependencies, str | None]:
    """Decide ``depends_on`` from the statuses found (unknown ids are absent).

    A failed or canceled dependency wins over everything, since waiting for
    it would be forever; an unknown one is WAITING (it may not be enqueued
    yet).
    """
    for task_id in task_ids:
        if statuses.get(task_id) in (TaskStatus.FAILED, TaskStatus.CANCELED):
            return Dependencies.FAILED, task_id
    if all(statuses.get(task_id) == TaskStatus.SUCCESS for task_id in task_ids):
        return Dependencies.READY, None
    return Dependencies.WAITING, None


#: ``wait_for_final`` polls this often at first, then less often (×1.5 a
#: time) up to ``WAIT_POLL_MAX_SECONDS``: a long wait costs few reads
#: (DynamoDB bills each).
WAIT_POLL_FIRST_SECONDS = 0.05
WAIT_POLL_MAX_SECONDS = 2.0
#: The statuses a wait returns on.
FINAL_STATUSES = (SUCCESS, FAILED, CANCELED)


def wait_for_final(store: StatusStore, task_id: str, timeout: float | None) -> TaskState:
    """Poll ``store`` until the task is SUCCESS, FAILED or CANCELED (``gator.wait``).

    Raises:
        TimeoutError: ``timeout`` seconds passed first.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = WAIT_POLL_FIRST_SECONDS
    while True:
        state = store.get(task_id)
        if state is not None and state.status in FINAL_STATUSES:
            return state
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                where = "unknown" if state is None else state.status.name.lower()
                raise TimeoutError(f"task {task_id} is still {where} after {timeout:g} s")
            interval = min(interval, left)
        time.sleep(interval)
        interval = min(WAIT_POLL_MAX_SECONDS, interval * 1.5)
