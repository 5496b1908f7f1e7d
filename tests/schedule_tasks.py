"""Importable task functions and schedule lists for the periodic-task tests."""

from __future__ import annotations

from pathlib import Path

from alligator import Schedule

calls: list[tuple] = []


def report(kind: str) -> str:
    """The nightly report of the docs' worked example."""
    calls.append(("report", kind))
    return f"{kind} report"


def poll(mailbox: str, *, limit: int = 10) -> int:
    """The 5-minute poll of the docs' worked example."""
    calls.append(("poll", mailbox, limit))
    return limit


def touch(path: str, label: str) -> str:
    """Write ``label`` to ``path``: a worker in another process ran it."""
    Path(path).write_text(label)
    return label


SCHEDULES = [
    Schedule("nightly-report", "cron(0 2 * * ? *)", report, "sales", timezone="Europe/Paris"),
    Schedule("poll-inbox", "rate(5 minutes)", poll, "support", limit=50, retries=2),
]
ONE_SCHEDULE = SCHEDULES[:1]
NOT_A_LIST = "cron(0 2 * * ? *)"
NOT_SCHEDULES = [report]
TWICE = [SCHEDULES[0], SCHEDULES[0]]
