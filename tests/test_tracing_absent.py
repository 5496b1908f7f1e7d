"""Without OpenTelemetry nothing of it is imported and nothing costs.

Each test is a fresh interpreter. In the first, ``opentelemetry`` is made
absent the way Python sees a package that is not installed
(``sys.modules["opentelemetry"] = None``: ``importlib.util.find_spec``
answers ``None`` and an import fails), ``find_spec`` counts the lookups,
and the process enqueues, then runs a thread-pool worker and a process-pool
worker. In the second the API is installed but no SDK is configured:
``import alligator`` still imports none of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.processes import ROOT

ABSENT = textwrap.dedent(
    """
    import importlib.util, json, sys

    sys.modules["opentelemetry"] = None  # as if it were not installed
    looked = []
    _find_spec = importlib.util.find_spec

    def counting(name, package=None):
        if name.partition(".")[0] == "opentelemetry":
            looked.append(name)
        return _find_spec(name, package)

    importlib.util.find_spec = counting

    import alligator
    from alligator import Gator, Worker
    from tests import probe, tasks

    gator = Gator(sys.argv[1])
    gator.task(tasks.add, 1, 2)
    gator.task_many([(tasks.add, (2, 3)), (tasks.add, (3, 4))])
    outcomes = []
    threads = Worker(gator, import_allow=["tests"], concurrency=2, on_outcome=outcomes.append)
    while threads.check_and_run_task(wait_seconds=0):
        pass
    threads.close()
    gator.task(probe.modules, "opentelemetry")
    children = Worker(
        gator, import_allow=["tests"], pool="processes", max_tasks=1,
        on_outcome=outcomes.append,
    )
    children.run_forever()
    print(json.dumps({
        "outcomes": [outcome.label for outcome in outcomes],
        "results": [outcome.task.result for outcome in outcomes],
        "looked": looked,
        "imported": probe.modules("opentelemetry"),
    }))
    """
)

API_ONLY = textwrap.dedent(
    """
    import json, sys
    import alligator, alligator.worker, alligator.consume, alligator.tracing
    from alligator.sqs import lambda_handler
    from tests import probe

    print(json.dumps(probe.modules("opentelemetry")))
    """
)


def python(script: str, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_opentelemetry_nothing_of_it_is_imported_or_looked_up_twice(tmp_path: Path):
    # Given a process where OpenTelemetry is not installed
    # When it imports alligator, enqueues, and runs both kinds of worker
    found = python(ABSENT, f"sqlite://{tmp_path}/queue.db")
    # Then every task ran, the child included
    assert found["outcomes"] == ["success"] * 4
    assert found["results"][:3] == [3, 5, 7]
    # And no OpenTelemetry module was imported, here or in the child
    assert found["imported"] == []
    assert found["results"][3] == []
    # And it was looked for once, at the first message, never again
    assert found["looked"] == ["opentelemetry"]


def test_with_the_api_but_unused_import_alligator_imports_none_of_it():
    assert python(API_ONLY) == []
