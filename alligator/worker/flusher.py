"""Sending one queue's batched deletes (and releases), as ``FlushPolicy``
says: a full batch at once, a partial one once no more has come for a
moment.
Several flusher threads per queue, so deletes keep up with several receives
in flight; an idle one only sleeps.
"""

from __future__ import annotations

import threading

from .engine import Engine
from .lane import Lane
from .pacing import MAX_RECEIVES_IN_FLIGHT, FlushPolicy

#: Flusher threads per queue: up to this many delete batches in flight, as
#: many as receives (``MAX_RECEIVES_IN_FLIGHT``): each receive in flight
#: brings a batch that needs a delete batch. With 3, at 20 ms per request and
#: concurrency 8 the deletes fell behind (bench/README.md, "What changed").
FLUSHERS = MAX_RECEIVES_IN_FLIGHT


class Flusher:
    """Flushes one lane's settler until the engine has drained."""

    def __init__(self, engine: Engine, lane: Lane, policy: FlushPolicy | None = None) -> None:
        self.engine = engine
        self.lane = lane
        self.policy = policy or FlushPolicy.for_lease(lane.queue.visibility_timeout)
        self.wanted = threading.Event()
        lane.settler.on_full = self.wanted.set

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.loop, name=f"flusher-{self.lane.index}-{n}", daemon=True)
            for n in range(FLUSHERS)
        ]
        for thread in threads:
            thread.start()
        return threads

    def loop(self) -> None:
        settler, policy = self.lane.settler, self.policy
        while not self.engine.drained.is_set():
            pending, waited, quiet = settler.pending, settler.waited, settler.quiet
            if policy.due(pending=pending, waited=waited, quiet=quiet):
                self.engine.safely("send deletes", settler.flush, policy.batch)
                if settler.pending:
                    self.wanted.set()  # another flusher can help
                with self.engine.changed:
                    self.engine.changed.notify_all()
                continue
            self.wanted.wait(policy.wait_seconds(pending=pending, waited=waited, quiet=quiet))
            self.wanted.clear()

    def stop(self) -> None:
        """From now on a full batch is sent by whoever filled it."""
        self.lane.settler.on_full = None
        self.wanted.set()
