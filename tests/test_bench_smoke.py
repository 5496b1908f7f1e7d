"""The benchmarks still run (``make bench``): each script once, with a tiny
task count, so they do not rot. Nothing here measures speed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_script(*argv: str) -> str:
    result = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=BENCH.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_drain_compares_alligator_with_the_raw_loop():
    # When drain.py runs one tiny round
    out = run_script(str(BENCH / "drain.py"), "--tasks", "20", "--rounds", "1")
    # Then it reports both consumers, the ratio and the requests per task
    assert "| raw " in out and "| alligator " in out
    assert "alligator / raw drain rate" in out
    assert "alligator SQS requests per task" in out


def test_peers_reports_every_peer_that_is_installed():
    # Given the peers whose packages are installed (the bench extra)
    peers = ["raw", "alligator"]
    if importlib.util.find_spec("celery") is not None:
        peers.append("celery-poll0")
    if importlib.util.find_spec("dramatiq_sqs") is not None:
        peers.append("dramatiq")
    # When peers.py runs one tiny cell
    out = run_script(
        str(BENCH / "peers.py"),
        *("--tasks", "20", "--rounds", "1", "--latency-ms", "0", "--concurrency", "1"),
        *("--peers", *peers),
    )
    # Then each has a row with numbers, not "n/a"
    for peer in peers:
        [row] = [line for line in out.splitlines() if line.startswith(f"| {peer} ")]
        assert "n/a" not in row, row
