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


# -- hostile tasks (tests/integration/test_hostile_tasks.py) ---------------------


def raises(path: str, key: str, kind: str) -> None:
    """Records the run of ``key``, then raises a ``BaseException`` by name:
    ``KeyboardInterrupt``, ``SystemExit:N`` or ``CancelledError``."""
    import asyncio

    append(path, key)
    if kind == "KeyboardInterrupt":
        raise KeyboardInterrupt
    if kind.startswith("SystemExit:"):
        raise SystemExit(int(kind.split(":", 1)[1]))
    if kind == "CancelledError":
        raise asyncio.CancelledError
    raise ValueError(f"no such kind: {kind}")


async def cancelled(path: str, key: str) -> None:
    """A coroutine task that records its run, then is cancelled from inside."""
    import asyncio

    append(path, key)
    raise asyncio.CancelledError


def fail_with(path: str, key: str, text: str) -> None:
    """Records the run of ``key``, then fails with ``text`` as the error."""
    append(path, key)
    raise RuntimeError(text)


def stamp_fail(path: str, key: str) -> None:
    """``KEY UNIX_TIME`` (as ``stamp``), then fails."""
    stamp(path, key)
    raise RuntimeError(f"{key} failed")


def hook_raises(task: object, result: object) -> None:
    """An ``on_success`` hook that breaks (with a CR and an ESC in its text)."""
    raise RuntimeError("on_success broke\r\x1b[2J")


def hook_exits(task: object, result: object) -> None:
    """An ``on_success`` hook that calls ``sys.exit(1)``."""
    raise SystemExit(1)


def terminate_worker(path: str, key: str) -> str:
    """Sends SIGTERM to the worker process running it (a thread pool runs
    tasks in the worker itself), then records the run: the worker lets it
    finish and must flush its delete before it exits."""
    import signal

    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)  # the signal arrives while the task still runs
    append(path, key)
    return key
