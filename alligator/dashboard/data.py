"""What the dashboard reads and does, through ``alligator.ops`` only.

One ``QueueView`` per DSN: its stats, its dead-letter queue's messages,
and the redrive and delete actions on them. Every answer is JSON-ready,
and every string that came from a message is passed through
``printable`` so a control character shows as ``\\x1b`` rather than
vanishing; the page still renders it all as text, never as markup.

Nothing here imports or runs task code.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from .. import _env
from .._text import printable
from ..dsn import parse_dsn
from ..exceptions import ConfigurationError
from ..ops import dlq as dlq_ops
from ..ops import open_backend
from ..ops import redrive as redrive_ops
from ..ops.stats import StatsReader
from ..status import open_status

#: Dead-lettered messages listed per queue (most a page can use).
PEEK_LIMIT = 50
#: Seconds a DLQ listing is reused: several open tabs cost one peek, and a
#: peek hides the messages from other readers for a moment.
PEEK_CACHE_SECONDS = 2.0
#: Seconds between CloudWatch reads of the oldest age (SQS publishes one
#: datapoint a minute).
AGE_EVERY_SECONDS = 60.0


class QueueView:
    """One queue on the dashboard: stats, DLQ listing, DLQ actions.

    The DLQ is read and changed under one lock: a peek holds messages for
    a moment, and a redrive of one message searching at the same time
    would not see them.

    Raises:
        ConfigurationError: a bad DSN or a queue that does not exist.
    """

    def __init__(self, index: int, dsn: str) -> None:
        parsed = parse_dsn(dsn)
        # The lease a message being moved needs: one send and one delete.
        self.source = open_backend(
            parsed.with_options(visibility_timeout=dlq_ops.REDRIVE_VISIBILITY_SECONDS)
        )
        self.index = index
        self.label = parsed.raw.split("?", 1)[0]
        self.reader = StatsReader(self.source, age_every_seconds=AGE_EVERY_SECONDS)
        self.source.stats()  # a missing queue fails now, not on the page
        try:
            self.dlq: Any = self.source.dlq_backend()
            self.no_dlq: str | None = None
        except ConfigurationError as exc:
            self.dlq, self.no_dlq = None, str(exc)
        self._stats_lock = threading.Lock()
        self._dlq_lock = threading.Lock()
        self._peeked: tuple[float, list[dlq_ops.DeadTask]] | None = None

    def stats(self) -> dict[str, Any]:
        """The queue's figures, or its error (the other queues still show)."""
        entry: dict[str, Any] = {
            "index": self.index,
            "label": self.label,
            "queue": self.source.queue_name,
            "dlq": None if self.dlq is None else self.dlq.queue_name,
            "error": None,
        }
        try:
            with self._stats_lock:
                entry.update(self.reader.read())
        except Exception as exc:
            entry["error"] = printable(f"{type(exc).__name__}: {exc}")
        return entry

    def dead(self) -> dict[str, Any]:
        """Up to ``PEEK_LIMIT`` dead-lettered messages, left in place."""
        answer: dict[str, Any] = {
            "index": self.index,
            "queue": self.source.queue_name,
            "dlq": None,
            "messages": [],
            "error": self.no_dlq,
        }
        if self.dlq is None:
            return answer
        with self._dlq_lock:
            now = time.monotonic()
            if self._peeked is None or now - self._peeked[0] > PEEK_CACHE_SECONDS:
                self._peeked = (now, dlq_ops.peek(self.dlq, PEEK_LIMIT))
            dead = self._peeked[1]
            depth = self.dlq.size()
        answer.update(
            dlq=self.dlq.queue_name,
            depth=max(depth, len(dead)),
            messages=[_shown(task) for task in dead],
        )
        return answer

    def redrive(self, message_id: str | None, *, include_poison: bool = False) -> dict[str, Any]:
        """Move one message (by id) or all of them back to the queue.

        Returns:
            ``{"done": bool, "message": str, ...}``; ``done`` is false when
            the message is no longer in the DLQ.
        """
        dlq = self._need_dlq()
        with self._dlq_lock:
            self._peeked = None
            if message_id is not None:
                done = dlq_ops.redrive_message(self.source, dlq, message_id)
                return _one(done, f"redrove the message to {self.source.queue_name!r}")
            result = redrive_ops.redrive(self.source, dlq, include_poison=include_poison)
        answer = result.to_dict()
        answer.update(
            done=True,
            message=result.summary(poison_hint="tick 'include poison' to move them too"),
        )
        return answer

    def delete(self, message_id: str | None) -> dict[str, Any]:
        """Delete one message (by id) or every message of the DLQ."""
        dlq = self._need_dlq()
        with self._dlq_lock:
            self._peeked = None
            if message_id is not None:
                return _one(dlq_ops.delete_message(dlq, message_id), "deleted the message")
            deleted = dlq_ops.delete_all(dlq)
        return {"done": True, "deleted": deleted, "message": f"deleted {deleted} message(s)"}

    def _need_dlq(self) -> Any:
        if self.dlq is None:
            raise ConfigurationError(self.no_dlq or "no dead-letter queue")
        return self.dlq

    def close(self) -> None:
        self.reader.close()
        for backend in (self.dlq, self.source):
            if backend is not None:
                backend.close()


