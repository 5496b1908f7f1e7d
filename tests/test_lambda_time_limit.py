"""The Lambda handler's time limit (CONTRACT.md section 8): a run may not
outlast the invocation, so its limit is capped by the time the invocation
has left (less the handler's margin), whatever the task or the environment
says.

Records are real moto receives turned into Lambda's event shape (see
``test_lambda_handler``); the context is a fake with a fixed remaining time.
"""

from __future__ import annotations

from typing import Any

import pytest

from alligator import Gator
from alligator.sqs import _batches
from alligator.sqs.lambda_handler import MIN_MARGIN_MS, handle
from alligator.testing import make_queue
from tests.integration import pool_jobs
from tests.processes import wait_for
from tests.test_lambda_handler import FakeContext, dead_letters, lambda_record, queue_name

#: Seconds a stuck task would take without its limit.
FOREVER = 1000.0


@pytest.fixture(autouse=True)
def _entry_retries_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_batches, "ENTRY_RETRY_SECONDS", 0)


def _event(aws: Any, dsn: str) -> dict[str, Any]:
    """The one message on the queue, received, as Lambda's SQS event."""
    name = queue_name(dsn)
    url = aws.get_queue_url(QueueName=name)["QueueUrl"]
    got: list[dict[str, Any]] = []

    def received() -> bool:
        got.extend(
            aws.receive_message(
                QueueUrl=url,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )
        return bool(got)

    wait_for(received, what="the message")
    return {"Records": [lambda_record(message, name) for message in got]}


@pytest.mark.parametrize(
    ("own_limit", "env_limit", "remaining_ms", "applied"),
    [
        (None, None, MIN_MARGIN_MS + 1000, "1"),  # no limit at all: what is left
        (60.0, None, MIN_MARGIN_MS + 1000, "1"),  # the task's own, capped
        (None, "60", MIN_MARGIN_MS + 1500, "1.5"),  # ALLIGATOR_TIME_LIMIT, capped
        (0.5, None, MIN_MARGIN_MS + 60_000, "0.5"),  # the task's own, below the cap
    ],
    ids=["none", "task-option-capped", "environment-capped", "task-option-shorter"],
)
def test_the_time_limit_is_capped_by_the_time_the_invocation_has_left(
    sqs_endpoint, aws, monkeypatch, tmp_path, own_limit, env_limit, remaining_ms, applied
):
    # Given a task that would spin forever, with or without a limit of its
    # own or from the environment
    if env_limit is not None:
        monkeypatch.setenv("ALLIGATOR_TIME_LIMIT", env_limit)
    dsn = make_queue(sqs_endpoint)
    gator = Gator(dsn)
    options = {} if own_limit is None else {"time_limit": own_limit}
    with gator.options(**options) as opts:
        task = opts.task(pool_jobs.spin, str(tmp_path / "marks"), "spinner", FOREVER)
    event = _event(aws, dsn)
    # When the handler runs it with this much of the invocation left
    response = handle(event, FakeContext(remaining_ms), gator=Gator(dsn))
    # Then it was stopped at the shorter of its limit and what was left
    # (less the margin), and dead-lettered (no retries): handled, not reported
    assert response == {"batchItemFailures": []}
    [dead] = dead_letters(aws, dsn)
    assert dead["body"] == task.serialize()
    assert dead["alligator-error"] == (
        f"TimeLimitExceeded: the run went past its time limit of {applied} s"
    )
