"""Which queue's message a free slot starts next, when one worker serves
several queues (CONTRACT section 9). Pure: lanes in, a lane out.

- ``weighted``: smooth weighted round robin over the queues that have a
  message waiting, so while every queue has a backlog, starts follow the
  weights, and an empty queue's share goes to the others. No queue starves.
- ``strict``: the first queue with a message waiting, where a later queue
  counts only while every earlier one came back empty on its last receive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

PRIORITIES = ("weighted", "strict")


class Candidate(Protocol):
    """What the picker needs to know of a queue."""

    weight: int

    @property
    def has_work(self) -> bool:
        """A message is received and waiting to start."""
        ...

    @property
    def came_back_empty(self) -> bool:
        """Its last receive returned nothing."""
        ...


class Picker:
    """Chooses the queue to start from.

    Example:
        >>> picker = Picker("weighted")
        >>> lane = picker.pick(lanes)

    Args:
        priority: ``weighted`` or ``strict``.
    """

    def __init__(self, priority: str = "weighted") -> None:
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be weighted or strict, not {priority!r}")
        self.priority = priority
        self._current: dict[int, float] = {}

    def may_start(self, lanes: Sequence[Candidate], index: int) -> bool:
        """Strict: lane ``index`` may start only while every earlier lane
        came back empty and holds nothing. Weighted: always."""
        if self.priority != "strict":
            return True
        return all(lane.came_back_empty and not lane.has_work for lane in lanes[:index])

    def pick(self, lanes: Sequence[Candidate]) -> int | None:
        """The index of the lane to start a message from; None: none may."""
        ready = [i for i, lane in enumerate(lanes) if lane.has_work and self.may_start(lanes, i)]
        if not ready:
            return None
        if self.priority == "strict" or len(ready) == 1:
            return ready[0]
        total = sum(lanes[i].weight for i in ready)
        for i in ready:
            self._current[i] = self._current.get(i, 0.0) + lanes[i].weight
        chosen = max(ready, key=lambda i: self._current[i])
        self._current[chosen] -= total
        return chosen
