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


class _Lease:
    """One held message's lease, as far as the worker knows."""

    __slots__ = ("message", "previous", "started", "tried")

    def __init__(self, message: Received, now: float) -> None:
        self.message = message
        #: The last extension tried (or the receive): the next is due half a
        #: lease after it.
        self.tried = now
        #: When the lease surely running began: the receive, or the last
        #: extension that did not fail.
        self.started = now
        #: ``started`` before the last extension, put back if it failed.
        self.previous = now


class Inflight:
    """Held messages and when each lease was last renewed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, _Lease] = {}  # receipt -> its lease

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)

    def hold(self, messages: Iterable[Received]) -> None:
        """These were just received (their lease starts now)."""
        now = time.monotonic()
        with self._lock:
            for message in messages:
                self._held[message.receipt] = _Lease(message, now)

    def forget(self, messages: Iterable[Received]) -> None:
        """These are settled or released: no longer ours to extend."""
        with self._lock:
            for message in messages:
                self._held.pop(message.receipt, None)

    def due(self, lease_seconds: float) -> list[Received]:
        """The messages held for more than half their lease, marked renewed
        (the caller extends them now, and calls ``retry_soon`` if that fails)."""
        now = time.monotonic()
        due = []
        with self._lock:
            for lease in self._held.values():
                if now - lease.tried >= lease_seconds / 2:
                    lease.tried, lease.previous, lease.started = now, lease.started, now
                    due.append(lease.message)
        return due

    def retry_soon(self, messages: Iterable[Received], lease_seconds: float) -> None:
        """An extension failed: try these again halfway to the end of the
        lease that is still running (a quarter lease after a first failure),
        well before it ends, not when it does; and never more often than
        every sixteenth of a lease."""
        now = time.monotonic()
        with self._lock:
            for message in messages:
                lease = self._held.get(message.receipt)
                if lease is None:
                    continue
                lease.started = lease.previous
                left = lease.started + lease_seconds - now
                retry_at = now + max(lease_seconds / 16, left / 2)
                lease.tried = retry_at - lease_seconds / 2

    def messages(self) -> list[Received]:
        with self._lock:
            return [lease.message for lease in self._held.values()]
