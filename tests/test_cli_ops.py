"""Operating it: ``alligator stats``, ``dlq peek``, ``dlq redrive``, the
worker's outcome log lines and the ``on_outcome`` metrics hook.

The commands run in-process through ``alligator.cli.main`` (on sqlite files
and on moto's SQS: ``locmem://`` is private to one process, so a command
could never see it), except where a real process is the point: Ctrl-C, and
a worker's log output.
"""

from __future__ import annotations

import collections
import datetime
import io
import json
import re
import signal
import subprocess
import sys
import threading

import boto3
import pytest

from alligator import Gator, Worker
from alligator.backends.base import (
    ATTEMPTS_ATTRIBUTE,
    ERROR_ATTRIBUTE,
    FAILED_AT_ATTRIBUTE,
    SIGNATURE_ATTRIBUTE,
    Outgoing,
)
from alligator.backends.sqlite import SqliteBackend
from alligator.cli import main
from alligator.constants import FAILED, SUCCESS
from alligator.ops import dlq as dlq_ops
from alligator.ops import open_backend
from alligator.ops import redrive as redrive_ops
from alligator.ops.stats import StatsReader, human_seconds, show
from alligator.ops.table import width
from alligator.outcome import Action
from alligator.sqs import SQSBackend
from alligator.testing import make_queue
from tests import tasks
from tests.processes import ROOT, start_worker, stop

# -- helpers -----------------------------------------------------------------


