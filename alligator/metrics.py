"""Task metrics: counts and timings per outcome, and CloudWatch Embedded
Metric Format (EMF) lines.

One ``Metrics`` collects what the outcome log lines say, as numbers: how many
tasks ended in each outcome (success, retry, dead, deferred, duplicate...),
how long they ran and how long they waited in the queue. Feed it from the
worker's ``on_outcome`` hook or from the Lambda handler.

EMF is a JSON log line that CloudWatch Logs turns into metrics by itself: no
``PutMetricData`` call, no extra permission, nothing to batch or retry. On
Lambda, ``ALLIGATOR_METRICS=emf`` (alligator's addition to the contract's
variables) makes the handler print these lines to stdout for each
invocation.

Example:
    >>> metrics = Metrics(queue="emails")
    >>> Worker(gator, on_outcome=metrics.record).run_forever()
    >>> metrics.counts()
    {'success': 41, 'retry': 1}
"""

from __future__ import annotations

import copy
import json
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ConfigurationError
from .outcome import Outcome

#: The CloudWatch namespace of every metric.
NAMESPACE = "alligator"
#: The dimensions of every metric: the queue, and the outcome's label.
DIMENSIONS = ("queue", "outcome")
#: An EMF metric takes at most 100 values in one document.
#: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
MAX_EMF_VALUES = 100
#: Timing samples kept per outcome. A long-running worker that never drains
#: keeps counting and summing past it, it only stops keeping samples.
MAX_SAMPLES = 10_000
#: Values of ``ALLIGATOR_METRICS``.
FORMATS = ("emf",)


def metrics_format(value: str | None = None) -> str | None:
    """The metrics output: argument, else ``ALLIGATOR_METRICS``; ``None`` for
    none.

    Raises:
        ConfigurationError: a value other than ``emf`` (or empty).
    """
    chosen = (value if value is not None else os.environ.get("ALLIGATOR_METRICS", "")).strip()
    if not chosen:
        return None
    if chosen.lower() not in FORMATS:
        raise ConfigurationError(
            f"ALLIGATOR_METRICS must be emf (or unset for no metrics), not {chosen!r}"
        )
    return chosen.lower()


@dataclass
class Timing:
    """Count, total, min, max and (up to ``MAX_SAMPLES``) the samples, in ms."""

    count: int = 0
    total_ms: float = 0.0
    min_ms: float | None = None
    max_ms: float | None = None
    samples: list[float] = field(default_factory=list)

    def add(self, ms: float) -> None:
        self.count += 1
        self.total_ms += ms
        self.min_ms = ms if self.min_ms is None else min(self.min_ms, ms)
        self.max_ms = ms if self.max_ms is None else max(self.max_ms, ms)
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(ms)

    @property
    def mean_ms(self) -> float | None:
        return self.total_ms / self.count if self.count else None


@dataclass
class OutcomeStats:
    """What happened to the tasks of one outcome."""

    tasks: int = 0
    duration: Timing = field(default_factory=Timing)
    queued: Timing = field(default_factory=Timing)


