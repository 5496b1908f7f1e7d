"""The ``alligator`` command line: exit codes and one-line errors for every
subcommand, ``enqueue``, ``latergator`` and ``local-sqs``.

Exit codes (the contract): 0 clean stop, 2 usage or configuration error
(one line naming the problem, no traceback), 1 anything else. Commands run
in-process through ``main`` where they can; ``worker`` runs as a subprocess,
because it takes over the process's logging and signals.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from alligator import Gator
from alligator.cli import main, run
from alligator.testing import make_queue
from tests import tasks
from tests.processes import ROOT, lines, start_worker, stop, wait_for

#: Every subcommand that takes a queue DSN, as argv prefixes.
QUEUE_COMMANDS = [
    ("enqueue", "{dsn}", "tests.tasks:add"),
    ("stats", "{dsn}"),
    ("dlq", "peek", "{dsn}"),
    ("dlq", "redrive", "{dsn}"),
]


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err, *words):
    assert err.count("\n") == 1 and err.startswith("alligator"), err
    assert "Traceback" not in err
    for word in words:
        assert word in err


def command(template, dsn):
    return [part.replace("{dsn}", dsn) for part in template]


def bin_script(name):
    """The installed console script, next to this interpreter."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.skip(f"the {name} console script is not installed")
    return str(path)


# -- usage and configuration errors: exit 2, one line --------------------------


@pytest.mark.parametrize("template", QUEUE_COMMANDS, ids=lambda t: " ".join(t[:2]))
@pytest.mark.parametrize(
    ("dsn", "words"),
    [
        ("nosuch://queue", ("unknown scheme 'nosuch'",)),
        ("not a dsn", ("malformed DSN",)),
        ("sqs://us-east-1/q?wait_time=99", ("wait_time must be between 0 and 20",)),
        ("sqlite://{tmp}/q.db?colour=red", ("unknown option 'colour'",)),
    ],
    ids=["scheme", "malformed", "sqs-option", "sqlite-option"],
)
def test_a_bad_dsn_exits_2_with_one_line(capsys, tmp_path, template, dsn, words):
    (tmp_path / "q.db").touch()  # exists: the option is what is wrong
    dsn = dsn.replace("{tmp}", str(tmp_path))
    code, out, err = run_cli(capsys, *command(template, dsn))
    assert (code, out) == (2, "")
    assert_one_line_error(err, *words)


@pytest.mark.parametrize("template", QUEUE_COMMANDS, ids=lambda t: " ".join(t[:2]))
def test_a_missing_sqs_queue_exits_2_with_one_line(capsys, sqs_endpoint, template):
    dsn = f"sqs://us-east-1/no-such-queue?endpoint_url={sqs_endpoint}&wait_time=0"
    code, out, err = run_cli(capsys, *command(template, dsn))
    assert (code, out) == (2, "")
    assert_one_line_error(err, "queue 'no-such-queue' does not exist in us-east-1")


@pytest.mark.parametrize("template", QUEUE_COMMANDS[1:], ids=lambda t: " ".join(t[:2]))
def test_operator_commands_never_create_a_sqlite_queue(capsys, tmp_path, template):
    # A typo in the path must not look like an empty queue.
    dsn = f"sqlite://{tmp_path}/typo.db"
    code, _, err = run_cli(capsys, *command(template, dsn))
    assert code == 2
    assert_one_line_error(err, f"no queue database at '{tmp_path}/typo.db'")
    assert not (tmp_path / "typo.db").exists()


@pytest.mark.parametrize("template", QUEUE_COMMANDS, ids=lambda t: " ".join(t[:2]))
def test_locmem_is_refused_where_another_process_could_never_see_it(capsys, template):
    code, _, err = run_cli(capsys, *command(template, "locmem://"))
    assert code == 2
    assert_one_line_error(err, "locmem:// lives inside one process")


