"""``Receipts``: the consuming half of ``SQSBackend``, leases on received
messages (composed by the backend, not mixed in).

``receive`` long-polls; ``ack`` deletes (batched, failed entries re-sent);
``retry``, ``release`` and ``extend`` move a message's visibility, which
keeps its receive count so the queue's own redrive still works;
``send_to_dlq`` copies a message with its failure reason. Settling a
message that is already gone (deleted, or re-leased to someone else) is
logged at debug level and otherwise ignored: there is nothing left to do.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .._aws import error_code
from ..backends.base import Received
from ..limits import MAX_BATCH_ENTRIES, MAX_VISIBILITY_SECONDS, MAX_WAIT_SECONDS
from . import _batches
from ._errors import GONE_CODES, TOO_LONG_CODE, translate_errors
from ._queues import QueueResolver
from ._settings import SQSSettings
from .messages import SYSTEM_ATTRIBUTES, from_api

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from .payload import SQSPayloads

log = logging.getLogger("alligator")


class Receipts:
    """Receive, ack, retry, release, extend and dead-letter on one queue.

    Args:
        client: the boto3 SQS client.
        settings: the validated DSN.
        queues: finds the queue's and the DLQ's URLs.
        payloads: removes a deleted message's S3 object.
    """

    def __init__(
        self, client: SQSClient, settings: SQSSettings, queues: QueueResolver, payloads: SQSPayloads
    ) -> None:
        self.client = client
        self.settings = settings
        self.region = settings.region
        self._queues = queues
        self._payloads = payloads
        shape = client.meta.service_model.operation_model("ReceiveMessage").input_shape
        members = shape.members if shape is not None else {}
        # Older botocore has only the deprecated AttributeNames.
        self._system_attributes_param = (
            "MessageSystemAttributeNames"
            if "MessageSystemAttributeNames" in members
            else "AttributeNames"
        )

    @property
    def queue_url(self) -> str:
        return self._queues.queue_url()

    @property
    def dlq_url(self) -> str | None:
        return self._queues.dlq_url()

    def _translate(self) -> Any:
        return translate_errors(self.settings.queue_name, self.region)

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[Received]:
        """Long-poll for up to ``max_messages`` (1-10) messages, each leased
        for the visibility timeout."""
        params: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": min(max(max_messages, 1), MAX_BATCH_ENTRIES),
            "WaitTimeSeconds": min(max(wait_seconds, 0), MAX_WAIT_SECONDS),
            "MessageAttributeNames": ["All"],
            self._system_attributes_param: SYSTEM_ATTRIBUTES,
        }
        if self.settings.visibility_timeout is not None:
            params["VisibilityTimeout"] = self.settings.visibility_timeout
        with self._translate():
            response = self.client.receive_message(**params)
        return [from_api(message) for message in response.get("Messages", [])]

    def ack(self, messages: Sequence[Received], *, keep_payload: bool = False) -> None:
        """Delete messages (``DeleteMessageBatch``, 10 a request), then their
        S3 payloads unless ``keep_payload`` (a copy still points at it).

        A delete that keeps failing is logged, not raised: the message only
        comes back and runs again, which at-least-once delivery allows.
        """
        deleted, refused = self._per_entry(self.client.delete_message_batch, messages, {}, "delete")
        for message in refused:
            log.warning("SQS refused to delete message %s", message.message_id)
        if keep_payload:
            return
        for message in deleted:
            self._payloads.delete(message.body)

    def retry(self, message: Received, *, delay_seconds: int) -> None:
        """Make a message visible again after ``delay_seconds`` (at most 12 h),
        keeping its receive count."""
        self._hide(message, min(max(int(delay_seconds), 0), MAX_VISIBILITY_SECONDS))

    def release(self, messages: Sequence[Received]) -> None:
        """Make messages visible again at once (visibility 0, batched)."""
        entry = {"VisibilityTimeout": 0}
        self._per_entry(self.client.change_message_visibility_batch, messages, entry)

    def extend(self, messages: Sequence[Received], *, seconds: int) -> None:
        """Keep messages hidden for ``seconds`` more from now (batched).

        A message may stay in flight 12 hours in all; an extension past that
        is refused (by SQS per entry, by moto for the whole request), and
        those messages get the longest extension still allowed instead.
        """
        seconds = min(max(int(seconds), 0), MAX_VISIBILITY_SECONDS)
        entry = {"VisibilityTimeout": seconds}
        try:
            refused = self._per_entry(self.client.change_message_visibility_batch, messages, entry)[
                1
            ]
        except ClientError as exc:
            if error_code(exc) != TOO_LONG_CODE:
                raise
            refused = list(messages)
        for message in refused:
            self._hide(message, seconds)

    def send_to_dlq(self, message: Received, reason: Mapping[str, str]) -> bool:
        """Copy a message to the dead-letter queue with the failure reason.

        The body is unchanged; the attributes are the reason's three, then the
        message's own, 10 at most. The source message is *not* deleted: the
        caller acks it (``keep_payload=True``) once this returned True.

        Returns:
            False when there is no dead-letter queue.
        """
        url, ref = self.dlq_url, self._queues.dlq_ref
        if url is None or ref is None:
            return False
        attributes = _batches.dlq_attributes(reason, message.attributes)
        params: dict[str, Any] = {
            "QueueUrl": url,
            "MessageBody": message.body,
            "MessageAttributes": _batches.encode_attributes(attributes),
        }
        if ref.fifo:
            params["MessageGroupId"] = message.group or "default"
            params["MessageDeduplicationId"] = message.message_id
        with translate_errors(ref.name, self.region):
            self.client.send_message(**params)
        return True

    def _change_visibility(self, message: Received, seconds: int) -> None:
        try:
            with self._translate():
                self.client.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message.receipt,
                    VisibilityTimeout=seconds,
                )
        except ClientError as exc:
            if error_code(exc) not in GONE_CODES:
                raise
            log.debug("message %s is already gone: %s", message.message_id, exc)

    def _hide(self, message: Received, seconds: int) -> None:
        """``ChangeMessageVisibility``, shortened if it would pass 12 hours."""
        try:
            self._change_visibility(message, seconds)
        except ClientError as exc:
            if error_code(exc) != TOO_LONG_CODE or message.sent_at is None:
                raise
            # The 12 hours count from the receive (moto: from the send); the
            # time since the send is never shorter, so this wait is accepted.
            elapsed = time.time() - message.sent_at
            remaining = math.floor(MAX_VISIBILITY_SECONDS - elapsed) - 60
            if not 0 < remaining < seconds:
                log.warning("cannot hide %s longer: %s", message.message_id, exc)
                return
            self._change_visibility(message, remaining)

    def _per_entry(
        self,
        call: Any,
        messages: Sequence[Received],
        extra: Mapping[str, Any],
        verb: str = "change visibility of",
    ) -> tuple[list[Received], list[Received]]:
        """Run a receipt-handle batch call in chunks of 10.

        Returns:
            The messages it succeeded for, and those refused as
            ``InvalidParameterValue``. Gone messages are logged at debug,
            other failures as warnings.
        """
        done: list[Received] = []
        refused: list[Received] = []
        for start in range(0, len(messages), MAX_BATCH_ENTRIES):
            chunk = list(messages[start : start + MAX_BATCH_ENTRIES])
            entries = [
                {"Id": str(i), "ReceiptHandle": message.receipt, **extra}
                for i, message in enumerate(chunk)
            ]
            with self._translate():
                ok, failed = _batches.run_batch(
                    call, entries, final_codes=GONE_CODES, QueueUrl=self.queue_url
                )
            done += [chunk[int(entry_id)] for entry_id in ok]
            for entry_id, failure in failed.items():
                if failure.get("Code") == TOO_LONG_CODE:
                    refused.append(chunk[int(entry_id)])
                    continue
                gone = failure.get("Code") in GONE_CODES
                log.log(
                    logging.DEBUG if gone else logging.WARNING,
                    "could not %s message %s: %s: %s",
                    verb,
                    chunk[int(entry_id)].message_id,
                    failure.get("Code"),
                    failure.get("Message"),
                )
        return done, refused
