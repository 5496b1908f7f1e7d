"""The tasks the benchmarks run. ``noop`` does nothing, so what is measured
is the queue's own cost per task (receive, decode, run, delete); ``spin``
is CPU-bound pure Python; ``stamp`` tells when the first task ran."""

from __future__ import annotations

import os
import time
from typing import Any


def noop(*args: Any, **kwargs: Any) -> None:
    """Do nothing (alligator and the raw loop call this by dotted path)."""
    return None


def spin(iterations: int) -> int:
    """Pure Python work holding the GIL throughout: a fixed amount of work
    (not a fixed time), so threads sharing one core take longer in total and
    processes on two cores do not. The benchmark sizes ``iterations`` to
    about 20 ms of CPU on the machine it runs on."""
    total = 0
    for number in range(iterations):
        total += number * number % 7
    return total


def stamp(path: str) -> None:
    """Write the time (``time.monotonic()``: one clock for every process on
    the machine) to ``path``, once: the first task's start, for start-up
    measurements. Later calls leave the file alone."""
    now = time.monotonic()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as out:
        out.write(repr(now))