def _one(done: bool, message: str) -> dict[str, Any]:
    if not done:
        message = "that message is no longer in the dead-letter queue (moved or deleted already?)"
    return {"done": done, "message": message}


def _shown(task: dlq_ops.DeadTask) -> dict[str, Any]:
    """A dead task for the page: message text escaped, the id kept as the
    backend gave it (it names the message in actions)."""
    shown = task.to_dict()
    for key in ("task_id", "callable", "error", "failed_at"):
        if shown[key] is not None:
            shown[key] = printable(shown[key])
    return shown


class Dashboard:
    """Everything the page shows: the queues, and the status store if any.

    Example:
        >>> dashboard = Dashboard(["sqlite:///var/q.db"], status="sqlite:///var/s.db")
        >>> dashboard.stats()["queues"][0]["visible"]
        3

    Args:
        dsns: the queues, in the order the page shows them.
        status: a status DSN; ``ALLIGATOR_STATUS`` when ``None``.

    Raises:
        ConfigurationError: a bad or missing queue or status store.
    """

    def __init__(self, dsns: list[str], status: str | None = None) -> None:
        self.queues: list[QueueView] = []
        try:
            for index, dsn in enumerate(dsns):
                self.queues.append(QueueView(index, dsn))
            self.status = open_status(_checked_status(status))
        except BaseException:
            self.close()
            raise

    def queue(self, index: int) -> QueueView:
        """The queue shown at ``index``; ``LookupError`` if none."""
        if not 0 <= index < len(self.queues):
            raise LookupError(f"no queue number {index}")
        return self.queues[index]

    def stats(self) -> dict[str, Any]:
        """Every queue's figures."""
        return {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "queues": [queue.stats() for queue in self.queues],
            "status_store": self.status is not None,
        }

    def task(self, task_id: str) -> dict[str, Any] | None:
        """A task's state from the status store; ``None`` for an unknown id.

        Raises:
            ConfigurationError: there is no status store.
        """
        if self.status is None:
            raise ConfigurationError(
                "no status store: start the dashboard with --status STATUS_DSN "
                "(or set ALLIGATOR_STATUS)"
            )
        state = self.status.get(task_id)
        if state is None:
            return None
        shown = state.to_dict()
        shown["task_id"] = printable(shown["task_id"])
        if shown["error"] is not None:
            shown["error"] = printable(shown["error"])
        return shown

    def close(self) -> None:
        for queue in self.queues:
            queue.close()
        status = getattr(self, "status", None)
        if status is not None:
            status.close()


def _checked_status(status: str | None) -> str | None:
    """The status DSN, refused where the dashboard could only show an empty
    store: ``locmem://`` (private to one process) or a missing sqlite file."""
    dsn = status or _env.get(_env.STATUS)
    if dsn is None:
        return None
    parsed = parse_dsn(dsn)
    if parsed.scheme == "locmem":
        raise ConfigurationError(
            "a locmem:// status store lives inside one process, so the dashboard "
            "cannot see it; use sqlite:///path or dynamodb://"
        )
    if parsed.scheme == "sqlite" and parsed.path and not os.path.exists(parsed.path):
        raise ConfigurationError(f"no status database at {parsed.path!r}")
    return dsn