def run_cli(capsys, *argv):
    """``alligator ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def dead_letter(gator, count, *, message="boom"):
    """Enqueue ``count`` failing tasks with no retries and run each once, so
    they land in the DLQ with their reason. Returns their task ids."""
    task_ids = []
    for n in range(count):
        task_ids.append(gator.options(retries=0).task(tasks.fail, f"{message} {n}").task_id)
    for _ in range(count):
        assert gator.pop().status == FAILED
    return task_ids


def bodies(backend):
    """Everything in a local queue, received and then released again."""
    messages = backend.receive(max_messages=10, wait_seconds=0)
    backend.release(messages)
    return messages


@pytest.fixture
def dsn(tmp_path):
    """A queue in a sqlite file (the file exists once a Gator opened it)."""
    return f"sqlite://{tmp_path}/q.db"


@pytest.fixture
def gator(dsn):
    gator = Gator(dsn)
    yield gator
    gator.backend.close()


@pytest.fixture(scope="module")
def cloudwatch(sqs_endpoint):
    return boto3.session.Session().client(
        "cloudwatch", region_name="us-east-1", endpoint_url=sqs_endpoint
    )


# -- stats -------------------------------------------------------------------


def test_stats_counts_every_kind_of_message_on_sqlite(capsys, dsn, gator):
    # Given one task per state: visible (2), in flight, delayed, dead
    dead_letter(gator, 1)
    gator.task(tasks.add, 1, 1)
    gator.task(tasks.add, 2, 2)
    gator.options(delay_by=600).task(tasks.add, 3, 3)
    gator.task(tasks.add, 4, 4)
    assert gator.backend.receive(max_messages=1, wait_seconds=0)  # now in flight
    # When
    code, out, err = run_cli(capsys, "stats", dsn, "--json")
    # Then
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["queue"] == "all"
    assert (report["visible"], report["in_flight"], report["delayed"]) == (2, 1, 1)
    assert report["dlq_depth"] == 1
    assert report["oldest_age_seconds"] >= 0
    assert report["oldest_age_note"] == "from the queue itself"


def test_stats_for_people(capsys, dsn, gator):
    gator.task(tasks.add, 1, 1)
    code, out, _ = run_cli(capsys, "stats", dsn)
    assert code == 0
    when, header, row = out.splitlines()
    assert when.endswith("Z")
    assert header == "QUEUE  VISIBLE  IN FLIGHT  DELAYED  DLQ  OLDEST AGE  AGE FROM"
    assert row.startswith("all          1          0        0    0 ")
    assert row.endswith("  from the queue itself")
    assert "\x1b" not in out  # no colour: not a terminal


def test_stats_on_sqs_says_why_the_oldest_age_is_unknown(capsys, sqs_endpoint):
    # Given an SQS queue with one message, and no CloudWatch datapoint
    dsn = make_queue(sqs_endpoint)
    Gator(dsn).task(tasks.add, 1, 1)
    # When
    code, out, _ = run_cli(capsys, "stats", dsn, "--json")
    # Then the counts come from SQS and the age is n/a, with the reason
    report = json.loads(out)
    assert code == 0
    assert (report["visible"], report["in_flight"], report["delayed"]) == (1, 0, 0)
    assert report["dlq_depth"] == 0
    assert report["oldest_age_seconds"] is None
    assert "SQS reports it only to CloudWatch" in report["oldest_age_note"]
    code, out, _ = run_cli(capsys, "stats", dsn)
    assert "         n/a  SQS reports it only to CloudWatch" in out


def test_stats_on_sqs_reads_the_oldest_age_from_cloudwatch(capsys, sqs_endpoint, cloudwatch):
    # Given the datapoint SQS would publish for the queue (moto publishes none)
    dsn = make_queue(sqs_endpoint)
    name = dsn.split("/")[3].split("?")[0]
    now = datetime.datetime.now(datetime.UTC)
    for minutes_ago, age in ((5, 30.0), (2, 185.0)):
        cloudwatch.put_metric_data(
            Namespace="AWS/SQS",
            MetricData=[
                {
                    "MetricName": "ApproximateAgeOfOldestMessage",
                    "Dimensions": [{"Name": "QueueName", "Value": name}],
                    "Value": age,
                    "Unit": "Seconds",
                    "Timestamp": now - datetime.timedelta(minutes=minutes_ago),
                }
            ],
        )
    # When
    code, out, _ = run_cli(capsys, "stats", dsn, "--json")
    # Then the newest datapoint is shown, and where it came from
    report = json.loads(out)
    assert report["oldest_age_seconds"] == 185.0
    assert report["oldest_age_note"].startswith("CloudWatch ApproximateAgeOfOldestMessage at ")
    code, out, _ = run_cli(capsys, "stats", dsn)
    assert "  3 min 5 s  CloudWatch ApproximateAgeOfOldestMessage at " in out


def test_stats_stops_asking_cloudwatch_once_it_refused(sqs_endpoint, monkeypatch):
    # Given credentials that may read SQS but not CloudWatch
    from botocore.exceptions import ClientError

    from alligator.sqs.cloudwatch import OldestAge

    reader = StatsReader(open_backend(make_queue(sqs_endpoint)))
    calls = []

    def denied(**params):
        calls.append(params)
        error = {"Error": {"Code": "AccessDenied", "Message": "no"}}
        raise ClientError(error, "GetMetricStatistics")

    first = reader.read()  # makes the CloudWatch client; moto has no datapoint
    assert isinstance(reader._cloudwatch, OldestAge)
    monkeypatch.setattr(reader._cloudwatch.client, "get_metric_statistics", denied)
    # When read twice (two refreshes of --watch)
    second, third = reader.read(), reader.read()
    reader.close()
    # Then the age is n/a with the reason, and CloudWatch was asked once
    assert first["oldest_age_seconds"] is None
    assert second["oldest_age_note"] == "no permission for cloudwatch:GetMetricStatistics"
    assert third["oldest_age_note"] == second["oldest_age_note"]
    assert len(calls) == 1


def test_stats_of_a_queue_without_dlq_says_so(capsys, sqs_endpoint):
    aws = boto3.session.Session().client("sqs", region_name="us-east-1", endpoint_url=sqs_endpoint)
    aws.create_queue(QueueName="stats-no-dlq")
    code, out, _ = run_cli(
        capsys, "stats", f"sqs://us-east-1/stats-no-dlq?endpoint_url={sqs_endpoint}"
    )
    assert code == 0
    [row] = out.splitlines()[2:]
    assert row.split()[:5] == ["stats-no-dlq", "0", "0", "0", "-"]


def test_stats_watch_appends_reports_when_not_on_a_terminal(dsn, gator):
    # Given a reader whose queue changes between two refreshes
    out, pauses = io.StringIO(), []

    def sleep(seconds):
        pauses.append(seconds)
        gator.task(tasks.add, 1, 1)

    # When watched twice
    show(StatsReader(open_backend(dsn)), as_json=False, watch=5.0, out=out, sleep=sleep, times=2)
    # Then both reports are there, one after the other, no screen clearing
    text = out.getvalue()
    assert "\x1b" not in text
    assert text.count("QUEUE  VISIBLE") == 2
    rows = [line for line in text.splitlines() if line.startswith("all ")]
    assert [row.split()[1] for row in rows] == ["0", "1"]
    assert pauses == [5.0]


def test_stats_watch_redraws_on_a_terminal(dsn, gator):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    show(StatsReader(open_backend(dsn)), as_json=False, watch=1, out=out, sleep=id, times=2)
    assert out.getvalue().count("\x1b[H\x1b[2J") == 2
    assert "every 1 s; Ctrl-C stops" in out.getvalue()


def test_stats_watch_runs_until_ctrl_c_and_exits_0(dsn, gator):
    # Given a watching process printing JSON lines
    process = subprocess.Popen(
        [sys.executable, "-m", "alligator", "stats", dsn, "--watch", "0.1", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = threading.Timer(60, process.kill)  # never hang the suite
    killer.start()
    try:
        # When it has refreshed twice and gets Ctrl-C
        reports = [json.loads(process.stdout.readline()) for _ in range(2)]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate()
    finally:
        killer.cancel()
    # Then it stops cleanly: exit 0, no traceback
    assert [report["visible"] for report in reports] == [0, 0]
    assert process.returncode == 0
    assert err == ""


def test_human_seconds():
    assert [human_seconds(s) for s in (0.4, 42, 303, 7440, 266400)] == [
        "0 s",
        "42 s",
        "5 min 3 s",
        "2 h 4 min",
        "3 d 2 h",
    ]


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a TTY would."""

    def isatty(self):
        return True


