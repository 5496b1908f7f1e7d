"""Refused at the source (CONTRACT.md section 4, item 15; issue 11, items
8 and 9): what every consumer would dead-letter on arrival is refused at
enqueue with a ``ValueError`` naming the field, at ``Task(...)``, at
``gator.options(...).task`` and at ``gator.task_many``; on the command line
with exit 2 and one line. The same body sent raw, by another producer,
is poison to the consumer, with that reason. Text no encoder takes (a lone
surrogate) is dead-lettered with an escaped reason, on sqlite and on SQS.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from alligator import Gator, Task
from alligator.cli import main
from alligator.testing import make_queue
from tests import tasks
from tests.helpers import dead_letters, drain_outcomes
from tests.integration import jobs

NOW_ISH = 1_800_000_000  # a Unix time in 2027, for raw bodies

#: ``Task`` keyword arguments every consumer would refuse -> the field the
#: error must name.
REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "retries -1": ({"retries": -1}, "retries"),
    "retries 100000": ({"retries": 100_000}, "retries"),
    "600-character id": ({"task_id": "x" * 600}, "task_id"),
    "empty id": ({"task_id": ""}, "task_id"),
    "id with a CR": ({"task_id": "a\rb"}, "task_id"),
    "id with an ESC": ({"task_id": "a\x1b[2J"}, "task_id"),
    "id with a lone surrogate": ({"task_id": "a\ud800"}, "task_id"),
    "delay_by -1": ({"delay_by": -1}, "delay_by"),
    "delay_by inf": ({"delay_by": float("inf")}, "delay_by"),
    "delay_by nan": ({"delay_by": float("nan")}, "delay_by"),
    "delay_by 1e20": ({"delay_by": 1e20}, "delay_by"),
    "delay_until inf": ({"delay_until": float("inf")}, "delay_until"),
    "delay_until 1e20": ({"delay_until": 1e20}, "delay_until"),
    "101 depends_on": ({"depends_on": [f"d{n}" for n in range(101)]}, "depends_on"),
}


@pytest.fixture(scope="module")
def dsn(sqs_endpoint: str) -> str:
    return make_queue(sqs_endpoint)


@pytest.mark.parametrize("options, field", REFUSED.values(), ids=list(REFUSED))
def test_task_refuses_it_naming_the_field(options, field):
    with pytest.raises(ValueError, match=field):
        Task(**options)


@pytest.mark.parametrize("options, field", REFUSED.values(), ids=list(REFUSED))
def test_the_gator_refuses_it_and_sends_nothing(dsn, options, field):
    # Given a producer on an SQS queue
    gator = Gator(dsn)
    # When / Then each way of enqueueing refuses it, naming the field
    with pytest.raises(ValueError, match=field), gator.options(**options) as opts:
        opts.task(tasks.count, "never")
    with pytest.raises(ValueError, match=field):
        gator.task_many([(tasks.count, ("never",), {})], **options)
    with pytest.raises(ValueError, match=field):
        gator.push(Task(**options), tasks.count, "never")
    # And nothing reached the queue
    assert gator.len() == 0


def test_the_limits_themselves_are_accepted(dsn):
    # Given the edges of each limit
    gator = Gator(dsn)
    edges = [
        {"retries": 0},
        {"retries": 1000},
        {"task_id": "x" * 128},
        {"task_id": "é-ü-✓"},
        {"delay_by": 0},
    ]
    # When they are enqueued, Then nothing is refused
    sent = [gator.task_many([(tasks.count, ("edge",), {})], **options)[0] for options in edges]
    assert all(task.message_id for task in sent)
    gator.queue.purge()


# -- the command line -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["--delay", "inf"], "--delay"),
        (["--delay", "-1"], "--delay"),
        (["--delay", "nan"], "--delay"),
        (["--delay", "1e20"], "delay_by"),
        (["--retries", "100000"], "retries"),
        (["--retries", "-1"], "--retries"),
    ],
)
def test_enqueue_refuses_it_with_exit_2_and_one_line(dsn, capsys, args, words):
    # When
    code = main(["enqueue", dsn, "tests.tasks:count", "--args", '["never"]', *args])
    # Then
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert words in err, err
    assert "Traceback" not in err
    assert Gator(dsn).len() == 0


@pytest.mark.parametrize("grace", ["inf", "-inf", "nan", "-1"])
def test_a_worker_refuses_a_shutdown_grace_that_is_not_finite(dsn, capsys, grace):
    code = main(["worker", dsn, "--shutdown-grace", grace])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "--shutdown-grace" in err, err


# -- the consumer, for another producer's body ------------------------------------------


def raw_body(**changes: Any) -> str:
    data: dict[str, Any] = {
        "task_id": "raw",
        "retries": 0,
        "async": True,
        "is_async": True,
        "module": "tests.tasks",
        "callable": "count",
        "args": ["raw"],
        "kwargs": {},
        "options": {},
    }
    data.update(changes)
    return json.dumps(data)  # (a lone surrogate travels as its JSON escape)


#: Bodies another producer might send -> what the dead-letter reason says.
RAW_REFUSED = {
    raw_body(retries=-1): "retries must be a whole number 0-1000",
    raw_body(retries=100_000): "retries must be a whole number 0-1000",
    raw_body(task_id="x" * 600): "task_id must be a string of 1-128 characters",
    raw_body(task_id=""): "task_id must be a string of 1-128 characters",
    raw_body(task_id="a\rb"): "task_id must be printable",
    raw_body(task_id="a\ud800"): "task_id must be printable",
    raw_body(options={"delay_until": -1}): "delay_until must be a finite Unix time",
    raw_body(options={"delay_until": 1e20}): "delay_until must be a finite Unix time",
    raw_body(options={"depends_on": [f"d{n}" for n in range(101)]}): "at most 100 task ids",
}


def test_the_consumer_dead_letters_such_bodies_as_poison_with_the_reason(sqs_endpoint, aws):
    # Given another producer's bodies, each outside a limit, and a good task
    dsn = make_queue(sqs_endpoint)
    url = aws.get_queue_url(QueueName=dsn.split("?")[0].rsplit("/", 1)[-1])["QueueUrl"]
    for body in RAW_REFUSED:
        aws.send_message(QueueUrl=url, MessageBody=body)
    gator = Gator(dsn)
    gator.task(tasks.count, "good")
    # When a worker drains the queue
    outcomes = drain_outcomes(gator)
    # Then the good task ran once; each bad body is in the DLQ, unchanged,
    # as poison with its reason, after its first receive; none ran
    assert tasks.calls == {"good": 1}
    assert sorted(o.label for o in outcomes) == ["dead"] * len(RAW_REFUSED) + ["success"]
    assert not any(o.ran for o in outcomes if o.label == "dead")
    dead = {letter.body: letter.attributes for letter in dead_letters(gator)}
    assert set(dead) == set(RAW_REFUSED)
    for body, reason in RAW_REFUSED.items():
        error = dead[body]["alligator-error"]
        assert error.startswith("PoisonMessageError: ") and reason in error, (body[:80], error)
        assert dead[body]["alligator-attempts"] == "1"
    assert gator.len() == 0


# -- lone surrogates ------------------------------------------------------------------------


def test_lone_surrogates_are_dead_lettered_with_an_escaped_reason_on_sqlite(tmp_path):
    # Given a sqlite queue and status store, a raw body whose task id is a
    # lone surrogate, and a task whose error text holds one
    gator = Gator(f"sqlite://{tmp_path}/q.db", status=f"sqlite://{tmp_path}/status.db")
    out = str(tmp_path / "runs")
    gator.queue.send_many([_outgoing(raw_body(task_id="\ud800"))])
    failing = gator.task(jobs.fail_with, out, "surrogate", "bad \ud800 text")
    good = gator.task(tasks.count, "good")
    # When a worker drains it (each receive reads the store: none may choke)
    outcomes = drain_outcomes(gator)
    # Then the good one ran, the failing one ran once, and both bad ones are
    # in the DLQ with a reason that any encoder takes
    assert tasks.calls == {"good": 1}
    assert jobs.read(out) == ["surrogate"]
    assert sorted(o.label for o in outcomes) == ["dead", "dead", "success"]
    reasons = sorted(letter.attributes["alligator-error"] for letter in dead_letters(gator))
    assert reasons == [
        "PoisonMessageError: task_id must be printable characters only",
        "RuntimeError: bad \\ud800 text",
    ]
    for reason in reasons:
        reason.encode("utf-8")  # never raises
    # And the status store holds the escaped error too
    state = gator.status(failing.task_id)
    assert state.error == "RuntimeError: bad \\ud800 text"
    assert gator.status(good.task_id).status.name == "SUCCESS"
    assert gator.len() == 0


def test_a_lone_surrogate_in_error_text_reaches_the_sqs_dlq_escaped(sqs_endpoint, aws, tmp_path):
    # Given a task on SQS whose error text holds a lone surrogate (SQS
    # refuses one in an attribute) and a CR
    gator = Gator(make_queue(sqs_endpoint))
    out = str(tmp_path / "runs")
    gator.task(jobs.fail_with, out, "surrogate", "bad \ud800 and\rthis")
    # When a worker runs it, Then it is in the DLQ with the surrogate
    # escaped (the CR is text SQS takes; logs and the CLI escape it)
    [outcome] = drain_outcomes(gator)
    assert outcome.label == "dead" and outcome.ran
    [letter] = dead_letters(gator)
    assert letter.attributes["alligator-error"] == "RuntimeError: bad \\ud800 and\rthis"
    assert gator.len() == 0


def _outgoing(body: str) -> Any:
    from alligator.backends.base import Outgoing

    return Outgoing(body=body)
