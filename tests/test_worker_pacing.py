"""The worker's policies as pure objects, without threads or SQS:
``ReceivePacer`` (receives in flight for a backlog, a round trip and a task
time), ``FlushPolicy`` (when deletes go out), ``Picker`` (which queue a
free slot starts from) and ``Inflight`` (when a lease is due for extension,
and when again after an extension failed)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from alligator.backends.base import Received
from alligator.worker import inflight
from alligator.worker.inflight import Inflight
from alligator.worker.pacing import MAX_RECEIVES_IN_FLIGHT, FlushPolicy, ReceivePacer
from alligator.worker.picker import Picker

BATCH = 10
#: SQS's round trip as measured from EC2, in seconds.
ROUND_TRIP = 0.02


def ramp(pacer: ReceivePacer, *, unstarted: int = 0, remaining: int | None = None) -> list[int]:
    """Start receives while the pacer allows; what each asked for."""
    asked = []
    while (room := pacer.room(unstarted=unstarted, remaining=remaining)) > 0:
        pacer.started(room)
        asked.append(room)
        assert len(asked) <= 100, "the pacer never says stop"
    return asked


def backlogged(slots: int, task_seconds: float, round_trip: float = ROUND_TRIP) -> ReceivePacer:
    """A pacer that has seen full receives (a backlog) and tasks this long."""
    pacer = ReceivePacer(batch_size=BATCH, slots=slots)
    pacer.task_finished(task_seconds)
    pacer.started(BATCH)
    pacer.finished(BATCH, BATCH, round_trip)
    assert pacer.backlog and pacer.receives == 0
    return pacer


# -- ReceivePacer -------------------------------------------------------------------


def test_an_idle_queue_gets_one_long_poll_at_a_time():
    # Given a fresh pacer, for a worker of eight slots
    pacer = ReceivePacer(batch_size=BATCH, slots=8)
    # Then it asks for one receive of a whole batch, and no second one while
    # that long poll is out
    assert ramp(pacer) == [BATCH]
    # When the poll comes back empty after waiting 20 s, or short
    for got in (0, 3):
        pacer.finished(BATCH, got, 20.0)
        # Then there is no backlog: again one long poll, and only one
        assert not pacer.backlog
        assert ramp(pacer) == [BATCH]


def test_a_backlog_of_fast_tasks_keeps_several_receives_in_flight():
    # Given a backlog of 1 ms tasks and a 20 ms round trip: eight slots
    # start 160 messages per round trip, far more than one batch
    pacer = backlogged(slots=8, task_seconds=0.001)
    # Then receives are kept in flight up to the pacer's ceiling
    assert ramp(pacer) == [BATCH] * MAX_RECEIVES_IN_FLIGHT
    # And one coming back full makes room for exactly one more
    pacer.finished(BATCH, BATCH, ROUND_TRIP)
    assert ramp(pacer, unstarted=BATCH) == [BATCH]


def test_receives_in_flight_scale_with_concurrency():
    # Given the same backlog, tasks and round trip at several concurrencies
    in_flight = {slots: len(ramp(backlogged(slots, task_seconds=0.001))) for slots in (1, 2, 4, 8)}
    # Then more slots keep more receives in flight: what they start in one
    # round trip, in batches, plus one on its way (up to the ceiling)
    assert in_flight == {1: 3, 2: 5, 4: MAX_RECEIVES_IN_FLIGHT, 8: MAX_RECEIVES_IN_FLIGHT}
    wanted = ReceivePacer(batch_size=BATCH, slots=1).wanted_in_flight
    assert wanted(task_seconds=0.001, round_trip=ROUND_TRIP) == 3
    # And so does a longer round trip (another region, a slow network)
    assert wanted(task_seconds=0.001, round_trip=0.005) == 2
    assert wanted(task_seconds=0.001, round_trip=0.06) == 7


def test_slow_tasks_need_few_receives():
    # Given a backlog of 1 s tasks on eight slots: a round trip is nothing
    # against them
    pacer = backlogged(slots=8, task_seconds=1.0)
    # Then one receive is enough to keep every slot busy...
    assert ramp(pacer) == [BATCH]
    # ...and none while the messages in hand cover the slots
    pacer.finished(BATCH, BATCH, ROUND_TRIP)
    assert ramp(pacer, unstarted=9) == []
    assert ramp(pacer, unstarted=8) == [BATCH]


def test_max_tasks_caps_what_is_received():
    # Given a worker that may run three more tasks (max_tasks)
    pacer = backlogged(slots=8, task_seconds=0.001)
    # Then it asks for three, and no more once three are on their way
    assert ramp(pacer, remaining=3) == [3]
    pacer.finished(3, 3, ROUND_TRIP)
    assert ramp(pacer, remaining=0) == []


def test_only_a_full_receive_counts_as_a_round_trip():
    # Given a pacer that measured a 20 ms round trip under a backlog
    pacer = backlogged(slots=8, task_seconds=0.001)
    # When a long poll comes back short after waiting 20 s
    pacer.started(BATCH)
    pacer.finished(BATCH, 2, 20.0)
    # Then that wait is not taken for a round trip
    assert pacer.round_trip == pytest.approx(ROUND_TRIP)


# -- FlushPolicy --------------------------------------------------------------------


def test_a_full_batch_of_deletes_goes_out_at_once():
    policy = FlushPolicy()
    assert policy.due(pending=10, waited=0.0, quiet=0.0)
    assert policy.due(pending=25, waited=0.0, quiet=0.0)


def test_a_partial_batch_waits_while_more_keeps_coming():
    policy = FlushPolicy(delay_seconds=0.05, max_delay_seconds=1.0)
    # More came 10 ms ago: wait, even with the oldest 0.5 s old (tasks that
    # finish every 30 ms fill the batch instead of one delete per task)
    assert not policy.due(pending=3, waited=0.5, quiet=0.01)
    assert policy.wait_seconds(pending=3, waited=0.5, quiet=0.01) == pytest.approx(0.04)
    # Nothing more for 50 ms: send what there is
    assert not policy.due(pending=3, waited=0.049, quiet=0.049)
    assert policy.due(pending=3, waited=0.05, quiet=0.05)
    # The oldest waited a second: send it, whatever keeps coming
    assert policy.due(pending=9, waited=1.0, quiet=0.0)
    assert policy.wait_seconds(pending=9, waited=0.99, quiet=0.0) == pytest.approx(0.01)
    # Nothing pending: never due, and a flusher only sleeps
    assert not policy.due(pending=0, waited=60.0, quiet=60.0)
    assert policy.wait_seconds(pending=0, waited=0.0, quiet=0.0) == 0.1


def test_a_short_lease_shortens_the_longest_wait_of_a_delete():
    # A finished message may have half a lease left: its delete goes out
    # within a quarter of one
    assert FlushPolicy.for_lease(2).max_delay_seconds == 0.5
    assert FlushPolicy.for_lease(30).max_delay_seconds == 1.0
    assert FlushPolicy.for_lease(None).max_delay_seconds == 1.0


# -- Picker -------------------------------------------------------------------------


@dataclass
class Lane:
    """What the picker sees of a queue."""

    weight: int = 1
    has_work: bool = True
    came_back_empty: bool = False


def picks(picker: Picker, lanes: list[Lane], count: int) -> Counter[int | None]:
    return Counter(picker.pick(lanes) for _ in range(count))


def test_weighted_starts_follow_the_weights():
    # Given three queues with a backlog each, weighted 5, 3 and 2
    lanes = [Lane(5), Lane(3), Lane(2)]
    # Then over many picks each gets its share exactly...
    assert picks(Picker("weighted"), lanes, 1000) == {0: 500, 1: 300, 2: 200}
    # ...in every round of ten, interleaved (smooth): no queue is picked
    # more than twice in a row, so none waits a whole round
    picker = Picker("weighted")
    order = [picker.pick(lanes) for _ in range(100)]
    for start in range(0, 100, 10):
        assert Counter(order[start : start + 10]) == {0: 5, 1: 3, 2: 2}
    assert not any(order[n] == order[n + 1] == order[n + 2] for n in range(98)), order


def test_an_empty_queue_gives_its_share_to_the_others():
    lanes = [Lane(5), Lane(3, has_work=False), Lane(2)]
    assert picks(Picker("weighted"), lanes, 700) == {0: 500, 2: 200}
    assert picks(Picker("weighted"), [Lane(has_work=False)], 5) == {None: 5}


def test_strict_order_starts_a_later_queue_only_when_earlier_ones_are_drained():
    picker = Picker("strict")
    # While the first queue has work, it always goes first
    assert picks(picker, [Lane(), Lane()], 50) == {0: 50}
    # A first queue with nothing buffered but not seen empty holds the rest
    assert picker.pick([Lane(has_work=False), Lane()]) is None
    assert not picker.may_start([Lane(has_work=False), Lane()], 1)
    # Once it came back empty, the next one may start
    drained = Lane(has_work=False, came_back_empty=True)
    assert picker.pick([drained, Lane()]) == 1
    assert picker.pick([drained, drained, Lane()]) == 2


def test_an_unknown_priority_is_refused():
    with pytest.raises(ValueError, match="weighted or strict"):
        Picker("random")


# -- Inflight -----------------------------------------------------------------------


class Clock:
    """``time.monotonic`` for ``inflight``, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(inflight, "time", clock)
    return clock