def test_stats_of_several_queues_in_aligned_columns(capsys, tmp_path, sqs_endpoint):
    # Given a sqlite queue with a dead task and an SQS queue with two tasks
    local = f"sqlite://{tmp_path}/q.db"
    local_gator = Gator(local)
    dead_letter(local_gator, 1)
    remote = make_queue(sqs_endpoint)
    Gator(remote).task_many([(tasks.add, (1, 1)), (tasks.add, (2, 2))])
    name = remote.split("/")[3].split("?")[0]
    # When
    code, out, err = run_cli(capsys, "stats", local, remote)
    # Then one row per queue, in the order given, every column aligned
    assert (code, err) == (0, "")
    _, header, first, second = out.splitlines()
    assert first.split()[:5] == ["all", "0", "0", "0", "1"]
    assert second.split()[:5] == [name, "2", "0", "0", "0"]
    for title in ("VISIBLE", "IN FLIGHT", "DELAYED", "DLQ", "OLDEST AGE"):
        end = header.index(title) + len(title)  # numbers are right-aligned
        assert first[end - 1] != " " and second[end - 1] != " "
        assert first[end] == " " and second[end] == " "


def test_stats_json_is_one_object_per_queue_and_line(capsys, tmp_path):
    first, second = f"sqlite://{tmp_path}/a.db", f"sqlite://{tmp_path}/b.db"
    Gator(first).task(tasks.add, 1, 1)
    Gator(second)
    code, out, _ = run_cli(capsys, "stats", first, second, "--json")
    reports = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [report["visible"] for report in reports] == [1, 0]
    assert reports[1]["oldest_age_note"] == "the queue is empty"


def test_stats_is_coloured_on_a_terminal_only(dsn, gator):
    # Given a queue whose DLQ holds a task (shown red in colour)
    dead_letter(gator, 1)
    plain, terminal = io.StringIO(), Terminal()
    # When shown on a pipe and on a terminal
    show(StatsReader(open_backend(dsn)), as_json=False, watch=None, out=plain)
    show(StatsReader(open_backend(dsn)), as_json=False, watch=None, out=terminal)
    # Then only the terminal gets colour, and the same text once it is removed
    assert "\x1b" not in plain.getvalue()
    assert "\x1b[31m1\x1b[0m" in terminal.getvalue()
    assert "\x1b[1mQUEUE\x1b[0m" in terminal.getvalue()
    uncoloured = re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue())
    assert uncoloured.splitlines()[1:] == plain.getvalue().splitlines()[1:]


