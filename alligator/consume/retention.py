"""The queue's retention, which a wait must never outlast.

SQS deletes a message when its retention period ends, counted from its
first send, whatever its visibility: a message hidden for a backoff or a
deferral past that point would expire unseen. ``Retention`` says how long a
message may still wait; the settler re-sends it (standard queues, a fresh
retention) or dead-letters it with that reason (FIFO) rather than hide it
past that.
"""

from __future__ import annotations

import time

from ..backends.base import Queue, Received

#: Seconds of retention kept in hand: a wait must end this long before the
#: queue would delete the message (a quarter of the retention, on a queue
#: that keeps messages less than 20 minutes).
RETENTION_MARGIN_SECONDS = 300


class Retention:
    """How long the messages of one queue may still wait.

    Args:
        queue: the queue (``retention_seconds`` is ``None`` for the local
            backends, which keep messages for ever).
    """

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def left(self, message: Received | None) -> int | None:
        """Seconds ``message`` may still wait, margin kept; ``None`` when
        the queue keeps messages for ever. ``None`` for ``message``: a
        fresh copy, sent now."""
        retention = self.queue.retention_seconds
        if retention is None:
            return None
        margin = min(RETENTION_MARGIN_SECONDS, retention // 4)
        age = 0.0
        if message is not None and message.sent_at is not None:
            age = max(0.0, time.time() - message.sent_at)
        return max(0, int(retention - age) - margin)

    def outlasts(self, message: Received, seconds: int) -> bool:
        """Waiting ``seconds`` would take ``message`` past its retention."""
        left = self.left(message)
        return left is not None and seconds > left

    def within(self, message: Received, seconds: int) -> int:
        """``seconds``, cut to what the retention leaves (at least a second:
        a message about to expire is not spun on)."""
        left = self.left(message)
        return seconds if left is None else max(1, min(seconds, left))