class Metrics:
    """Counters and timings per outcome; thread-safe, so one instance can
    serve every runner thread of a worker.

    Example:
        >>> metrics = Metrics(queue="emails")
        >>> worker = Worker(gator, on_outcome=metrics.record)
        >>> worker.check_and_run_task()
        >>> metrics.snapshot()["success"].duration.mean_ms
        12.5

    Args:
        queue: the ``queue`` dimension of the EMF lines.
    """

    def __init__(self, queue: str = "") -> None:
        self.queue = queue
        self._lock = threading.Lock()
        self._stats: dict[str, OutcomeStats] = {}

    def __call__(self, outcome: Outcome) -> None:
        """The same as ``record``, so the instance itself is a hook."""
        self.record(outcome)

    def record(self, outcome: Outcome) -> None:
        """Count one outcome, with its run time and its time in the queue."""
        queued = outcome.queued_for
        self.add(
            outcome.label,
            duration_ms=outcome.duration * 1000,
            queued_ms=None if queued is None else queued * 1000,
        )

    def add(
        self,
        outcome: str,
        count: int = 1,
        *,
        duration_ms: float | None = None,
        queued_ms: float | None = None,
    ) -> None:
        """Count ``count`` tasks under an outcome label of your own (the
        Lambda handler counts records it did not start as ``unstarted``)."""
        with self._lock:
            stats = self._stats.setdefault(outcome, OutcomeStats())
            stats.tasks += count
            if duration_ms is not None:
                stats.duration.add(duration_ms)
            if queued_ms is not None:
                stats.queued.add(queued_ms)

    def counts(self) -> dict[str, int]:
        """Tasks per outcome label."""
        with self._lock:
            return {label: stats.tasks for label, stats in self._stats.items()}

    def snapshot(self) -> dict[str, OutcomeStats]:
        """A copy of everything counted so far, by outcome label."""
        with self._lock:
            return copy.deepcopy(self._stats)

    def drain(self) -> dict[str, OutcomeStats]:
        """Everything counted so far, and start again from zero (for a
        process that emits its metrics every minute)."""
        with self._lock:
            stats, self._stats = self._stats, {}
        return stats

    def emf_lines(self, *, drain: bool = True, timestamp_ms: int | None = None) -> list[str]:
        """The EMF lines for everything counted (and, by default, start
        again from zero, so no task is reported twice)."""
        stats = self.drain() if drain else self.snapshot()
        return emf_lines(self.queue, stats, timestamp_ms=timestamp_ms)


def emf_line(
    queue: str,
    outcome: str,
    *,
    tasks: int | None = None,
    duration_ms: Sequence[float] = (),
    queued_ms: Sequence[float] = (),
    timestamp_ms: int | None = None,
) -> str:
    """One CloudWatch Embedded Metric Format document, as one JSON line.

    Namespace ``alligator``, dimensions ``queue`` and ``outcome``; metrics
    ``tasks`` (Count), ``duration_ms`` and ``queued_ms`` (Milliseconds, as
    arrays of values so CloudWatch keeps their distribution: p50, p99).
    A metric with no value is left out of the document.

    Example:
        >>> print(emf_line("emails", "success", tasks=2, duration_ms=[12.5, 3.1]))
        {"_aws": {"Timestamp": ..., "CloudWatchMetrics": [{"Namespace": "alligator", ...

    Raises:
        ValueError: more than ``MAX_EMF_VALUES`` values for one metric.
    """
    metrics: list[dict[str, str]] = []
    values: dict[str, Any] = {}
    if tasks is not None:
        metrics.append({"Name": "tasks", "Unit": "Count"})
        values["tasks"] = tasks
    for name, samples in (("duration_ms", duration_ms), ("queued_ms", queued_ms)):
        if not samples:
            continue
        if len(samples) > MAX_EMF_VALUES:
            raise ValueError(
                f"an EMF metric takes at most {MAX_EMF_VALUES} values, not {len(samples)}"
            )
        metrics.append({"Name": name, "Unit": "Milliseconds"})
        values[name] = [round(sample, 3) for sample in samples]
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": [list(DIMENSIONS)], "Metrics": metrics}
            ],
        },
        "queue": queue,
        "outcome": outcome,
        **values,
    }
    return json.dumps(document, separators=(",", ":"))


def emf_lines(
    queue: str, stats: Mapping[str, OutcomeStats], *, timestamp_ms: int | None = None
) -> list[str]:
    """The EMF lines for counted outcomes: one per outcome, more when an
    outcome has over ``MAX_EMF_VALUES`` timings (the count goes in the
    first, so a Sum of ``tasks`` stays exact).

    An EMF document holds one value per dimension, so outcomes cannot share
    a line.
    """
    lines = []
    for outcome, stat in sorted(stats.items()):
        durations, queued = stat.duration.samples, stat.queued.samples
        chunks = max(1, math.ceil(max(len(durations), len(queued)) / MAX_EMF_VALUES))
        for index in range(chunks):
            window = slice(index * MAX_EMF_VALUES, (index + 1) * MAX_EMF_VALUES)
            lines.append(
                emf_line(
                    queue,
                    outcome,
                    tasks=stat.tasks if index == 0 else None,
                    duration_ms=durations[window],
                    queued_ms=queued[window],
                    timestamp_ms=timestamp_ms,
                )
            )
    return lines
