"""The Lambda handler with records of several queues in one event (CONTRACT.md
section 9): one function behind two event source mappings. Each record is
settled against the queue its ``eventSourceARN`` names: its backoff, its DLQ,
its FIFO rule. Records are built from real receives on moto's server, as in
tests/test_lambda_handler.py, whose fixtures and helpers these tests share.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from alligator import Gator
from alligator.sqs.lambda_handler import gator_for, handler
from alligator.testing import make_queue
from tests import tasks
from tests import test_lambda_handler as single
from tests.test_lambda_handler import ACCOUNT, REGION, counts, dead_letters, failures, queue_name

# The fixtures of the one-queue tests: moto found through the environment,
# no alligator variable set, no gator cached (autouse), a plain client and
# the event factory.
lambda_environment = single.lambda_environment
sqs = single.sqs
receive_event = single.receive_event


def _interleave(*events: dict[str, Any]) -> dict[str, Any]:
    """One event with the records of several, taken in turn."""
    lists = [list(event["Records"]) for event in events]
    records = []
    while any(lists):
        for each in lists:
            if each:
                records.append(each.pop(0))
    return {"Records": records}


def _by_task(event: dict[str, Any]) -> dict[str, str]:
    """task_id -> messageId, for the records of an event."""
    return {json.loads(r["body"])["task_id"]: r["messageId"] for r in event["Records"]}


def test_records_of_two_queues_are_settled_each_against_its_own_queue(
    sqs, sqs_endpoint, receive_event, monkeypatch
):
    # Given a standard queue and a FIFO queue, each with a success, a task
    # that fails with retries left and one that fails with none; on the
    # FIFO queue one more task of the same group comes last
    monkeypatch.setenv("ALLIGATOR_BACKOFF_BASE", "600")
    plain_dsn, fifo_dsn = make_queue(sqs_endpoint), make_queue(sqs_endpoint, fifo=True)
    plain, fifo = Gator(plain_dsn), Gator(fifo_dsn)
    made: dict[str, Any] = {}
    for prefix, gator in (("a", plain), ("b", fifo)):
        made[f"{prefix}-ok"] = gator.task(tasks.count, f"{prefix}-ok")
        with gator.options(retries=0) as opts:
            made[f"{prefix}-dead"] = opts.task(tasks.fail, f"{prefix} is exhausted")
        with gator.options(retries=2) as opts:
            made[f"{prefix}-retry"] = opts.task(tasks.fail, f"{prefix} fails once")
    made["b-after"] = fifo.task(tasks.count, "b-after")
    # ...received (without hiding them) and delivered in one event, mixed
    event = _interleave(
        receive_event(plain_dsn, 3, visibility_timeout=0),
        receive_event(fifo_dsn, 4, visibility_timeout=0),
    )
    arns = {record["eventSourceARN"] for record in event["Records"]}
    assert len(arns) == 2
    # When the handler gets it
    response = handler(event, None)
    # Then the two records to retry are reported, and on the FIFO queue the
    # record behind its failure, unrun; the standard queue's records after
    # the FIFO failure ran as usual (the FIFO rule is that queue's alone)
    ids = _by_task(event)
    reported = {made[key].task_id for key in ("a-retry", "b-retry", "b-after")}
    assert sorted(response["batchItemFailures"], key=str) == sorted(
        failures(*(ids[task_id] for task_id in reported))["batchItemFailures"], key=str
    )
    assert tasks.calls == {"a-ok": 1, "b-ok": 1}
    # ...each exhausted record is in its own queue's DLQ, with its reason
    for prefix, dsn in (("a", plain_dsn), ("b", fifo_dsn)):
        [dead] = dead_letters(sqs, dsn)
        assert json.loads(dead["body"])["task_id"] == made[f"{prefix}-dead"].task_id
        assert dead["alligator-error"] == f"RuntimeError: {prefix} is exhausted"
        assert dead["alligator-attempts"] == "1"
    # ...and each failure was backed off on its own queue: hidden there (the
    # FIFO tail with it), while the successes are left for Lambda to delete
    assert counts(sqs, queue_name(plain_dsn)) == {"visible": 1, "in_flight": 1, "delayed": 0}
    assert counts(sqs, queue_name(fifo_dsn)) == {"visible": 1, "in_flight": 2, "delayed": 0}


def test_a_source_queue_that_does_not_exist_fails_its_records_alone(
    sqs, sqs_endpoint, receive_event
):
    # Given an event whose first records come from a good queue, the last
    # from a queue that is not there (a mapping left behind)
    dsn = make_queue(sqs_endpoint)
    Gator(dsn).task_many([(tasks.count, (f"k{n}",), {}) for n in range(2)])
    event = receive_event(dsn, 2)
    stray = dict(event["Records"][0], messageId="stray")
    stray["eventSourceARN"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:no-such-queue-here"
    event["Records"].append(stray)
    # When
    response = handler(event, None)
    # Then the stray record alone is reported for retry (its queue was
    # looked up before any task ran), and the good queue's tasks ran once:
    # failing the whole invocation would run them again with the batch
    assert response == failures("stray")
    assert tasks.calls == {"k0": 1, "k1": 1}


def test_one_queue_that_cannot_be_settled_does_not_undo_the_other(sqs, sqs_endpoint, receive_event):
    # Given a warm function serving two queues, and records of both: a
    # success on the first, and on the second a failure the handler cannot
    # back off, because that queue was deleted since the function started
    good_dsn, gone_dsn = make_queue(sqs_endpoint), make_queue(sqs_endpoint)
    ok = Gator(good_dsn).task(tasks.count, "ok")
    with Gator(gone_dsn).options(retries=3) as opts:
        failing = opts.task(tasks.fail, "cannot be backed off")
    event = _interleave(receive_event(good_dsn, 1), receive_event(gone_dsn, 1))
    for record in event["Records"]:
        gator_for(record["eventSourceARN"])
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=queue_name(gone_dsn))["QueueUrl"])
    # When
    response = handler(event, None)
    # Then the invocation does not fail (which would make Lambda run the
    # first queue's success again): the second queue's record is reported
    # for retry, and the success is done
    assert response == failures(failing.message_id)
    assert tasks.calls == {"ok": 1}
    assert ok.message_id in {record["messageId"] for record in event["Records"]}


def test_when_no_source_gets_anywhere_the_invocation_fails(sqs, sqs_endpoint, receive_event):
    # Given a record of a queue that is not there, and a failure on a queue
    # deleted since the function started (it cannot be backed off)
    gone_dsn = make_queue(sqs_endpoint)
    with Gator(gone_dsn).options(retries=3) as opts:
        opts.task(tasks.fail_times, "cannot be backed off", 5)
    event = receive_event(gone_dsn, 1)
    gator_for(event["Records"][0]["eventSourceARN"])
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=queue_name(gone_dsn))["QueueUrl"])
    stray = dict(event["Records"][0], messageId="stray")
    stray["eventSourceARN"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:no-such-queue-here"
    event["Records"].append(stray)
    # When / Then nothing was handled anywhere: the invocation fails, so
    # Lambda records the error and retries the batch
    with pytest.raises(Exception):  # noqa: B017 - SQS's own error for the deleted queue
        handler(event, None)
    assert tasks.calls == {"cannot be backed off": 1}
