"""An SQS message as alligator's ``Received``, from both of SQS's spellings
side by side: the API's ``ReceiveMessage`` answer and a Lambda event record.

A Lambda record can be malformed in ways an API answer cannot (it is a
plain dict handed to the function), so ``from_lambda_record`` says what is
wrong instead of raising ``KeyError``: the handler fails or dead-letters that
record alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..backends.base import Received
from . import _batches

#: System attributes read with every message.
SYSTEM_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp", "MessageGroupId"]


class BadRecord(Exception):
    """A Lambda record alligator cannot run; the message says why.

    Attributes:
        received: the record as a message, when it can still be settled (a
            body that is not a string: it is poison, for the DLQ); ``None``
            when it cannot even be acted on (no receipt handle), so it is
            reported for retry.
        message_id: the record's ``messageId``, when it has one (what the
            handler reports).
    """

    def __init__(
        self, reason: str, received: Received | None = None, message_id: str | None = None
    ) -> None:
        super().__init__(reason)
        self.received = received
        self.message_id = received.message_id if received is not None else message_id


def from_api(message: Mapping[str, Any]) -> Received:
    """A message of a ``ReceiveMessage`` answer."""
    system = message.get("Attributes", {})
    sent = system.get("SentTimestamp")
    return Received(
        body=message["Body"],
        message_id=message["MessageId"],
        receipt=message["ReceiptHandle"],
        attempt=_count(system.get("ApproximateReceiveCount")),
        attributes=_batches.decode_attributes(message.get("MessageAttributes", {})),
        sent_at=_millis(sent),
        group=system.get("MessageGroupId"),
    )


def from_lambda_record(record: Mapping[str, Any]) -> Received:
    """A record of an SQS event source mapping's event.

    Raises:
        BadRecord: no message id or receipt handle (``poison`` false), or a
            body that is not a string (``poison`` true, with a receipt).
    """
    if not isinstance(record, Mapping):
        raise BadRecord(f"a record is a {type(record).__name__}, not an object")
    message_id = record.get("messageId")
    receipt = record.get("receiptHandle")
    if not isinstance(message_id, str) or not message_id:
        raise BadRecord("the record has no messageId")
    if not isinstance(receipt, str) or not receipt:
        raise BadRecord(f"record {message_id} has no receiptHandle", message_id=message_id)
    attributes = record.get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    raw = record.get("messageAttributes")
    message_attributes = {
        name: value["stringValue"]
        for name, value in (raw.items() if isinstance(raw, dict) else ())
        if isinstance(value, dict) and isinstance(value.get("stringValue"), str)
    }
    body = record.get("body")
    received = Received(
        # Not a string: its JSON text, for the DLQ copy (SQS refuses an
        # empty body, and the text shows what came).
        body=body if isinstance(body, str) else _as_text(body),
        message_id=message_id,
        receipt=receipt,
        attempt=_count(attributes.get("ApproximateReceiveCount")),
        attributes=message_attributes,
        sent_at=_millis(attributes.get("SentTimestamp")),
        group=_text(attributes.get("MessageGroupId")),
    )
    if not isinstance(body, str):
        raise BadRecord(f"record {message_id} has a body that is not a string", received)
    return received


def _as_text(value: Any) -> str:
    """A body that is not a string, as JSON text (never empty)."""
    try:
        return json.dumps(value, default=repr)
    except (ValueError, RecursionError):  # circular, or too deep
        return repr(type(value))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int:
    """A receive count: 1 when absent or not a whole number (never raises)."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        return 1
    return count if count >= 1 else 1


def _millis(value: Any) -> float | None:
    """Unix seconds from SQS's milliseconds, or None."""
    try:
        return int(value) / 1000
    except (TypeError, ValueError):
        return None
