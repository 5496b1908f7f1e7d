"""The schedule extra is optional: core alligator imports with the standard
library only, and a cron() without python-dateutil is one clear line."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from alligator.schedules.demo import fire_once
from alligator.testing import make_queue
from tests.processes import ROOT

#: Runs in a fresh interpreter where dateutil and boto3 cannot be imported.
WITHOUT_EXTRAS = textwrap.dedent(
    """
    import sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("dateutil", "boto3", "botocore"):
                raise ImportError(f"no module named {name!r}")

    sys.meta_path.insert(0, Refuse())
    from alligator import ConfigurationError, Schedule
    from alligator.schedules.demo import tick as poll

    every = Schedule("poll", "rate(5 minutes)", poll, "support")
    print("rate ok", every.task_id(every.next_after(__import__("datetime").datetime.now(
        __import__("datetime").UTC))).startswith("poll@"))
    try:
        Schedule("nightly", "cron(0 2 * * ? *)", poll, "support")
    except ConfigurationError as exc:
        print("cron:", exc)
    print("dateutil loaded:", "dateutil" in sys.modules)
    """
)


def test_core_imports_without_the_extra_and_names_it_for_cron():
    # Given an interpreter without python-dateutil (nor boto3)
    # When alligator and a rate() schedule are used, then a cron()
    run = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # Then the rate works, and the cron is refused with the extra's name
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "rate ok True"
    assert lines[1] == (
        "cron: schedule 'nightly': cron() schedules need python-dateutil: "
        "pip install 'alligator[schedule]'"
    )
    assert lines[2] == "dateutil loaded: False"


def test_demo_hook_shows_one_scheduled_firing(sqs_endpoint, capsys):
    # Given a queue on the embedded endpoint
    from alligator import Gator

    gator = Gator(make_queue(sqs_endpoint))
    # When the demo's hook runs (it waits for a real at() about 2 s ahead)
    task = fire_once(gator)
    # Then the scheduler enqueued the firing at its time and a worker ran it
    out = capsys.readouterr().out
    assert task is not None and task.task_id.startswith("demo-tick@")
    assert f"the scheduler enqueued {task.task_id}" in out
    assert f"a worker ran {task.task_id}" in out
    assert gator.len() == 0
