"""Batch requests: sizing, chunking, attributes, and per-entry retries.

A batch request can half-succeed: the HTTP call returns 200 with some
entries under ``Failed``. botocore retries whole requests, never entries, so
entries that failed on the server's side (``SenderFault`` false) are retried
here; entries SQS refused (``SenderFault`` true) are final.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..limits import MAX_MESSAGE_ATTRIBUTES
from ..wire import PAYLOAD_SIGNATURE_ATTRIBUTE, SIGNATURE_ATTRIBUTE
from .payload import SIZE_ATTRIBUTES

log = logging.getLogger("alligator")

#: How many times one batch is sent while some entries fail server-side.
ENTRY_ATTEMPTS = 4
#: Seconds before re-sending failed entries (doubled each time). Tests set 0.
ENTRY_RETRY_SECONDS = 0.05

Entry = dict[str, Any]


def encode_attributes(attributes: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Plain strings -> SQS ``MessageAttributes``.

    The extended clients' size attribute is a ``Number``, as they write it;
    everything else is a ``String``. Empty values are left out because SQS
    refuses them.
    """
    encoded = {}
    for name, value in attributes.items():
        if value == "":
            continue
        data_type = "Number" if name in SIZE_ATTRIBUTES else "String"
        encoded[name] = {"DataType": data_type, "StringValue": str(value)}
    return encoded


def decode_attributes(raw: Mapping[str, Any]) -> dict[str, str]:
    """SQS ``MessageAttributes`` -> plain strings (binary ones are skipped)."""
    return {
        name: value["StringValue"]
        for name, value in raw.items()
        if isinstance(value, dict) and "StringValue" in value
    }


def entry_bytes(entry: Entry) -> int:
    """The size SQS counts for a message: the body plus, for every
    attribute, its name, data type and value."""
    size = len(entry["MessageBody"].encode("utf-8"))
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode("utf-8")) + len(value["DataType"].encode("utf-8"))
        size += len(value.get("StringValue", "").encode("utf-8"))
    return size


def chunk_indices(sizes: Sequence[int], *, max_entries: int, max_bytes: int) -> list[list[int]]:
    """Split messages (by index) into batches of at most ``max_entries``
    entries and ``max_bytes`` in total, keeping their order."""
    chunks: list[list[int]] = []
    current: list[int] = []
    total = 0
    for index, size in enumerate(sizes):
        if current and (len(current) >= max_entries or total + size > max_bytes):
            chunks.append(current)
            current, total = [], 0
        current.append(index)
        total += size
    if current:
        chunks.append(current)
    return chunks


def dlq_attributes(reason: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """The attributes of a dead-lettered copy, within SQS's limit of 10.

    The reason comes first, then what a consumer needs to read the body
    again (the signature, the extended-client size), then the rest in
    order; whatever is past 10 is dropped.
    """
    merged: dict[str, str] = dict(reason)
    first = (SIGNATURE_ATTRIBUTE, PAYLOAD_SIGNATURE_ATTRIBUTE, *SIZE_ATTRIBUTES)
    ordered = [name for name in first if name in own]
    ordered += [name for name in own if name not in first]
    for name in ordered:
        if len(merged) >= MAX_MESSAGE_ATTRIBUTES:
            break
        merged.setdefault(name, own[name])
    return merged


def run_batch(
    call: Callable[..., Any],
    entries: Sequence[Entry],
    *,
    final_codes: frozenset[str] = frozenset(),
    **params: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Send a batch request, re-sending entries that failed server-side.

    Args:
        call: the client method, e.g. ``client.delete_message_batch``.
        entries: the entries, each with a unique ``Id``.
        final_codes: failure codes never worth a retry (message gone).
        params: the other request parameters (``QueueUrl``).

    Returns:
        ``(successful, failed)``, each keyed by entry ``Id``: the response's
        result entries and the final failures.
    """
    pending = {entry["Id"]: entry for entry in entries}
    successful: dict[str, Any] = {}
    failed: dict[str, Any] = {}
    for attempt in range(ENTRY_ATTEMPTS):
        response = call(Entries=list(pending.values()), **params)
        for result in response.get("Successful", []):
            successful[result["Id"]] = result
            pending.pop(result["Id"], None)
        retryable = {}
        for failure in response.get("Failed", []):
            entry_id = failure["Id"]
            if failure.get("SenderFault") or failure.get("Code") in final_codes:
                failed[entry_id] = failure
                pending.pop(entry_id, None)
            else:
                retryable[entry_id] = failure
        if not retryable:
            break
        pending = {key: pending[key] for key in retryable if key in pending}
        if attempt + 1 == ENTRY_ATTEMPTS:
            failed.update(retryable)
            break
        log.debug("re-sending %d failed batch entries", len(pending))
        time.sleep(ENTRY_RETRY_SECONDS * 2**attempt)
    return successful, failed
