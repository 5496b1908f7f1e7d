"""Applying an outcome to its queue: one set of rules for every consumer.

The one fact that differs between consumers is who deletes a message whose
task is done, named by ``Owner``:

- ``Owner.WORKER`` (the worker, ``Gator.pop``, ``drain``): we delete, in
  batches; ten successes cost one ``DeleteMessageBatch``. A crash before the
  flush only means those tasks run again; it never loses one.
- ``Owner.LAMBDA``: Lambda deletes every record the handler does not report
  as failed. We delete only what must not wait for that: a record that left
  a copy behind (in the DLQ, or re-sent), so a later timeout of the
  invocation cannot make the copy twice, and an offloaded record, whose S3
  object goes with it.

``settle`` answers whether the message is *finished*: it no longer holds
its place in the queue (deleted, or to be deleted by Lambda). A FIFO group
stops behind a message that is not finished.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from enum import Enum

from ..backends.base import Outgoing, Queue, Received
from ..limits import MAX_BATCH_ENTRIES, MAX_VISIBILITY_SECONDS
from ..outcome import Action, Outcome, Reason, dead_letter_attributes
from ..retries import Backoff
from ..wire import NOT_BEFORE_ATTRIBUTE, PRIOR_ATTEMPTS_ATTRIBUTE
from .retention import Retention

log = logging.getLogger("alligator")


class Owner(Enum):
    """Who deletes a finished message (see the module docstring)."""

    WORKER = "worker"
    LAMBDA = "lambda"


class Settler:
    """Acks, retries, defers and dead-letters one queue's messages.

    Example:
        >>> settler = Settler(queue, backoff)
        >>> settler.settle(processor.handle(message))
        >>> settler.flush()

    Args:
        queue: the queue the messages came from.
        backoff: the queue's backoff (its maximum hides a message that
            cannot be dead-lettered).
        owner: who deletes finished messages.
        on_full: called instead of flushing when a batch of deletes is
            full, by a consumer that sends them from threads of its own.
    """

    def __init__(
        self,
        queue: Queue,
        backoff: Backoff,
        *,
        owner: Owner = Owner.WORKER,
        on_full: Callable[[], object] | None = None,
    ) -> None:
        self.queue = queue
        self.backoff = backoff
        self.owner = owner
        self.on_full = on_full
        self.retention = Retention(queue)
        self._lock = threading.Lock()
        self._acks: list[Received] = []
        self._releases: list[Received] = []
        self._since: float | None = None  # when the oldest pending entry came
        self._latest = 0.0  # when the newest one came

    # -- one outcome -----------------------------------------------------------

    def settle(self, outcome: Outcome) -> bool:
        """Apply one outcome; True when the message is finished.

        Raises:
            Exception: the queue refused or failed a call that must not be
                silently skipped (a retry's visibility change); the caller
                logs it, and the message comes back after its lease.
        """
        message, action = outcome.message, outcome.action
        if action is Action.ACK:
            self._finish(message, keep_payload=False)
            return True
        if action is Action.RETRY:
            return self._wait(outcome, outcome.delay_seconds)
        if action is Action.DEFER:
            return self.defer(outcome)
        if action is Action.DEAD:
            return self.dead_letter(outcome)
        self._queue(self._releases, message)  # RELEASE
        return False

    def defer(self, outcome: Outcome) -> bool:
        """Wait without using a retry.

        A standard queue gets a fresh copy with the remaining wait (a fresh
        receive count, a fresh retention) and the original is deleted only
        once the copy is safely sent. A FIFO queue cannot take a copy
        without breaking the group's order, so there the message just
        stays hidden.
        """
        queue, message = self.queue, outcome.message
        if queue.fifo or queue.max_delay_seconds <= 0:
            return self._wait(outcome, outcome.delay_seconds)
        self._resend(message, outcome.delay_seconds, dict(message.attributes))
        return True

    def dead_letter(self, outcome: Outcome) -> bool:
        """Copy to the DLQ with the reason, then delete; never drop silently.

        A DLQ that cannot take the copy (deleted, access denied, throttled,
        a body too close to the size limit for the reason) is not a broken
        consumer: the message stays in its queue, hidden for the longest
        backoff, and an ERROR says why.
        """
        message, queue = outcome.message, self.queue
        problem = "no dead-letter queue"
        try:
            copied = queue.send_to_dlq(message, dead_letter_attributes(outcome))
        except Exception as exc:
            copied, problem = False, f"cannot copy to the dead-letter queue ({exc})"
        if copied:
            self._finish(message, keep_payload=True, now=True)
            return True
        # Within what is left of its retention, so that it is seen (and
        # logged) again before SQS would delete it; and a FIFO group's
        # tail waits as long (``delay_seconds``).
        hidden = self.retention.within(message, int(self.backoff.maximum))
        log.error(
            "%s for %s: message %s stays in the queue, hidden for %d s (%s)",
            problem,
            queue.queue_name,
            message.message_id,
            hidden,
            outcome.error,
        )
        queue.retry(message, delay_seconds=hidden)
        outcome.delay_seconds = hidden
        return False

    def hide(self, messages: Sequence[Received], seconds: int) -> None:
        """Keep messages hidden for ``seconds`` (a FIFO group's unstarted
        tail behind a message that waits): batched, and the group keeps its
        order on any SQS implementation, whether or not it blocks a group
        while one of its messages is in flight."""
        if messages:
            self.queue.extend(messages, seconds=max(0, min(seconds, MAX_VISIBILITY_SECONDS)))

    def release(self, messages: Sequence[Received]) -> None:
        """Make unstarted messages visible again at once (batched)."""
        for message in messages:
            self._queue(self._releases, message)
        self.flush()

    # -- waiting, within the queue's retention ------------------------------------

    def _wait(self, outcome: Outcome, seconds: int) -> bool:
        """Hide the message for ``seconds`` (a retry's backoff, a FIFO
        deferral), unless that would outlast the queue's retention: SQS
        deletes a message when its retention ends, whatever its visibility,
        and a message must never expire unseen."""
        message = outcome.message
        if not self.retention.outlasts(message, seconds):
            self.queue.retry(message, delay_seconds=seconds)
            return False
        if self.queue.fifo:
            # A copy would break the group's order: the DLQ says why instead.
            outcome.error = (
                f"RetentionExceeded: waiting {seconds} s would outlast the queue's "
                f"retention ({outcome.error or 'no error'})"
            )
            # ...and so do the log line and the metrics: it is dead, not waiting.
            outcome.action, outcome.reason, outcome.delay_seconds = Action.DEAD, Reason.EXHAUSTED, 0
            return self.dead_letter(outcome)
        attributes = dict(message.attributes)
        attributes[NOT_BEFORE_ATTRIBUTE] = str(math.ceil(time.time() + seconds))
        if outcome.action is Action.RETRY:
            attributes[PRIOR_ATTEMPTS_ATTRIBUTE] = str(outcome.attempt)
        self._resend(message, seconds, attributes)
        return True

    def _resend(self, message: Received, seconds: int, attributes: dict[str, str]) -> None:
        # The copy's retention starts at its send, and a delay counts
        # towards it: a copy delayed past its own retention would expire
        # unseen. So it is delayed only as long as that allows; arriving
        # before it is due (its ``delay_until``, or the retry's
        # ``alligator-not-before``), it is sent on again.
        delay = min(seconds, self.queue.max_delay_seconds)
        fresh = self.retention.left(None)
        if fresh is not None:
            delay = min(delay, fresh)
        copy = Outgoing(
            body=message.body,
            delay_seconds=max(0, delay),
            attributes=attributes,
            group=message.group,
        )
        self.queue.send_many([copy])
        # The copy points at the same S3 payload, if any: keep it.
        self._finish(message, keep_payload=True, now=True)

    # -- deletes --------------------------------------------------------------------

    def _finish(self, message: Received, *, keep_payload: bool, now: bool = False) -> None:
        """Delete a finished message, as its owner does."""
        if self.owner is Owner.LAMBDA:
            if now or self.queue.payloads.is_offloaded(message.body):
                self.queue.ack([message], keep_payload=keep_payload)
            return
        if now or keep_payload:
            self.queue.ack([message], keep_payload=keep_payload)
            return
        self._queue(self._acks, message)

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
            self.queue.ack(acks)
        if releases:
            self.queue.release(releases)

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

    @property
    def quiet(self) -> float:
        """Seconds since the newest pending delete or release came."""
        with self._lock:
            return time.monotonic() - self._latest

    def _queue(self, pending: list[Received], message: Received) -> None:
        with self._lock:
            pending.append(message)
            self._latest = time.monotonic()
            if self._since is None:
                self._since = self._latest
            full = len(pending) >= MAX_BATCH_ENTRIES
        if full:
            (self.on_full or self.flush)()
