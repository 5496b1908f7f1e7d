"""``ConsumerConfig``: everything a consumer needs besides its queue, built
once, in one place, with one precedence rule: an argument beats the gator's
own setting, which beats the environment."""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .. import _env
from ..exceptions import ConfigurationError
from ..retries import Backoff
from ..security import ImportAllow, Signer
from ..status import StatusStore
from ..tasks import Task
from ..wire import MAX_TIME_LIMIT_SECONDS


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

    @classmethod
    def build(
        cls,
        *,
        task_class: type[Task],
        store: StatusStore | None,
        signer: Signer | None,
        backoff: Backoff,
        import_allow: str | Iterable[str] | ImportAllow | None = None,
        signing_key: str | Iterable[str] | None = None,
        time_limit: float | None = None,
    ) -> ConsumerConfig:
        """The one place the precedence rule is applied: an argument (the
        worker's ``import_allow``, ``signing_key``, ``time_limit``), else the
        gator's own (``signer``), else the environment.

        Raises:
            ConfigurationError: a bad allow-list entry or time limit.
        """
        if not isinstance(import_allow, ImportAllow):
            import_allow = ImportAllow.from_setting(import_allow)
        if signing_key is not None:
            signer = Signer.from_setting(signing_key)
        elif signer is None:  # the environment as it is now
            signer = Signer.from_setting(None)
        return cls(
            task_class=task_class,
            store=store,
            signer=signer,
            import_allow=import_allow,
            backoff=backoff,
            time_limit=_time_limit(time_limit),
        )


def _time_limit(value: float | None) -> float | None:
    """The argument, else ``ALLIGATOR_TIME_LIMIT``; refused if not a sane limit."""
    raw: Any = value if value is not None else _env.get(_env.TIME_LIMIT)
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"time_limit must be a number of seconds, not {raw!r}") from None
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIME_LIMIT_SECONDS):
        raise ConfigurationError(
            f"time_limit must be more than 0 and at most {MAX_TIME_LIMIT_SECONDS} s, not {raw!r}"
        )
    return seconds
