"""A pytest plugin for code that enqueues alligator tasks: no AWS needed.

Active wherever ``alligator[test]`` is installed (the ``pytest11`` entry
point). It gives you moto's SQS server on a free loopback port::

    def test_signup_sends_email(sqs_gator):
        signup("ada@example.com")          # enqueues through sqs_gator
        [task] = drain(sqs_gator)
        assert task.status == SUCCESS

moto is imported only when a fixture needs it, so importing this module
(which pytest does for every run) costs nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import pytest

#: Dummy credentials and region for moto; set only where none are set, and
#: removed again when the session ends.
DUMMY_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
#: The region the helpers create queues in.
TEST_REGION = "us-east-1"


@pytest.fixture(scope="session")
def sqs_endpoint() -> Iterator[str]:
    """moto's SQS (and S3) server on a free loopback port; yields its URL.

    Example:
        >>> def test_queue(sqs_endpoint):
        ...     dsn = make_queue(sqs_endpoint)
    """
    import logging

    from moto.server import ThreadedMotoServer

    # moto's server logs every request through werkzeug; keep test output
    # readable.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    added = {key: value for key, value in DUMMY_AWS_ENVIRONMENT.items() if not os.environ.get(key)}
    os.environ.update(added)
    # Port 0: the OS picks a free port, with no window for another process
    # to take it between choosing and binding.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key in added:
            os.environ.pop(key, None)


@pytest.fixture
def sqs_gator(sqs_endpoint: str) -> Any:
    """A ``Gator`` on a fresh queue (with its DLQ) on ``sqs_endpoint``."""
    pytest.skip("not yet")  # TODO(lead): written together with drain()


def make_queue(endpoint: str, name: str | None = None, *, fifo: bool = False) -> str:
    """Create a fresh queue with a dead-letter queue; return its DSN.

    The DLQ (``NAME-dlq``) is wired by a redrive policy with
    ``maxReceiveCount`` 10, and the DSN long-polls for 1 second only, so a
    test on an empty queue never hangs for 20.

    Example:
        >>> dsn = make_queue(sqs_endpoint)
        >>> gator = Gator(dsn)

    Args:
        endpoint: the SQS endpoint (``sqs_endpoint``).
        name: the queue name; a unique one when not given.
        fifo: make FIFO queues (``.fifo`` is appended to the name).

    Returns:
        ``sqs://us-east-1/NAME?endpoint_url=ENDPOINT&wait_time=1``.
    """
    import json

    base = name or f"test-{uuid.uuid4().hex[:12]}"
    base = base.removesuffix(".fifo")
    suffix = ".fifo" if fifo else ""
    attributes = {"FifoQueue": "true"} if fifo else {}
    client = _client("sqs", endpoint)
    dlq_url = client.create_queue(QueueName=f"{base}-dlq{suffix}", Attributes=attributes)[
        "QueueUrl"
    ]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 10})
    client.create_queue(
        QueueName=f"{base}{suffix}",
        Attributes={**attributes, "RedrivePolicy": redrive},
    )
    return f"sqs://{TEST_REGION}/{base}{suffix}?endpoint_url={endpoint}&wait_time=1"


@lru_cache(maxsize=16)
def _client(service: str, endpoint: str) -> Any:
    """One boto3 client per service and endpoint: making one loads the
    service model, which costs more than the calls a test makes with it.
    boto3 clients are thread-safe."""
    import boto3

    return boto3.session.Session().client(service, region_name=TEST_REGION, endpoint_url=endpoint)
