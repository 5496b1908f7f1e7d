"""Bad input everywhere: hostile bodies sent straight to the queue, broken
payload pointers, arguments that cannot travel, failures while loading.

The promise (CONTRACT section 5): a bad message never stops a worker, never
blocks the messages behind it, and ends in the dead-letter queue with its
reason; nothing is lost.
"""

from __future__ import annotations

import json
import logging
import sys

import boto3
import pytest

import tests
from alligator import Gator, Worker, wire
from alligator.backends.base import ERROR_ATTRIBUTE, SIGNATURE_ATTRIBUTE, Outgoing
from alligator.cli import main
from alligator.exceptions import ConfigurationError, PoisonMessageError, UnserializableTaskError
from alligator.outcome import Action
from alligator.sqs.payload import POINTER_CLASS
from alligator.testing import make_queue
from tests import tasks
from tests.helpers import make_worker, run_until

NEVER = "tests.never_import"


def task_body(**changes: object) -> str:
    """A valid body for tests.tasks.count("hostile"), with ``changes``."""
    data: dict = {
        "task_id": "hostile",
        "retries": 0,
        "async": True,
        "is_async": True,
        "module": "tests.tasks",
        "callable": "count",
        "args": ["hostile"],
        "kwargs": {},
        "options": {},
    }
    data.update(changes)
    return json.dumps(data)


#: Bodies both backends take, each of which must end in the DLQ.
HOSTILE = [
    "not json {",
    "[" * 100_000,  # deep nesting
    '{"a":' * 50_000,
    "1" * 100_000,  # a number too big to parse
    " " * 1_000_000,  # a megabyte of whitespace
    "null",
    "42",
    '"a string"',
    "[]",
    "{}",
    task_body().replace('"retries": 0', '"retries": NaN'),
    task_body().replace('"retries": 0', '"retries": 1e400'),
    task_body(task_id=1),
    task_body(task_id="x" * 600),
    task_body(retries="2"),
    task_body(retries=-1),
    task_body(retries=10**30),
    task_body(**{"async": "yes", "is_async": "yes"}),
    task_body(module=["tests"]),
    task_body(module="tests/tasks"),
    task_body(callable={"name": "count"}),
    task_body(args="abc"),
    task_body(kwargs=[1]),
    task_body(kwargs={"not an identifier": 1}),
    task_body(options="x"),
    task_body(options={"on_error": "tests.tasks.fail"}),
    task_body(options={"delay_until": "tomorrow"}),
    task_body(options={"delay_until": 1e308}),
    task_body(options={"depends_on": "an-id"}),
    task_body(module="os", callable="system", args=["echo pwned"]),
    task_body().replace('"module": "tests.tasks"', '"module": "\\u006fs"'),  # "os"
    task_body(module=NEVER, callable="run"),
    task_body(options={"on_start": {"module": NEVER, "callable": "hook"}}),
    task_body(module="tests.tasks", callable="no_such_function"),
    task_body(module="tests.tasks", callable="lock"),  # not callable
    task_body(module="tests.no_such_module", callable="run"),
    json.dumps([POINTER_CLASS]),  # a pointer missing its details
    '["' + POINTER_CLASS + '", ' + "[" * 50_000,  # a pointer nested to death
]
#: Only the local backends take these (SQS refuses empty bodies and NULs).
LOCAL_ONLY = ["", "\x00\x01\x02"]
#: Pointers to objects that cannot exist, for SQS.
SQS_ONLY = [
    json.dumps([POINTER_CLASS, {"s3BucketName": "no-such-bucket-hostile", "s3Key": "k"}]),
    json.dumps([POINTER_CLASS, {"s3BucketName": "Not_A_Bucket!!", "s3Key": "k"}]),
    json.dumps([POINTER_CLASS, {"s3BucketName": "b", "s3Key": 7}]),
]


