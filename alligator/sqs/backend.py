"""``SQSBackend``: the Backend protocol on the boto3 SQS client.

Constructing one validates the DSN and makes no network call; the queue
URL (and the dead-letter queue's) is resolved on first use, once, and a
missing queue becomes a ``ConfigurationError`` there. Every request goes
through botocore's standard retry mode; batches re-send their failed
entries (see ``_batches``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .._aws import client_config, session_for
from ..backends.base import Outgoing, QueueStats, Received
from ..dsn import DSN
from ..exceptions import ConfigurationError
from ..limits import (
    MAX_DELAY_SECONDS,
    MAX_MESSAGE_BYTES,
    MAX_WAIT_SECONDS,
)
from ._errors import translate_errors
from ._queues import QueueResolver
from ._settings import SQSSettings, parse_settings
from .payload import PayloadStore, SQSPayloads
from .receipts import Receipts
from .sending import Sender

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: Bytes under the limit kept free for message attributes (the signature,
#: the trace context, and the reason when a message is dead-lettered), so a
#: body that fits when sent still fits when it is copied to the DLQ.
ATTRIBUTE_HEADROOM_BYTES = 8192
#: Long polls plus this margin is the read timeout: a poll is never cut short.
READ_TIMEOUT_MARGIN_SECONDS = 10


class SQSBackend:
    """A queue on Amazon SQS (or moto, LocalStack, a VPC endpoint).

    Example:
        >>> backend = SQSBackend("sqs://us-east-1/emails?wait_time=5")
        >>> backend.send_many([Outgoing(body)])
        ['5fea7756-0ea4-451a-a703-a558b933e274']

    Args:
        dsn: ``sqs://REGION/QUEUE?options`` (see the contract's option table).
        queue_name: the queue when the DSN's path names none (1.0 style).

    Raises:
        ConfigurationError: the DSN is malformed, names an unknown option or
            a value out of range.
    """

    blocking = True
    #: The message size limit; a class attribute so tests can lower it.
    max_message_bytes = MAX_MESSAGE_BYTES
    #: See ``ATTRIBUTE_HEADROOM_BYTES``.
    attribute_headroom_bytes = ATTRIBUTE_HEADROOM_BYTES

    def __init__(self, dsn: str | DSN, queue_name: str | None = None) -> None:
        settings = parse_settings(dsn, queue_name)
        self.settings: SQSSettings = settings
        self.queue_name = settings.queue_name
        self.region = settings.region
        self.fifo = settings.fifo
        self.wait_time = settings.wait_time
        self.batch_size = settings.batch_size
        self.max_delay_seconds = 0 if self.fifo else MAX_DELAY_SECONDS
        self.payload_bucket = settings.payload_bucket
        self._session = session_for(settings.endpoint_url)
        config = client_config(MAX_WAIT_SECONDS + READ_TIMEOUT_MARGIN_SECONDS)
        self.client: SQSClient = self._session.client(
            "sqs",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=config,
        )
        self._queues = QueueResolver(self.client, settings, self._session)
        self._store = PayloadStore(
            self._session,
            region=settings.region,
            endpoint_url=settings.endpoint_url,
            config=config,
        )
        self.payloads = SQSPayloads(
            self._store,
            settings.payload_bucket,
            max_bytes=settings.payload_max,
            offload_above=lambda: self.max_message_bytes - self.attribute_headroom_bytes,
        )
        self._receipts = Receipts(self.client, settings, self._queues, self.payloads)
        self._sender = Sender(self.client, settings, self._queues)

    def __repr__(self) -> str:
        return f"SQSBackend(queue={self.queue_name!r}, region={self.region!r})"

    # -- the queue and its dead-letter queue, resolved lazily --------------

    @property
    def queue_url(self) -> str:
        """The queue's URL (``GetQueueUrl`` on first use; creates the queue
        with ``create=true``).

        Raises:
            ConfigurationError: the queue does not exist.
        """
        return self._queues.queue_url()

    @property
    def dlq_url(self) -> str | None:
        """The dead-letter queue's URL: the ``dlq`` option, else
        ``ALLIGATOR_DLQ``, else the queue's ``RedrivePolicy`` target, else None.

        Raises:
            ConfigurationError: the named dead-letter queue does not exist.
        """
        return self._queues.dlq_url()

    @property
    def visibility_timeout(self) -> int:
        """Seconds a received message stays hidden: the DSN's
        ``visibility_timeout``, else the queue's own (read once)."""
        if self.settings.visibility_timeout is not None:
            return self.settings.visibility_timeout
        return int(self._queues.attributes().get("VisibilityTimeout", 30))

    @property
    def retention_seconds(self) -> int | None:
        """Seconds the queue keeps a message from its first send (read once)."""
        value = self._queues.attributes().get("MessageRetentionPeriod")
        return int(value) if value else None

    @property
    def dlq_name(self) -> str | None:
        """The dead-letter queue's name, or None (for log lines)."""
        if self.dlq_url is None or self._queues.dlq_ref is None:
            return None
        return self._queues.dlq_ref.name

    def check(self) -> None:
        """Resolve the queue and its DLQ now, so a worker fails at start-up,
        not on its first message.

        Raises:
            ConfigurationError: either queue is missing, or the credentials
                are missing or refused.
        """
        _ = self.queue_url, self.dlq_url, self.visibility_timeout

    def dlq_backend(self) -> SQSBackend:
        """An ``SQSBackend`` on the dead-letter queue itself (for ``dlq peek``
        and ``dlq redrive``), with the same region, endpoint and options.

        Raises:
            ConfigurationError: this queue has no dead-letter queue.
        """
        url, ref = self.dlq_url, self._queues.dlq_ref
        if url is None or ref is None:
            raise ConfigurationError(
                f"queue {self.queue_name!r} has no dead-letter queue: set dlq= in "
                "the DSN or ALLIGATOR_DLQ, or give the queue a redrive policy"
            )
        options = {
            key: value
            for key, value in self.settings.dsn.options.items()
            if key not in ("dlq", "create")
        }
        raw = f"sqs://{self.region}/{ref.name}?{urlencode(options)}"
        dsn = DSN("sqs", self.region, ref.name, options, raw=raw.rstrip("?"))
        backend = type(self)(dsn)
        # The DLQ may be in another account: reuse the URL, not the name; and
        # a DLQ has no DLQ of its own, whatever ALLIGATOR_DLQ says.
        backend._queues.pin_without_dlq(url)
        return backend

    # -- producing (see ``Sender``) ------------------------------------------------

    def send_many(self, messages: Sequence[Outgoing]) -> list[str]:
        """Send messages, batched (10 entries, 1 MiB per request); their
        ``MessageId``s, in input order.

        Raises:
            PayloadTooLargeError: a message is over the size limit.
            AlligatorException: SQS refused a message (names its error).
        """
        return self._sender.send_many(messages, max_bytes=self.max_message_bytes)

    # -- consuming (see ``Receipts``) ------------------------------------------------

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[Received]:
        """Long-poll for up to ``max_messages`` (1-10) messages, each leased
        for the visibility timeout."""
        return self._receipts.receive(max_messages=max_messages, wait_seconds=wait_seconds)

    def ack(self, messages: Sequence[Received], *, keep_payload: bool = False) -> None:
        """Delete messages (batched), then their S3 payloads unless ``keep_payload``."""
        self._receipts.ack(messages, keep_payload=keep_payload)

    def retry(self, message: Received, *, delay_seconds: int) -> None:
        """Make a message visible again after ``delay_seconds`` (at most 12 h)."""
        self._receipts.retry(message, delay_seconds=delay_seconds)

    def release(self, messages: Sequence[Received]) -> None:
        """Make messages visible again at once (visibility 0, batched)."""
        self._receipts.release(messages)

    def extend(self, messages: Sequence[Received], *, seconds: int) -> None:
        """Keep messages hidden for ``seconds`` more from now (batched)."""
        self._receipts.extend(messages, seconds=seconds)

    def send_to_dlq(self, message: Received, reason: Mapping[str, str]) -> bool:
        """Copy a message to the dead-letter queue with the failure reason;
        False when there is none."""
        return self._receipts.send_to_dlq(message, reason)

    # -- the queue as a whole ----------------------------------------------------

    def size(self) -> int:
        """Messages in the queue: visible, in flight and delayed (approximate)."""
        stats = self.stats(include_dlq=False)
        return stats.visible + stats.in_flight + stats.delayed

    def len(self, queue_name: str | None = None) -> int:
        """1.0's ``backend.len(queue)``: this queue's size (an SQS backend
        serves one queue; the name is accepted for 1.0's callers)."""
        return self.size()

    def drop_all(self, queue_name: str | None = None) -> None:
        """1.0's ``backend.drop_all(queue)``: purge this queue."""
        self.purge()

    def stats(self, *, include_dlq: bool = True) -> QueueStats:
        """Approximate counts for ``alligator stats``.

        ``oldest_age_seconds`` is always None: SQS publishes the age of the
        oldest message only as the CloudWatch metric
        ``ApproximateAgeOfOldestMessage``, not through the SQS API.
        """
        visible, in_flight, delayed = self._counts(self.queue_url, self.queue_name)
        dlq_depth = None
        url, ref = (self.dlq_url, self._queues.dlq_ref) if include_dlq else (None, None)
        if url is not None and ref is not None:
            dlq_depth = sum(self._counts(url, ref.name))
        return QueueStats(visible, in_flight, delayed, dlq_depth, None)

    def purge(self) -> None:
        """Delete every message in the queue (``PurgeQueue``)."""
        with self._translate():
            self.client.purge_queue(QueueUrl=self.queue_url)

    def close(self) -> None:
        """Close the HTTP connections of the SQS and S3 clients."""
        self.client.close()
        self._store.close()

    # -- helpers -----------------------------------------------------------------

    @contextmanager
    def _translate(self) -> Iterator[None]:
        with translate_errors(self.queue_name, self.region):
            yield

    def _counts(self, url: str, name: str) -> tuple[int, int, int]:
        names: list[Any] = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        with translate_errors(name, self.region):
            response = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=names)
        attributes: dict[str, str] = dict(response.get("Attributes", {}))  # type: ignore[arg-type]
        visible, in_flight, delayed = (int(attributes.get(key) or 0) for key in names)
        return visible, in_flight, delayed
