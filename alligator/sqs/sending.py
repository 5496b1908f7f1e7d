"""``Sender``: the producing half of ``SQSBackend``: messages into
``SendMessage`` / ``SendMessageBatch`` entries, split at 10 entries and at
1 MiB a request, with FIFO group and deduplication ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..backends.base import Outgoing
from ..exceptions import AlligatorException, PayloadTooLargeError
from ..limits import MAX_BATCH_ENTRIES, MAX_DEDUP_ID_CHARS, MAX_DELAY_SECONDS
from . import _batches
from ._errors import translate_errors
from ._queues import QueueResolver
from ._settings import SQSSettings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class Sender:
    """Sends one queue's messages.

    Args:
        client: the boto3 SQS client.
        settings: the validated DSN.
        queues: finds the queue's URL.
    """

    def __init__(self, client: SQSClient, settings: SQSSettings, queues: QueueResolver) -> None:
        self.client = client
        self.settings = settings
        self._queues = queues

    def send_many(self, messages: Sequence[Outgoing], *, max_bytes: int) -> list[str]:
        """Send messages; their ``MessageId``s, in input order.

        Raises:
            PayloadTooLargeError: a message is over ``max_bytes``.
            AlligatorException: SQS refused a message (names its error).
        """
        entries = [self._entry(message) for message in messages]
        sizes = [_batches.entry_bytes(entry) for entry in entries]
        for size in sizes:
            if size > max_bytes:
                raise PayloadTooLargeError(
                    f"message is {size} bytes with its attributes, over the SQS "
                    f"limit of {max_bytes}"
                )
        url = self._queues.queue_url()
        name, region = self.settings.queue_name, self.settings.region
        if len(entries) == 1:
            with translate_errors(name, region):
                response = self.client.send_message(QueueUrl=url, **entries[0])
            return [response["MessageId"]]
        ids: list[str] = [""] * len(entries)
        chunks = _batches.chunk_indices(sizes, max_entries=MAX_BATCH_ENTRIES, max_bytes=max_bytes)
        for chunk in chunks:
            batch = [{"Id": str(index), **entries[index]} for index in chunk]
            with translate_errors(name, region):
                sent, failed = _batches.run_batch(
                    self.client.send_message_batch, batch, QueueUrl=url
                )
            for entry_id, result in sent.items():
                ids[int(entry_id)] = result["MessageId"]
            if failed:
                failure = next(iter(failed.values()))
                raise AlligatorException(
                    f"SQS refused {len(failed)} message(s) for queue {name!r}: "
                    f"{failure.get('Code')}: {failure.get('Message')} "
                    f"({sum(map(bool, ids))} of {len(ids)} were sent)"
                )
        return ids

    def _entry(self, message: Outgoing) -> dict[str, Any]:
        entry: dict[str, Any] = {"MessageBody": message.body}
        attributes = _batches.encode_attributes(message.attributes)
        if attributes:
            entry["MessageAttributes"] = attributes
        if self.settings.fifo:
            # FIFO queues refuse per-message delays; callers defer instead.
            entry["MessageGroupId"] = message.group or "default"
            entry["MessageDeduplicationId"] = dedup_id(message)
        elif message.delay_seconds > 0:
            entry["DelaySeconds"] = min(message.delay_seconds, MAX_DELAY_SECONDS)
        return entry


def dedup_id(message: Outgoing) -> str:
    """The FIFO deduplication id: the message's own (hashed if it is over
    SQS's 128 characters), else a hash of the body."""
    given = message.dedup_id
    if given and len(given) <= MAX_DEDUP_ID_CHARS:
        return given
    return hashlib.sha256((given or message.body).encode("utf-8")).hexdigest()