@pytest.fixture(params=["locmem", "sqs"])
def hostile_gator(request):
    if request.param == "locmem":
        gator = Gator("locmem://")
        bodies = HOSTILE + LOCAL_ONLY
    else:
        # Several receives are in flight: make moto's atomic, as SQS's are
        # (see the fixture), or one message can be handed out twice.
        request.getfixturevalue("atomic_receives")
        gator = Gator(make_queue(request.getfixturevalue("sqs_endpoint")))
        bodies = HOSTILE + SQS_ONLY
    yield gator, bodies
    gator.backend.close()


def all_dead_letters(gator: Gator, expected: int) -> list:
    """Every message in the DLQ (SQS hands them out a few at a time)."""
    dlq = gator.backend.dlq_backend()
    found: dict = {}
    for _ in range(50):
        for message in dlq.receive(max_messages=10, wait_seconds=0):
            found[message.message_id] = message
        if len(found) >= expected:
            break
    return list(found.values())


def _names_an_allowed_module(body: str) -> bool:
    """A well-formed task naming a module in the allow-list (a callable it
    does not have): that is a failed run, not poison."""
    try:
        data = wire.decode(body)
    except PoisonMessageError:
        return False
    return all(module == "tests.tasks" for module in wire.modules_named(data))


def test_hostile_bodies_go_to_the_dlq_and_good_tasks_between_them_run(hostile_gator, caplog):
    # Given hostile bodies sent raw, with a good task after each
    gator, bodies = hostile_gator
    for n, text in enumerate(bodies):
        gator.backend.send_many([Outgoing(text)])
        gator.task(tasks.count, f"good{n}")
    total = 2 * len(bodies)
    # When a worker allowed only tests.tasks runs until it has seen them all
    with caplog.at_level(logging.INFO, logger="alligator"):
        outcomes = run_until(gator, import_allow=["tests.tasks"], count=total)
    # Then it is still whole: no thread crashed, every message was handled
    assert not [r for r in caplog.records if "crashed" in r.getMessage()]
    assert len(outcomes) == total
    # every good task ran exactly once
    assert sorted(tasks.calls) == sorted(f"good{n}" for n in range(len(bodies)))
    assert set(tasks.calls.values()) == {1}
    # every hostile body is in the DLQ, unchanged, with its reason: poison,
    # or (a callable missing from an allowed module, as in a rolling deploy)
    # a failed run whose retries are used up
    dead = all_dead_letters(gator, len(bodies))
    assert sorted(m.body for m in dead) == sorted(bodies)
    for message in dead:
        reason = message.attributes[ERROR_ATTRIBUTE]
        expected = (
            "UnknownCallableError: "
            if _names_an_allowed_module(message.body)
            else ("PoisonMessageError: ")
        )
        assert reason.startswith(expected), reason
    # nothing is left behind, and nothing forbidden was imported
    assert gator.len() == 0
    assert NEVER not in sys.modules and not tests.__dict__.get("never_import_log")


def test_hostile_signatures_are_poison_and_signed_tasks_still_run():
    # Given a signing queue with forged, binary-looking and huge signatures
    gator = Gator("locmem://", signing_key="k")
    forged = ["é" * 64, "\ud800", "0" * 64, "x" * 300_000, "", " "]
    for n, signature in enumerate(forged):
        gator.backend.send_many(
            [Outgoing(task_body(args=[f"bad{n}"]), attributes={SIGNATURE_ATTRIBUTE: signature})]
        )
        gator.task(tasks.count, f"good{n}")
    # When
    outcomes = run_until(gator, import_allow="tests", count=2 * len(forged))
    # Then the forged ones are dead, the signed ones ran
    dead = [o for o in outcomes if o.action is Action.DEAD]
    assert len(dead) == len(forged)
    assert {o.error for o in dead} <= {
        "PoisonMessageError: signature is wrong",
        "PoisonMessageError: signature is missing",
    }
    assert sorted(tasks.calls) == sorted(f"good{n}" for n in range(len(forged)))


