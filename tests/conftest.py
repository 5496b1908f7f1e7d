"""Shared fixtures. The SQS endpoint fixture comes from alligator.testing."""

from __future__ import annotations

import os

import pytest

from tests import tasks

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
#: Every variable alligator reads; none may leak in from the outside.
ALLIGATOR_VARIABLES = (
    "ALLIGATOR_SIGNING_KEY",
    "ALLIGATOR_IMPORT_ALLOW",
    "ALLIGATOR_DLQ",
    "ALLIGATOR_STATUS",
    "ALLIGATOR_BACKOFF_BASE",
    "ALLIGATOR_BACKOFF_MAX",
    "ALLIGATOR_LOG_FORMAT",
    "ALLIGATOR_METRICS",
)
for _name in ALLIGATOR_VARIABLES:
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def aws(sqs_endpoint):
    """A plain boto3 SQS client on moto, to look behind alligator's back."""
    import boto3

    client = boto3.session.Session().client(
        "sqs", region_name="us-east-1", endpoint_url=sqs_endpoint
    )
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _fresh_task_state():
    tasks.calls.clear()
    tasks.hook_log.clear()
    yield


def pytest_collection_modifyitems(config, items):
    """``ALLIGATOR_TEST_SQS_ENDPOINT`` points ``sqs_endpoint`` at LocalStack
    or real SQS: tests that depend on moto itself (they patch its internals
    in this process) cannot run there."""
    if os.environ.get("ALLIGATOR_TEST_SQS_ENDPOINT", "").strip():
        skip = pytest.mark.skip(reason="moto_only: ALLIGATOR_TEST_SQS_ENDPOINT is not moto")
        for item in items:
            if item.get_closest_marker("moto_only"):
                item.add_marker(skip)