def test_stats_without_colour_when_no_color_is_set(dsn, gator, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    terminal = Terminal()
    show(StatsReader(open_backend(dsn)), as_json=False, watch=None, out=terminal)
    assert "\x1b" not in terminal.getvalue()


def test_stats_of_a_missing_queue_is_one_line_and_exit_2(capsys, tmp_path, dsn, gator):
    code, out, err = run_cli(capsys, "stats", dsn, f"sqlite://{tmp_path}/nowhere.db")
    assert (code, out) == (2, "")
    assert err == f"alligator: error: no queue database at '{tmp_path}/nowhere.db'\n"


def test_stats_needs_a_dsn(capsys):
    code, out, err = run_cli(capsys, "stats")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "required: DSN" in err


# -- dlq peek ----------------------------------------------------------------


def test_peek_lists_failed_tasks_and_leaves_them_in_place(capsys, dsn, gator):
    # Given three dead-lettered tasks
    task_ids = dead_letter(gator, 3)
    # When peeked at twice, as JSON
    code, out, err = run_cli(capsys, "dlq", "peek", dsn, "--json")
    again = json.loads(run_cli(capsys, "dlq", "peek", dsn, "--json")[1])
    # Then each shows its id, callable, error, attempts and time of failure
    assert (code, err) == (0, "")
    dead = json.loads(out)
    assert [d["task_id"] for d in dead] == task_ids
    assert {d["callable"] for d in dead} == {"tests.tasks.fail"}
    assert [d["error"] for d in dead] == [f"RuntimeError: boom {n}" for n in range(3)]
    assert {d["attempts"] for d in dead} == {1}
    assert all(d["failed_at"].endswith("Z") for d in dead)
    # ...and nothing was consumed: the same three, all visible at once
    assert [d["task_id"] for d in again] == task_ids
    stats = gator.backend.dlq_backend().stats()
    assert (stats.visible, stats.in_flight) == (3, 0)


def test_peek_limit_and_table(capsys, dsn, gator):
    task_ids = dead_letter(gator, 3)
    code, out, _ = run_cli(capsys, "dlq", "peek", dsn, "--limit", "2")
    assert code == 0
    header, first, second, blank, footer = out.splitlines()
    assert header.split() == ["TASK", "ID", "CALLABLE", "ATTEMPTS", "FAILED", "AT", "ERROR"]
    assert first.startswith(task_ids[0]) and first.endswith("RuntimeError: boom 0")
    assert " tests.tasks.fail " in second
    assert footer == "2 shown of about 3 in 'all-dlq'"


def test_peek_shows_poison_and_reasonless_messages_without_running_anything(capsys, dsn, gator):
    # Given a DLQ holding a body that is no task, with no alligator reason
    # (as the queue's own redrive policy would have moved it)
    gator.backend.dlq_backend().send_many([Outgoing("not json at all")])
    # When
    code, out, _ = run_cli(capsys, "dlq", "peek", dsn, "--json")
    [dead] = json.loads(out)
    # Then it is listed for what it is
    assert code == 0
    assert (dead["task_id"], dead["callable"], dead["error"], dead["attempts"]) == (
        None,
        None,
        None,
        None,
    )
    table = run_cli(capsys, "dlq", "peek", dsn)[1]
    row = table.splitlines()[1]
    assert row.split()[:4] == ["-", "(not", "a", "task)"]
    assert row.endswith("(no reason attached: moved by the queue's redrive policy?)")
    assert "(no reason attached: moved by the queue's redrive policy?)" in table


def test_peek_of_an_empty_dlq(capsys, dsn, gator):
    assert run_cli(capsys, "dlq", "peek", dsn)[1] == "the dead-letter queue 'all-dlq' is empty\n"
    assert json.loads(run_cli(capsys, "dlq", "peek", dsn, "--json")[1]) == []


def test_peek_on_sqs_releases_what_it_saw_at_once(capsys, sqs_endpoint):
    # Given 12 dead-lettered tasks on SQS (more than one receive's worth)
    dsn = make_queue(sqs_endpoint)
    gator = Gator(dsn)
    task_ids = dead_letter(gator, 12)
    # When peeked at
    code, out, _ = run_cli(capsys, "dlq", "peek", dsn, "--json", "--limit", "20")
    # Then all 12 are listed, with their reasons
    dead = json.loads(out)
    assert code == 0
    assert sorted(d["task_id"] for d in dead) == sorted(task_ids)
    assert {d["error"].split(" ")[0] for d in dead} == {"RuntimeError:"}
    # ...and all 12 are visible again right away (not after a timeout)
    dlq = gator.backend.dlq_backend()
    stats = dlq.stats()
    assert (stats.visible, stats.in_flight) == (12, 0)


def test_peek_and_redrive_need_a_dlq(capsys, sqs_endpoint):
    aws = boto3.session.Session().client("sqs", region_name="us-east-1", endpoint_url=sqs_endpoint)
    aws.create_queue(QueueName="peek-no-dlq")
    dsn = f"sqs://us-east-1/peek-no-dlq?endpoint_url={sqs_endpoint}"
    for action in ("peek", "redrive"):
        code, out, err = run_cli(capsys, "dlq", action, dsn)
        assert (code, out) == (2, "")
        assert err.count("\n") == 1 and "has no dead-letter queue" in err


def test_peek_shows_any_body_a_worker_can_store(capsys, dsn, gator):
    # Given a DLQ holding a body nested 100000 deep (json raises
    # RecursionError on it), an empty one and one in no known encoding
    gator.backend.dlq_backend().send_many(
        [
            Outgoing("[" * 100_000, attributes={ERROR_ATTRIBUTE: "PoisonMessageError: too deep"}),
            Outgoing(""),
            Outgoing('{"task_id": 1e999999}'),
        ]
    )
    # When peeked at, as a table and as JSON
    code, out, err = run_cli(capsys, "dlq", "peek", dsn)
    json_code, json_out, _ = run_cli(capsys, "dlq", "peek", dsn, "--json")
    # Then all three are listed as poison, nothing failed
    assert (code, err, json_code) == (0, "", 0)
    assert out.count("(not a task)") == 3
    assert "PoisonMessageError: too deep" in out
    dead = json.loads(json_out)
    assert [(d["task_id"], d["poison"]) for d in dead] == [(None, True)] * 3


def test_peek_escapes_control_characters_from_messages(capsys, dsn, gator):
    # Given a dead task whose id, callable and error hold CR, ESC and BEL
    body = json.dumps(
        {
            "task_id": "id\rFAKE\x1b[2J",
            "retries": 0,
            "async": True,
            "module": "m\x1b[31m",
            "callable": "f\x07",
        }
    )
    reason = {ERROR_ATTRIBUTE: "RuntimeError: \x1b]0;pwned\x07 line\rover", ATTEMPTS_ATTRIBUTE: "1"}
    gator.backend.dlq_backend().send_many([Outgoing(body, attributes=reason)])
    # When peeked at on a pipe
    code, out, _ = run_cli(capsys, "dlq", "peek", dsn)
    # Then no control character reaches the output: each is spelled out
    assert code == 0
    assert re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out) is None
    row = out.splitlines()[1]
    assert row.startswith("id\\rFAKE\\x1b[2J  m\\x1b[31m.f\\x07")
    assert row.endswith("RuntimeError: \\x1b]0;pwned\\x07 line\\rover")


