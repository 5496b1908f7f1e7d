"""The backend interface: leases, not pops.

A consumer *receives* a batch of messages, each hidden from other consumers
for the lease (the visibility timeout), then *acks* (deletes) the ones whose
task succeeded, *retries* a failed one (visible again after a delay),
*releases* unstarted ones at once and *extends* the lease of slow ones. A
crash in between deletes nothing: the lease expires and the message comes
back. SQS has exactly these verbs; the local backends simulate them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..retries import Backoff

#: Names of the message attributes alligator writes.
SIGNATURE_ATTRIBUTE = "alligator-signature"
ERROR_ATTRIBUTE = "alligator-error"
ATTEMPTS_ATTRIBUTE = "alligator-attempts"
FAILED_AT_ATTRIBUTE = "alligator-failed-at"
FAILURE_ATTRIBUTES = (ERROR_ATTRIBUTE, ATTEMPTS_ATTRIBUTE, FAILED_AT_ATTRIBUTE)


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


@runtime_checkable
class Backend(Protocol):
    """What the producer, the worker and the Lambda handler need of a queue."""

    queue_name: str
    blocking: bool  # receive() long-polls, so the worker never naps
    fifo: bool
    visibility_timeout: int  # seconds a received message stays hidden
    wait_time: int  # long-poll seconds
    batch_size: int  # messages per receive
    max_delay_seconds: int  # longest per-message delay the queue accepts
    backoff: Backoff

    def send_many(self, messages: Sequence[Outgoing]) -> list[str]: ...
    def receive(self, *, max_messages: int, wait_seconds: int) -> list[Received]: ...
    def ack(self, messages: Sequence[Received], *, keep_payload: bool = False) -> None: ...
    def retry(self, message: Received, *, delay_seconds: int) -> None: ...
    def release(self, messages: Sequence[Received]) -> None: ...
    def extend(self, messages: Sequence[Received], *, seconds: int) -> None: ...
    def send_to_dlq(self, message: Received, reason: Mapping[str, str]) -> bool: ...
    def offload(self, body: str) -> tuple[str, dict[str, str]]: ...
    def load(self, body: str) -> str: ...
    def take(self, task_id: str) -> Received | None: ...
    def size(self) -> int: ...
    def stats(self) -> QueueStats: ...
    def purge(self) -> None: ...
    def close(self) -> None: ...
