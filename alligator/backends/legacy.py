"""A backend written for alligator 1.0, behind today's ``Queue`` protocol.

1.0's ``docs/extending.rst`` teaches a ``Client(conn_string)`` with five
methods: ``len(queue)``, ``drop_all(queue)``, ``push(queue, task_id, data,
delay_until=None)``, ``pop(queue)`` and ``get(queue, task_id)``. Such a
client works unchanged, with 1.0's semantics:

- a popped message is gone: there is no lease, so ``ack`` and ``extend``
  do nothing, and a crash mid-task loses that task (as it did in 1.0);
- a retry, a deferral or a release pushes the body back, a retry with its
  ``retries`` lowered by one, as 1.0's ``Gator.execute`` did, so the count
  survives without a receive count;
- there is no dead-letter queue: an exhausted task is logged at ERROR and
  dropped, as 1.0 raised and forgot it;
- calls to the client are made one at a time (1.0's worker was one thread,
  and its guide's client is not thread-safe: a pop is a SELECT then a
  DELETE), and a ``Worker`` consumes it in the thread that calls
  ``run_forever``, one task at a time, since the guide's sqlite connection
  may be used only in the thread that made it;
- ``pop`` is called only when ``len`` is not 0, as 1.0's worker did, and
  the ``TypeError`` the guide's ``pop`` raises when nothing is due yet (a
  retry waiting out its backoff) means "nothing to run".
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ..exceptions import ConfigurationError, NotSupportedError
from .base import NO_PAYLOADS, Outgoing, QueueStats, Received

log = logging.getLogger("alligator")

#: The methods that make an object a 1.0 backend client.
LEGACY_METHODS = ("len", "drop_all", "push", "pop", "get")


def is_legacy_client(backend: Any) -> bool:
    """A 1.0 client: it pops, and has none of today's lease verbs."""
    return all(callable(getattr(backend, name, None)) for name in LEGACY_METHODS) and not hasattr(
        backend, "receive"
    )


class LegacyQueue:
    """Today's queue verbs on a 1.0 ``Client``.

    Example:
        >>> gator = Gator("sqlite:///tmp/q.db", backend_class=SQLiteClient)
        >>> gator.queue  # a LegacyQueue; gator.backend is your client

    Args:
        client: the 1.0 client instance.
        queue_name: the queue it is asked about (1.0's ``gator.queue_name``).
    """

    blocking = False
    fifo = False
    wait_time = 0
    batch_size = 1
    max_delay_seconds = 10**9
    visibility_timeout = 30
    retention_seconds = None
    dlq_name = None
    payloads = NO_PAYLOADS

    def __init__(self, client: Any, queue_name: str) -> None:
        self.client = _OneAtATime(client)
        self.queue_name = queue_name

    def __repr__(self) -> str:
        return f"LegacyQueue({self.client!r}, queue={self.queue_name!r})"

    # -- producing --------------------------------------------------------------

    def send_many(self, messages: Sequence[Outgoing]) -> list[str]:
        """``push`` each body; 1.0 returned the task id as the message id."""
        ids = []
        for message in messages:
            if message.attributes:
                raise ConfigurationError(
                    "a 1.0 backend carries no message attributes: signing keys and "
                    "offloaded payloads need a backend of today's kind"
                )
            delay_until = time.time() + message.delay_seconds if message.delay_seconds else None
            task_id = _task_id(message.body) or str(uuid.uuid4())
            pushed = self.client.push(
                self.queue_name, task_id, message.body, delay_until=delay_until
            )
            ids.append(str(pushed or task_id))
        return ids

    # -- consuming --------------------------------------------------------------

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[Received]:
        """``pop`` one body (1.0 pops one at a time), only when ``len``
        says there is one: the guide's ``pop`` fails on an empty queue, and
        1.0's worker never asked it then."""
        if not self.client.len(self.queue_name):
            return []
        try:
            data = self.client.pop(self.queue_name)
        except (TypeError, IndexError):
            # ``len`` counts delayed rows too: with none due, the guide's
            # ``pop`` indexes the ``None`` its SELECT returned.
            return []
        if not data:
            return []
        return [self._received(data)]

    def take(self, task_id: str) -> Received | None:
        """``get`` the task's body (1.0's ``Gator.get``)."""
        data = self.client.get(self.queue_name, task_id)
        return self._received(data) if data else None

    def remove(self, task_id: str) -> str | None:
        """``get`` the body, and so remove it (1.0's ``Gator.cancel``)."""
        data = self.client.get(self.queue_name, task_id)
        return _text(data) if data else None

    def ack(self, messages: Sequence[Received], *, keep_payload: bool = False) -> None:
        """Nothing to do: a popped message is already gone."""

    def extend(self, messages: Sequence[Received], *, seconds: int) -> None:
        """Nothing to do: there is no lease to extend."""

    def retry(self, message: Received, *, delay_seconds: int) -> None:
        """Push the body back with one retry fewer, after the delay."""
        self._push_back(message.body, delay_seconds, spend_retry=True)

    def release(self, messages: Sequence[Received]) -> None:
        """Push unstarted bodies back, due at once."""
        for message in messages:
            self._push_back(message.body, 0, spend_retry=False)

    def send_to_dlq(self, message: Received, reason: Mapping[str, str]) -> bool:
        """There is no DLQ: log the failure; the popped message is gone."""
        log.error(
            "1.0 backend %s has no dead-letter queue: task %s dropped (%s)",
            type(self.client._client).__name__,
            _task_id(message.body),
            reason.get("alligator-error"),
        )
        return True

    # -- the queue as a whole ---------------------------------------------------

    def check(self) -> None:
        """Nothing to check up front."""

    def size(self) -> int:
        return int(self.client.len(self.queue_name))

    def len(self, queue_name: str | None = None) -> int:
        return int(self.client.len(queue_name or self.queue_name))

    def drop_all(self, queue_name: str | None = None) -> None:
        self.client.drop_all(queue_name or self.queue_name)

    def purge(self) -> None:
        self.drop_all()

    def stats(self) -> QueueStats:
        return QueueStats(self.size(), 0, 0, None, None, "a 1.0 backend does not report it")

    def dlq_backend(self) -> Any:
        raise NotSupportedError("a 1.0 backend has no dead-letter queue")

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if callable(close):
            close()

    # -- helpers -------------------------------------------------------------------

    def _received(self, data: Any) -> Received:
        body = _text(data)
        # No receive count: a retry lowers ``retries`` in the body instead,
        # so every pop is a first attempt.
        return Received(body=body, message_id=_task_id(body) or str(uuid.uuid4()), receipt="")

    def _push_back(self, body: str, delay_seconds: int, *, spend_retry: bool) -> None:
        task_id = _task_id(body) or str(uuid.uuid4())
        if spend_retry:
            body = _spend_retry(body)
        delay_until = time.time() + delay_seconds if delay_seconds else None
        self.client.push(self.queue_name, task_id, body, delay_until=delay_until)


class _OneAtATime:
    """A client whose methods are called under one lock."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return repr(self._client)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return locked


def _text(data: Any) -> str:
    return data.decode("utf-8") if isinstance(data, bytes) else str(data)


def _task_id(body: str) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    task_id = data.get("task_id") if isinstance(data, dict) else None
    return task_id if isinstance(task_id, str) else None


def _spend_retry(body: str) -> str:
    """The body with ``retries`` one lower (it ran once more)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return body
    if isinstance(data, dict) and isinstance(data.get("retries"), int) and data["retries"] > 0:
        data["retries"] -= 1
        return json.dumps(data, separators=(",", ":"))
    return body
