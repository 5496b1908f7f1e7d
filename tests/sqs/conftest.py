"""Fixtures for the SQS backend tests: a queue on moto's server, a bucket,
and the fault-injecting proxy. ``sqs_endpoint`` comes from the plugin."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from alligator.sqs import SQSBackend, _batches
from alligator.testing import make_queue
from tests.sqs_proxy import SQSProxy


@pytest.fixture(autouse=True)
def _no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: no ALLIGATOR_DLQ from the outside, and batch entries re-sent
    # at once (the tests never sleep).
    monkeypatch.delenv("ALLIGATOR_DLQ", raising=False)
    monkeypatch.setattr(_batches, "ENTRY_RETRY_SECONDS", 0)


@pytest.fixture(scope="session")
def s3(sqs_endpoint: str) -> Iterator[Any]:
    """A plain boto3 S3 client on the same endpoint."""
    client = boto3.session.Session().client(
        "s3", region_name="us-east-1", endpoint_url=sqs_endpoint
    )
    yield client
    client.close()


@pytest.fixture
def queue_dsn(sqs_endpoint: str) -> str:
    """A fresh standard queue with a DLQ; its DSN (wait_time=1)."""
    return make_queue(sqs_endpoint)


@pytest.fixture
def backend(queue_dsn: str) -> Iterator[SQSBackend]:
    backend = SQSBackend(queue_dsn)
    yield backend
    backend.close()


@pytest.fixture
def proxy(sqs_endpoint: str) -> Iterator[SQSProxy]:
    """A fault-free proxy in front of moto, counting requests by action."""
    with SQSProxy(sqs_endpoint) as proxy:
        yield proxy


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh S3 bucket on the same endpoint."""
    name = f"payloads-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name
