"""``alligator stats``: how deep a queue is, once or every few seconds.

Example:
    $ alligator stats sqs://us-east-1/emails --watch 5
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

#: ANSI: cursor home, clear screen; a watched display is redrawn in place.
CLEAR_SCREEN = "\x1b[H\x1b[2J"


class StatsReader:
    """Reads a queue's ``QueueStats``, plus the oldest message's age from
    CloudWatch where the backend cannot tell it (SQS).

    Example:
        >>> reader = StatsReader(open_backend(dsn))
        >>> reader.read()["visible"]
        12
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self._cloudwatch: Any = None

    def read(self) -> dict[str, Any]:
        """One report, JSON-ready: ``queue``, ``time``, ``visible``,
        ``in_flight``, ``delayed``, ``dlq_depth``, ``oldest_age_seconds``
        (``None`` when unknown) and ``oldest_age_note`` (where the age came
        from, or why it is unknown)."""
        stats = self.backend.stats()
        age, note = stats.oldest_age_seconds, "from the queue itself"
        if age is None:
            age, note = self._oldest_age()
        return {
            "queue": self.backend.queue_name,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "visible": stats.visible,
            "in_flight": stats.in_flight,
            "delayed": stats.delayed,
            "dlq_depth": stats.dlq_depth,
            "oldest_age_seconds": None if age is None else round(age, 1),
            "oldest_age_note": note,
        }

    def _oldest_age(self) -> tuple[float | None, str]:
        settings = getattr(self.backend, "settings", None)
        if settings is None:
            return None, "this backend does not report it"
        if self._cloudwatch is None:
            from ..sqs.cloudwatch import OldestAge

            self._cloudwatch = OldestAge(settings)
        age: float | None
        age, note = self._cloudwatch.read()
        return age, note

    def close(self) -> None:
        """Close the CloudWatch client, if one was made."""
        if self._cloudwatch is not None:
            self._cloudwatch.close()


def render_text(report: dict[str, Any]) -> str:
    """The report for people: one figure a line."""
    dlq = report["dlq_depth"]
    age = report["oldest_age_seconds"]
    lines = [
        f"queue       {report['queue']}   ({report['time']})",
        f"visible     {report['visible']}",
        f"in flight   {report['in_flight']}",
        f"delayed     {report['delayed']}",
        f"DLQ depth   {'n/a (no dead-letter queue)' if dlq is None else dlq}",
        f"oldest age  {'n/a' if age is None else human_seconds(age)}"
        f"   ({report['oldest_age_note']})",
    ]
    return "\n".join(lines)


def human_seconds(seconds: float) -> str:
    """``42 s``, ``5 min 3 s``, ``2 h 4 min``, ``3 d 2 h``."""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.0f} s"
    units = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    parts = []
    for name, size in units:
        if whole >= size or parts:
            parts.append(f"{whole // size} {name}")
            whole %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def show(
    reader: StatsReader,
    *,
    as_json: bool,
    watch: float | None,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    times: int | None = None,
) -> int:
    """Print the stats once, or every ``watch`` seconds until Ctrl-C.

    On a terminal a watched display is redrawn in place; anywhere else each
    refresh is appended (a block of text, or one JSON object a line), so
    the output can be logged or piped to ``jq``.

    Args:
        reader: where the figures come from.
        as_json: one JSON object per report instead of text.
        watch: seconds between refreshes; ``None`` prints once.
        out: where to print (stdout).
        sleep, times: for tests: the pause, and how many reports to print.
    """
    out = out or sys.stdout
    redraw = watch is not None and not as_json and out.isatty()
    printed = 0
    try:
        while True:
            report = reader.read()
            text = json.dumps(report) if as_json else render_text(report)
            if redraw:
                text = CLEAR_SCREEN + text + f"\n\nevery {watch:g} s; Ctrl-C stops"
            elif watch is not None and not as_json and printed:
                text = "\n" + text
            print(text, file=out, flush=True)
            printed += 1
            if watch is None or (times is not None and printed >= times):
                return 0
            sleep(watch)
    except KeyboardInterrupt:
        return 0
    finally:
        reader.close()
