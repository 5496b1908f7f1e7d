"""Transient failures: 500s, throttling and connection resets are retried by
botocore, and no message is lost or duplicated on the way."""

from __future__ import annotations

from collections import Counter

import pytest
from botocore.retries import standard

from alligator.backends.base import Outgoing
from alligator.sqs import SQSBackend
from tests.sqs_proxy import FAULT_KINDS, SQSProxy, with_endpoint


@pytest.fixture
def no_backoff(monkeypatch):
    # botocore waits up to 20 s between attempts; the attempts are what we
    # test, not the waiting.
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda *a: 0)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_is_retried(queue_dsn, sqs_endpoint, no_backoff, kind):
    with SQSProxy(sqs_endpoint, fault_kinds=(kind,)) as proxy:
        backend = SQSBackend(with_endpoint(queue_dsn, proxy.url))
        backend.check()
        proxy.reset()
        # Given the next three requests fail
        proxy.fail_next(3)
        # When
        backend.send_many([Outgoing("a"), Outgoing("b")])
        # Then the fourth attempt went through, and sent each message once
        assert proxy.faults == {kind: 3}
        assert proxy.counts == {"SendMessageBatch": 4}
        received = backend.receive(max_messages=10, wait_seconds=0)
        assert sorted(m.body for m in received) == ["a", "b"]
        backend.close()


def test_thirty_percent_faults_lose_and_duplicate_nothing(queue_dsn, sqs_endpoint, no_backoff):
    # Given a proxy failing 30% of requests, every kind of fault
    with SQSProxy(sqs_endpoint, fault_rate=0.3, seed=7) as proxy:
        backend = SQSBackend(with_endpoint(queue_dsn, proxy.url))
        bodies = [f"task-{i}" for i in range(50)]
        # When 50 messages are sent, then received and acked until none is left
        backend.send_many([Outgoing(body) for body in bodies])
        seen: Counter[str] = Counter()
        for _ in range(100):
            batch = backend.receive(max_messages=10, wait_seconds=0)
            if not batch and sum(seen.values()) >= len(bodies):
                break
            seen.update(message.body for message in batch)
            backend.ack(batch)
        # Then each body arrived exactly once and the queue is empty
        assert seen == Counter(bodies)
        proxy.fault_rate = 0.0
        assert backend.size() == 0
        assert set(proxy.faults) == set(FAULT_KINDS)
        backend.close()