def test_peek_is_coloured_on_a_terminal_only(capsys, dsn, gator, monkeypatch):
    dead_letter(gator, 1)
    gator.backend.dlq_backend().send_many([Outgoing("not a task")])
    code, out, _ = run_cli(capsys, "dlq", "peek", dsn)
    assert code == 0 and "\x1b" not in out
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["dlq", "peek", dsn]) == 0
    text = terminal.getvalue()
    assert "\x1b[31mRuntimeError: boom 0\x1b[0m" in text  # an error: red
    assert "\x1b[33m(not a task)\x1b[0m" in text  # poison: yellow
    # ...and colour never hides an escape: a message's ESC stays spelled out
    assert re.sub(r"\x1b\[[0-9;]*m", "", text).count("\x1b") == 0


def test_peek_columns_stay_aligned_with_wide_characters(capsys, dsn, gator):
    gator.options(retries=0, task_id="任务-1").task(tasks.fail, "x")
    gator.options(retries=0, task_id="plain-2").task(tasks.fail, "y")
    for _ in range(2):
        gator.pop()
    _, out, _ = run_cli(capsys, "dlq", "peek", dsn)
    header, first, second = out.splitlines()[:3]
    # "任务-1" is 4 characters but takes 6 columns on a terminal
    column = [width(line[: line.index("tests.tasks.fail")]) for line in (first, second)]
    assert column == [header.index("CALLABLE")] * 2


def test_peek_of_a_missing_queue_is_one_line_and_exit_2(capsys, tmp_path):
    code, out, err = run_cli(capsys, "dlq", "peek", f"sqlite://{tmp_path}/nowhere.db")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "no queue database" in err


def test_peek_limit_must_be_positive(capsys, dsn, gator):
    code, _, err = run_cli(capsys, "dlq", "peek", dsn, "--limit", "0")
    assert code == 2
    assert err.count("\n") == 1 and "must be at least 1" in err


# -- dlq redrive -------------------------------------------------------------


def test_redrive_moves_tasks_back_without_their_failure_attributes(capsys, tmp_path):
    # Given signed tasks that failed once and were dead-lettered
    dsn = f"sqlite://{tmp_path}/q.db"
    gator = Gator(dsn, signing_key="k1")
    keys = ["a", "b", "c"]
    for key in keys:
        gator.options(retries=0).task(tasks.fail_times, key, 1)
    for _ in keys:
        assert gator.pop().status == FAILED
    # When redriven
    code, out, err = run_cli(capsys, "dlq", "redrive", dsn)
    # Then all three are back in the queue, as sent: signed, no reason
    assert (code, err) == (0, "")
    assert out == "redrove 3 message(s) from 'all-dlq' to 'all', left 0 in 'all-dlq'\n"
    assert gator.backend.dlq_backend().size() == 0
    back = bodies(gator.backend)
    assert len(back) == 3
    for message in back:
        assert set(message.attributes) == {SIGNATURE_ATTRIBUTE}
    # ...and a worker that checks signatures runs them, this time to success
    signed = Gator(dsn, signing_key="k1")
    assert [signed.pop().status for _ in keys] == [SUCCESS] * 3
    assert signed.len() == 0 and tasks.calls == {key: 2 for key in keys}


def test_redrive_limit(capsys, dsn, gator):
    dead_letter(gator, 3)
    code, out, _ = run_cli(capsys, "dlq", "redrive", dsn, "--limit", "2")
    assert (code, out) == (0, "redrove 2 message(s) from 'all-dlq' to 'all', left 1 in 'all-dlq'\n")
    assert (gator.len(), gator.backend.dlq_backend().size()) == (2, 1)