def test_a_payload_that_cannot_be_fetched_is_retried_not_lost(monkeypatch):
    # Given a queue whose payload store fails (S3 throttled or unreachable)
    gator = Gator("locmem://")
    gator.task(tasks.count, "fetched")
    backend = gator.backend

    def unreachable(text: str) -> str:
        raise OSError("S3 is unreachable")

    monkeypatch.setattr(backend.payloads, "load", unreachable)
    outcomes: list = []
    worker = make_worker(gator, import_allow="tests", on_outcome=outcomes.append)
    # When the worker meets it
    assert worker.check_and_run_task()
    # Then it is retried (not dead-lettered, not a crash) and still queued
    [outcome] = outcomes
    assert outcome.action is Action.RETRY
    assert outcome.error == "OSError: S3 is unreachable"
    assert gator.len() == 1
    # and runs once the store is back
    monkeypatch.undo()
    assert worker.check_and_run_task()
    worker.close()
    assert tasks.calls["fetched"] == 1 and gator.len() == 0


def test_poison_too_big_for_the_dlq_stays_in_the_queue_and_the_worker_goes_on(sqs_endpoint, caplog):
    # Given a DLQ that takes only small messages (as a body a few bytes under
    # 1 MiB leaves no room for the reason on real SQS)
    dsn = make_queue(sqs_endpoint)
    gator = Gator(dsn)
    client = boto3.session.Session().client(
        "sqs", region_name="us-east-1", endpoint_url=sqs_endpoint
    )
    dlq_url = gator.backend.dlq_url
    client.set_queue_attributes(QueueUrl=dlq_url, Attributes={"MaximumMessageSize": "1024"})
    gator.backend.send_many([Outgoing("not json " + "x" * 4000)])
    gator.task(tasks.count, "behind")
    # When a worker handles both
    with caplog.at_level(logging.ERROR, logger="alligator"):
        outcomes = run_until(gator, import_allow="tests", count=2)
    # Then the task behind it ran, the poison is still in the queue (hidden
    # for the longest backoff), and the ERROR says why
    assert [o.action for o in outcomes] == [Action.DEAD, Action.ACK]
    assert tasks.calls["behind"] == 1
    assert gator.len() == 1
    assert any("cannot copy to the dead-letter queue" in r.getMessage() for r in caplog.records)
    client.close()


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        (({1, 2},), {}, "argument 0"),
        ((1, object()), {}, "argument 1"),
        ((float("nan"),), {}, "argument 0"),
        ((float("inf"),), {}, "argument 0"),
        ((b"bytes",), {}, "argument 0"),
        ((), {"when": __import__("datetime").datetime.now()}, "keyword argument 'when'"),
    ],
)
def test_non_json_arguments_are_refused_at_enqueue_naming_them(args, kwargs, named):
    gator = Gator("locmem://")
    with pytest.raises(UnserializableTaskError, match=named):
        gator.task(tasks.echo, *args, **kwargs)
    assert gator.len() == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ALLIGATOR_BACKOFF_BASE", "soon"),
        ("ALLIGATOR_BACKOFF_BASE", "0"),
        ("ALLIGATOR_BACKOFF_MAX", "99999"),
        ("ALLIGATOR_IMPORT_ALLOW", "myapp.*"),
    ],
)
def test_bad_environment_is_a_configuration_error_naming_it(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        Worker(Gator("locmem://"))
    assert "\n" not in str(caught.value)


@pytest.fixture
def alligator_logger():
    """``alligator worker`` configures the alligator logger for the process
    (its own stderr handler, no propagation); put it back for other tests."""
    logger = logging.getLogger("alligator")
    saved = logger.handlers[:], logger.level, logger.propagate
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.mark.parametrize(
    "argv",
    [
        ["enqueue", "locmem://", "tests.tasks:add", "--args", "not json"],
        ["enqueue", "locmem://", "tests.tasks:add", "--args", '{"a": 1}'],
        ["enqueue", "locmem://", "tests.tasks:add", "--kwargs", "[1]"],
        ["enqueue", "locmem://?visibility_timeout=-1", "tests.tasks:add"],
        ["worker", "locmem://?batch_size=11"],
        ["worker", "sqs://us-east-1/q?wait_time=21"],
    ],
)
def test_bad_command_lines_exit_2_with_one_line(argv, capsys, alligator_logger):
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(("alligator: error:", "alligator enqueue: error:"))
