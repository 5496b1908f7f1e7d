"""``alligator dlq redrive``: move dead-lettered messages back, in batches.

A client-side move, one batch at a time: receive from the DLQ, send to the
source queue without the failure attributes, then delete from the DLQ. The
send comes first, so an interruption at any point loses nothing; at worst
a message sent but not yet deleted is sent again by the next redrive (on
FIFO queues SQS drops that duplicate itself within its 5-minute
deduplication window, as the DLQ message id is the deduplication id).

Poison messages (see ``alligator.ops.dlq.is_poison``) are left in the DLQ
unless asked for: a body that is not a task, or one refused for its
signature or module, would only be dead-lettered again.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Received
from .dlq import BATCH, move, poison_message, receive, release_quietly


@dataclass
class Redrive:
    """What a redrive did, for its summary (and the dashboard's JSON)."""

    source: str
    dlq: str
    moved: int = 0
    poison: int = 0  # skipped as poison: left in the DLQ
    came_back: int = 0  # failed again during this redrive: left in the DLQ
    left: int = 0  # in the DLQ once done (SQS's approximate count if stopped early)
    interrupted: bool = False
    _seen: set[str] = field(default_factory=set, repr=False)

    def summary(self, *, poison_hint: str = "--include-poison moves them too") -> str:
        """``redrove 3 message(s) from 'q-dlq' to 'q', left 1 in 'q-dlq' (…)``."""
        text = (
            f"redrove {self.moved} message(s) from {self.dlq!r} to {self.source!r}, "
            f"left {self.left} in {self.dlq!r}"
        )
        reasons = []
        if self.poison:
            reasons.append(f"{self.poison} poison, skipped: {poison_hint}")
        if self.came_back:
            reasons.append(
                f"{self.came_back} that failed again during this redrive (or were there twice)"
            )
        if reasons:
            text += f" ({'; '.join(reasons)})"
        if self.interrupted:
            text += "; interrupted: run it again to move the rest"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dlq": self.dlq,
            "moved": self.moved,
            "poison": self.poison,
            "came_back": self.came_back,
            "left": self.left,
            "interrupted": self.interrupted,
        }


def redrive(
    source: Any,
    dlq: Any,
    *,
    limit: int | None = None,
    include_poison: bool = False,
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
    forever. Those are left in the DLQ, and so are poison messages unless
    ``include_poison``.

    Example:
        >>> redrive(backend, backend.dlq_backend()).summary()
        "redrove 42 message(s) from 'emails-dlq' to 'emails', left 0 in 'emails-dlq'"

    Args:
        source: the queue to send to.
        dlq: its dead-letter queue (``source.dlq_backend()``).
        limit: move at most this many; all when ``None``.
        include_poison: move poison messages too.
        progress: called after every batch.
        should_stop: checked between batches (Ctrl-C); a batch in flight
            is always finished, so a stop never leaves a duplicate.
    """
    result = Redrive(source=source.queue_name, dlq=dlq.queue_name)
    skipped: dict[str, Received] = {}
    emptied = False
    try:
        while limit is None or result.moved < limit:
            if should_stop():
                result.interrupted = True
                break
            room = BATCH if limit is None else min(BATCH, limit - result.moved)
            batch = receive(dlq, room)
            if not batch:
                emptied = True
                break
            fresh = [message for message in batch if message.message_id not in skipped]
            if not fresh:
                # Only what we hold back came round again (its lease ran
                # out on a long run): stop rather than go round in circles.
                break
            _move_batch(result, source, dlq, fresh, skipped, include_poison)
            if progress is not None:
                progress(result)
    finally:
        release_quietly(dlq, list(skipped.values()))
    result.left = len(skipped) if emptied else max(dlq.size(), len(skipped))
    return result


def _move_batch(
    result: Redrive,
    source: Any,
    dlq: Any,
    batch: list[Received],
    skipped: dict[str, Received],
    include_poison: bool,
) -> None:
    """Move what should go back; hold back the rest in ``skipped``."""
    moving = []
    for message in batch:
        digest = _digest(message)
        if digest in result._seen:
            result.came_back += 1
        elif not include_poison and poison_message(dlq, message):
            result.poison += 1
        else:
            moving.append((digest, message))
            continue
        skipped[message.message_id] = message
    messages = [message for _, message in moving]
    try:
        move(source, dlq, messages)
    except BaseException:
        # Back in the DLQ at once, not after the lease, so a second
        # run can move them (again, if the send went through).
        release_quietly(dlq, messages)
        raise
    result._seen.update(digest for digest, _ in moving)
    result.moved += len(messages)


def _digest(message: Received) -> str:
    return hashlib.sha256(message.body.encode("utf-8", "surrogatepass")).hexdigest()


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