def message(n: int) -> Received:
    return Received(body="{}", message_id=f"m{n}", receipt=f"r{n}")


def test_a_lease_is_due_for_extension_at_half_its_length(clock):
    # Given two messages held on a 30 s lease, one received 10 s later
    held = Inflight()
    held.hold([message(1)])
    clock.now += 10
    held.hold([message(2)])
    # Then each is due half a lease after its receive, and then half a lease
    # after its extension
    clock.now += 4.9
    assert held.due(30) == []
    clock.now += 0.1
    assert held.due(30) == [message(1)]
    assert held.due(30) == []  # marked renewed
    clock.now += 10
    assert held.due(30) == [message(2)]
    clock.now += 5
    assert held.due(30) == [message(1)]
    # And a message forgotten (settled, released) is no longer extended
    held.forget([message(2)])
    clock.now += 15
    assert held.due(30) == [message(1)]
    assert held.messages() == [message(1)]
    assert len(held) == 1


def test_a_failed_extension_is_tried_again_well_before_the_lease_ends(clock):
    # Given a message held on a 30 s lease (it ends at 30 s)
    held = Inflight()
    held.hold([message(1)])
    ends = clock.now + 30
    # When its extension at 15 s fails
    clock.now += 15
    assert held.due(30) == [message(1)]
    held.retry_soon([message(1)], 30)
    # Then it is tried again a quarter lease later (22.5 s), not at 30 s
    clock.now += 7.4
    assert held.due(30) == []
    clock.now += 0.1
    assert held.due(30) == [message(1)]
    # And when that fails too, halfway to the end of the lease still running
    # (26.25 s, then 28.125 s), not a quarter lease later (the very end)
    start = ends - 30
    for expected in (26.25, 28.125):
        held.retry_soon([message(1)], 30)
        clock.now = start + expected - 0.01
        assert held.due(30) == []
        clock.now = start + expected + 0.001
        assert held.due(30) == [message(1)]
    # (and never more often than every sixteenth of a lease, lease over or not)
    held.retry_soon([message(1)], 30)
    tried = clock.now
    clock.now = tried + 30 / 16 - 0.01
    assert held.due(30) == []
    clock.now = tried + 30 / 16 + 0.001
    assert held.due(30) == [message(1)]
    # And once one succeeds, the next is due half a lease after it
    renewed = clock.now
    clock.now = renewed + 14.9
    assert held.due(30) == []
    clock.now = renewed + 15
    assert held.due(30) == [message(1)]


def test_retry_soon_leaves_a_message_settled_meanwhile_alone(clock):
    held = Inflight()
    held.hold([message(1)])
    clock.now += 15
    due = held.due(30)
    held.forget(due)  # settled while its extension was on its way
    held.retry_soon(due, 30)
    assert held.messages() == []
