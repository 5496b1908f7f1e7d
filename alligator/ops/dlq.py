"""``alligator dlq peek`` and ``alligator dlq redrive``.

Peek receives from the dead-letter queue and releases what it saw at once
(visibility 0): nothing is consumed, but the messages are hidden from other
readers of the DLQ for the moment it takes, and each receive counts.

Redrive is a client-side move, one batch at a time: receive from the DLQ,
send to the source queue without the failure attributes, then delete from
the DLQ. The send comes first, so an interruption at any point loses
nothing; at worst a message sent but not yet deleted is sent again by the
next redrive (on FIFO queues SQS drops that duplicate itself within its
5-minute deduplication window, as the DLQ message id is the deduplication
id).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..backends.base import (
    ATTEMPTS_ATTRIBUTE,
    ERROR_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
    FAILURE_ATTRIBUTES,
    Outgoing,
    Received,
)
from ..exceptions import AlligatorException

#: Seconds a peeked message stays hidden should peek die before its release.
PEEK_VISIBILITY_SECONDS = 30
#: Seconds a message being moved stays hidden: one send and one delete.
REDRIVE_VISIBILITY_SECONDS = 60
#: Messages per receive, send and delete: SQS's batch limit.
BATCH = 10


@dataclass(frozen=True)
class DeadTask:
    """One dead-lettered message, as ``dlq peek`` shows it.

    ``task_id`` and ``callable`` are ``None`` for a body that is not a task
    (a poison message); ``error`` is ``None`` for a message the queue's own
    redrive policy moved (alligator did not, so it attached no reason).
    """

    message_id: str
    task_id: str | None
    callable: str | None
    error: str | None
    attempts: int | None
    failed_at: str | None

    @classmethod
    def from_message(cls, message: Received, body: str) -> DeadTask:
        """Read a message without importing or running anything."""
        attempts = message.attributes.get(ATTEMPTS_ATTRIBUTE)
        task_id, target = _describe(body)
        return cls(
            message_id=message.message_id,
            task_id=task_id,
            callable=target,
            error=message.attributes.get(ERROR_ATTRIBUTE),
            attempts=int(attempts) if attempts and attempts.isdigit() else None,
            failed_at=message.attributes.get(FAILED_AT_ATTRIBUTE),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _describe(body: str) -> tuple[str | None, str | None]:
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    task_id = data.get("task_id")
    module, name = data.get("module"), data.get("callable")
    target = f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else None
    return (task_id if isinstance(task_id, str) else None), target


def peek(dlq: Any, limit: int) -> list[DeadTask]:
    """Up to ``limit`` dead-lettered tasks, left in the DLQ.

    Example:
        >>> [dead.error for dead in peek(backend.dlq_backend(), 10)]
        ['RuntimeError: boom']
    """
    held: dict[str, Received] = {}
    try:
        while len(held) < limit:
            batch = _receive(dlq, min(BATCH, limit - len(held)))
            if not batch or all(message.message_id in held for message in batch):
                break
            held.update((message.message_id, message) for message in batch)
    finally:
        dlq.release(list(held.values()))
    return [DeadTask.from_message(message, _load(dlq, message)) for message in held.values()]


def _load(dlq: Any, message: Received) -> str:
    """The body, fetched from S3 when offloaded; the pointer if that fails."""
    try:
        return str(dlq.payloads.load(message.body))
    except AlligatorException:
        return message.body


def _receive(backend: Any, count: int) -> list[Received]:
    # A short long poll: on SQS a zero wait samples only some servers and
    # can answer "empty" for a queue that is not.
    wait = 1 if backend.blocking else 0
    return list(backend.receive(max_messages=count, wait_seconds=wait))


@dataclass
class Redrive:
    """What a redrive did, for its one-line summary."""

    source: str
    dlq: str
    moved: int = 0
    came_back: int = 0  # failed again during this redrive: left in the DLQ
    interrupted: bool = False
    _seen: set[str] = field(default_factory=set, repr=False)

    def summary(self) -> str:
        text = f"redrove {self.moved} message(s) from {self.dlq!r} to {self.source!r}"
        if self.came_back:
            text += (
                f"; left {self.came_back} in the DLQ that failed again during "
                "this redrive (or were there twice)"
            )
        if self.interrupted:
            text += "; interrupted: run it again to move the rest"
        return text


def redrive(
    source: Any,
    dlq: Any,
    *,
    limit: int | None = None,
    progress: Callable[[Redrive], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Redrive:
    """Move dead-lettered messages back to their queue, batch by batch.

    Each message is sent as it was (body, signature, extended-client size
    attribute, FIFO group), without ``alligator-error``, ``-attempts`` and
    ``-failed-at``; then it is deleted from the DLQ, keeping its S3 payload,
    which the re-sent message points at.

    A body already moved in this run is not moved twice: it is a task that
    failed again while the redrive ran, and moving it again could go on
    forever. Those are left in the DLQ.

    Args:
        source: the queue to send to.
        dlq: its dead-letter queue (``source.dlq_backend()``).
        limit: move at most this many; all when ``None``.
        progress: called after every batch.
        should_stop: checked between batches (Ctrl-C); a batch in flight
            is always finished, so a stop never leaves a duplicate.
    """
    result = Redrive(source=source.queue_name, dlq=dlq.queue_name)
    skipped: dict[str, Received] = {}
    try:
        while limit is None or result.moved < limit:
            if should_stop():
                result.interrupted = True
                break
            room = BATCH if limit is None else min(BATCH, limit - result.moved)
            batch = _receive(dlq, room)
            if not batch:
                break
            fresh = []
            for message in batch:
                if _digest(message) in result._seen:
                    skipped[message.message_id] = message
                else:
                    fresh.append(message)
            try:
                _move(source, dlq, fresh)
            except BaseException:
                # Back in the DLQ at once, not after the lease, so a second
                # run can move them (again, if the send went through).
                _release_quietly(dlq, fresh)
                raise
            result._seen.update(_digest(message) for message in fresh)
            result.moved += len(fresh)
            if progress is not None:
                progress(result)
    finally:
        _release_quietly(dlq, list(skipped.values()))
    result.came_back = len(skipped)
    return result


def _move(source: Any, dlq: Any, messages: Sequence[Received]) -> None:
    if not messages:
        return
    source.send_many([_outgoing(message) for message in messages])
    # Only now, with the copies safely sent: a crash before this line
    # means a duplicate, never a loss.
    dlq.ack(messages, keep_payload=True)


def _release_quietly(dlq: Any, messages: Sequence[Received]) -> None:
    """Best effort: if this fails, the lease runs out by itself, and an
    error already on its way is the one to report."""
    if messages:
        with contextlib.suppress(Exception):
            dlq.release(list(messages))


def _outgoing(message: Received) -> Outgoing:
    attributes = {
        name: value for name, value in message.attributes.items() if name not in FAILURE_ATTRIBUTES
    }
    # The DLQ message id, not the task id, deduplicates on FIFO queues: a
    # task id would make SQS drop a redrive within 5 minutes of the task's
    # first send, while this id drops only a second redrive of this copy.
    return Outgoing(
        body=message.body,
        attributes=attributes,
        group=message.group,
        dedup_id=message.message_id,
    )


def _digest(message: Received) -> str:
    return hashlib.sha256(message.body.encode("utf-8")).hexdigest()


@contextlib.contextmanager
def stop_on_ctrl_c() -> Iterator[Callable[[], bool]]:
    """Turn the first Ctrl-C into a request to stop between batches; a
    second one interrupts at once, as usual."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop.is_set
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def render_table(dead: list[DeadTask], *, error_width: int = 100) -> str:
    """The peeked tasks for people: one row each, the error last."""
    header = ("TASK ID", "CALLABLE", "ATTEMPTS", "FAILED AT", "ERROR")
    rows = [header]
    for task in dead:
        error = task.error or "(no reason attached: moved by the queue's redrive policy?)"
        if len(error) > error_width:
            error = error[: error_width - 1] + "…"
        rows.append(
            (
                task.task_id or "-",
                task.callable or ("-" if task.task_id else "(not a task)"),
                "-" if task.attempts is None else str(task.attempts),
                task.failed_at or "-",
                error,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    )
