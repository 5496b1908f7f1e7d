"""The local scheduler on an injected clock: on time, once, no catch-up.

The clock is a value the test moves; nothing sleeps and nothing measures
durations. Tasks go to real queues (locmem://, sqlite://, moto's SQS) and
are run with `drain`, the worker's own per-message path.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from alligator import Gator, Schedule
from alligator.schedules.local import RETRY_SECONDS, Scheduler
from alligator.testing import drain, make_queue
from tests import schedule_tasks

START = datetime(2026, 12, 1, 0, 3, tzinfo=UTC)


class FakeClock:
    """Time moves only when the test (or a wait) moves it."""

    def __init__(self, now: datetime, *, stop_after_waits: int | None = None) -> None:
        self.current = now
        self.waits: list[float] = []
        self.stop_after_waits = stop_after_waits

    def now(self) -> datetime:
        return self.current

    def wait(self, seconds: float, stop: threading.Event) -> None:
        self.waits.append(seconds)
        self.current += timedelta(seconds=seconds)
        if self.stop_after_waits is not None and len(self.waits) >= self.stop_after_waits:
            stop.set()

    def at(self, hour: int, minute: int, second: int = 0) -> datetime:
        self.current = START.replace(hour=hour, minute=minute, second=second)
        return self.current


def poll_schedule() -> Schedule:
    return Schedule("poll", "rate(5 minutes)", schedule_tasks.poll, "support")


def test_fires_on_time_and_the_worker_runs_it():
    # Given a 5-minute schedule, started at 00:03 on an in-memory queue
    gator = Gator("locmem://")
    clock = FakeClock(START)
    scheduler = Scheduler(gator, [poll_schedule()], clock=clock)
    scheduler.start()
    # When the clock is just before, then at, the firing
    before = scheduler.step(clock.at(0, 4, 59))
    on_time = scheduler.step(clock.at(0, 5))
    # Then nothing is sent early, and the firing is sent at its time
    assert before == []
    assert [f.task.task_id for f in on_time] == ["poll@2026-12-01T00:05:00Z"]
    # And a worker runs it
    [task] = drain(gator)
    assert task.task_id == "poll@2026-12-01T00:05:00Z"
    assert task.result == 10


def test_never_fires_one_firing_twice():
    # Given a scheduler that has sent the 00:05 firing
    gator = Gator("locmem://")
    clock = FakeClock(START)
    scheduler = Scheduler(gator, [poll_schedule()], clock=clock)
    scheduler.start()
    scheduler.step(clock.at(0, 5))
    # When it steps again in the same instant, a little later, and after
    # the wall clock jumped back
    again = scheduler.step(clock.at(0, 5))
    later = scheduler.step(clock.at(0, 9, 59))
    back = scheduler.step(clock.at(0, 4))
    replay = scheduler.step(clock.at(0, 5, 30))
    # Then nothing is sent again; the next firing comes at 00:10
    assert again == later == back == replay == []
    assert gator.len() == 1
    [nxt] = scheduler.step(clock.at(0, 10))
    assert nxt.task.task_id == "poll@2026-12-01T00:10:00Z"


def test_no_catch_up_burst_after_a_stall():
    # Given a scheduler whose process was suspended from 00:04 to 01:02
    gator = Gator("locmem://")
    clock = FakeClock(START)
    scheduler = Scheduler(gator, [poll_schedule()], clock=clock)
    scheduler.start()
    scheduler.step(clock.at(0, 4))
    # When it wakes
    firings = scheduler.step(clock.at(1, 2))
    # Then it sends one task, the latest firing due, and skips the 11 before
    assert [(f.task.task_id, f.skipped) for f in firings] == [("poll@2026-12-01T01:00:00Z", 11)]
    assert gator.len() == 1


def test_firings_missed_while_down_are_not_made_up(tmp_path):
    # Given a scheduler that ran until 00:06 on a sqlite queue, then stopped
    dsn = f"sqlite://{tmp_path / 'q.db'}"
    first = Scheduler(Gator(dsn), [poll_schedule()], clock=FakeClock(START))
    first.start()
    first.step(START.replace(minute=5))
    # When a new one starts at 00:16, after the 00:10 and 00:15 firings
    clock = FakeClock(START.replace(minute=16))
    second = Scheduler(Gator(dsn), [poll_schedule()], clock=clock)
    second.start()
    missed = second.step()
    # Then it sends nothing until its own first firing, 00:20
    assert missed == []
    [due] = second.step(clock.at(0, 20))
    assert due.task.task_id == "poll@2026-12-01T00:20:00Z"
    assert [t.task_id for t in drain(Gator(dsn))] == [
        "poll@2026-12-01T00:05:00Z",
        "poll@2026-12-01T00:20:00Z",
    ]


def test_run_waits_for_the_next_firing():
    # Given a 5-minute rate and a clock 10 s before a firing
    gator = Gator("locmem://")
    clock = FakeClock(datetime(2026, 12, 1, 0, 4, 50, tzinfo=UTC), stop_after_waits=2)
    # When it runs, Then the first wait ends at the firing, which is sent
    Scheduler(gator, [poll_schedule()], clock=clock).run(threading.Event())
    assert clock.waits == [10.0, 30.0]
    assert gator.len() == 1


def test_run_waits_until_each_firing_on_the_clock():
    # Given a nightly cron in Paris and a 5-minute rate, and a clock that
    # stops the loop after a few waits
    gator = Gator("locmem://")
    nightly = Schedule("nightly", "cron(0 2 * * ? *)", schedule_tasks.report, "sales",
                       timezone="Europe/Paris")  # fmt: skip
    clock = FakeClock(datetime(2026, 12, 1, 0, 50, tzinfo=UTC), stop_after_waits=31)
    fired = []
    scheduler = Scheduler(gator, [nightly, poll_schedule()], clock=clock, on_fire=fired.append)
    # When it runs
    scheduler.run(threading.Event())
    # Then it waits in steps of at most 30 s that land exactly on each
    # firing: 00:55, 01:00 (both), 01:05
    assert clock.waits == [30.0] * 31
    assert [f.task.task_id for f in fired] == [
        "poll@2026-12-01T00:55:00Z",
        "nightly@2026-12-01T01:00:00Z",
        "poll@2026-12-01T01:00:00Z",
        "poll@2026-12-01T01:05:00Z",
    ]
    assert {t.task_id: t.result for t in drain(gator)}["nightly@2026-12-01T01:00:00Z"] == (
        "sales report"
    )


def test_an_idle_scheduler_waits_in_short_steps():
    # Given only an at() that has passed
    gator = Gator("locmem://")
    past = Schedule("once", "at(2026-01-01T00:00:00)", schedule_tasks.report, "x")
    clock = FakeClock(START, stop_after_waits=2)
    # When it runs, Then it sends nothing and waits at most 30 s at a time
    Scheduler(gator, [past], clock=clock).run(threading.Event())
    assert clock.waits == [30.0, 30.0]
    assert gator.len() == 0


def test_a_failed_enqueue_is_retried_not_lost(sqs_endpoint, aws):
    # Given a schedule for an SQS queue that does not exist yet
    dsn = make_queue(sqs_endpoint)
    name = dsn.split("/")[3].split("?")[0]
    aws.delete_queue(QueueUrl=aws.get_queue_url(QueueName=name)["QueueUrl"])
    gator = Gator(dsn)
    clock = FakeClock(START)
    scheduler = Scheduler(gator, [poll_schedule()], clock=clock)
    scheduler.start()
    # When the firing is due
    [failed] = scheduler.step(clock.at(0, 5))
    # Then it is reported as not sent, and held back for a few seconds
    assert failed.task is None and failed.error is not None
    assert scheduler.step(clock.at(0, 5, 1)) == []
    # And once the queue is back, the same firing is sent, once
    aws.create_queue(QueueName=name)
    [sent] = scheduler.step(clock.current + timedelta(seconds=RETRY_SECONDS))
    assert sent.task.task_id == "poll@2026-12-01T00:05:00Z"
    assert [t.task_id for t in drain(gator)] == ["poll@2026-12-01T00:05:00Z"]


def test_schedules_must_have_distinct_names():
    with pytest.raises(Exception, match="twice"):
        Scheduler(Gator("locmem://"), [poll_schedule(), poll_schedule()])


def test_the_local_scheduler_signs_like_any_producer(monkeypatch):
    # Given a signing key in the environment
    monkeypatch.setenv("ALLIGATOR_SIGNING_KEY", "k-2026")
    gator = Gator("locmem://")
    clock = FakeClock(START)
    scheduler = Scheduler(gator, [poll_schedule()], clock=clock)
    scheduler.start()
    # When a firing is enqueued
    scheduler.step(clock.at(0, 5))
    # Then a worker that checks signatures runs it (an unsigned one would be poison)
    [task] = drain(gator, signing_key="k-2026")
    assert task.task_id == "poll@2026-12-01T00:05:00Z"
