"""The watchdog that raises ``TimeLimitExceeded`` in a thread at its limit
(``alligator/consume/timelimit.py``), raced hard: many short runs on
several threads, with limits just about their duration, so that limits
fire while their runs end. The exception must never go off outside the run
it was aimed at: not as the run is left, not after it, not in the next run.

(Before ``Watchdog.call``, a few runs in a thousand let it escape here: it
landed in ``Limit.__exit__`` before that could clear it.)
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from alligator.backends.base import Received
from alligator.consume.execute import InlineExecutor
from alligator.consume.run import Run
from alligator.consume.timelimit import WATCHDOG
from alligator.exceptions import TimeLimitExceeded
from alligator.tasks import Task

THREADS = 4
RUNS_PER_THREAD = 120
#: Each run's limit, and the range its own duration is drawn from.
LIMIT_SECONDS = 0.004
DURATIONS = (0.002, 0.006)


@pytest.fixture(autouse=True)
def _switch_threads_often() -> Iterator[None]:
    # Hand the GIL over every 0.1 ms instead of 5 ms, so the watchdog's
    # thread gets to fire in the middle of a run's last instructions.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.0001)
    yield
    sys.setswitchinterval(previous)


def work(seconds: float) -> int:
    """Pure Python for ``seconds``: a limit can land on any instruction."""
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        count += 1
    return count


def after_run() -> int:
    """Python instructions after a run, where a stray exception would land."""
    return sum(n * n for n in range(300))


def race(body) -> dict[str, int]:
    """``body(seed)`` per run on several threads; counts what it returns,
    and ``stray`` for each ``TimeLimitExceeded`` that escaped it."""
    counts: dict[str, int] = {"stray": 0}
    lock = threading.Lock()

    def thread(number: int) -> None:
        rng = random.Random(number)
        for _ in range(RUNS_PER_THREAD):
            try:
                what = body(rng)
                after_run()
            except TimeLimitExceeded:
                what = "stray"
            with lock:
                counts[what] = counts.get(what, 0) + 1

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(THREADS)]
    for each in threads:
        each.start()
    for each in threads:
        each.join(60)
    assert not any(each.is_alive() for each in threads)
    return counts


def test_a_limit_never_goes_off_after_its_run_ended():
    # Given many runs, each with a limit just about its own duration
    def body(rng: random.Random) -> str:
        value, fired = WATCHDOG.call(LIMIT_SECONDS, lambda: work(rng.uniform(*DURATIONS)))
        if fired:
            return "fired"
        assert isinstance(value, int)  # it ran to the end
        return "in time"

    # When they race their limits on four threads
    counts = race(body)
    # Then some limits fired (the race happened), and every exception the
    # watchdog raised stayed inside the run it was aimed at
    assert counts["fired"] > 0, counts
    assert counts["stray"] == 0, counts
    assert sum(counts.values()) == THREADS * RUNS_PER_THREAD


def test_inline_runs_at_their_limit_fail_with_it_and_nothing_escapes():
    # Given tasks (through the executor every thread-pool slot, child and
    # Lambda invocation uses) that take about their time limit
    executor = InlineExecutor()
    message = Received(body="", message_id="m", receipt="r")

    def body(rng: random.Random) -> str:
        task = Task()
        task.to_call(work, rng.uniform(*DURATIONS))
        run = Run(message=message, task=task, data={}, attempt=1, time_limit=LIMIT_SECONDS)
        result = executor.execute(run)
        if result.ok:
            return "ok"
        assert result.timed_out, result
        assert result.error.startswith("TimeLimitExceeded"), result
        return "timed out"

    # When they race their limits on four threads
    counts = race(body)
    # Then each run either succeeded or failed with TimeLimitExceeded, and
    # no limit went off outside its own run
    assert counts["timed out"] > 0, counts
    assert counts["stray"] == 0, counts


def test_a_limit_swallowed_once_fires_again_and_ends_the_run():
    # Given a task that swallows the first exception raised in it (as a
    # ``__del__`` or a gc callback it lands in would) and then goes on for
    # a minute
    swallowed = []

    def stubborn() -> str:
        try:
            work(60)
        except Exception as exc:  # noqa: BLE001 - what such a task does
            swallowed.append(type(exc).__name__)
        work(60)
        return "ran two minutes"

    # When it runs with a limit
    value, fired = WATCHDOG.call(0.05, stubborn)
    # Then the limit fired, was swallowed once, and its repeat ended the run
    assert fired and value is None
    assert swallowed == ["TimeLimitExceeded"]
