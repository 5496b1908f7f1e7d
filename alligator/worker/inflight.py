"""``Inflight``: the messages a worker holds under lease, for one queue.

A message is held from its receive until it is settled (or released), and
the heartbeat extends the lease of everything held for more than half of
it: received-but-waiting messages too, so a slow task ahead of them does not
hand them to a second consumer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from ..backends.base import Received


class Inflight:
    """Held messages and when each lease was last renewed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[Received, float]] = {}  # receipt -> (message, leased_at)

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)

    def hold(self, messages: Iterable[Received]) -> None:
        """These were just received (their lease starts now)."""
        now = time.monotonic()
        with self._lock:
            for message in messages:
                self._held[message.receipt] = (message, now)

    def forget(self, messages: Iterable[Received]) -> None:
        """These are settled or released: no longer ours to extend."""
        with self._lock:
            for message in messages:
                self._held.pop(message.receipt, None)

    def due(self, lease_seconds: float) -> list[Received]:
        """The messages held for more than half their lease, marked renewed
        (the caller extends them now)."""
        now = time.monotonic()
        with self._lock:
            due = [
                message
                for message, leased_at in self._held.values()
                if now - leased_at >= lease_seconds / 2
            ]
            for message in due:
                self._held[message.receipt] = (message, now)
        return due

    def retry_soon(self, messages: Iterable[Received], lease_seconds: float) -> None:
        """An extension failed: try these again a quarter lease from now,
        well before the lease ends, not when it does."""
        back = time.monotonic() - lease_seconds / 4
        with self._lock:
            for message in messages:
                if message.receipt in self._held:
                    self._held[message.receipt] = (message, back)

    def messages(self) -> list[Received]:
        with self._lock:
            return [message for message, _ in self._held.values()]
