"""The benchmarks still run (``make bench``): each script once, with a tiny
task count, so they do not rot. Nothing here measures speed."""

from __future__ import annotations

import importlib.util
import shutil
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


def test_goals_reports_every_goal():
    # When goals.py runs every experiment once, tiny, without Celery/Dramatiq
    out = run_script(
        str(BENCH / "goals.py"),
        *("--rounds", "1", "--startup-rounds", "1", "--latency-ms", "0"),
        *("--tasks-c8", "20", "--tasks-c1", "20", "--tasks-cpu", "20"),
        *("--lambda-invocations", "5", "--lambda-repeats", "1", "--peers"),
    )
    # Then every goal has a line, and the workers that ran have numbers
    for figure in ("raw8", "start-up to first task", "Lambda handler per record", "two queues"):
        assert figure in out, figure
    for variant in ("raw8", "alligator", "alligator-processes", "alligator-2q", "threads"):
        rows = [line for line in out.splitlines() if line.startswith(f"| {variant} ")]
        assert rows and all("n/a" not in row.split("|")[3] for row in rows), rows
    [lambda_row] = [line for line in out.splitlines() if "text line to a null stream" in line]
    assert lambda_row.split("|")[3].strip() == "0", lambda_row  # no SQS call for successes


def test_profiles_prints_a_profile():
    # When profiles.py profiles the Lambda handler (cProfile, no py-spy needed)
    out = run_script(str(BENCH / "profiles.py"), "lambda", "--top", "5")
    # Then it prints cProfile's tables, the handler in them
    assert "by tottime" in out and "by cumulative" in out
    assert "lambda_handler.py" in out
    if shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists():
        # and a worker under py-spy, when py-spy is installed (the bench group)
        out = run_script(
            str(BENCH / "profiles.py"),
            *("worker", "--tasks", "40", "--concurrency", "2", "--latency-ms", "0", "--top", "5"),
        )
        assert "Threads, by role" in out or "no samples" in out
