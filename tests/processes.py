"""Helpers for tests that run workers as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_worker(dsn: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m alligator worker DSN ...`` from the repo root."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alligator",
            "worker",
            dsn,
            "--import-allow",
            "tests",
            *args,
        ],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lines(path: Path) -> list[str]:
    """The lines of ``path``, or none if it does not exist yet."""
    try:
        return path.read_text().split()
    except FileNotFoundError:
        return []


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``condition`` until true; fail after ``timeout`` seconds. This
    waits for an event, it does not measure time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen, timeout: float = 40.0) -> tuple[int, str]:
    """Wait for a worker to exit (killing it after ``timeout``); its exit
    code and stderr."""
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return process.returncode, err
