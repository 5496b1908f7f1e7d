"""`alligator schedule sync` and `schedule list` against moto's EventBridge
Scheduler and SQS, over HTTP (the `sqs_endpoint` server serves both)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from alligator import Gator, Task, wire
from alligator.cli import main
from alligator.testing import drain, make_queue
from tests import schedule_tasks

ROLE = "arn:aws:iam::123456789012:role/alligator-scheduler"
PLACEHOLDER = "<aws.scheduler.scheduled-time>"


@pytest.fixture
def scheduler(sqs_endpoint):
    """A plain boto3 scheduler client on moto, to look behind sync's back."""
    import boto3

    client = boto3.session.Session().client(
        "scheduler", region_name="us-east-1", endpoint_url=sqs_endpoint
    )
    yield client
    client.close()


@pytest.fixture
def group():
    return f"g-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def _no_role_or_key_from_outside(monkeypatch):
    monkeypatch.delenv("ALLIGATOR_SCHEDULER_ROLE", raising=False)
    monkeypatch.delenv("ALLIGATOR_SIGNING_KEY", raising=False)


def sync(capsys, dsn, group, *extra, schedules="tests.schedule_tasks:SCHEDULES"):
    code = main(["schedule", "sync", dsn, schedules, "--group", group, *extra])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def queue_arn(aws, dsn):
    name = dsn.split("/")[3].split("?")[0]
    url = aws.get_queue_url(QueueName=name)["QueueUrl"]
    return aws.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def test_sync_creates_the_schedules(capsys, sqs_endpoint, aws, scheduler, group):
    # Given a queue and the two schedules of the worked example
    dsn = make_queue(sqs_endpoint)
    # When they are synced
    code, lines, err = sync(capsys, dsn, group, "--role-arn", ROLE)
    # Then the group and both schedules are created, and said so
    assert (code, err) == (0, "")
    assert lines == [
        f"created group {group}",
        "created nightly-report (cron(0 2 * * ? *), Europe/Paris)",
        "created poll-inbox (rate(5 minutes), UTC)",
    ]
    nightly = scheduler.get_schedule(Name="nightly-report", GroupName=group)
    assert nightly["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert nightly["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert nightly["GroupName"] == group
    assert nightly["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = nightly["Target"]
    assert (target["Arn"], target["RoleArn"]) == (queue_arn(aws, dsn), ROLE)
    assert "SqsParameters" not in target
    # And the input is the task's wire body, its id left to EventBridge
    body = wire.decode(target["Input"])
    assert body["task_id"] == f"nightly-report@{PLACEHOLDER}"
    assert (body["module"], body["callable"], body["args"]) == (
        "tests.schedule_tasks",
        "report",
        ["sales"],
    )
    # And a rate starts on its grid, so EventBridge fires when the local
    # scheduler would
    poll = scheduler.get_schedule(Name="poll-inbox", GroupName=group)
    assert poll["StartDate"].timestamp() % 300 == 0
    assert wire.decode(poll["Target"]["Input"])["kwargs"] == {"limit": 50}
    assert wire.decode(poll["Target"]["Input"])["retries"] == 2


def test_a_firing_from_eventbridge_is_the_local_schedulers_task(
    capsys, sqs_endpoint, aws, scheduler, group
):
    # Given a synced schedule
    dsn = make_queue(sqs_endpoint)
    sync(capsys, dsn, group, "--role-arn", ROLE)
    target = scheduler.get_schedule(Name="nightly-report", GroupName=group)["Target"]
    # When EventBridge fires it (what it does: fill in the time, send the input)
    body = target["Input"].replace(PLACEHOLDER, "2026-12-02T01:00:00Z")
    gator = Gator(dsn)
    url = aws.get_queue_url(QueueName=gator.backend.queue_name)["QueueUrl"]
    aws.send_message(QueueUrl=url, MessageBody=body)
    # Then a worker runs the same task the local scheduler makes for that firing
    [task] = drain(gator)
    local = schedule_tasks.SCHEDULES[0].task(datetime(2026, 12, 2, 1, tzinfo=UTC))
    assert task.task_id == local.task_id == "nightly-report@2026-12-02T01:00:00Z"
    assert task.result == "sales report"
    assert Task.deserialize(body).task_id == task.task_id


def test_a_second_sync_changes_nothing(capsys, sqs_endpoint, group):
    # Given schedules already synced (the role from the environment this time)
    dsn = make_queue(sqs_endpoint)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALLIGATOR_SCHEDULER_ROLE", ROLE)
        sync(capsys, dsn, group)
        # When the same schedules are synced again
        code, lines, _ = sync(capsys, dsn, group)
    # Then there is nothing to do
    assert (code, lines) == (0, ["no changes"])


def test_sync_updates_what_differs(capsys, sqs_endpoint, scheduler, group):
    # Given a synced schedule that someone changed by hand
    dsn = make_queue(sqs_endpoint)
    sync(capsys, dsn, group, "--role-arn", ROLE)
    found = scheduler.get_schedule(Name="nightly-report", GroupName=group)
    scheduler.update_schedule(
        Name="nightly-report",
        GroupName=group,
        ScheduleExpression="cron(0 3 * * ? *)",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target=found["Target"],
    )
    # When sync runs
    code, lines, _ = sync(capsys, dsn, group, "--role-arn", ROLE)
    # Then it puts it back, naming what differed
    assert code == 0
    [line] = lines
    assert line.startswith("updated nightly-report (cron(0 2 * * ? *), Europe/Paris): ")
    assert {"expression", "time zone", "time window"} <= set(line.split(": ", 1)[1].split(", "))
    again = scheduler.get_schedule(Name="nightly-report", GroupName=group)
    assert again["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert sync(capsys, dsn, group, "--role-arn", ROLE)[1] == ["no changes"]


def test_prune_deletes_what_is_gone(capsys, sqs_endpoint, scheduler, group):
    # Given both schedules synced, then one removed from the code
    dsn = make_queue(sqs_endpoint)
    sync(capsys, dsn, group, "--role-arn", ROLE)
    one = "tests.schedule_tasks:ONE_SCHEDULE"
    # When sync runs without --prune, then with it
    _, kept, _ = sync(capsys, dsn, group, "--role-arn", ROLE, schedules=one)
    code, pruned, _ = sync(capsys, dsn, group, "--role-arn", ROLE, "--prune", schedules=one)
    # Then the first keeps it and says so, the second deletes it
    assert kept == [
        f"kept poll-inbox: in group {group} but not listed (--prune deletes it)",
        "no changes",
    ]
    assert (code, pruned) == (0, ["deleted poll-inbox"])
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]]
    assert names == ["nightly-report"]


def test_fifo_queues_get_a_message_group(capsys, sqs_endpoint, aws, scheduler, group):
    # Given a FIFO queue with content-based deduplication
    name = f"orders-{uuid.uuid4().hex[:8]}.fifo"
    aws.create_queue(
        QueueName=name, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )
    dsn = f"sqs://us-east-1/{name}?endpoint_url={sqs_endpoint}&wait_time=1"
    # When the schedules are synced
    code, _, err = sync(capsys, dsn, group, "--role-arn", ROLE)
    # Then each sends in its own message group
    assert (code, err) == (0, "")
    target = scheduler.get_schedule(Name="poll-inbox", GroupName=group)["Target"]
    assert target["SqsParameters"] == {"MessageGroupId": "poll-inbox"}


def test_fifo_without_content_based_deduplication_is_refused(capsys, sqs_endpoint, aws, group):
    # Given a FIFO queue without content-based deduplication
    name = f"plain-{uuid.uuid4().hex[:8]}.fifo"
    aws.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})
    dsn = f"sqs://us-east-1/{name}?endpoint_url={sqs_endpoint}"
    # When sync runs, Then it refuses with one line saying why
    code, lines, err = sync(capsys, dsn, group, "--role-arn", ROLE)
    assert (code, lines) == (2, [])
    assert "needs ContentBasedDeduplication=true" in err
    assert err.count("\n") == 1


