"""``alligator worker`` passes its options on to the worker: every DSN given
is consumed, and ``--pool``, ``--time-limit`` and the per-child limits take
effect (the command once built its worker from the first DSN and four of its
options only, so ``--pool processes`` ran threads and ``--time-limit`` did
nothing).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alligator import Gator
from alligator.constants import FAILED, SUCCESS
from tests import probe, tasks
from tests.otel_support import dawdle
from tests.processes import ROOT


def test_the_worker_command_consumes_every_queue_with_its_pool_and_time_limit(tmp_path: Path):
    # Given two queues sharing a status store, a task on each, and one that
    # would take 30 s on the second
    status = f"sqlite://{tmp_path}/status.db"
    first = Gator(f"sqlite://{tmp_path}/first.db", status=status)
    second = Gator(f"sqlite://{tmp_path}/second.db", status=status)
    here = first.task(probe.modules, "multiprocessing.forkserver")
    there = second.task(tasks.add, 2, 2)
    slow = second.task(dawdle, 30)
    # When one worker command consumes both, with child processes and a limit
    worker = subprocess.run(
        [
            sys.executable,
            "-m",
            "alligator",
            "worker",
            first.conn_string,
            second.conn_string,
            "--import-allow",
            "tests",
            "--status",
            status,
            "--pool",
            "processes",
            "--time-limit",
            "1",
            "--max-tasks",
            "3",
            "--wait-time",
            "1",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert worker.returncode == 0, worker.stderr
    # Then both queues' tasks ran, in a child process (forked by the fork server)
    assert first.wait(here.task_id, timeout=5).result == ["multiprocessing.forkserver"]
    assert (second.wait(there.task_id, timeout=5).status, first.status(there.task_id).result) == (
        SUCCESS,
        4,
    )
    # And the slow one was stopped at its limit
    state = second.wait(slow.task_id, timeout=5)
    assert state.status is FAILED
    assert state.error.startswith("TimeLimitExceeded")
