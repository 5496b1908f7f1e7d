"""The ``alligator`` command line: exit codes and one-line errors for every
subcommand, ``enqueue``, ``latergator`` and ``local-sqs``.

Exit codes (the contract): 0 clean stop, 2 usage or configuration error
(one line naming the problem, no traceback), 1 anything else. Commands run
in-process through ``main`` where they can; ``worker`` runs as a subprocess,
because it takes over the process's logging and signals.
"""

from __future__ import annotations

import json
import logging
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


# -- --version and help ---------------------------------------------------------


def test_version_prints_the_package_version(capsys):
    import alligator

    code, out, err = run_cli(capsys, "--version")
    assert (code, out, err) == (0, f"alligator {alligator.__version__}\n", "")
    # The console script says the same
    process = subprocess.run(
        [bin_script("alligator"), "--version"], capture_output=True, text=True, timeout=60
    )
    assert (process.returncode, process.stdout) == (0, f"alligator {alligator.__version__}\n")


def subcommands():
    """``{name: parser}`` for every subcommand, ``dlq``'s actions included."""
    import argparse

    from alligator.cli import build_parser

    found = {}

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found[f"{prefix}{name}"] = sub
                    walk(sub, f"{prefix}{name} ")

    walk(build_parser(), "")
    return found


def test_every_command_is_listed_with_help():
    import argparse

    from alligator.cli import build_parser

    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    for name in ("worker", "enqueue", "stats", "dlq", "demo", "local-sqs", "lambda-zip"):
        assert helps.get(name), f"{name} is not listed with a help line"


#: The commands whose every option must say what it does (cli/ops.py's
#: stats and dlq are being rewritten elsewhere; they are checked to exist).
DOCUMENTED = ["worker", "enqueue", "demo", "local-sqs", "lambda-zip"]


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_option_has_help_and_shows_its_default(name, capsys):
    parser = subcommands()[name]
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    text = parser.format_help()
    # A default is shown once, and never as "None"
    assert "(default: None)" not in text
    assert "(default: %(default)s) (default:" not in text
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False) and action.nargs != 0:
            assert "default" in formatter._expand_help(action), (name, action.option_strings)
    code, out, _ = run_cli(capsys, *name.split(), "--help")
    assert code == 0 and out.startswith(f"usage: alligator {name}")


# -- DSN mistakes and unreachable endpoints: exit 2, one line ------------------


@pytest.mark.parametrize(
    ("dsn", "words"),
    [
        ("sqs:/us-east-1/q", ("the scheme 'sqs' must be followed by '://'", "sqs://us-east-1/q")),
        ("sqs//us-east-1/q", ("the scheme 'sqs' must be followed by '://'",)),
        ("sqs:us-east-1/q", ("the scheme 'sqs' must be followed by '://'",)),
        ("sqs://emails", ("'emails' is not an AWS region", "names no queue")),
        ("sqs://useast1/emails", ("'useast1' is not an AWS region",)),
    ],
)
@pytest.mark.parametrize("template", QUEUE_COMMANDS[:2], ids=lambda t: t[0])
def test_dsn_mistakes_are_named_in_one_line(capsys, monkeypatch, template, dsn, words):
    # No credentials and nothing to reach: the DSN alone is the answer.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # loopback only, ever
    code, out, err = run_cli(capsys, *command(template, dsn))
    assert (code, out) == (2, "")
    assert_one_line_error(err, *words)


