"""Retention (CONTRACT.md section 4, item 13; issue 11, item 2): SQS
deletes a message when its retention period ends, counted from its send,
whatever its visibility or delay. A wait that would outlast what is left
is done by re-sending the message on a standard queue, and by
dead-lettering it, with the reason, on a FIFO queue: a message never
expires unseen.

Queues here keep messages 60 s (SQS's minimum), against backoffs of
60-120 s, on moto's server over HTTP. A proxy records what the worker
sends, since a delayed copy cannot be received to look at it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from alligator import Gator, Task
from alligator.limits import MAX_RETENTION_SECONDS
from alligator.outcome import Outcome
from alligator.testing import make_queue
from tests import helpers, tasks
from tests.helpers import dead_letters
from tests.integration import jobs
from tests.rule_proxy import RuleProxy

RETENTION = 60
#: The margin a 60 s retention keeps in hand (a quarter of it).
MARGIN = RETENTION // 4
NOT_BEFORE = "alligator-not-before"
PRIOR = "alligator-prior-attempts"


@pytest.fixture
def proxy(sqs_endpoint: str):
    with RuleProxy(sqs_endpoint, lambda action, params: None) as proxy:
        yield proxy


def short_lived_queue(aws: Any, endpoint: str, *, fifo: bool = False, **options: Any) -> str:
    """A fresh queue (with its DLQ) keeping messages 60 s; its DSN."""
    dsn = make_queue(endpoint, fifo=fifo)
    name = dsn.split("?")[0].rsplit("/", 1)[-1]
    url = aws.get_queue_url(QueueName=name)["QueueUrl"]
    aws.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": str(RETENTION)})
    return dsn + "".join(f"&{key}={value}" for key, value in options.items())


def counts(gator: Gator) -> tuple[int, int, int]:
    stats = gator.queue.stats()
    return stats.visible, stats.in_flight, stats.delayed


def run_until(gator: Gator, done: Any) -> list[Outcome]:
    """A worker with the queue's own backoff, until ``done(outcomes)``."""
    return helpers.run_until(gator, done=done, timeout=60.0, backoff=gator.backoff)


def sent_copies(proxy: RuleProxy) -> list[dict[str, Any]]:
    """Every message the worker sent back to a queue (not to a DLQ), as
    ``{"body", "delay", "attributes"}``."""
    copies = []
    sent = [(p, p.get("Entries", [])) for p in proxy.requests("SendMessageBatch")]
    sent += [(p, [p]) for p in proxy.requests("SendMessage")]  # (one message alone)
    for params, entries in sent:
        if str(params.get("QueueUrl", "")).endswith(("-dlq", "-dlq.fifo")):
            continue
        for entry in entries:
            attributes = {
                name: value["StringValue"]
                for name, value in entry.get("MessageAttributes", {}).items()
            }
            copies.append(
                {
                    "body": entry["MessageBody"],
                    "delay": entry.get("DelaySeconds", 0),
                    "attributes": attributes,
                }
            )
    return copies


# -- standard queues: re-sent ------------------------------------------------------------


def test_a_backoff_past_the_retention_is_a_resend_that_keeps_the_wait_and_the_count(
    aws, sqs_endpoint, proxy, tmp_path
):
    # Given a queue keeping messages 60 s, a 60-120 s backoff, and a task
    # that fails, with one retry
    dsn = short_lived_queue(aws, sqs_endpoint, backoff_base=120, backoff_max=120)
    out = str(tmp_path / "runs")
    with Gator(dsn).options(retries=1) as opts:
        task = opts.task(jobs.stamp_fail, out, "late")
    # When a worker runs it once
    gator = Gator(proxy.dsn(dsn))
    [retry] = run_until(gator, lambda outcomes: len(outcomes) == 1)
    failed_at = time.time()
    # Then it failed as attempt 1, to be retried after 60-120 s
    assert (retry.label, retry.attempt, retry.ran) == ("retry", 1, True)
    assert 60 <= retry.delay_seconds <= 120
    # And rather than hidden that long (SQS would delete it first), it was
    # re-sent: one copy, same body, that carries the wait and the attempts
    # made, delayed no longer than its own retention allows
    [copy] = sent_copies(proxy)
    assert copy["body"] == task.serialize()
    assert copy["attributes"][PRIOR] == "1"
    not_before = int(copy["attributes"][NOT_BEFORE])
    assert failed_at - 1 + 60 <= not_before <= failed_at + 121
    assert 0 < copy["delay"] <= RETENTION - MARGIN
    # And the original is gone: only the delayed copy is in the queue
    assert counts(gator) == (0, 0, 1)
    assert dead_letters(gator) == []
    assert len(jobs.read(out)) == 1

    # When that copy arrives while its wait is not over yet, and again once
    # it is (the same copy, re-sent by hand with a wait of 3 s left, as the
    # delayed one would arrive in a minute)
    due = time.time() + 3
    replay = {**copy["attributes"], NOT_BEFORE: str(int(due))}
    gator.queue.send_many([_outgoing(copy["body"], replay)])
    outcomes = run_until(gator, lambda outcomes: outcomes[-1].label == "dead")
    # Then it waited without running (sent on again, the count kept), then
    # ran no earlier than due, as attempt 2, its last: the DLQ says so
    assert [o.label for o in outcomes][-1] == "dead"
    assert {o.label for o in outcomes[:-1]} == {"deferred"}
    assert not any(o.ran for o in outcomes[:-1])
    assert outcomes[-1].attempt == 2
    stamps = [float(line.split()[1]) for line in _lines(out)]
    assert len(stamps) == 2 and stamps[1] >= int(due)
    [dead] = [d for d in dead_letters(gator) if d.body == copy["body"]]
    assert dead.attributes["alligator-attempts"] == "2"
    assert dead.attributes["alligator-error"] == "RuntimeError: late failed"


