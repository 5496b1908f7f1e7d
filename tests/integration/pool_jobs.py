"""Task functions for the pool and time-limit tests (``test_pools.py``,
``test_time_limits.py``): tasks that crash their process, hang, spin,
grow, or say which process ran them.

Like ``jobs``, every task reports through a file, one line per event
(``jobs.append``: durable before it returns, so a line written just before a
crash is there after it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from tests.integration.jobs import append, read

#: What ``grow`` keeps alive in its process, so the child's resident memory
#: stays up after the task returns (a leak, as far as the worker can tell).
_kept: list[bytes] = []


def pid(path: str, key: str) -> int:
    """``KEY PID``: which process ran the task."""
    append(path, f"{key} {os.getpid()}")
    return os.getpid()


def segfault(path: str, key: str) -> None:
    """``KEY PID``, then die of SIGSEGV, as a C extension bug would."""
    append(path, f"{key} {os.getpid()}")
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(30)  # (the signal is delivered before this returns)


def segfault_first_run(path: str, key: str) -> int:
    """``KEY PID``; die of SIGSEGV on the first run of ``key`` only."""
    first = key not in [line.split()[0] for line in read(path)]
    append(path, f"{key} {os.getpid()}")
    if first:
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(30)
    return os.getpid()


def wait_for_file(path: str, key: str, flag: str) -> str:
    """``start KEY``, wait until the file ``flag`` exists, ``end KEY``: a
    task the test lets finish when it chooses."""
    append(path, f"start {key}")
    while not os.path.exists(flag):
        time.sleep(0.02)
    append(path, f"end {key}")
    return key


def sleep_first_run(path: str, key: str, seconds: float) -> int:
    """``start KEY PID`` then, on the first run of ``key`` only, sleep
    ``seconds`` (for a test that kills the process meanwhile); ``end KEY PID``."""
    first = f"start {key}" not in [line.rsplit(" ", 1)[0] for line in read(path)]
    append(path, f"start {key} {os.getpid()}")
    if first:
        time.sleep(seconds)
    append(path, f"end {key} {os.getpid()}")
    return os.getpid()


def meet(path: str, key: str, other: str, timeout: float = 30.0) -> str:
    """``start KEY``, then wait (up to ``timeout``) for ``other`` to start
    too: ``met KEY`` if it did, ``alone KEY`` if not. Two runs that both
    say ``met`` ran at the same time, whatever the machine's speed."""
    append(path, f"start {key}")
    deadline = time.monotonic() + timeout
    while f"start {other}" not in read(path):
        if time.monotonic() > deadline:
            append(path, f"alone {key}")
            return key
        time.sleep(0.02)
    append(path, f"met {key}")
    return key


def spin(path: str, key: str, seconds: float) -> str:
    """``start KEY``, then a pure-Python busy loop for ``seconds``, then
    ``end KEY``: a time limit stops it at its next instruction."""
    append(path, f"start {key}")
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        count += 1
    append(path, f"end {key}")
    return key


def block(path: str, key: str, seconds: float) -> str:
    """``start KEY``, then one ``time.sleep(seconds)``: a single C call
    that no exception raised from another thread can interrupt."""
    append(path, f"start {key}")
    time.sleep(seconds)
    append(path, f"end {key}")
    return key


async def async_sleep(path: str, key: str, seconds: float) -> str:
    """A coroutine: ``start KEY``, ``await asyncio.sleep(seconds)``, ``end KEY``."""
    append(path, f"start {key}")
    await asyncio.sleep(seconds)
    append(path, f"end {key}")
    return key


def grow(path: str, key: str, mib: int) -> int:
    """``KEY PID``, and keep ``mib`` MiB (written, so resident) alive in
    this process after the task returns."""
    append(path, f"{key} {os.getpid()}")
    _kept.append(b"\x01" * (mib * 1024 * 1024))
    return os.getpid()
