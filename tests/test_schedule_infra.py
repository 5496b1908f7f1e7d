"""infra/schedules.yaml: created on moto's CloudFormation (in-process), with
the role EventBridge Scheduler assumes limited to sending to one queue.

cfn-lint checks every template in infra/ (tests/test_infra.py). moto skips
AWS::Scheduler::ScheduleGroup, so the group is checked on the template's
text; `schedule sync` creates the group anyway when it is missing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests import cloudformation
from tests.cloudformation import mocked_session

TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "schedules.yaml"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:emails"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


@pytest.fixture
def session(monkeypatch):
    """moto in-process, with dummy credentials and no endpoint overrides."""
    yield from mocked_session(monkeypatch)


def create_stack(session, **params: str) -> dict[str, str]:
    """Create the stack with `params`; return its outputs."""
    return cloudformation.create_stack(session, TEMPLATE, "schedules", **params)


def role_statements(session, role_arn: str) -> tuple[dict, list[dict]]:
    """The role's trust policy and the statements of its inline policies."""
    iam = session.client("iam")
    name = role_arn.rsplit("/", 1)[-1]
    trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    statements = []
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
        if isinstance(document, str):  # moto keeps an inline policy as its repr
            document = ast.literal_eval(document)
        statements += [s for s in document["Statement"] if s]  # moto: None for NoValue
    return trust, statements


def test_role_may_only_send_to_the_queue(session):
    # Given the stack for an unencrypted queue
    outputs = create_stack(session, QueueArn=QUEUE_ARN)
    # Then its outputs are what `schedule sync` takes
    assert outputs["ScheduleGroupName"] == "alligator"
    assert outputs["SchedulerRoleArn"].startswith("arn:aws:iam::123456789012:role/")
    assert f"--role-arn {outputs['SchedulerRoleArn']} --group alligator" in outputs["SyncCommand"]
    # And EventBridge Scheduler, for this account's group only, may assume the role
    trust, statements = role_statements(session, outputs["SchedulerRoleArn"])
    (assume,) = trust["Statement"]
    assert assume["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert assume["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert assume["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":schedule/alligator/*")
    # And the role may send to the queue, and do nothing else
    assert statements == [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": QUEUE_ARN}]


def test_an_encrypted_queue_adds_its_key(session):
    # Given the stack for a queue encrypted with a customer managed key
    outputs = create_stack(session, QueueArn=QUEUE_ARN, KmsKeyArn=KEY_ARN, GroupName="nightly")
    # Then the role may also use that key, and only that key
    _, statements = role_statements(session, outputs["SchedulerRoleArn"])
    kms = [s for s in statements if s["Resource"] == KEY_ARN]
    assert [sorted(s["Action"]) for s in kms] == [["kms:Decrypt", "kms:GenerateDataKey"]]
    assert outputs["ScheduleGroupName"] == "nightly"


def test_template_declares_the_group():
    # moto does not create AWS::Scheduler::ScheduleGroup; check the text
    text = TEMPLATE.read_text()
    assert "Type: AWS::Scheduler::ScheduleGroup" in text
    assert "Name: !Ref GroupName" in text