def test_redrive_on_sqs_fifo_keeps_the_group_and_the_s3_payload(capsys, sqs_endpoint, monkeypatch):
    # Given a FIFO queue whose bodies over 3 KiB go to S3, and a big task
    # that failed once and was dead-lettered
    monkeypatch.setattr(SQSBackend, "max_message_bytes", 4096)
    monkeypatch.setattr(SQSBackend, "attribute_headroom_bytes", 1024)
    s3 = boto3.session.Session().client("s3", region_name="us-east-1", endpoint_url=sqs_endpoint)
    s3.create_bucket(Bucket="redrive-payloads")
    dsn = make_queue(sqs_endpoint, fifo=True) + "&payload_bucket=redrive-payloads"
    gator = Gator(dsn)
    key = "k" * 4000
    gator.options(retries=0, group="g1").task(tasks.fail_times, key, 1)
    assert gator.pop().status == FAILED
    [stored] = s3.list_objects_v2(Bucket="redrive-payloads")["Contents"]
    # When redriven
    code, out, _ = run_cli(capsys, "dlq", "redrive", dsn)
    name = dsn.split("/")[3].split("?")[0]
    dlq_name = name.removesuffix(".fifo") + "-dlq.fifo"
    summary = f"redrove 1 message(s) from {dlq_name!r} to {name!r}, left 0 in {dlq_name!r}\n"
    assert (code, out) == (0, summary)
    # Then the queue has it back: same pointer, size attribute and group,
    # no reason; and the S3 object is still there
    [message] = gator.backend.receive(max_messages=10, wait_seconds=1)
    gator.backend.release([message])
    assert message.group == "g1"
    assert set(message.attributes) == {"ExtendedPayloadSize"}
    assert s3.head_object(Bucket="redrive-payloads", Key=stored["Key"])
    # ...and it runs to success, after which the payload is removed
    assert gator.pop().status == SUCCESS
    assert tasks.calls[key] == 2
    assert "Contents" not in s3.list_objects_v2(Bucket="redrive-payloads")


def test_redrive_interrupted_between_send_and_delete_loses_nothing(capsys, dsn, gator, monkeypatch):
    # Given three dead tasks, and a redrive that dies after sending the
    # batch but before deleting it from the DLQ
    task_ids = dead_letter(gator, 3)
    real_ack = SqliteBackend.ack

    def crash(self, messages, *, keep_payload=False):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(SqliteBackend, "ack", crash)
    code, out, err = run_cli(capsys, "dlq", "redrive", dsn)
    assert (code, out) == (1, "")
    assert err == "alligator: error: RuntimeError: connection lost\n"
    # Then the copies were sent and the originals are still in the DLQ
    assert (gator.len(), gator.backend.dlq_backend().size()) == (3, 3)
    # When it is run again
    monkeypatch.setattr(SqliteBackend, "ack", real_ack)
    assert run_cli(capsys, "dlq", "redrive", dsn)[:2] == (
        0,
        "redrove 3 message(s) from 'all-dlq' to 'all', left 0 in 'all-dlq'\n",
    )
    # Then nothing is lost: every task is in the queue, each exactly twice
    # (the one duplicate per message the order send-then-delete allows)
    in_queue = [json.loads(m.body)["task_id"] for m in bodies(gator.backend)]
    assert collections.Counter(in_queue) == {task_id: 2 for task_id in task_ids}
    assert gator.backend.dlq_backend().size() == 0


def test_redrive_stopped_between_batches_finishes_the_batch(gator):
    # Given 15 dead tasks (two batches), and a Ctrl-C during the first batch
    dead_letter(gator, 15)
    dlq = gator.backend.dlq_backend()
    checks = []

    def should_stop():
        checks.append(1)
        return len(checks) > 1

    # When
    result = redrive_ops.redrive(gator.backend, dlq, should_stop=should_stop)
    # Then the first batch was moved whole, the rest left, nothing twice
    assert (result.moved, result.interrupted, result.left) == (10, True, 5)
    assert (gator.len(), dlq.size()) == (10, 5)
    assert result.summary().endswith("; interrupted: run it again to move the rest")


def test_redrive_leaves_a_task_that_fails_again_while_it_runs(gator, monkeypatch):
    # Given one dead task, and a worker so quick that the task is back in
    # the DLQ as soon as it is redriven
    dead_letter(gator, 1)
    dlq = gator.backend.dlq_backend()
    send_many = gator.backend.send_many

    def send_and_fail_again(messages):
        ids = send_many(messages)
        dlq.send_many([Outgoing(m.body, attributes={ERROR_ATTRIBUTE: "again"}) for m in messages])
        return ids

    monkeypatch.setattr(gator.backend, "send_many", send_and_fail_again)
    # When redriven
    result = redrive_ops.redrive(gator.backend, dlq)
    # Then it was moved once, and its second failure stays in the DLQ,
    # visible (no endless loop)
    assert (result.moved, result.came_back, result.left) == (1, 1, 1)
    assert (gator.len(), dlq.stats().visible) == (1, 1)
    assert "(1 that failed again during this redrive" in result.summary()


def test_redrive_shows_progress_on_a_terminal_only(capsys, dsn, gator, monkeypatch):
    dead_letter(gator, 3)
    # Not a terminal (capsys): quiet on stderr, the summary on stdout
    code, out, err = run_cli(capsys, "dlq", "redrive", dsn, "--limit", "1")
    assert (code, err) == (0, "")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["dlq", "redrive", dsn]) == 0
    assert terminal.getvalue() == "\rredrive: moved 2 of ~2\n"