def test_a_worker_on_a_missing_queue_exits_2_with_one_line(sqs_endpoint):
    worker = start_worker(f"sqs://us-east-1/no-such-queue?endpoint_url={sqs_endpoint}")
    code, err = stop(worker)
    assert code == 2
    error_lines = [line for line in err.splitlines() if "error" in line]
    assert len(error_lines) == 1 and "does not exist" in error_lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["enqueue", "{dsn}", "tests.tasks:add", "--args", "[1,"], ("--args", "not JSON")),
        (["enqueue", "{dsn}", "tests.tasks:add", "--args", '{"a": 1}'], ("a JSON list",)),
        (["enqueue", "{dsn}", "tests.tasks:add", "--kwargs", "[1]"], ("a JSON dict",)),
        (["enqueue", "{dsn}", "tests.tasks:add", "--retries", "-1"], ("--retries",)),
        (["enqueue", "{dsn}", "tests.tasks:add", "--delay", "-5"], ("--delay", "negative")),
        (["enqueue", "{dsn}", "tests.tasks"], ("MODULE:CALLABLE",)),
        (["enqueue", "{dsn}", "tests.nosuch:add"], ("cannot import module 'tests.nosuch'",)),
        (["enqueue", "{dsn}", "tests.tasks:nosuch"], ("has no callable 'nosuch'",)),
        (["worker", "{dsn}", "--concurrency", "0"], ("--concurrency", "at least 1")),
        (["worker", "{dsn}", "--log-format", "xml"], ("--log-format", "invalid choice")),
        (["stats", "{dsn}", "--watch", "0"], ("--watch", "more than 0")),
        (["dlq", "peek", "{dsn}", "--limit", "0"], ("--limit", "at least 1")),
        (["dlq", "redrive", "{dsn}", "--limit", "x"], ("--limit", "not a whole number")),
        (["dlq", "{dsn}"], ("invalid choice",)),
        (["dlq"], ("required: ACTION",)),
        (["stats"], ("required: DSN",)),
        (["frobnicate"], ("invalid choice: 'frobnicate'",)),
        (["stats", "{dsn}", "--colour"], ("unrecognized arguments: --colour",)),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, tmp_path, argv, words):
    dsn = f"sqlite://{tmp_path}/q.db"
    Gator(dsn).backend.close()
    code, out, err = run_cli(capsys, *command(argv, dsn))
    assert (code, out) == (2, "")
    assert_one_line_error(err, *words)


def test_no_command_prints_help_and_exits_2(capsys):
    code, out, err = run_cli(capsys)
    assert (code, out) == (2, "")
    assert err.startswith("usage: alligator")


def test_help_exits_0(capsys):
    code, out, _ = run_cli(capsys, "dlq", "peek", "--help")
    assert code == 0
    assert "received and released at once" in " ".join(out.split())


def test_anything_else_exits_1_with_one_line(capsys):
    def handler(args):
        raise RuntimeError("the disk is on fire")

    assert run(handler, None) == 1
    assert capsys.readouterr().err == "alligator: error: RuntimeError: the disk is on fire\n"


# -- enqueue -----------------------------------------------------------------


def test_enqueue_prints_the_task_id(capsys, tmp_path):
    dsn = f"sqlite://{tmp_path}/q.db"
    code, out, err = run_cli(capsys, "enqueue", dsn, "tests.tasks:add", "--args", "[1, 2]")
    assert (code, err) == (0, "")
    printed = json.loads(out)
    gator = Gator(dsn)
    task = gator.pop()
    assert task.task_id == printed["task_id"] and task.message_id == printed["message_id"]
    assert task.result == 3


def test_enqueue_retries_and_kwargs(capsys, tmp_path):
    dsn = f"sqlite://{tmp_path}/q.db"
    argv = ["enqueue", dsn, "tests.tasks:fail", "--kwargs", '{"message": "x"}', "--retries", "2"]
    assert run_cli(capsys, *argv)[0] == 0
    gator = Gator(dsn)
    [(text,)] = gator.backend._store.query("SELECT body FROM messages")
    body = json.loads(text)
    assert (body["retries"], body["kwargs"]) == (2, {"message": "x"})
    # Then it runs three times in all, and only then is dead-lettered
    process = start_worker(
        dsn + "?backoff_base=1&backoff_max=1", "--max-tasks", "3", "--log-format", "json"
    )
    code, err = stop(process)
    assert code == 0, err
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    outcomes = [record["outcome"] for record in records if "outcome" in record]
    assert outcomes == ["retry", "retry", "dead"]
    assert gator.backend.dlq_backend().size() == 1


