"""Shared fixtures. The SQS endpoint fixture comes from alligator.testing."""

from __future__ import annotations

import os

import pytest

from tests import tasks

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for _name in (
    "ALLIGATOR_SIGNING_KEY",
    "ALLIGATOR_IMPORT_ALLOW",
    "ALLIGATOR_DLQ",
    "ALLIGATOR_STATUS",
    "ALLIGATOR_BACKOFF_BASE",
    "ALLIGATOR_BACKOFF_MAX",
    "ALLIGATOR_LOG_FORMAT",
):
    os.environ.pop(_name, None)


@pytest.fixture(autouse=True)
def _fresh_task_state():
    tasks.calls.clear()
    tasks.hook_log.clear()
    yield
