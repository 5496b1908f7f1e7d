"""Producing: tasks into outgoing messages (serialised, offloaded when too
large, signed, delayed) and onto the queue, recorded in the status store.

Two signatures when a body is offloaded: ``alligator-signature`` covers the
body as sent (the S3 pointer), so a consumer can refuse a stranger's
pointer before it fetches anything; ``alligator-payload-signature`` covers
the payload itself, so whoever can write the bucket cannot swap the task.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from . import tracing
from .backends.base import Outgoing, Queue
from .exceptions import ConfigurationError
from .security import Signer
from .status import StatusStore
from .tasks import Task
from .wire import PAYLOAD_SIGNATURE_ATTRIBUTE, SIGNATURE_ATTRIBUTE


def send(
    queue: Queue,
    tasks: Sequence[Task],
    *,
    store: StatusStore | None = None,
    signer: Signer | None = None,
) -> None:
    """Put ``tasks`` on ``queue`` in as few requests as it takes; each task
    gets its ``message_id``.

    Raises:
        ConfigurationError: ``depends_on`` without a status store.
        UnserializableTaskError, PayloadTooLargeError, ValueError: a task
            that cannot travel (see ``Task.serialize``).
    """
    if any(task.depends_on for task in tasks) and store is None:
        raise ConfigurationError("depends_on needs a status store: Gator(dsn, status=...)")
    with tracing.producing(queue, tasks) as trace_attributes:
        outgoing = [_outgoing(queue, task, signer, trace_attributes) for task in tasks]
        if store is not None:
            # DELAYED by the task's own due time, not the message's delay:
            # FIFO queues carry no per-message delay at all.
            now = time.time()
            for task in tasks:
                delayed = task.delay_until is not None and task.delay_until > now
                store.created(task.task_id, delayed=delayed)
        ids = queue.send_many(outgoing)
        for task, message_id in zip(tasks, ids, strict=True):
            task.message_id = message_id  # (in the span: it names the message)


def _outgoing(
    queue: Queue, task: Task, signer: Signer | None, trace_attributes: dict[str, str]
) -> Outgoing:
    body = task.serialize()
    sent, attributes = queue.payloads.offload(body)
    attributes = {**attributes, **trace_attributes}
    if signer is not None:
        attributes[SIGNATURE_ATTRIBUTE] = signer.sign(sent)
        if sent is not body:
            attributes[PAYLOAD_SIGNATURE_ATTRIBUTE] = signer.sign(body)
    delay = 0
    if task.delay_until is not None and not queue.fifo:
        wait = math.ceil(task.delay_until - time.time())
        delay = max(0, min(wait, queue.max_delay_seconds))
    return Outgoing(
        body=sent,
        delay_seconds=delay,
        attributes=attributes,
        group=task.group,
        dedup_id=task.dedup_id or task.task_id,
    )