def test_enqueue_delay(capsys, tmp_path):
    # Given a task enqueued with --delay 60
    dsn = f"sqlite://{tmp_path}/q.db"
    before = time.time()
    assert (
        run_cli(capsys, "enqueue", dsn, "tests.tasks:add", "--args", "[1, 2]", "--delay", "60")[0]
        == 0
    )
    # Then it is delayed, not visible, and due in a minute
    stats = Gator(dsn).backend.stats()
    assert (stats.visible, stats.delayed) == (0, 1)
    [row] = Gator(dsn).backend._store.query("SELECT body, visible_at FROM messages")
    due = json.loads(row[0])["options"]["delay_until"]
    assert before + 60 <= due <= time.time() + 60
    assert row[1] == pytest.approx(due, abs=1.5)


def test_enqueue_delay_past_15_minutes_on_sqs(capsys, sqs_endpoint):
    # SQS delays a message at most 900 s; the rest is waited out by
    # deferral, so the task is enqueued delayed, not refused.
    dsn = make_queue(sqs_endpoint)
    argv = ["enqueue", dsn, "tests.tasks:add", "--args", "[1, 2]", "--delay", "3600"]
    assert run_cli(capsys, *argv)[0] == 0
    stats = Gator(dsn).backend.stats()
    assert (stats.visible, stats.delayed) == (0, 1)


# -- latergator, local-sqs, console scripts ------------------------------------


def test_latergator_is_alligator_worker(tmp_path):
    # Given a task, and 1.0's script name
    dsn = f"sqlite://{tmp_path}/q.db"
    out = tmp_path / "runs"
    Gator(dsn).task(tasks.record, str(out), "via-latergator")
    # When `latergator DSN` runs (a real console script, a real process)
    process = subprocess.run(
        [bin_script("latergator"), dsn, "--max-tasks", "1", "--import-allow", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then it worked as a worker, and exited 0 after its one task
    assert process.returncode == 0, process.stderr
    assert lines(out) == ["via-latergator"]
    assert Gator(dsn).len() == 0


def test_console_script_imports_tasks_from_the_working_directory(tmp_path):
    # `alligator enqueue` finds tests.tasks in the working directory, with
    # no PYTHONPATH, as `python -m alligator` would
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    dsn = f"sqlite://{tmp_path}/q.db"
    process = subprocess.run(
        [bin_script("alligator"), "enqueue", dsn, "tests.tasks:add", "--args", "[2, 3]"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 0, process.stderr
    assert Gator(dsn).pop().result == 5


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_local_sqs_serves_until_ctrl_c(capsys):
    # Given `alligator local-sqs --port P` running
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "alligator", "local-sqs", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = threading.Timer(60, process.kill)  # never hang the suite
    killer.start()
    try:
        # When it has printed its DSN
        printed = []
        while not any(line.startswith("DSN:") for line in printed):
            line = process.stdout.readline()
            assert line, f"local-sqs exited: {process.stderr.read()}"
            printed.append(line)
        dsn = printed[-1].split()[1].replace("QUEUE", "cli-local")
        # Then it is an SQS endpoint on that port that the CLI can use
        assert f"endpoint_url=http://127.0.0.1:{port}" in dsn
        gator = Gator(dsn + "&wait_time=0")
        gator.task(tasks.add, 1, 2)
        code, out, _ = run_cli(capsys, "stats", dsn, "--json")
        assert (code, json.loads(out)["visible"]) == (0, 1)
        assert gator.pop().result == 3
        # ...until Ctrl-C, which stops it cleanly
        process.send_signal(signal.SIGINT)
        _, err = process.communicate()
    finally:
        killer.cancel()
    assert process.returncode == 0
    assert "Traceback" not in err


def test_worker_on_sqs_from_the_command_line(sqs_endpoint):
    # The whole loop through the CLI: enqueue, then a worker process.
    dsn = make_queue(sqs_endpoint)
    assert main(["enqueue", dsn, "tests.tasks:add", "--args", "[20, 22]"]) == 0
    process = start_worker(dsn, "--max-tasks", "1")
    code, err = stop(process)
    assert code == 0, err
    wait_for(lambda: Gator(dsn).len() == 0, what="the delete")
