"""Receiving, for one queue: keep the pacer's receives in flight.

A dispatcher thread asks the pacer (under the engine's lock) whether to
receive and how much, and starts each receive on a thread of its own, so
several can be in flight while a queue has a backlog and exactly one long
poll while it is idle. What comes back is held (its lease is extended from
then on) and buffered for the slots; a receive that returns during a stop
releases what it got at once.

With strict priority, a later queue receives only while every earlier one
came back empty, and only as many messages as there are idle slots: it
never prefetches, so a burst on an earlier queue is never stuck behind a
later queue's batch, and what a later queue holds is released at once when
an earlier one gets messages.
"""

from __future__ import annotations

import logging
import threading
import time

from ..exceptions import ConfigurationError
from .engine import Engine
from .lane import Lane

log = logging.getLogger("alligator")

#: The longest pause after failed receives (doubling from half a second).
MAX_FAILURE_PAUSE_SECONDS = 30.0


class Receiver:
    """Keeps one lane's receives going until the engine stops.

    Args:
        engine: the worker's shared state.
        lane: the queue to receive from.
        nap_time: seconds to pause after an empty receive on a backend that
            does not long-poll (sqlite, locmem).
    """

    def __init__(self, engine: Engine, lane: Lane, *, nap_time: float) -> None:
        self.engine = engine
        self.lane = lane
        self.nap_time = nap_time
        self._failures = 0
        self._threads: list[threading.Thread] = []

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.loop, name=f"receiver-{self.lane.index}", daemon=True)
        thread.start()
        return thread

    def join(self, timeout: float) -> None:
        """Wait (up to ``timeout``) for the receives in flight to come back,
        so that what they bring is released rather than left hidden."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    def loop(self) -> None:
        engine, lane = self.engine, self.lane
        while not engine.stopping.is_set():
            with engine.changed:
                room = self._room()
                if room <= 0:
                    # Woken when a slot takes a unit or a receive ends.
                    engine.changed.wait(0.1)
                    continue
                wait = self._wait_seconds()
                lane.pacer.started(room)
            thread = threading.Thread(
                target=self._receive, args=(room, wait), name=f"receive-{lane.index}", daemon=True
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _room(self) -> int:
        """How many to receive now; called with the engine's lock held."""
        engine, lane = self.engine, self.lane
        picker = engine.picker
        if not picker.may_start(engine.lanes, lane.index):
            return 0  # strict: an earlier queue has work
        room = lane.pacer.room(unstarted=lane.unstarted, remaining=engine.remaining())
        if picker.priority == "strict" and lane.index > 0:
            room = min(room, engine.slots - engine.busy - lane.unstarted - lane.pacer.asked)
        return room

    def _wait_seconds(self) -> int:
        queue = self.lane.queue
        if not queue.blocking or self.lane.confirm_empty:
            return 0
        return queue.wait_time

    def _receive(self, room: int, wait: int) -> None:
        engine, lane = self.engine, self.lane
        started, messages = time.monotonic(), []
        try:
            messages = lane.queue.receive(max_messages=room, wait_seconds=wait)
            self._failures = 0
        except ConfigurationError as exc:
            engine.fatal = exc
            engine.stop()
        except Exception:
            self._failures += 1
            log.exception("%s: receive from %s failed; retrying", engine.ident(), lane.name)
            pause = min(MAX_FAILURE_PAUSE_SECONDS, 0.5 * 2**self._failures)
            engine.stopping.wait(pause)
        seconds = time.monotonic() - started
        if messages:
            lane.inflight.hold(messages)
        elif not lane.queue.blocking and not engine.stopping.is_set():
            engine.stopping.wait(self.nap_time)  # a local queue: do not spin
        stopping = engine.stopping.is_set()
        with engine.changed:
            lane.pacer.finished(room, len(messages), seconds)
            self._note_emptiness(room, len(messages), wait)
            # Strict: an earlier queue got messages while this receive was
            # out; what it brought must not wait here behind them.
            keep = not stopping and engine.picker.may_start(engine.lanes, lane.index)
            if messages and keep:
                lane.add(messages)
            engine.changed.notify_all()
            engine.arrived.notify_all()  # units, or strict's "came back empty"
        if messages and not keep:
            engine.put_back(lane, messages, None)
        elif messages and engine.picker.priority == "strict":
            engine.release_buffered(engine.lanes[lane.index + 1 :])

    def _note_emptiness(self, asked: int, got: int, wait: int) -> None:
        """Strict priority waits for an earlier queue to come back empty. A
        short batch means it is nearly drained: confirm with a short poll
        rather than wait a whole long poll for the empty answer."""
        lane = self.lane
        lane.empty = got == 0
        strict = self.engine.picker.priority == "strict" and len(self.engine.lanes) > 1
        lane.confirm_empty = strict and 0 < got < asked and wait > 0
