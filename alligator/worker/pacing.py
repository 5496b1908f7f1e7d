"""The worker's two policies, as plain objects with numbers in and numbers
out, so they can be unit-tested without threads:

- ``ReceivePacer``: how many receives to keep in flight, and how many
  messages each asks for, for a queue with a given backlog, round trip and
  task time;
- ``FlushPolicy``: when the batched deletes go out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The weight of the newest sample in the running averages (a task's run
#: time, a full receive's round trip).
AVERAGE_WEIGHT = 0.2
#: Receives in flight at most for one queue, however fast its tasks are.
MAX_RECEIVES_IN_FLIGHT = 8
#: A run time below this counts as this (a trivial task is not free: the
#: per-message path costs about this much).
MIN_TASK_SECONDS = 0.0005


@dataclass
class ReceivePacer:
    """Decides, for one queue, when to receive and how much.

    With no backlog (the last receive came back short) one long poll is in
    flight, and nothing else: an idle queue costs one request per
    ``wait_time``. With a backlog, enough receives are kept in flight that
    the messages received or on their way cover what the slots will start
    during one round trip, so no slot waits for SQS; every receive asks for
    a whole batch, the cheapest in requests per task.

    Example:
        >>> pacer = ReceivePacer(batch_size=10, slots=8)
        >>> pacer.wanted_in_flight(task_seconds=0.001, round_trip=0.02)
        8

    Args:
        batch_size: messages per receive (1-10).
        slots: tasks this queue's messages may run at once.
    """

    batch_size: int
    slots: int
    task_seconds: float = 0.0
    round_trip: float = 0.0
    backlog: bool = False
    receives: int = 0  # requests in flight
    asked: int = 0  # messages asked for by the requests in flight

    def wanted_in_flight(self, *, task_seconds: float, round_trip: float) -> int:
        """Receives to keep in flight while there is a backlog: what the
        slots start in one round trip, in batches, plus one, so the next
        batch is already on its way when the buffer runs low."""
        rate = self.slots / max(task_seconds, MIN_TASK_SECONDS)
        batches = math.ceil(rate * round_trip / self.batch_size)
        return max(1, min(MAX_RECEIVES_IN_FLIGHT, batches + 1))

    def target_buffer(self) -> int:
        """Messages worth holding, received or on their way: every slot
        busy, plus what the slots start during one round trip."""
        rate = self.slots / max(self.task_seconds, MIN_TASK_SECONDS)
        cover = math.ceil(rate * self.round_trip)
        ceiling = self.slots + MAX_RECEIVES_IN_FLIGHT * self.batch_size
        return min(ceiling, self.slots + cover)

    def room(self, *, unstarted: int, remaining: int | None = None) -> int:
        """How many messages the next receive may ask for; 0: not now.

        Args:
            unstarted: messages received and not started yet.
            remaining: runs ``max_tasks`` still allows, less the messages
                held (``None``: no limit).
        """
        if self.receives and not self.backlog:
            return 0  # idle: one long poll at a time, not two
        if self.receives >= self.wanted_in_flight(
            task_seconds=self.task_seconds, round_trip=self.round_trip
        ):
            return 0
        if unstarted + self.asked >= self.target_buffer():
            return 0  # enough in hand: the slots are covered
        room = self.batch_size
        if remaining is not None:
            room = min(room, remaining - self.asked)
        return max(0, room)

    def started(self, asked: int) -> None:
        """A receive asking for ``asked`` messages went out."""
        self.receives += 1
        self.asked += asked

    def finished(self, asked: int, got: int, seconds: float) -> None:
        """A receive came back with ``got`` messages after ``seconds``. A
        full one means a backlog, and its duration is a round trip (it did
        not wait for messages)."""
        self.receives -= 1
        self.asked -= asked
        self.backlog = got >= asked > 0
        if self.backlog:
            self.round_trip = _average(self.round_trip, seconds)

    def task_finished(self, seconds: float) -> None:
        """A task of this queue ran for ``seconds``."""
        self.task_seconds = _average(self.task_seconds, seconds)


@dataclass(frozen=True)
class FlushPolicy:
    """When deletes go out: a full batch at once; a partial one once no
    more has come for ``delay_seconds`` (tasks that finish every 30 ms
    fill a batch instead of sending one per task), or once its oldest
    entry has waited ``max_delay_seconds`` whatever else is happening (a
    finished message is no longer kept hidden, so its delete must go out
    well inside what is left of its lease; and a worker killed meanwhile
    runs those tasks again).

    Example:
        >>> FlushPolicy().due(pending=10, waited=0.0, quiet=0.0)
        True
    """

    batch: int = 10
    delay_seconds: float = 0.05
    max_delay_seconds: float = 1.0

    @classmethod
    def for_lease(cls, visibility_timeout: float | None) -> FlushPolicy:
        """The policy for a queue whose leases last ``visibility_timeout``
        seconds: a finished message may have as little as half a lease left
        (the heartbeat extends at half), so its delete never waits more than
        a quarter of one."""
        if not visibility_timeout:
            return cls()
        return cls(max_delay_seconds=min(cls.max_delay_seconds, visibility_timeout / 4))

    def due(self, *, pending: int, waited: float, quiet: float) -> bool:
        """True when a batch should be sent now."""
        if pending >= self.batch:
            return True
        return pending > 0 and (quiet >= self.delay_seconds or waited >= self.max_delay_seconds)

    def wait_seconds(self, *, pending: int, waited: float, quiet: float) -> float:
        """How long to sleep before looking again."""
        if pending:
            return max(0.0, min(self.delay_seconds - quiet, self.max_delay_seconds - waited))
        return 0.1


def _average(current: float, sample: float) -> float:
    if current == 0.0:
        return sample
    return current + AVERAGE_WEIGHT * (sample - current)