def closed_port():
    """A loopback port nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Attempts(logging.Handler):
    """Counts the HTTP requests botocore sends, from its own debug log."""

    def __init__(self):
        super().__init__()
        self.count = 0
        self.logger = logging.getLogger("botocore.endpoint")

    def emit(self, record):
        if record.getMessage().startswith("Sending http request"):
            self.count += 1

    def __enter__(self):
        self.saved_level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.saved_level)


def test_an_unreachable_endpoint_exits_2_without_a_retry_storm(capsys):
    from alligator._aws import MAX_ATTEMPTS, PROBE_RETRIES

    url = f"http://127.0.0.1:{closed_port()}"
    with Attempts() as attempts:
        code, out, err = run_cli(
            capsys, "enqueue", f"sqs://us-east-1/q?endpoint_url={url}", "tests.tasks:add"
        )
    assert (code, out) == (2, "")
    assert_one_line_error(err, f"cannot connect to SQS at {url}", "endpoint_url")
    # Two tries, not botocore's nine
    assert attempts.count == PROBE_RETRIES + 1 < MAX_ATTEMPTS


def test_a_connect_timeout_at_start_up_is_a_configuration_error():
    # Given a loopback listener whose accept queue is full: the kernel drops
    # further SYNs, so a connection times out as to a black-holed host.
    from alligator._aws import PROBE_RETRIES
    from alligator.exceptions import ConfigurationError

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        with Attempts() as attempts, pytest.raises(ConfigurationError) as caught:
            Gator(f"sqs://us-east-1/q?endpoint_url=http://127.0.0.1:{port}").task(tasks.add, 1, 2)
    finally:
        for sock in (*fillers, listener):
            sock.close()
    assert f"cannot connect to SQS at http://127.0.0.1:{port}" in str(caught.value)
    assert type(caught.value.__cause__).__name__ == "ConnectTimeoutError"
    assert attempts.count == PROBE_RETRIES + 1


def test_a_worker_on_an_unreachable_endpoint_exits_2_with_one_line():
    url = f"http://127.0.0.1:{closed_port()}"
    worker = start_worker(f"sqs://us-east-1/q?endpoint_url={url}")
    code, err = stop(worker)
    assert code == 2
    error_lines = [line for line in err.splitlines() if "error" in line]
    assert error_lines == [
        f"alligator: error: cannot connect to SQS at {url}: is the server running, "
        "and is endpoint_url in the DSN right?"
    ]
    assert "Traceback" not in err


def test_a_connection_error_after_start_up_is_not_a_configuration_error():
    # Given a producer whose queue was resolved on a running endpoint
    from botocore.exceptions import EndpointConnectionError

    from alligator._moto import start_moto
    from alligator.exceptions import ConfigurationError

    server, url = start_moto()
    gator = Gator(f"sqs://us-east-1/later?endpoint_url={url}&create=true")
    gator.task(tasks.add, 1, 2)
    # When the endpoint goes away (a transient fault, as far as it knows)
    server.stop()
    # Then the error is botocore's own, after its retries: a worker's loop
    # treats it as transient, and only a ConfigurationError stops it
    with pytest.raises(EndpointConnectionError) as caught:
        gator.task(tasks.add, 3, 4)
    assert not isinstance(caught.value, ConfigurationError)


# -- local-sqs: ports, moto missing, the lines it prints ------------------------


def test_local_sqs_port_out_of_range_exits_2(capsys):
    code, out, err = run_cli(capsys, "local-sqs", "--port", "99999")
    assert (code, out) == (2, "")
    assert_one_line_error(err, "--port", "must be 0-65535, not 99999")


def test_local_sqs_on_a_busy_port_exits_2(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code, out, err = run_cli(capsys, "local-sqs", "--port", str(port))
    assert (code, out) == (2, "")
    assert_one_line_error(err, f"cannot listen on 127.0.0.1:{port}", "in use")


def without_moto(*argv):
    """``alligator ARGV`` in a process where moto cannot be imported, as in
    a venv with only alligator[sqs]."""
    script = (
        "import sys\n"
        "for name in ('moto', 'moto.server'):\n"
        "    sys.modules[name] = None\n"
        "from alligator.cli import main\n"
        f"sys.exit(main({list(argv)!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("argv", [["local-sqs"], ["demo"]], ids=" ".join)
def test_without_moto_one_line_names_the_extra(argv):
    process = without_moto(*argv)
    assert process.returncode == 2, process.stderr
    assert process.stdout == ""
    assert_one_line_error(
        process.stderr, "moto", "alligator[test]", "pip install 'alligator[test]'"
    )


@pytest.fixture
def local_sqs():
    """``alligator local-sqs`` running; yields what it printed, as lines."""
    process = subprocess.Popen(
        [bin_script("alligator"), "local-sqs"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = threading.Timer(60, process.kill)  # never hang the suite
    killer.start()
    try:
        printed = []
        while not printed or printed[-1] != "Stop with Ctrl-C.":
            line = process.stdout.readline()
            assert line, f"local-sqs exited: {process.stderr.read()}"
            printed.append(line.rstrip("\n"))
        yield printed
        process.send_signal(signal.SIGINT)
        process.communicate()
    finally:
        killer.cancel()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0


def shell_without_aws():
    """The environment of a fresh shell that never saw AWS. (Only boto3's
    instance-metadata look-up is switched off: tests reach loopback only.)"""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return {**env, "AWS_EC2_METADATA_DISABLED": "true"}


def test_local_sqs_export_lines_work_in_a_second_shell(local_sqs, tmp_path):
    # Given the export lines local-sqs printed, pasted into a shell with no
    # AWS configuration at all
    exports = [line.strip() for line in local_sqs if line.strip().startswith("export ")]
    names = [line.split()[1].split("=")[0] for line in exports]
    assert names == [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_SQS",
    ]
    script = "\n".join(
        [
            "set -e",
            *exports,
            "alligator enqueue 'sqs://us-east-1/pasted?create=true' tests.tasks:add",
            "alligator stats sqs://us-east-1/pasted --json",
        ]
    )
    env = {**shell_without_aws(), "HOME": str(tmp_path)}  # no ~/.aws either
    env["PATH"] = f"{Path(bin_script('alligator')).parent}:{env['PATH']}"
    # When the CLI runs there on sqs://REGION/QUEUE, with no endpoint_url
    process = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    # Then it reached local-sqs: the task is queued there
    assert process.returncode == 0, process.stderr
    assert json.loads(process.stdout.splitlines()[-1])["visible"] == 1, process.stdout


def test_local_sqs_dsn_line_needs_no_credentials(local_sqs, tmp_path):
    # Given only the DSN line, in a shell with no AWS configuration
    [dsn] = [line.split()[1] for line in local_sqs if line.startswith("DSN:")]
    dsn = dsn.replace("QUEUE", "dsn-line")
    env = {**shell_without_aws(), "HOME": str(tmp_path)}
    process = subprocess.run(
        [bin_script("alligator"), "enqueue", dsn, "tests.tasks:add", "--args", "[2, 3]"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then the loopback endpoint got dummy credentials: the task is queued
    assert process.returncode == 0, process.stderr
    assert Gator(dsn).pop().result == 5


def test_a_worker_whose_status_table_is_missing_exits_2_before_taking_a_message(sqs_endpoint):
    # Given a queue with a task, and a status store whose table is not there
    gator = Gator(make_queue(sqs_endpoint))
    gator.task(tasks.add, 1, 2)
    status = f"dynamodb://us-east-1/no-such-table?endpoint_url={sqs_endpoint}"
    # When a worker starts on it
    worker = start_worker(gator.conn_string, "--status", status)
    code, err = stop(worker)
    # Then it stops at once with one line, and the message was not touched
    assert code == 2, err
    error_lines = [line for line in err.splitlines() if "error" in line]
    assert len(error_lines) == 1 and "no-such-table" in error_lines[0], err
    assert "Traceback" not in err
    assert gator.len() == 1
