"""SIGTERM and SIGINT handled for the length of a block: the worker, the
scheduler and ``stats --watch`` each stop cleanly on them, and put the
handlers they found back when they are done.

Python lets only the main thread install handlers; elsewhere (a worker run
from a test's thread) the block runs with the handlers as they are.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

#: What stops a long-running command: ``docker stop``/ECS, and Ctrl-C.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def handled(handler: Callable[[int, Any], object]) -> Iterator[None]:
    """``handler(signum, frame)`` for SIGTERM and SIGINT inside the block.

    Example:
        >>> with handled(lambda *_: stopped.set()):
        ...     run_until(stopped)
    """
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
