"""``Lane``: one queue's part of a worker. A worker serves one lane per
queue; each keeps its own processor (signatures, allow-list, status store),
settler (its DLQ, backoff and FIFO rules), held messages, receive pacing
and buffer of received messages waiting for a slot.
"""

from __future__ import annotations

import collections
import threading

from ..backends.base import Queue, Received
from ..consume import ConsumerConfig, Owner, Processor, Settler
from ..gator import Gator
from .inflight import Inflight
from .pacing import ReceivePacer

#: Messages run in order: one, or one FIFO group's share of a receive.
Unit = list[Received]


class Lane:
    """One queue, as the worker sees it.

    Args:
        index: its place in the worker's list (its priority, when strict).
        gator: the queue's gator.
        config: how its messages are treated.
        slots: the worker's concurrency.
        weight: its share of starts, when weighted.
    """

    def __init__(
        self, index: int, gator: Gator, config: ConsumerConfig, *, slots: int, weight: int = 1
    ) -> None:
        self.index = index
        self.gator = gator
        self.queue: Queue = gator.queue
        self.config = config
        self.weight = weight
        self.processor = Processor(self.queue, config)
        self.settler = Settler(self.queue, config.backoff, owner=Owner.WORKER)
        self.inflight = Inflight()
        self.pacer = ReceivePacer(batch_size=self.queue.batch_size, slots=slots)
        self._units: collections.deque[Unit] = collections.deque()
        self._lock = threading.Lock()
        #: Its last receive came back with nothing (strict priority reads it).
        self.empty = False
        #: A short poll is due to confirm the queue is drained (see receiver).
        self.confirm_empty = False

    def __repr__(self) -> str:
        return f"Lane({self.index}, {self.queue.queue_name!r})"

    @property
    def name(self) -> str:
        return self.queue.queue_name

    @property
    def has_work(self) -> bool:
        with self._lock:
            return bool(self._units)

    @property
    def came_back_empty(self) -> bool:
        return self.empty

    @property
    def unstarted(self) -> int:
        """Messages received and waiting for a slot."""
        with self._lock:
            return sum(len(unit) for unit in self._units)

    def add(self, messages: list[Received]) -> None:
        """Buffer received messages as units: one each, or on a FIFO queue
        one per message group, in order."""
        if not self.queue.fifo:
            units = [[message] for message in messages]
        else:
            groups: dict[str | None, Unit] = {}
            for message in messages:
                groups.setdefault(message.group, []).append(message)
            units = list(groups.values())
        with self._lock:
            self._units.extend(units)

    def take(self) -> Unit | None:
        """The oldest waiting unit, or None."""
        with self._lock:
            return self._units.popleft() if self._units else None

    def take_all(self) -> list[Received]:
        """Every waiting message (to release them)."""
        with self._lock:
            units, self._units = list(self._units), collections.deque()
        return [message for unit in units for message in unit]

    def close(self) -> None:
        self.queue.close()
