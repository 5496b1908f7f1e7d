"""Template tests' shared part: moto in-process, and a stack made from one
of ``infra/``'s templates there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def mocked_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 session on moto in-process, with dummy credentials and no
    endpoint overrides (for a fixture to ``yield from``)."""
    moto = pytest.importorskip("moto")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        yield pytest.importorskip("boto3").session.Session(region_name="us-east-1")


def create_stack(session: Any, template: Path, name: str, **params: str) -> dict[str, str]:
    """Create stack ``name`` from ``template`` with ``params``; its outputs."""
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=template.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
