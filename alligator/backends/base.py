"""The queue interface: leases, not pops; narrow protocols, by who needs what.

A consumer *receives* a batch of messages, each hidden from other consumers
for the lease (the visibility timeout), then *acks* (deletes) the ones whose
task succeeded, *retries* a failed one (visible again after a delay),
*releases* unstarted ones at once and *extends* the lease of slow ones. A
crash in between deletes nothing: the lease expires and the message comes
back. SQS has exactly these verbs; the local backends simulate them.

- ``Queue``: what producers and consumers need (the data plane).
- ``QueueAdmin``: what operators and start-up checks need.
- ``Lookup``: what only local backends can do (1.0's ``get`` and ``cancel``
  by task id); ``Gator`` checks for it with ``isinstance``.
- ``Payloads``: large bodies kept elsewhere (S3); ``NO_PAYLOADS`` locally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..wire import (  # noqa: F401 - the attribute names, re-exported
    ATTEMPTS_ATTRIBUTE,
    ERROR_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
    FAILURE_ATTRIBUTES,
    PAYLOAD_SIGNATURE_ATTRIBUTE,
    SIGNATURE_ATTRIBUTE,
)


@dataclass(frozen=True)
class Outgoing:
    """A message to send.

    Attributes:
        body: the body exactly as it goes on the wire.
        delay_seconds: hidden for this long after sending (capped by the
            backend's ``max_delay_seconds``).
        attributes: string message attributes (the signature, for one).
        group: FIFO message group id.
        dedup_id: FIFO deduplication id.
    """

    body: str
    delay_seconds: int = 0
    attributes: Mapping[str, str] = field(default_factory=dict)
    group: str | None = None
    dedup_id: str | None = None


@dataclass(frozen=True)
class Received:
    """A message held under a lease.

    Attributes:
        body: the body as it was sent (an S3 pointer when offloaded).
        message_id: the backend's id for the message (SQS ``MessageId``).
        receipt: the opaque lease handle (SQS ``ReceiptHandle``).
        attempt: how many times it was received (``ApproximateReceiveCount``).
        attributes: string message attributes.
        sent_at: Unix time it was first sent, when known.
        group: FIFO message group id, when any.
    """

    body: str
    message_id: str
    receipt: str
    attempt: int = 1
    attributes: Mapping[str, str] = field(default_factory=dict)
    sent_at: float | None = None
    group: str | None = None


@dataclass(frozen=True)
class QueueStats:
    """What ``alligator stats`` shows. ``None`` where a backend cannot tell."""

    visible: int
    in_flight: int
    delayed: int
    dlq_depth: int | None
    oldest_age_seconds: float | None
    oldest_age_note: str = ""


class Payloads(Protocol):
    """Bodies too large for the queue, kept elsewhere (S3)."""

    def offload(self, body: str) -> tuple[str, dict[str, str]]:
        """The body to send (a pointer when offloaded) and attributes to add."""
        ...

    def load(self, body: str) -> str:
        """The real body: fetched when ``body`` is a pointer, else itself.

        Raises:
            PoisonMessageError: a pointer that must never be followed.
        """
        ...

    def is_offloaded(self, body: str) -> bool:
        """True when ``body`` is a pointer (its object goes with its message)."""
        ...


class LocalPayloads:
    """Local backends have no size limit: bodies travel as they are."""

    def offload(self, body: str) -> tuple[str, dict[str, str]]:
        return body, {}

    def load(self, body: str) -> str:
        return body

    def is_offloaded(self, body: str) -> bool:
        return False


NO_PAYLOADS: Payloads = LocalPayloads()


@runtime_checkable
class Queue(Protocol):
    """What producers and consumers need of a queue."""

    queue_name: str
    blocking: bool  # receive() long-polls, so the worker never naps
    fifo: bool
    wait_time: int  # long-poll seconds
    batch_size: int  # messages per receive
    max_delay_seconds: int  # longest per-message delay the queue accepts
    payloads: Payloads

    @property
    def visibility_timeout(self) -> int:
        """Seconds a received message stays hidden."""
        ...

    @property
    def retention_seconds(self) -> int | None:
        """Seconds the queue keeps a message from its first send (None: for ever)."""
        ...

    @property
    def dlq_name(self) -> str | None:
        """The dead-letter queue's name, for log lines (None: there is none)."""
        ...

    def send_many(self, messages: Sequence[Outgoing]) -> list[str]: ...
    def receive(self, *, max_messages: int, wait_seconds: int) -> list[Received]: ...
    def ack(self, messages: Sequence[Received], *, keep_payload: bool = False) -> None: ...
    def retry(self, message: Received, *, delay_seconds: int) -> None: ...
    def release(self, messages: Sequence[Received]) -> None: ...
    def extend(self, messages: Sequence[Received], *, seconds: int) -> None: ...
    def send_to_dlq(self, message: Received, reason: Mapping[str, str]) -> bool: ...
    def close(self) -> None: ...


@runtime_checkable
class QueueAdmin(Protocol):
    """What operators (``alligator stats``, ``dlq``) and start-up checks need."""

    def check(self) -> None: ...
    def size(self) -> int: ...
    def stats(self) -> QueueStats: ...
    def purge(self) -> None: ...
    def dlq_backend(self) -> Backend: ...
    def len(self, queue_name: str | None = None) -> int: ...
    def drop_all(self, queue_name: str | None = None) -> None: ...


@runtime_checkable
class Lookup(Protocol):
    """Find a message by task id: local backends only (1.0's get/cancel)."""

    def take(self, task_id: str) -> Received | None: ...
    def remove(self, task_id: str) -> str | None: ...


@runtime_checkable
class Backend(Queue, QueueAdmin, Protocol):
    """What ``Gator(dsn)`` builds: a queue with its admin side."""
