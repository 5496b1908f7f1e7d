"""``Run``: one run of one task, concluded exactly once.

Normally the thread that ran it concludes it. A thread pool whose task went
past its time limit and does not come back (stuck in a C call) concludes it
from elsewhere, at the limit, and refills the slot; the stuck thread, if it
ever returns, finds the run expired and leaves it alone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Received
from ..tasks import Task


@dataclass
class Run:
    """A task cleared to run: admitted, due, claimed.

    Attributes:
        message: the message it came in.
        task: the task (its callable not imported yet in a process pool).
        data: the checked wire data it was built from.
        attempt: which run this is (1 for the first).
        time_limit: seconds it may take (``None``: no limit).
        started: ``time.monotonic()`` when it was cleared.
    """

    message: Received
    task: Task
    data: dict[str, Any]
    attempt: int
    time_limit: float | None = None
    started: float = field(default_factory=time.monotonic)
    _state: str = "running"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def finish(self) -> bool:
        """Claim the run for the thread that ran it; False once expired."""
        return self._move("finished")

    def expire(self) -> bool:
        """Claim the run for its time limit; False once finished."""
        return self._move("expired")

    @property
    def expired(self) -> bool:
        return self._state == "expired"

    def _move(self, state: str) -> bool:
        with self._lock:
            if self._state != "running":
                return False
            self._state = state
            return True
