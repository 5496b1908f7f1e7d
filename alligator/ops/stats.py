"""``alligator stats``: how deep some queues are, once or every few seconds.

Example:
    $ alligator stats sqs://us-east-1/emails sqs://us-east-1/orders --watch 5
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from .. import _signals
from .table import DIM, RED, Cell, render, wants_colour

#: ANSI: cursor home, clear screen; a watched display is redrawn in place.
CLEAR_SCREEN = "\x1b[H\x1b[2J"


class StatsReader:
    """Reads a queue's ``QueueStats``, plus the oldest message's age from
    CloudWatch where the backend cannot tell it (SQS).

    Example:
        >>> reader = StatsReader(open_backend(dsn))
        >>> reader.read()["visible"]
        12

    Args:
        backend: the queue.
        age_every_seconds: ask CloudWatch at most this often and reuse its
            last answer in between (SQS publishes one datapoint a minute,
            so a dashboard refreshing every few seconds need not pay for a
            request each time); 0 asks on every read.
    """

    def __init__(self, backend: Any, *, age_every_seconds: float = 0) -> None:
        self.backend = backend
        self.age_every_seconds = age_every_seconds
        self._cloudwatch: Any = None
        self._age: tuple[float | None, str] | None = None
        self._age_read_at = 0.0

    def read(self) -> dict[str, Any]:
        """One report, JSON-ready: ``queue``, ``time``, ``visible``,
        ``in_flight``, ``delayed``, ``dlq_depth``, ``oldest_age_seconds``
        (``None`` when unknown) and ``oldest_age_note`` (where the age came
        from, or why it is unknown)."""
        stats = self.backend.stats()
        age, note = stats.oldest_age_seconds, "from the queue itself"
        if age is None:
            empty = stats.visible + stats.in_flight + stats.delayed == 0
            age, note = self._oldest_age(empty)
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

    def _oldest_age(self, empty: bool) -> tuple[float | None, str]:
        settings = getattr(self.backend, "settings", None)
        if settings is None:
            # A local queue knows its ages: none means no message. SQS's
            # counts are approximate, so there CloudWatch is asked anyway.
            return None, "the queue is empty" if empty else "this backend does not report it"
        now = time.monotonic()
        if self._age is not None and now - self._age_read_at < self.age_every_seconds:
            return self._age
        if self._cloudwatch is None:
            from ..sqs.cloudwatch import OldestAge

            self._cloudwatch = OldestAge(settings)
        self._age, self._age_read_at = self._cloudwatch.read(), now
        return self._age

    def close(self) -> None:
        """Close the CloudWatch client, if one was made."""
        if self._cloudwatch is not None:
            self._cloudwatch.close()


#: The table's columns, and which report field fills each.
COLUMNS = (
    ("QUEUE", "queue"),
    ("VISIBLE", "visible"),
    ("IN FLIGHT", "in_flight"),
    ("DELAYED", "delayed"),
    ("DLQ", "dlq_depth"),
    ("OLDEST AGE", "oldest_age_seconds"),
    ("AGE FROM", "oldest_age_note"),
)


def render_text(reports: Sequence[dict[str, Any]], *, colour: bool = False) -> str:
    """The reports for people: the time, then one aligned row per queue.

    A DLQ with messages in it is red in colour; ``-`` means the queue has
    no dead-letter queue, ``n/a`` an age nobody can tell.
    """
    rows = [_row(report) for report in reports]
    when = reports[0]["time"] if reports else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    table = render([title for title, _ in COLUMNS], rows, colour=colour, right={1, 2, 3, 4, 5})
    return f"{when}\n{table}"


def _row(report: dict[str, Any]) -> list[str | Cell]:
    dlq, age = report["dlq_depth"], report["oldest_age_seconds"]
    dlq_cell = Cell("-", DIM) if dlq is None else Cell(str(dlq), RED if dlq else "")
    return [
        report["queue"],
        str(report["visible"]),
        str(report["in_flight"]),
        str(report["delayed"]),
        dlq_cell,
        "n/a" if age is None else human_seconds(age),
        Cell(report["oldest_age_note"], DIM),
    ]


def human_seconds(seconds: float) -> str:
    """``42 s``, ``5 min 3 s``, ``2 h 4 min``, ``3 d 2 h``."""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.0f} s"
    units = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    parts: list[str] = []
    for name, size in units:
        if whole >= size or parts:
            parts.append(f"{whole // size} {name}")
            whole %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def show(
    readers: StatsReader | Sequence[StatsReader],
    *,
    as_json: bool,
    watch: float | None,
    out: TextIO | None = None,
    sleep: Callable[[float], None] | None = None,
    times: int | None = None,
) -> int:
    """Print the stats once, or every ``watch`` seconds until Ctrl-C.

    On a terminal a watched display is redrawn in place, in colour; anywhere
    else each refresh is appended (a table, or one JSON object per queue
    and line), so the output can be logged or piped to ``jq``.

    Args:
        readers: where the figures come from, one reader per queue.
        as_json: one JSON object per queue and report instead of a table.
        watch: seconds between refreshes; ``None`` prints once.
        out: where to print (stdout).
        sleep, times: for tests: the pause, and how many reports to print.
    """
    readers = [readers] if isinstance(readers, StatsReader) else list(readers)
    out = out or sys.stdout
    stopped = threading.Event()
    # Ctrl-C (or SIGTERM) ends a watch between two refreshes: a
    # ``KeyboardInterrupt`` raised in the middle of a boto3 call could leave
    # one of its locks held, and the exit then hung on it.
    signals = (
        _signals.handled(lambda *_: stopped.set())
        if watch is not None and sleep is None
        else contextlib.nullcontext()
    )
    try:
        with signals:
            _print_until(readers, stopped, as_json, watch, out, sleep or stopped.wait, times)
    except KeyboardInterrupt:
        pass
    finally:
        for reader in readers:
            reader.close()
    return 0


def _print_until(
    readers: Sequence[StatsReader],
    stopped: threading.Event,
    as_json: bool,
    watch: float | None,
    out: TextIO,
    pause: Callable[[float], object],
    times: int | None,
) -> None:
    """Print reports until ``stopped``, ``times`` of them, or once."""
    colour = wants_colour(out)
    redraw = watch is not None and not as_json and out.isatty()
    printed = 0
    while not stopped.is_set():
        reports = [reader.read() for reader in readers]
        if as_json:
            text = "\n".join(json.dumps(report) for report in reports)
        else:
            text = render_text(reports, colour=colour)
        if redraw:
            text = CLEAR_SCREEN + text + f"\n\nevery {watch:g} s; Ctrl-C stops"
        elif watch is not None and not as_json and printed:
            text = "\n" + text
        print(text, file=out, flush=True)
        printed += 1
        if watch is None or (times is not None and printed >= times):
            return
        pause(watch)