def test_a_redriven_task_runs_again_with_a_status_store(capsys, tmp_path):
    # Given a task that failed for good: FAILED in the status store
    dsn = f"sqlite://{tmp_path}/q.db"
    gator = Gator(dsn, status=f"sqlite://{tmp_path}/status.db")
    task = gator.options(retries=0).task(tasks.fail_times, "s", 1)
    assert gator.pop().status == FAILED
    assert gator.status(task.task_id).status == FAILED
    # When it is redriven
    assert run_cli(capsys, "dlq", "redrive", dsn)[0] == 0
    # Then the store lets it be claimed again; its attempts keep counting
    assert gator.pop().status == SUCCESS
    state = gator.status(task.task_id)
    assert (state.status, state.attempts) == (SUCCESS, 2)


def test_redriven_copy_has_no_failure_attributes(gator):
    # Unit: the outgoing copy of a dead message
    dead_letter(gator, 1)
    [message] = gator.backend.dlq_backend().receive(max_messages=1, wait_seconds=0)
    assert {ERROR_ATTRIBUTE, ATTEMPTS_ATTRIBUTE, FAILED_AT_ATTRIBUTE} <= set(message.attributes)
    copy = dlq_ops.outgoing(message)
    assert dict(copy.attributes) == {}
    assert (copy.body, copy.dedup_id, copy.delay_seconds) == (message.body, message.message_id, 0)


def poison_and_good(gator):
    """Two dead tasks that can run, and three poison messages: a body that
    is no task, one refused for its signature, one too deep to parse."""
    task_ids = dead_letter(gator, 2)
    gator.backend.dlq_backend().send_many(
        [
            Outgoing("not json", attributes={ERROR_ATTRIBUTE: "PoisonMessageError: not JSON"}),
            Outgoing(
                json.dumps({"task_id": "t", "retries": 0, "async": True, "module": "m"}),
                attributes={ERROR_ATTRIBUTE: "PoisonMessageError: bad signature"},
            ),
            Outgoing("[" * 50_000),  # moved by a redrive policy: no reason
        ]
    )
    return task_ids


def test_redrive_skips_poison_messages(capsys, dsn, gator):
    # Given two dead tasks and three poison messages
    task_ids = poison_and_good(gator)
    # When redriven
    code, out, err = run_cli(capsys, "dlq", "redrive", dsn)
    # Then the tasks are back, the poison left, and the summary says so
    assert (code, err) == (0, "")
    assert out == (
        "redrove 2 message(s) from 'all-dlq' to 'all', left 3 in 'all-dlq' "
        "(3 poison, skipped: --include-poison moves them too)\n"
    )
    assert sorted(json.loads(m.body)["task_id"] for m in bodies(gator.backend)) == sorted(task_ids)
    dlq = gator.backend.dlq_backend()
    assert (dlq.stats().visible, dlq.stats().in_flight) == (3, 0)  # released at once


def test_redrive_include_poison_moves_everything(capsys, dsn, gator):
    poison_and_good(gator)
    code, out, _ = run_cli(capsys, "dlq", "redrive", dsn, "--include-poison")
    assert (code, out) == (0, "redrove 5 message(s) from 'all-dlq' to 'all', left 0 in 'all-dlq'\n")
    assert (gator.len(), gator.backend.dlq_backend().size()) == (5, 0)


def test_redrive_on_sqs_skips_poison_in_batches(capsys, sqs_endpoint):
    # Given 12 dead tasks and one poison message on SQS (two batches)
    dsn = make_queue(sqs_endpoint)
    gator = Gator(dsn)
    dead_letter(gator, 12)
    dlq = gator.backend.dlq_backend()
    dlq.send_many([Outgoing("{}", attributes={ERROR_ATTRIBUTE: "PoisonMessageError: no id"})])
    # When
    code, out, _ = run_cli(capsys, "dlq", "redrive", dsn)
    # Then
    assert code == 0
    assert out.startswith("redrove 12 message(s) from ")
    assert ", left 1 in " in out and "(1 poison, skipped" in out
    stats = dlq.stats()
    assert (stats.visible, stats.in_flight) == (1, 0)
    assert gator.backend.stats().visible == 12


def test_redrive_progress_counts_what_it_skipped(capsys, dsn, gator, monkeypatch):
    poison_and_good(gator)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["dlq", "redrive", dsn]) == 0
    assert terminal.getvalue() == "\rredrive: moved 2 of ~5, skipped 3\n"
    assert "left 3 in 'all-dlq'" in capsys.readouterr().out


def test_redrive_of_a_missing_queue_is_one_line_and_exit_2(capsys, tmp_path):
    code, out, err = run_cli(capsys, "dlq", "redrive", f"sqlite://{tmp_path}/nowhere.db")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "no queue database" in err


# -- logs --------------------------------------------------------------------


