"""The Lambda handler against what once failed a whole batch: tasks raising
``BaseException``s, records it cannot settle, a broken DLQ (CONTRACT.md
section 4, the Lambda handler's bullets and items 12 and 14; issue 11,
items 1, 6 and 9).

Records are real messages on moto's server, received over HTTP and shaped
as Lambda's event source mapping does (the fixtures of
tests/test_lambda_handler.py). One invocation each: the bad record is
reported or dead-lettered alone, the others are done, and the invocation
does not fail. Lambda itself is not here: a record the handler does not
report is one Lambda would delete.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import pytest

from alligator import Gator
from alligator.sqs.lambda_handler import gator_for, handler
from alligator.testing import make_queue
from tests import tasks
from tests import test_lambda_handler as base
from tests.helpers import BASE_EXCEPTIONS, raw_task
from tests.integration import jobs
from tests.rule_proxy import RuleProxy
from tests.test_lambda_handler import (
    counts,
    dead_letters,
    dlq_name,
    failures,
    queue_name,
    queue_url,
    send_raw,
    visible_ids,
)

# The event factory and the environment of tests/test_lambda_handler.py.
lambda_environment = base.lambda_environment
sqs = base.sqs
receive_event = base.receive_event


def by_task_id(dead: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {json.loads(d["body"])["task_id"]: d for d in dead}


# -- 1. a task cannot fail the invocation -------------------------------------------------


def test_base_exceptions_fail_their_record_alone(
    sqs, sqs_endpoint, receive_event, monkeypatch, tmp_path
):
    # Given, in one batch, tasks raising KeyboardInterrupt, SystemExit(0|1|3)
    # and CancelledError, one whose module calls sys.exit(3) at import (one
    # retry each), and good tasks
    monkeypatch.setenv("ALLIGATOR_BACKOFF_BASE", "1")
    monkeypatch.setenv("ALLIGATOR_BACKOFF_MAX", "1")
    monkeypatch.setenv("ALLIGATOR_IMPORT_ALLOW", "tests")
    dsn = make_queue(sqs_endpoint)
    out = str(tmp_path / "runs")
    gator = Gator(dsn)
    expected: dict[str, str] = {}  # task id -> alligator-error
    hostile: list[str] = []  # message ids
    with gator.options(retries=1) as opts:
        for key, (kind, error) in BASE_EXCEPTIONS.items():
            task = opts.task(jobs.raises, out, key, kind)
            expected[task.task_id] = error
            hostile.append(task.message_id)
    hostile.append(
        send_raw(sqs, dsn, raw_task("tests.exits_at_import", "run", task_id="imp", retries=1))
    )
    expected["imp"] = "SystemExit: 3"
    good = gator.task_many([(tasks.count, (f"good{n}",), {}) for n in range(3)])
    event = receive_event(dsn, len(hostile) + len(good))
    # When one invocation handles the batch
    response = handler(event, None)
    # Then exactly the hostile records are reported, for their retry; the
    # good ones ran once and are left for Lambda to delete
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(hostile)
    assert tasks.calls == {f"good{n}": 1 for n in range(3)}
    assert Counter(jobs.read(out)) == dict.fromkeys(BASE_EXCEPTIONS, 1)
    # When their retries arrive, in a second invocation
    retried = receive_event(dsn, len(hostile))
    assert handler(retried, None) == failures()
    # Then each ran once more, and is in the DLQ alone, named by its
    # exception, after two attempts; nothing else is
    assert Counter(jobs.read(out)) == dict.fromkeys(BASE_EXCEPTIONS, 2)
    dead = by_task_id(dead_letters(sqs, dsn))
    assert {task_id: d["alligator-error"] for task_id, d in dead.items()} == expected
    assert {d["alligator-attempts"] for d in dead.values()} == {"2"}
    assert tasks.calls == {f"good{n}": 1 for n in range(3)}


# -- 9. records the handler cannot settle ----------------------------------------------------


def test_malformed_records_are_reported_or_dead_lettered_alone(sqs, sqs_endpoint, receive_event):
    # Given one batch: good records, one without a receipt handle, two with
    # a receive count that is not one ("x", "-3"), and three whose body is
    # not a string
    dsn = make_queue(sqs_endpoint)
    gator = Gator(dsn)
    names = ["good0", "good1", "no-receipt", "count-x", "count-neg", "dict", "none", "number"]
    sent = {name: gator.task(tasks.count, name).message_id for name in names}
    event = receive_event(dsn, len(names), visibility_timeout=0)
    records = {r["messageId"]: r for r in event["Records"]}
    by_name = {name: records[message_id] for name, message_id in sent.items()}
    del by_name["no-receipt"]["receiptHandle"]
    by_name["count-x"]["attributes"]["ApproximateReceiveCount"] = "x"
    by_name["count-neg"]["attributes"]["ApproximateReceiveCount"] = "-3"
    by_name["dict"]["body"] = {"task_id": "dict"}
    by_name["none"]["body"] = None
    by_name["number"]["body"] = 42
    # When one invocation handles it
    response = handler(event, None)
    # Then it did not fail; only the record it cannot act on is reported
    assert response == failures(sent["no-receipt"])
    # And the good records ran once each, those with a bad count too (as a
    # first attempt); the others did not run
    assert tasks.calls == {"good0": 1, "good1": 1, "count-x": 1, "count-neg": 1}
    # And the bodies that are not strings are in the DLQ alone, as poison,
    # gone from the queue
    dead = dead_letters(sqs, dsn)
    assert len(dead) == 3
    for d in dead:
        assert d["alligator-error"].startswith("PoisonMessageError: "), d
        assert "not a string" in d["alligator-error"], d
        assert d["alligator-attempts"] == "1"
    # (each with the body as its JSON text: SQS takes no empty body)
    assert sorted(d["body"] for d in dead) == sorted(["42", '{"task_id": "dict"}', "null"])
    # And nothing was lost: what Lambda would delete ran or is in the DLQ;
    # the reported record is still in the queue (received with visibility
    # 0 here, so visible)
    left = set(visible_ids(sqs, dsn))
    assert sent["no-receipt"] in left
    assert not left & {sent[name] for name in ("dict", "none", "number")}


def test_a_record_that_is_not_an_object_does_not_fail_the_batch(sqs, sqs_endpoint, receive_event):
    # Given a batch with a good record and entries that are not records
    dsn = make_queue(sqs_endpoint)
    ok = Gator(dsn).task(tasks.count, "ok")
    event = receive_event(dsn, 1)
    event["Records"] += ["not a record", None]
    # When / Then the good record runs and the invocation succeeds
    assert handler(event, None) == failures()
    assert tasks.calls == {"ok": 1}
    assert ok.message_id in [r["messageId"] for r in event["Records"] if isinstance(r, dict)]


# -- 6. a broken dead-letter queue -----------------------------------------------------------


@pytest.mark.parametrize("how", ["deleted", "access denied"])
def test_a_broken_dlq_leaves_the_poison_hidden_and_the_rest_done(
    sqs, sqs_endpoint, receive_event, monkeypatch, capsys, how
):
    # Given a warm function whose DLQ was checked, then deleted or made to
    # refuse our copies, and a batch with poison among good records
    monkeypatch.setenv("ALLIGATOR_BACKOFF_MAX", "30")
    dsn = make_queue(sqs_endpoint)
    dlq = dlq_name(dsn)

    def deny_the_dlq(action: str, params: dict[str, Any]) -> str | None:
        to_dlq = str(params.get("QueueUrl", "")).endswith("/" + dlq)
        if how == "access denied" and action.startswith("SendMessage") and to_dlq:
            return "AccessDenied"
        return None

    poison = send_raw(sqs, dsn, "this is not a task")
    gator = Gator(dsn)
    good = gator.task_many([(tasks.count, (f"good{n}",), {}) for n in range(2)])
    event = receive_event(dsn, 3)
    with RuleProxy(sqs_endpoint, deny_the_dlq) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.url)
        gator_for(event["Records"][0]["eventSourceARN"])  # warm: DLQ checked
        if how == "deleted":
            sqs.delete_queue(QueueUrl=queue_url(sqs, dlq))
        # When one invocation handles the batch
        response = handler(event, None)
        if how == "access denied":
            assert proxy.refused["SendMessage"] == 1
    # Then only the poison is reported; the good records ran once
    assert response == failures(poison)
    assert tasks.calls == {"good0": 1, "good1": 1}
    # And the poison is still in the queue, hidden for backoff_max, with an
    # ERROR saying why (the good ones are Lambda's to delete)
    assert counts(sqs, queue_name(dsn))["in_flight"] == 3
    err = capsys.readouterr().err
    assert "cannot copy to the dead-letter queue" in err and "hidden for 30 s" in err, err
    assert poison in err
    assert all(task.message_id != poison for task in good)


def test_a_fifo_group_waits_behind_poison_its_broken_dlq_could_not_take(
    sqs, sqs_endpoint, receive_event, monkeypatch
):
    # Given a FIFO batch: poison, then two tasks of the same group; and a
    # DLQ deleted after the function checked it
    monkeypatch.setenv("ALLIGATOR_BACKOFF_MAX", "30")
    dsn = make_queue(sqs_endpoint, fifo=True)
    poison = send_raw(sqs, dsn, "not a task", MessageGroupId="g", MessageDeduplicationId="poison")
    with Gator(dsn).options(group="g") as opts:
        behind = [opts.task(tasks.count, key).message_id for key in ("b1", "b2")]
    event = receive_event(dsn, 3, visibility_timeout=0)
    gator_for(event["Records"][0]["eventSourceARN"])
    sqs.delete_queue(QueueUrl=queue_url(sqs, dlq_name(dsn)))
    # When one invocation handles it
    response = handler(event, None)
    # Then nothing of the group ran; all three are reported; and the two
    # behind the poison stay hidden as long as it does, not released to
    # overtake it
    assert response == failures(poison, *behind)
    assert tasks.calls == {}
    assert visible_ids(sqs, dsn) == []
    assert counts(sqs, queue_name(dsn))["in_flight"] == 3


# -- the log says it all --------------------------------------------------------------------


def test_a_hook_error_in_lambda_is_logged_and_the_record_done(
    sqs, sqs_endpoint, receive_event, monkeypatch, capsys, tmp_path
):
    # Given a task whose on_success hook raises
    dsn = make_queue(sqs_endpoint)
    out = str(tmp_path / "runs")
    with Gator(dsn).options(on_success=jobs.hook_raises, retries=2) as opts:
        opts.task(jobs.append, out, "hooked")
    event = receive_event(dsn, 1)
    # When / Then it is a success: not reported, run once, nothing dead
    assert handler(event, None) == failures()
    assert jobs.read(out) == ["hooked"]
    assert dead_letters(sqs, dsn) == []
    err = capsys.readouterr().err
    assert "on_success broke" in err and "\x1b" not in err


@pytest.fixture(autouse=True)
def _quiet_root(caplog: pytest.LogCaptureFixture) -> None:
    # The handler logs through its own stderr handler (capsys reads it).
    caplog.set_level(logging.CRITICAL)
