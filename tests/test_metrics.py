"""alligator.metrics: counts and timings per outcome, and EMF lines."""

from __future__ import annotations

import json
import threading

import pytest

from alligator import Gator, Worker, metrics
from alligator.backends.base import Received
from alligator.exceptions import ConfigurationError
from alligator.metrics import Metrics, emf_line, emf_lines, metrics_format
from alligator.outcome import Action, Outcome, Reason
from tests import tasks

MESSAGE = Received(body="{}", message_id="m-1", receipt="r-1")


def outcome(action: Action, *, duration: float, queued: float | None, note: str = "") -> Outcome:
    reason = Reason(note) if note else Reason.SUCCEEDED
    return Outcome(action, MESSAGE, reason, duration=duration, queued_for=queued)


def test_outcomes_are_counted_and_timed_in_milliseconds():
    # Given
    collected = Metrics(queue="emails")
    # When
    collected.record(outcome(Action.ACK, duration=0.010, queued=2.0))
    collected.record(outcome(Action.ACK, duration=0.030, queued=None))
    collected.record(outcome(Action.RETRY, duration=0.5, queued=1.0))
    collected.record(outcome(Action.ACK, duration=0.0, queued=0.1, note="duplicate"))
    # Then
    assert collected.counts() == {"success": 2, "retry": 1, "duplicate": 1}
    success = collected.snapshot()["success"]
    assert success.duration.samples == pytest.approx([10.0, 30.0])
    assert (success.duration.min_ms, success.duration.max_ms) == pytest.approx((10.0, 30.0))
    assert success.duration.mean_ms == pytest.approx(20.0)
    # And a task with no send time has no queued time, rather than zero
    assert success.queued.samples == pytest.approx([2000.0])


def test_the_instance_is_a_worker_on_outcome_hook():
    # Given a worker reporting to a Metrics
    gator = Gator("locmem://")
    gator.task(tasks.count, "a")
    gator.task(tasks.count, "b")
    gator.task(tasks.fail)
    collected = Metrics(queue="local")
    worker = Worker(gator, on_outcome=collected, import_allow="tests")
    # When it has run everything
    while worker.check_and_run_task():
        pass
    worker.close()
    # Then every outcome was counted
    assert collected.counts() == {"success": 2, "dead": 1}
    assert collected.snapshot()["success"].queued.count == 2


def test_drain_returns_everything_and_starts_again():
    collected = Metrics()
    collected.add("unstarted", 3)
    assert collected.drain()["unstarted"].tasks == 3
    assert collected.counts() == {}


def test_recording_from_many_threads_loses_nothing():
    # Given 8 threads recording 500 outcomes each
    collected = Metrics()

    def work() -> None:
        for _ in range(500):
            collected.record(outcome(Action.ACK, duration=0.001, queued=0.001))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then
    stats = collected.snapshot()["success"]
    assert (stats.tasks, stats.duration.count, len(stats.duration.samples)) == (4000, 4000, 4000)


def test_samples_are_capped_but_counts_and_totals_are_not(monkeypatch):
    monkeypatch.setattr(metrics, "MAX_SAMPLES", 3)
    collected = Metrics()
    for ms in range(1, 6):
        collected.add("success", duration_ms=float(ms))
    timing = collected.snapshot()["success"].duration
    assert (timing.count, timing.total_ms, timing.max_ms) == (5, 15.0, 5.0)
    assert timing.samples == [1.0, 2.0, 3.0]


# ------------------------------------------------------------------------ EMF
def test_emf_line_is_a_cloudwatch_embedded_metric_format_document():
    line = emf_line(
        "emails",
        "success",
        tasks=2,
        duration_ms=[12.5, 3.0],
        queued_ms=[1000.0, 2000.0],
        timestamp_ms=1_700_000_000_000,
    )
    assert "\n" not in line
    assert json.loads(line) == {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "alligator",
                    "Dimensions": [["queue", "outcome"]],
                    "Metrics": [
                        {"Name": "tasks", "Unit": "Count"},
                        {"Name": "duration_ms", "Unit": "Milliseconds"},
                        {"Name": "queued_ms", "Unit": "Milliseconds"},
                    ],
                }
            ],
        },
        "queue": "emails",
        "outcome": "success",
        "tasks": 2,
        "duration_ms": [12.5, 3.0],
        "queued_ms": [1000.0, 2000.0],
    }


def test_emf_line_leaves_out_metrics_without_values():
    document = json.loads(emf_line("q", "unstarted", tasks=4))
    assert document["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "tasks", "Unit": "Count"}
    ]
    assert "duration_ms" not in document and "queued_ms" not in document
    assert isinstance(document["_aws"]["Timestamp"], int)


def test_emf_line_refuses_more_values_than_emf_takes():
    with pytest.raises(ValueError, match="at most 100"):
        emf_line("q", "success", tasks=101, duration_ms=[1.0] * 101)


def test_emf_lines_one_per_outcome_split_by_a_hundred_values():
    # Given 250 successes and one retry
    collected = Metrics(queue="emails")
    for _ in range(250):
        collected.add("success", duration_ms=1.0, queued_ms=2.0)
    collected.add("retry", duration_ms=5.0)
    # When
    documents = [json.loads(line) for line in collected.emf_lines()]
    # Then the retry has its line; the successes three, the count in the first
    assert [(d["outcome"], d.get("tasks"), len(d["duration_ms"])) for d in documents] == [
        ("retry", 1, 1),
        ("success", 250, 100),
        ("success", None, 100),
        ("success", None, 50),
    ]
    assert sum(d.get("tasks", 0) for d in documents) == 251
    # And the lines drained the counts, so nothing is reported twice
    assert collected.emf_lines() == []


def test_emf_lines_of_nothing_is_no_line():
    assert emf_lines("q", {}) == []


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("emf", "emf"), (" EMF ", "emf")]
)
def test_metrics_format_from_the_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("ALLIGATOR_METRICS", raising=False)
    else:
        monkeypatch.setenv("ALLIGATOR_METRICS", value)
    assert metrics_format() == expected


def test_an_unknown_metrics_format_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="ALLIGATOR_METRICS must be emf"):
        metrics_format("prometheus")
