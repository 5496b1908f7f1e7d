"""Task functions for the integration tests.

Workers run in other processes, so every task reports through a file: one
line per event, appended with ``O_APPEND`` (a short line is written in one
``write``, so lines from concurrent runners and processes never interleave).
"""

from __future__ import annotations

import os
import time


def append(path: str, line: str) -> None:
    """Append one line to ``path`` and make it durable before returning, so a
    test reading the file after a SIGKILL sees every finished event."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: str) -> list[str]:
    """The lines of ``path``; none if it does not exist yet."""
    try:
        with open(path) as file:
            return file.read().splitlines()
    except FileNotFoundError:
        return []


def mark(path: str, key: str, seconds: float = 0.0) -> str:
    """``start KEY``, sleep, ``end KEY``, in one file: the order of the lines
    shows which runs overlapped."""
    append(path, f"start {key}")
    time.sleep(seconds)
    append(path, f"end {key}")
    return key


def stamp(path: str, key: str) -> str:
    """``KEY UNIX_TIME``: when the task ran, to compare with its due time."""
    append(path, f"{key} {time.time():.6f}")
    return key


def fail_once(path: str, key: str) -> str:
    """Fails the first run of ``key`` (in any process), then records it."""
    tries = path + ".tries"
    first = key not in read(tries)
    append(tries, key)
    if first:
        raise RuntimeError(f"{key} fails on its first run")
    append(path, key)
    return key
