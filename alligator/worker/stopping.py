"""How a worker stops: the order in which its threads and pool are let go.

Receiving stops first, unstarted messages are released at once (visible
again for any worker), running tasks get what is left of the grace, and
the deletes still pending go out last, so nothing finished runs again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from .engine import Engine
from .flusher import Flusher
from .pools import Pool
from .receiver import Receiver

log = logging.getLogger("alligator")


def shut_down(
    engine: Engine,
    pool: Pool,
    receivers: Sequence[Receiver],
    receiver_threads: Sequence[threading.Thread],
    flushers: Sequence[Flusher],
    flusher_threads: Sequence[threading.Thread],
    *,
    grace: float,
) -> None:
    """Let everything go within ``grace`` seconds (see the module docstring)."""
    deadline = time.monotonic() + grace
    # A full batch filled during the grace is sent by whoever filled it.
    for flusher in flushers:
        flusher.stop()
    engine.release_buffered()
    still_running = pool.join(deadline)
    for thread in receiver_threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    # A long poll that returns during the grace releases what it got.
    for receiver in receivers:
        receiver.join(max(0.0, deadline - time.monotonic()))
    pool.close()
    engine.drained.set()
    for flusher in flushers:
        flusher.wanted.set()
    for thread in flusher_threads:  # (and the heartbeat) may be sending deletes
        thread.join(max(1.0, deadline - time.monotonic()))
    engine.release_buffered()
    for lane in engine.lanes:
        engine.safely("send deletes", lane.settler.flush)
    if still_running:
        log.warning("%s: tasks still running after the grace: %s", engine.ident(), still_running)
    log.info("%s stopping after %d messages", engine.ident(), engine.outcomes)
