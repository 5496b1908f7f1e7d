"""Importable task functions for the tests: tasks travel by dotted path."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from typing import Any

from alligator import Task

calls: Counter[str] = Counter()
lock = threading.Lock()
hook_log: list[tuple[str, object]] = []


def add(a: int, b: int) -> int:
    return a + b


def echo(*args: object, **kwargs: object) -> dict[str, object]:
    return {"args": list(args), "kwargs": kwargs}


def count(key: str) -> str:
    """Counts runs per key in this process."""
    with lock:
        calls[key] += 1
    return key


def fail(message: str = "boom") -> None:
    raise RuntimeError(message)


def fail_times(key: str, times: int) -> str:
    """Fails on the first ``times`` runs of ``key``, then works."""
    with lock:
        calls[key] += 1
        runs = calls[key]
    if runs <= times:
        raise RuntimeError(f"{key} failed on run {runs}")
    return f"{key} ok on run {runs}"


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def record(path: str, key: str, seconds: float = 0.0) -> str:
    """Appends ``key`` to ``path`` (one line per run, across processes),
    after sleeping ``seconds`` (for tests that kill a worker mid-task)."""
    with open(path + ".started", "a") as started:
        started.write(key + "\n")
    time.sleep(seconds)
    with open(path, "a") as done:
        done.write(key + "\n")
        done.flush()
        os.fsync(done.fileno())
    return key


def on_start(task: object) -> None:
    hook_log.append(("start", getattr(task, "task_id", None)))


def on_success(task: object, result: object) -> None:
    hook_log.append(("success", result))


def on_error(task: object, exc: BaseException) -> None:
    hook_log.append(("error", str(exc)))


def bump_retries(task: object, exc: BaseException) -> None:
    """1.0's documented pattern: an on_error hook that grants more retries
    (here: at least two, whatever the message said)."""
    task.retries = max(task.retries, 2)  # type: ignore[attr-defined]


class Holder:
    def method(self) -> None:
        return None


def slow_first_run(path: str, key: str, seconds: float = 60.0) -> str:
    """Sleeps ``seconds`` on the first run of ``key`` (so a test can kill the
    worker mid-task), then records the finished run in ``path``."""
    try:
        with open(path + ".started") as started:
            first = key not in started.read().split()
    except FileNotFoundError:
        first = True
    return record(path, key, seconds if first else 0.0)


def exits(code: int) -> None:
    """A task that calls sys.exit(): a failure, not a way to stop a worker."""
    raise SystemExit(code)


class TaggedTask(Task):
    """A queue's own ``task_class``: it marks each result it ran."""

    def run(self, **kwargs: Any) -> TaggedTask:
        super().run(**kwargs)
        self.result = f"tagged:{self.result}"
        return self
