"""Patches to moto's SQS model, applied only in the benchmarks' endpoint
process (``_endpoint.py``): they make moto fast enough, and safe enough
under concurrent requests, not to be what the benchmarks measure. No
response changes; see ``speed_up_moto`` for what and why.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any


class _NoTracking(list):
    """moto's ``BaseModel`` keeps every instance ever made (for its reset);
    a benchmark makes hundreds of thousands of messages and never resets."""

    def append(self, item: Any) -> None:
        return None


def speed_up_moto() -> list[str]:
    """Patch moto's SQS model where its cost grows with queue depth.

    Only in this process, and without changing what any request returns:

    1. ``Queue.attributes`` built every attribute, including the three
       ``ApproximateNumberOf*`` counts (each a scan of every message, reading
       the clock per message), on every ``SendMessage`` entry (for one
       ``ContentBasedDeduplication`` lookup) and three times per received
       message (a retention check). The counts are now computed only while
       an HTTP ``GetQueueAttributes`` is being answered, once per request,
       and the other attributes come from a precomputed name map.
    2. ``Queue.messages`` (the visible, undelayed ones) read the clock twice
       per message; it now reads it once per call.
    3. ``receive_message`` deep-copied every received message (body, all
       its old receipt handles); a shallow copy is enough, because the only
       field changed on the copy (``message_attributes``) is replaced, not
       mutated.
    4. ``Queue.delete_message`` scanned every message twice per receipt
       handle (a batch of 10: 20 scans); it now looks the handle up in an
       index, rebuilt only when a handle is not in it.
    5. Messages are no longer kept forever by moto's instance tracker.

    And two costs that do not grow with depth but dominated once the rest
    was gone:

    6. Every request listed moto's package directory and stat-ed each
       entry, twice (``list_of_moto_modules``, to route by host); the list
       is now read once.
    7. A receipt handle was 185 calls to ``random.choice``; it is now one
       ``random.choices`` call (the same 185 lowercase letters).

    And two races, since moto's server answers requests in threads but its
    model takes no lock:

    8. Two receives on one queue at the same moment could both be handed
       the same message (each scans, then marks), or fail with "Set changed
       size during iteration" (a 500, sometimes after marking messages it
       then never returns, hidden until their visibility timeout). Receives,
       deletes and visibility changes on a queue now take that queue's
       lock; a long poll lets go of it while it waits.
    9. ``pending_message_groups`` (rebuilt on every receive) is empty for a
       standard queue, which has no groups, and copied first for a FIFO one.

    Returns:
        One line per patch, for the report.
    """
    import random
    import string

    from moto import backends
    from moto.core.utils import camelcase_to_underscores, unix_time_millis
    from moto.sqs import models, responses
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    queue_class = models.Queue
    counting = threading.local()
    names = {
        name: camelcase_to_underscores(name)
        for name in (
            *queue_class.BASE_ATTRIBUTES,
            *queue_class.FIFO_ATTRIBUTES,
            *queue_class.KMS_ATTRIBUTES,
        )
    }
    approximate = {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    }

    def counts(queue: Any) -> dict[str, int]:
        now = unix_time_millis()
        visible = delayed = hidden = 0
        for message in queue._messages:
            is_visible = now > message.visible_at
            is_delayed = now < message.delayed_until
            hidden += not is_visible
            delayed += is_delayed
            visible += is_visible and not is_delayed
        return {
            "ApproximateNumberOfMessages": visible,
            "ApproximateNumberOfMessagesDelayed": delayed,
            "ApproximateNumberOfMessagesNotVisible": hidden,
        }

    def attributes(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = {}
        wanted = getattr(counting, "queues", None)
        for attribute in queue_class.BASE_ATTRIBUTES:
            if attribute in approximate:
                if wanted is not None:
                    if id(self) not in wanted:
                        wanted[id(self)] = counts(self)
                    result[attribute] = wanted[id(self)][attribute]
                continue
            result[attribute] = getattr(self, names[attribute])
        if self.fifo_queue:
            for attribute in queue_class.FIFO_ATTRIBUTES:
                result[attribute] = getattr(self, names[attribute])
        if self.kms_master_key_id:
            for attribute in queue_class.KMS_ATTRIBUTES:
                result[attribute] = getattr(self, names[attribute])
        if self.policy:
            result["Policy"] = self.policy
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy)
        for key, value in result.items():
            if isinstance(value, bool):
                result[key] = str(value).lower()
        return result

    original_get_attributes = responses.SQSResponse.get_queue_attributes

    def get_queue_attributes(self: Any) -> Any:
        counting.queues = {}
        try:
            return original_get_attributes(self)
        finally:
            counting.queues = None

    def messages(self: Any) -> list[Any]:
        now = unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def fast_copy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, models.Message):
            clone = object.__new__(models.Message)
            clone.__dict__.update(value.__dict__)
            return clone
        return copy.deepcopy(value, memo)

    def delete_message(self: Any, receipt_handle: str) -> None:
        with _queue_lock(self):
            _delete(self, receipt_handle)

    def _delete(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: SQS accepts that
        index = self.__dict__.setdefault("_bench_receipts", {})
        message = index.get(receipt_handle)
        if message is None or not _remove(self._messages, message):
            index.clear()
            for candidate in self._messages:
                for handle in candidate.all_receipt_handles:
                    index[handle] = candidate
            message = index.get(receipt_handle)
            if message is None or not _remove(self._messages, message):
                raise ReceiptHandleIsInvalid()
        self.pending_messages.discard(message)
        for handle in message.all_receipt_handles:
            self.deleted_messages.add(handle)
            index.pop(handle, None)

    def pending_message_groups(self: Any) -> set[str]:
        if not self.fifo_queue:
            return set()
        return {m.group_id for m in list(self._pending_messages) if m.group_id is not None}

    def locked(method: Any) -> Any:
        def call(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            with _queue_lock(self.get_queue(queue_name)):
                return method(self, queue_name, *args, **kwargs)

        return call

    original_wait = queue_class.wait_for_messages

    def wait_for_messages(self: Any, timeout: int) -> None:
        lock = _queue_lock(self)
        lock.release()  # held by this thread's receive: let others in
        try:
            original_wait(self, timeout)
        finally:
            lock.acquire()

    def receipt_handle() -> str:
        return "".join(random.choices(string.ascii_lowercase, k=185))

    modules = tuple(backends.list_of_moto_modules())
    queue_class.attributes = property(attributes)
    queue_class.pending_message_groups = property(pending_message_groups)
    queue_class.messages = property(messages)
    queue_class.delete_message = delete_message
    queue_class.wait_for_messages = wait_for_messages
    backend_class = models.SQSBackend
    backend_class.receive_message = locked(backend_class.receive_message)
    backend_class.change_message_visibility = locked(backend_class.change_message_visibility)
    responses.SQSResponse.get_queue_attributes = get_queue_attributes
    models.deepcopy = fast_copy
    models.Message.instances_tracked = _NoTracking()
    backends.list_of_moto_modules = lambda: modules
    models.generate_receipt_handle = receipt_handle
    return [
        "Queue.attributes: ApproximateNumberOf* counted only for GetQueueAttributes",
        "Queue.messages: one clock read per call, not two per message",
        "receive_message: shallow copy of each received message, not deepcopy",
        "Queue.delete_message: receipt-handle index, not two scans per handle",
        "Message.instances_tracked: not kept",
        "list_of_moto_modules: read once, not per request",
        "generate_receipt_handle: one random.choices call, not 185 random.choice",
        "receive, delete, change visibility: one at a time per queue (races)",
        "Queue.pending_message_groups: empty for standard queues, copied for FIFO (a race)",
    ]


_LOCKS_LOCK = threading.Lock()


def _queue_lock(queue: Any) -> threading.Lock:
    """The lock of one moto queue, made on first use."""
    lock = queue.__dict__.get("_bench_lock")
    if lock is None:
        with _LOCKS_LOCK:
            lock = queue.__dict__.setdefault("_bench_lock", threading.Lock())
    return lock


def _remove(messages: list[Any], message: Any) -> bool:
    """Remove ``message`` from the queue's list (``Message`` has no
    ``__eq__``, so this is by identity, in C)."""
    try:
        messages.remove(message)
    except ValueError:
        return False
    return True