def outcome_lines(stderr):
    return [
        line
        for line in stderr.splitlines()
        if "outcome" in line or " success " in line or " dead " in line or " retry " in line
    ]


def test_worker_logs_one_json_line_per_outcome(dsn, gator):
    # Given a success, a retry and a dead letter to come
    ok = gator.task(tasks.add, 1, 2)
    dead = gator.options(retries=0).task(tasks.fail, "bad input")
    retried = gator.options(retries=1, delay_by=0).task(tasks.fail, "try again")
    # When a worker with --log-format json has handled all three
    process = start_worker(dsn, "--log-format", "json", "--max-tasks", "3")
    code, err = stop(process)
    # Then every stderr line is JSON, one per outcome with the fields
    assert code == 0, err
    records = [json.loads(line) for line in err.splitlines()]
    outcomes = {r["task_id"]: r for r in records if "outcome" in r}
    assert {t: r["outcome"] for t, r in outcomes.items()} == {
        ok.task_id: "success",
        dead.task_id: "dead",
        retried.task_id: "retry",
    }
    for record in outcomes.values():
        assert record["attempt"] == 1
        assert record["queued_ms"] >= 0 and record["duration_ms"] >= 0
        assert record["message_id"] and record["time"].endswith("Z")
    assert outcomes[ok.task_id]["message"] == "task success"  # the fields are not repeated
    assert outcomes[ok.task_id]["callable"] == "tests.tasks.add"
    assert outcomes[ok.task_id]["level"] == "info" and outcomes[ok.task_id]["error"] is None
    assert outcomes[retried.task_id]["level"] == "warning"
    assert outcomes[dead.task_id]["level"] == "error"
    assert outcomes[dead.task_id]["error"] == "RuntimeError: bad input"


def test_worker_logs_text_lines_and_the_flag_beats_the_environment(dsn, gator):
    ok = gator.task(tasks.add, 1, 2)
    dead = gator.options(retries=0).task(tasks.fail, "bad input")
    process = start_worker(
        dsn, "--log-format", "text", "--max-tasks", "2", env={"ALLIGATOR_LOG_FORMAT": "json"}
    )
    code, err = stop(process)
    assert code == 0, err
    first, second = outcome_lines(err)
    # A success: task id, callable, outcome, attempt and duration first, short
    assert f" INFO  {ok.task_id} tests.tasks.add success attempt=1 " in first
    assert "ms" in first.split(" attempt=1 ")[1] and len(first) <= 120
    assert "\x1b[" not in err  # no colour: stderr is not a terminal
    # A dead letter: the DLQ it went to, and the error last
    assert f" ERROR {dead.task_id} tests.tasks.fail dead attempt=1 " in second
    assert " dlq=all-dlq " in second
    assert second.endswith(' error="RuntimeError: bad input"')


def test_log_format_comes_from_the_environment(dsn, gator):
    gator.task(tasks.add, 1, 2)
    process = start_worker(dsn, "--max-tasks", "1", env={"ALLIGATOR_LOG_FORMAT": "json"})
    code, err = stop(process)
    assert code == 0, err
    [line] = outcome_lines(err)
    assert json.loads(line)["outcome"] == "success"


# -- the metrics hook --------------------------------------------------------


def test_on_outcome_counts_outcomes():
    # Given a hook counting outcomes by label and callable, as a metrics
    # client would (prometheus_client's Counter(...).labels(...).inc())
    counts = collections.Counter()
    gator = Gator("locmem://")
    gator.task(tasks.add, 1, 2)
    gator.options(retries=1).task(tasks.fail, "once")
    gator.options(retries=0).task(tasks.fail, "dead")

    def count(outcome):
        name = outcome.task.callable_name if outcome.task else "?"
        counts[outcome.label, name] += 1

    worker = Worker(gator, on_outcome=count)
    # When the worker handles the three messages
    while worker.check_and_run_task():
        pass
    worker.close()
    # Then the hook saw each outcome once
    assert counts == {
        ("success", "tests.tasks.add"): 1,
        ("retry", "tests.tasks.fail"): 1,
        ("dead", "tests.tasks.fail"): 1,
    }


def test_a_failing_on_outcome_hook_does_not_stop_the_worker(caplog):
    # Given a hook that always raises
    gator = Gator("locmem://")
    gator.task_many([(tasks.add, (n, n)) for n in range(3)])
    seen = []

    def broken(outcome):
        seen.append(outcome.action)
        raise ValueError("metrics backend down")

    worker = Worker(gator, max_tasks=3, on_outcome=broken, import_allow="tests")
    # When the worker runs (in a thread: no signal handlers installed)
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    thread.join(60)
    # Then every task ran and was settled, and the failures were logged
    assert not thread.is_alive()
    assert seen == [Action.ACK] * 3
    assert gator.len() == 0
    assert caplog.text.count("the on_outcome hook failed") == 3