def test_list_shows_the_group(capsys, sqs_endpoint, group):
    # Given synced schedules
    dsn = make_queue(sqs_endpoint)
    sync(capsys, dsn, group, "--role-arn", ROLE)
    # When they are listed
    code = main(["schedule", "list", dsn, "--group", group])
    lines = capsys.readouterr().out.splitlines()
    # Then each appears with its expression, time zone, state and queue
    assert code == 0
    assert lines[0].startswith("NAME") and lines[0].split()[-1] == "QUEUE"
    queue = Gator(dsn).backend.queue_name
    nightly, poll = lines[1:]
    for part in ("nightly-report", "cron(0 2 * * ? *)", "Europe/Paris", "ENABLED", queue):
        assert part in nightly
    assert nightly.split()[-2].endswith(":00:00Z")  # its next firing, 02:00 Paris in UTC
    assert "poll-inbox" in poll and "rate(5 minutes)" in poll


def test_list_of_a_missing_group_is_a_usage_error(capsys, sqs_endpoint, group):
    code = main(["schedule", "list", make_queue(sqs_endpoint), "--group", group])
    err = capsys.readouterr().err
    assert code == 2
    assert f"schedule group '{group}' does not exist" in err


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "no role for EventBridge Scheduler to assume"),
        ([], {}, "SchedulerRoleArn output of the infra/schedules.yaml stack"),
        (["--role-arn", "admin"], {}, "'admin' is not an IAM role ARN"),
        (
            ["--role-arn", ROLE],
            {"ALLIGATOR_SIGNING_KEY": "k"},
            "EventBridge Scheduler cannot sign messages",
        ),
        (["--role-arn", ROLE, "--group", "no spaces"], {}, "group name 'no spaces'"),
    ],
)
def test_sync_refuses_bad_input_with_exit_2(capsys, monkeypatch, sqs_endpoint, args, env, message):
    # Given a missing or bad role, or a signing key EventBridge cannot honour
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    dsn = make_queue(sqs_endpoint)
    # When sync runs
    code = main(["schedule", "sync", dsn, "tests.schedule_tasks:SCHEDULES", *args])
    out, err = capsys.readouterr()
    # Then it exits 2 with one line naming the problem, and changes nothing
    assert (code, out) == (2, "")
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("tests.no_such_module:SCHEDULES", "cannot import 'tests.no_such_module'"),
        ("tests.schedule_tasks:MISSING", "has no attribute 'MISSING'"),
        ("tests.schedule_tasks", "is not MODULE:ATTRIBUTE"),
        ("tests.schedule_tasks:NOT_A_LIST", "is a str, not a list of Schedule objects"),
        ("tests.schedule_tasks:NOT_SCHEDULES", "holds a function, not a Schedule"),
        ("tests.schedule_tasks:TWICE", "names schedule 'nightly-report' twice"),
    ],
)
def test_bad_schedule_references_exit_2(capsys, reference, message):
    # Given a MODULE:ATTRIBUTE that does not name a list of schedules
    code = main(["schedule", "sync", "sqs://us-east-1/q", reference, "--role-arn", ROLE])
    err = capsys.readouterr().err
    # Then exit 2, one line
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_sync_needs_an_sqs_queue(capsys, tmp_path):
    code = main(
        ["schedule", "sync", f"sqlite://{tmp_path / 'q.db'}", "tests.schedule_tasks:SCHEDULES",
         "--role-arn", ROLE]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "EventBridge Scheduler sends to SQS" in err


def test_sync_to_a_missing_queue_exits_2(capsys, sqs_endpoint, group):
    dsn = f"sqs://us-east-1/missing-{uuid.uuid4().hex[:8]}?endpoint_url={sqs_endpoint}"
    code, lines, err = sync(capsys, dsn, group, "--role-arn", ROLE)
    assert (code, lines) == (2, [])
    assert "does not exist" in err
    assert err.count("\n") == 1