def test_a_deferral_is_resent_within_the_copys_own_retention(aws, sqs_endpoint, proxy):
    # Given a queue keeping messages 60 s and a task due in 2000 s
    # (sent undelayed, as it arrives once SQS's longest delay, 900 s, is over)
    dsn = short_lived_queue(aws, sqs_endpoint)
    task = Task(delay_by=2000)
    task.to_call(tasks.count, "later")
    Gator(dsn).queue.send_many([_outgoing(task.serialize(), {})])
    gator = Gator(proxy.dsn(dsn))
    # When a worker receives it
    [deferred] = run_until(gator, lambda outcomes: len(outcomes) == 1)
    # Then it did not run, and its copy (the body unchanged: it says when it
    # is due) is delayed no longer than the copy's own retention allows
    assert deferred.label == "deferred" and not deferred.ran
    assert tasks.calls == {}
    [copy] = sent_copies(proxy)
    assert copy["body"] == task.serialize()
    assert 0 < copy["delay"] <= RETENTION - MARGIN
    assert counts(gator) == (0, 0, 1)


# -- FIFO queues: dead-lettered with the reason ---------------------------------------------


def test_a_fifo_backoff_past_the_retention_is_dead_lettered_with_that_reason(
    aws, sqs_endpoint, tmp_path
):
    # Given a FIFO queue keeping messages 60 s, a 60-120 s backoff, and a
    # task that fails, with retries left
    dsn = short_lived_queue(aws, sqs_endpoint, fifo=True, backoff_base=120, backoff_max=120)
    gator = Gator(dsn)
    out = str(tmp_path / "runs")
    with gator.options(retries=3) as opts:
        task = opts.task(jobs.stamp_fail, out, "fifo")
    # When a worker runs it
    [outcome] = run_until(gator, lambda outcomes: len(outcomes) == 1)
    # Then it ran once, and, as a re-send would break the group's order,
    # it is in the DLQ with the reason, not left to expire
    assert len(jobs.read(out)) == 1
    assert outcome.ran and outcome.attempt == 1
    assert outcome.label == "dead"  # so its log line and metrics say
    [dead] = dead_letters(gator)
    assert dead.body == task.serialize()
    error = dead.attributes["alligator-error"]
    assert error.startswith("RetentionExceeded: waiting "), error
    assert "outlast the queue's retention (RuntimeError: fifo failed)" in error
    assert dead.attributes["alligator-attempts"] == "1"
    assert counts(gator) == (0, 0, 0)


def test_a_fifo_deferral_past_the_retention_is_dead_lettered_unrun(aws, sqs_endpoint):
    # Given a FIFO queue keeping messages 60 s and a task due in 300 s (FIFO
    # queues have no per-message delay: it waits by visibility)
    dsn = short_lived_queue(aws, sqs_endpoint, fifo=True)
    gator = Gator(dsn)
    task = gator.options(delay_by=300).task(tasks.count, "never")
    # When a worker receives it
    [outcome] = run_until(gator, lambda outcomes: len(outcomes) == 1)
    # Then it never ran, and is in the DLQ saying why
    assert tasks.calls == {} and not outcome.ran
    assert outcome.label == "dead"
    [dead] = dead_letters(gator)
    assert dead.body == task.serialize()
    assert dead.attributes["alligator-error"].startswith("RetentionExceeded: waiting ")
    assert counts(gator) == (0, 0, 0)


def test_a_short_fifo_backoff_within_the_retention_is_a_plain_retry(aws, sqs_endpoint):
    # Given a FIFO queue keeping messages 60 s, and a 1 s backoff
    dsn = short_lived_queue(aws, sqs_endpoint, fifo=True, backoff_base=1, backoff_max=1)
    gator = Gator(dsn)
    with gator.options(retries=1) as opts:
        opts.task(tasks.fail_times, "flaky", 1)
    # When a worker runs it until it succeeds
    outcomes = run_until(gator, lambda outcomes: outcomes[-1].label == "success")
    # Then it was retried in place, not dead-lettered: the wait fits
    assert [(o.label, o.attempt) for o in outcomes] == [("retry", 1), ("success", 2)]
    assert dead_letters(gator) == []


# -- create=true ------------------------------------------------------------------------------


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_create_makes_the_queue_and_its_dlq_with_the_longest_retention(aws, sqs_endpoint, fifo):
    # Given names of queues that do not exist
    name = f"made-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
    gator = Gator(f"sqs://us-east-1/{name}?endpoint_url={sqs_endpoint}&create=true")
    # When the gator first uses the queue
    gator.task(tasks.count, "made")
    # Then the queue and its DLQ keep messages 14 days
    dlq = name.removesuffix(".fifo") + "-dlq" + (".fifo" if fifo else "")
    for queue_name in (name, dlq):
        url = aws.get_queue_url(QueueName=queue_name)["QueueUrl"]
        attributes = aws.get_queue_attributes(
            QueueUrl=url, AttributeNames=["MessageRetentionPeriod", "RedrivePolicy"]
        )["Attributes"]
        assert int(attributes["MessageRetentionPeriod"]) == MAX_RETENTION_SECONDS == 14 * 86400
    assert json.loads(
        aws.get_queue_attributes(
            QueueUrl=aws.get_queue_url(QueueName=name)["QueueUrl"],
            AttributeNames=["RedrivePolicy"],
        )["Attributes"]["RedrivePolicy"]
    )["deadLetterTargetArn"].endswith(dlq)


def _outgoing(body: str, attributes: dict[str, str]) -> Any:
    from alligator.backends.base import Outgoing

    return Outgoing(body=body, attributes=attributes)


def _lines(path: str) -> list[str]:
    return jobs.read(path)
