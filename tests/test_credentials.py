"""Credentials for local endpoints: a loopback endpoint with no AWS
credentials configured gets dummy ones (moto and LocalStack take any), with
a log line; no other endpoint ever does. Every client alligator makes (SQS,
S3 payloads, CloudWatch, DynamoDB) goes through it, so a shell that never
saw AWS can use ``alligator local-sqs``'s DSN as it is.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from alligator import Gator
from alligator._aws import DUMMY_CREDENTIALS, session_for
from alligator.sqs.cloudwatch import OldestAge
from alligator.testing import make_queue
from tests import tasks
from tests.processes import ROOT

DOCS = ROOT / "docs"


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """No AWS credentials anywhere boto3 looks: environment, files, and
    instance metadata (switched off: these tests reach loopback only)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def credentials_of(session):
    found = session.get_credentials()
    return None if found is None else found.get_frozen_credentials().access_key


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:4566", "http://localhost:5000", "http://[::1]:9324"]
)
def test_a_loopback_endpoint_gets_dummy_credentials_with_a_log_line(
    no_credentials, caplog, endpoint
):
    with caplog.at_level(logging.INFO, logger="alligator"):
        session = session_for(endpoint)
    assert credentials_of(session) == DUMMY_CREDENTIALS["aws_access_key_id"]
    [record] = [r for r in caplog.records if "dummy" in r.getMessage()]
    assert record.getMessage() == (
        f"no AWS credentials configured: using dummy ones for {endpoint}"
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        None,
        "https://sqs.us-east-1.amazonaws.com",
        "http://10.0.0.5:4566",
        "http://127.0.0.1.example",
    ],
)
def test_no_other_endpoint_ever_gets_them(no_credentials, caplog, endpoint):
    with caplog.at_level(logging.INFO, logger="alligator"):
        session = session_for(endpoint)
    assert credentials_of(session) is None
    assert not caplog.records


def test_boto3s_endpoint_variables_count_as_the_endpoint(no_credentials, monkeypatch):
    # The Lambda handler builds its DSN from an ARN: the endpoint comes from
    # AWS_ENDPOINT_URL_SQS (or AWS_ENDPOINT_URL), as boto3 reads it.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:4566")
    assert credentials_of(session_for(None)) == "testing"
    assert credentials_of(session_for(None, "s3")) is None  # S3 is not loopback
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    assert credentials_of(session_for(None, "s3")) == "testing"


def test_configured_credentials_are_never_replaced(no_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "mine")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert credentials_of(session_for("http://127.0.0.1:4566")) == "mine"


def test_every_client_works_on_a_loopback_endpoint_without_credentials(
    sqs_endpoint, no_credentials
):
    # Given a queue on moto with a payload bucket, and no credentials at all
    suffix = uuid.uuid4().hex[:8]
    bucket = f"payloads-{suffix}"
    dsn = make_queue(sqs_endpoint)  # (the plugin's own client: dummy credentials too)
    Gator(dsn).backend.payloads.store.client.create_bucket(Bucket=bucket)
    # When a producer enqueues a task too large for SQS, with a status store
    status = f"dynamodb://us-east-1/status-{suffix}?endpoint_url={sqs_endpoint}&create=true"
    gator = Gator(f"{dsn}&payload_bucket={bucket}", status=status)
    gator.backend.max_message_bytes = 10_000
    task = gator.task(tasks.count, "x" * 20_000)
    # Then SQS, S3 and DynamoDB took it: the body is in the bucket, the
    # state in the table, the pointer in the queue
    assert gator.len() == 1
    [received] = gator.backend.receive(max_messages=1, wait_seconds=0)
    assert task.task_id not in received.body  # a pointer to S3
    assert task.task_id in gator.backend.payloads.load(received.body)
    assert gator.status(task.task_id).task_id == task.task_id
    # And CloudWatch answered (moto has no datapoint), rather than refusing
    age, note = OldestAge(gator.backend.settings).read()
    assert age is None and "no ApproximateAgeOfOldestMessage datapoint" in note


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def test_the_lambda_docs_try_out_works_without_credentials(sqs_endpoint, tmp_path):
    # Given docs/lambda.md's "Trying it on your machine" snippet, pointed at
    # this test's endpoint instead of local-sqs --port 5000
    [snippet] = [
        b for b in python_blocks((DOCS / "lambda.md").read_text()) if "receive_message" in b
    ]
    assert 'endpoint = "http://127.0.0.1:5000"' in snippet
    queue = f"lambda-docs-{uuid.uuid4().hex[:8]}"
    snippet = snippet.replace("http://127.0.0.1:5000", sqs_endpoint).replace(
        '"emails"', repr(queue)
    )
    snippet = snippet.replace(":emails", f":{queue}")
    script = tmp_path / "try_lambda.py"
    script.write_text(snippet)
    # When it runs in a shell that never saw AWS
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", HOME=str(tmp_path))
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then the handler ran the task and reported no failures
    assert process.returncode == 0, process.stderr
    assert "hello from Lambda" in process.stdout
    assert process.stdout.rstrip().endswith("{'batchItemFailures': []}")


def test_docs_name_the_cli_zip_builder():
    text = (DOCS / "lambda.md").read_text() + (ROOT / "infra" / "README.md").read_text()
    assert "alligator lambda-zip myapp -o build/lambda.zip" in text
    assert Path(ROOT / "infra" / "build_lambda.py").exists()  # the checkout's wrapper
