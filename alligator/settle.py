"""Applying outcomes to a queue we own: the worker, ``Gator.pop`` and
``drain``. (On Lambda, Lambda owns the records; see ``sqs.lambda_handler``.)

Deletes are batched: ten successes cost one ``DeleteMessageBatch``. A crash
before the flush only means those tasks run again; it never loses one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .backends.base import Backend, Outgoing, Received
from .exceptions import ConfigurationError
from .outcome import Action, Outcome, failure_reason

log = logging.getLogger("alligator")

#: SQS takes at most ten entries per batch request.
BATCH_ENTRIES = 10


class Settler:
    """Acks, retries, defers and dead-letters, batching what can be batched.

    Example:
        >>> settler = Settler(backend)
        >>> settler.settle(processor.handle(message))
        >>> settler.flush()
    """

    def __init__(self, backend: Backend, *, on_full: Callable[[], object] | None = None) -> None:
        self.backend = backend
        #: Called instead of flushing when a batch is full, by a consumer
        #: that sends its deletes from threads of its own (the worker).
        self.on_full = on_full
        self._lock = threading.Lock()
        self._acks: list[Received] = []
        self._releases: list[Received] = []
        self._since: float | None = None  # when the oldest pending entry came

    def settle(self, outcome: Outcome) -> None:
        """Apply one outcome; deletes and releases wait for ``flush``."""
        message, action = outcome.message, outcome.action
        if action is Action.ACK:
            self._queue(self._acks, message)
        elif action is Action.RELEASE:
            self._queue(self._releases, message)
        elif action is Action.RETRY:
            self.backend.retry(message, delay_seconds=outcome.delay_seconds)
        elif action is Action.DEFER:
            self.defer(message, outcome.delay_seconds)
        else:
            self.dead_letter(outcome)

    def release(self, messages: list[Received]) -> None:
        """Make unstarted messages visible again at once (batched)."""
        for message in messages:
            self._queue(self._releases, message)
        self.flush()

    def defer(self, message: Received, delay_seconds: int) -> None:
        """Wait without using a retry.

        A standard queue gets a fresh copy with the remaining wait (a fresh
        receive count) and the original is deleted only once the copy is
        safely sent. A FIFO queue cannot take a copy without breaking the
        group's order, so there the message just stays hidden.
        """
        backend = self.backend
        if backend.fifo or backend.max_delay_seconds <= 0:
            backend.retry(message, delay_seconds=delay_seconds)
            return
        copy = Outgoing(
            body=message.body,
            delay_seconds=min(delay_seconds, backend.max_delay_seconds),
            attributes=dict(message.attributes),
        )
        backend.send_many([copy])
        # The copy points at the same S3 payload, if any: keep it.
        backend.ack([message], keep_payload=True)

    def dead_letter(self, outcome: Outcome) -> None:
        """Copy to the DLQ with the reason, then delete; never drop silently."""
        message, backend = outcome.message, self.backend
        problem = "no dead-letter queue"
        try:
            copied = backend.send_to_dlq(message, failure_reason(outcome))
        except ConfigurationError:
            raise
        except Exception as exc:
            # A body so near the size limit that the reason does not fit, or
            # SQS failing past botocore's retries: never a crash, and the
            # message stays, as it does with no DLQ.
            copied, problem = False, f"cannot copy to the dead-letter queue ({exc})"
        if copied:
            backend.ack([message], keep_payload=True)
            return
        log.error(
            "%s for %s: message %s stays in the queue (%s)",
            problem,
            backend.queue_name,
            message.message_id,
            outcome.error,
        )
        # Hidden for the longest backoff, so it does not spin; the queue's
        # own redrive or retention decides its fate.
        backend.retry(message, delay_seconds=int(backend.backoff.maximum))

    def flush(self, max_entries: int | None = None) -> None:
        """Send the pending deletes and releases (the oldest ``max_entries``
        of them, when given, so that several threads can send a batch each)."""
        with self._lock:
            cut = len(self._acks) if max_entries is None else max_entries
            acks, self._acks = self._acks[:cut], self._acks[cut:]
            cut = len(self._releases) if max_entries is None else max_entries - len(acks)
            releases, self._releases = self._releases[:cut], self._releases[cut:]
            if not (self._acks or self._releases):
                self._since = None
        if acks:
            self.backend.ack(acks)
        if releases:
            self.backend.release(releases)

    @property
    def pending(self) -> int:
        """Deletes and releases not yet sent."""
        with self._lock:
            return len(self._acks) + len(self._releases)

    @property
    def waited(self) -> float:
        """Seconds the oldest pending delete or release has waited (0 when
        none). A finished message is no longer kept hidden by anyone, so
        its delete must go out well inside what is left of its lease."""
        with self._lock:
            return 0.0 if self._since is None else time.monotonic() - self._since

    def _queue(self, pending: list[Received], message: Received) -> None:
        with self._lock:
            pending.append(message)
            if self._since is None:
                self._since = time.monotonic()
            full = len(pending) >= BATCH_ENTRIES
        if full:
            (self.on_full or self.flush)()
