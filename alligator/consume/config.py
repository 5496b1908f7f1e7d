"""``ConsumerConfig``: everything a consumer needs besides its queue, built
once, in one place, with one precedence rule: an argument beats the gator's
own setting, which beats the environment."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field

from ..retries import Backoff
from ..security import ImportAllow, Signer
from ..status import StatusStore
from ..tasks import Task


def default_owner() -> str:
    """A lease owner id unique to this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class ConsumerConfig:
    """How a consumer treats the messages of one queue.

    Attributes:
        task_class: builds tasks from bodies (1.0's ``task_class``).
        store: an optional status store (exact attempts, cancel, dedup).
        signer: when set, messages must carry a valid signature.
        import_allow: module prefixes tasks may come from; ``None`` allows all.
        backoff: the wait before each retry (``Backoff.IMMEDIATE`` in tests).
        time_limit: seconds a run may take unless its task says otherwise.
        owner: this consumer's id in the status store's leases.
    """

    task_class: type[Task] = Task
    store: StatusStore | None = None
    signer: Signer | None = None
    import_allow: ImportAllow | None = None
    backoff: Backoff = field(default_factory=Backoff)
    time_limit: float | None = None
    owner: str = field(default_factory=default_owner)
