"""Reading the dead-letter queue, and acting on one message of it.

Peek receives from the dead-letter queue and releases what it saw at once
(visibility 0): nothing is consumed, but the messages are hidden from other
readers of the DLQ for the moment it takes, and each receive counts.

``redrive_message`` and ``delete_message`` work on one message, found by
its id: SQS cannot fetch a message by id, so they receive until they hold
it, act on it, and release everything else they received at once. A
redriven message is sent to its queue *before* it is deleted from the DLQ:
an interruption at any point leaves a duplicate at worst, never a loss.
The bulk move lives in ``alligator.ops.redrive``.

Nothing here imports or runs task code: a dead-letter queue holds, among
other things, messages that were refused as hostile.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .._text import printable
from ..backends.base import Outgoing, Received
from ..exceptions import AlligatorException, PoisonMessageError
from ..wire import (
    ATTEMPTS_ATTRIBUTE,
    ERROR_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
    TRANSIENT_ATTRIBUTES,
    decode,
)
from .table import DIM, RED, YELLOW, Cell, render, shorten

#: Seconds a peeked message stays hidden should peek die before its release.
PEEK_VISIBILITY_SECONDS = 30
#: Seconds a message being moved stays hidden: one send and one delete.
REDRIVE_VISIBILITY_SECONDS = 60
#: Messages per receive, send and delete: SQS's batch limit.
BATCH = 10
#: How many messages ``redrive_message``/``delete_message`` look through
#: for the one they want before they give up (each is held meanwhile).
SEARCH_LIMIT = 1000
#: What ``alligator-error`` starts with for a message refused unrun.
POISON_PREFIX = PoisonMessageError.__name__


@dataclass(frozen=True)
class DeadTask:
    """One dead-lettered message, as ``dlq peek`` shows it.

    ``task_id`` and ``callable`` are ``None`` for a body that is not a task;
    ``error`` is ``None`` for a message the queue's own redrive policy
    moved (alligator did not, so it attached no reason). ``poison`` is true
    for a message no worker would run as it is (see ``is_poison``).
    """

    message_id: str
    task_id: str | None
    callable: str | None
    error: str | None
    attempts: int | None
    failed_at: str | None
    poison: bool = False

    @classmethod
    def from_message(cls, message: Received, body: str) -> DeadTask:
        """Read a message without importing or running anything."""
        attempts = message.attributes.get(ATTEMPTS_ATTRIBUTE)
        error = message.attributes.get(ERROR_ATTRIBUTE)
        task_id, target = _describe(body)
        return cls(
            message_id=message.message_id,
            task_id=task_id,
            callable=target,
            error=error,
            attempts=int(attempts) if attempts and attempts.isdigit() else None,
            failed_at=message.attributes.get(FAILED_AT_ATTRIBUTE),
            poison=is_poison(body, error),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _describe(body: str) -> tuple[str | None, str | None]:
    """The task id and callable of a body, for display; ``None`` where the
    body does not say. Any body a worker can store must be readable here:
    a deeply nested one (``[[[[…``) raises ``RecursionError`` in ``json``."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError, TypeError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    task_id = data.get("task_id")
    module, name = data.get("module"), data.get("callable")
    target = f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else None
    return (task_id if isinstance(task_id, str) else None), target


def is_poison(body: str, error: str | None) -> bool:
    """Whether a worker would refuse this message unrun: its body is not a
    task (``alligator.wire.decode``), or it was dead-lettered as poison (a
    bad signature, a module outside the allow-list). Redriving it only
    dead-letters it again, unless the cause was fixed on the workers."""
    if error is not None and error.startswith(POISON_PREFIX):
        return True
    try:
        decode(body)
    except PoisonMessageError:
        return True
    return False


def poison_message(dlq: Any, message: Received) -> bool:
    """``is_poison`` for a received message: its reason first, then its body
    (fetched from S3 when offloaded). A payload that cannot be fetched
    counts as poison: it is left in the DLQ, which loses nothing, for a
    later redrive (or ``--include-poison``) once S3 answers again."""
    error = message.attributes.get(ERROR_ATTRIBUTE)
    if error is not None and error.startswith(POISON_PREFIX):
        return True
    return is_poison(load(dlq, message), error)


def peek(dlq: Any, limit: int) -> list[DeadTask]:
    """Up to ``limit`` dead-lettered tasks, left in the DLQ.

    Example:
        >>> [dead.error for dead in peek(backend.dlq_backend(), 10)]
        ['RuntimeError: boom']
    """
    held: dict[str, Received] = {}
    try:
        while len(held) < limit:
            batch = receive(dlq, min(BATCH, limit - len(held)))
            if not batch or all(message.message_id in held for message in batch):
                break
            held.update((message.message_id, message) for message in batch)
    finally:
        dlq.release(list(held.values()))
    return [DeadTask.from_message(message, load(dlq, message)) for message in held.values()]


def load(dlq: Any, message: Received) -> str:
    """The body, fetched from S3 when offloaded; the pointer if that fails."""
    try:
        return str(dlq.payloads.load(message.body))
    except AlligatorException:
        return message.body


def receive(backend: Any, count: int) -> list[Received]:
    """Up to ``count`` messages, leased."""
    # A short long poll: on SQS a zero wait samples only some servers and
    # can answer "empty" for a queue that is not.
    wait = 1 if backend.blocking else 0
    return list(backend.receive(max_messages=count, wait_seconds=wait))


# -- one message ---------------------------------------------------------------


def redrive_message(source: Any, dlq: Any, message_id: str) -> bool:
    """Move one dead-lettered message back to its queue.

    Example:
        >>> redrive_message(backend, backend.dlq_backend(), dead.message_id)
        True

    Returns:
        ``False`` when the DLQ holds no such message (any more) within its
        first ``SEARCH_LIMIT`` messages.
    """
    return _with_message(dlq, message_id, lambda message: move(source, dlq, [message]))


def delete_message(dlq: Any, message_id: str) -> bool:
    """Delete one dead-lettered message for good (and its S3 payload).

    Returns:
        ``False`` when the DLQ holds no such message (any more).
    """
    return _with_message(dlq, message_id, lambda message: dlq.ack([message]))


def delete_all(dlq: Any, *, limit: int | None = None) -> int:
    """Delete every message in the DLQ (at most ``limit``); how many.

    Receive and delete, a batch at a time, rather than SQS's PurgeQueue,
    which is allowed once a minute and finishes in its own time.
    """
    deleted = 0
    while limit is None or deleted < limit:
        room = BATCH if limit is None else min(BATCH, limit - deleted)
        batch = receive(dlq, room)
        if not batch:
            break
        dlq.ack(batch)
        deleted += len(batch)
    return deleted


def _with_message(dlq: Any, message_id: str, action: Callable[[Received], None]) -> bool:
    held: dict[str, Received] = {}
    try:
        target = _find(dlq, message_id, held)
        if target is None:
            return False
        action(target)
        # Done: the target is gone from the DLQ; only the others go back.
        del held[message_id]
        return True
    finally:
        release_quietly(dlq, list(held.values()))


def _find(dlq: Any, message_id: str, held: dict[str, Received]) -> Received | None:
    """Receive into ``held`` until it has ``message_id``, the DLQ answers
    empty (or only with what is already held), or ``SEARCH_LIMIT``."""
    while message_id not in held and len(held) < SEARCH_LIMIT:
        batch = receive(dlq, BATCH)
        if not batch or all(message.message_id in held for message in batch):
            break
        held.update((message.message_id, message) for message in batch)
    return held.get(message_id)


# -- moving --------------------------------------------------------------------


def move(source: Any, dlq: Any, messages: Sequence[Received]) -> None:
    """Send ``messages`` to ``source``, then delete them from the DLQ."""
    if not messages:
        return
    source.send_many([outgoing(message) for message in messages])
    # Only now, with the copies safely sent: a crash before this line
    # means a duplicate, never a loss. The S3 payload stays: the copy
    # points at it.
    dlq.ack(messages, keep_payload=True)


def outgoing(message: Received) -> Outgoing:
    """The copy of a dead message to send back: as it was sent (body,
    signature, extended-client size attribute, FIFO group), without
    ``alligator-error``, ``-attempts`` and ``-failed-at``."""
    attributes = {
        name: value
        for name, value in message.attributes.items()
        if name not in TRANSIENT_ATTRIBUTES
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


def release_quietly(dlq: Any, messages: Sequence[Received]) -> None:
    """Best effort: if this fails, the lease runs out by itself, and an
    error already on its way is the one to report."""
    if messages:
        with contextlib.suppress(Exception):
            dlq.release(list(messages))


# -- for people ----------------------------------------------------------------


def render_table(dead: list[DeadTask], *, colour: bool = False, error_width: int = 100) -> str:
    """The peeked tasks for people: one aligned row each, the error last.

    Everything from a message is escaped (``alligator._text.printable``) by
    ``render``; in colour, poison messages are yellow and errors red.
    """
    header = ("TASK ID", "CALLABLE", "ATTEMPTS", "FAILED AT", "ERROR")
    rows: list[list[str | Cell]] = []
    for task in dead:
        if task.error is None:
            error = Cell("(no reason attached: moved by the queue's redrive policy?)", DIM)
        else:
            error = Cell(task.error, YELLOW if task.poison else RED)
        # Escaped before it is shortened, so a cut never splits an escape.
        error = Cell(shorten(printable(error.text), error_width), error.style)
        rows.append(
            [
                task.task_id or "-",
                task.callable or ("-" if task.task_id else Cell("(not a task)", YELLOW)),
                "-" if task.attempts is None else str(task.attempts),
                task.failed_at or "-",
                error,
            ]
        )
    return render(header, rows, colour=colour, right={2})
