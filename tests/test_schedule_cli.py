"""`alligator scheduler` as users run it: bad input, and one real firing.

The end-to-end test runs the scheduler and a worker as real subprocesses on
a sqlite:// queue, with an at() a few seconds ahead. It waits for events
(a log line, a file the task writes) by polling with a generous timeout;
it never asserts on how long anything took.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alligator.cli import main
from tests.processes import ROOT, start_worker, stop, wait_for

#: Seconds ahead of now the at() fires; a slower start gets a longer lead.
LEADS = (4, 10, 25)


def write_module(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body))


def start_scheduler(dsn: str, reference: str, path: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), str(ROOT)])}
    env.pop("ALLIGATOR_SIGNING_KEY", None)
    with log.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "alligator", "scheduler", dsn, reference],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )


def test_a_real_at_fires_and_a_worker_runs_it(tmp_path):
    # Given a sqlite queue and a schedule a few seconds ahead
    dsn = f"sqlite://{tmp_path / 'q.db'}"
    done = tmp_path / "ran.txt"
    log = tmp_path / "scheduler.log"
    for attempt, lead in enumerate(LEADS):
        when = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
        name = f"e2e_schedules_{attempt}"
        write_module(
            tmp_path,
            name,
            f"""
            from alligator import Schedule
            from tests.schedule_tasks import touch

            SCHEDULES = [
                Schedule("soon", "at({when:%Y-%m-%dT%H:%M:%S})", touch, {str(done)!r}, "ran")
            ]
            """,
        )
        # When the scheduler runs
        scheduler = start_scheduler(dsn, f"{name}:SCHEDULES", tmp_path, log)
        wait_for(lambda: "soon (at(" in log.read_text(), timeout=60, what="the scheduler's plan")
        if "next firing none left" not in log.read_text():
            break
        # (the machine took longer to start than the lead: try a longer one)
        scheduler.send_signal(signal.SIGTERM)
        stop(scheduler)
    else:
        pytest.fail("the scheduler never started before its at() time")
    try:
        wait_for(lambda: "schedule soon fired" in log.read_text(), timeout=90, what="the firing")
        # And a worker takes the queue
        worker = start_worker(dsn, "--max-tasks", "1")
        wait_for(done.exists, timeout=60, what="the task to run")
        worker_code, worker_err = stop(worker)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        code, _ = stop(scheduler)
    # Then the firing was enqueued once, with its own task id, and ran
    text = log.read_text()
    assert f"task soon@{when:%Y-%m-%dT%H:%M:%S}Z" in text
    assert text.count("schedule soon fired") == 1
    assert done.read_text() == "ran"
    assert worker_code == 0, worker_err
    # And SIGTERM stops the scheduler cleanly
    assert code == 0, text
    assert "scheduler stopped" in text


def test_the_scheduler_runs_on_locmem_and_says_who_can_see_it(tmp_path):
    # locmem:// is one of "any backend" (CONTRACT section 10): it starts,
    # warns that only this process sees its tasks, and stops on SIGTERM
    log = tmp_path / "scheduler.log"
    scheduler = start_scheduler("locmem://", "tests.schedule_tasks:SCHEDULES", tmp_path, log)
    try:
        wait_for(lambda: "scheduler started" in log.read_text(), timeout=60, what="the start")
    finally:
        scheduler.send_signal(signal.SIGTERM)
        code, _ = stop(scheduler)
    text = log.read_text()
    assert code == 0, text
    assert "locmem:// lives inside this process" in text
    assert "scheduler stopped" in text


def test_schedule_without_an_action_is_one_line(capsys):
    code = main(["schedule"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "required: ACTION" in err


def test_scheduler_refuses_a_bad_reference(capsys, tmp_path):
    code = main(["scheduler", f"sqlite://{tmp_path / 'q.db'}", "tests.schedule_tasks:MISSING"])
    err = capsys.readouterr().err
    assert code == 2
    assert "has no attribute 'MISSING'" in err


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('Schedule("x", "cron(0 2 * * ?)", report)', "needs 6 fields"),
        ('Schedule("x", "rate(1 hours)", report)', "rate(1 hour)"),
        ('Schedule("x", "rate(1 hour)", report, timezone="Nowhere/City")', "unknown time zone"),
        ('Schedule("x", "rate(1 hour)", lambda: None)', "a lambda"),
    ],
)
def test_a_bad_schedule_in_the_users_module_exits_2(capsys, monkeypatch, tmp_path, line, message):
    # Given a user module whose schedule is wrong
    name = f"bad_schedules_{abs(hash(line))}"
    write_module(
        tmp_path,
        name,
        f"""
        from alligator import Schedule
        from tests.schedule_tasks import report

        SCHEDULES = [{line}]
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    # When the scheduler (or sync) loads it
    code = main(["scheduler", f"sqlite://{tmp_path / 'q.db'}", f"{name}:SCHEDULES"])
    err = capsys.readouterr().err
    # Then exit 2, one line naming the schedule and the problem
    assert code == 2
    assert "schedule 'x'" in err and message in err
    assert err.count("\n") == 1


def test_schedule_without_an_action_is_a_usage_error(capsys):
    assert main(["schedule"]) == 2
