"""Tests for infra/: the CloudFormation template, and the Lambda zip builder
(``alligator lambda-zip``, and ``infra/build_lambda.py`` for a checkout).

The template is linted with cfn-lint and created on moto's CloudFormation
(in-process, no network). moto builds the queues, IAM roles, the Lambda
function and its event source mapping, and the ECS cluster, task definition
and service; it skips CloudWatch alarms and Application Auto Scaling, so
those are checked on the template's text instead.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import alligator
from alligator.cli import main as cli_main
from tests import cloudformation
from tests.cloudformation import mocked_session

INFRA = Path(__file__).resolve().parent.parent / "infra"
TEMPLATES = sorted(INFRA.glob("*.yaml"))
QUEUE_TEMPLATE = INFRA / "queue.yaml"

# moto warns about each resource type it skips (alarms, autoscaling).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")

#: What the worker's graceful shutdown may take (CONTRACT.md section 4).
SHUTDOWN_GRACE_SECONDS = 25
CONSUMER_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:SendMessage",
}


# --------------------------------------------------------------- helpers
def load_template(path: Path = QUEUE_TEMPLATE) -> dict:
    """Parse a template, turning short tags (!Ref, !If, ...) into their long form."""
    yaml = pytest.importorskip("yaml")

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if suffix == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
        return {key: value}

    Loader.add_multi_constructor("!", construct)
    return yaml.load(path.read_text(), Loader=Loader)


@pytest.fixture
def aws(monkeypatch):
    """moto in-process, with dummy credentials and no endpoint overrides."""
    yield from mocked_session(monkeypatch)


def create_stack(session, **params: str) -> dict[str, str]:
    """Create the stack with `params`; return its outputs."""
    return cloudformation.create_stack(session, QUEUE_TEMPLATE, "alligator-test", **params)


def queue_attributes(session, url: str) -> dict[str, str]:
    sqs = session.client("sqs")
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def stack_resource(session, logical_id: str) -> str:
    """The physical id (for a role, its name) of a resource of the stack."""
    cloudformation = session.client("cloudformation")
    summaries = cloudformation.list_stack_resources(StackName="alligator-test")
    (physical_id,) = [
        r["PhysicalResourceId"]
        for r in summaries["StackResourceSummaries"]
        if r["LogicalResourceId"] == logical_id
    ]
    return physical_id


def inline_policy_statements(session, role: str) -> list[dict]:
    """The statements of every inline policy of the role named `role`."""
    iam = session.client("iam")
    statements = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            # moto keeps a CloudFormation inline policy as the dict's repr.
            document = ast.literal_eval(document)
        # moto also leaves a None where !If gave AWS::NoValue in a list.
        statements += [s for s in document["Statement"] if s]
    return statements


def actions_on(statements: list[dict], resource: str) -> set[str]:
    """Actions the statements allow on exactly this resource."""
    actions: set[str] = set()
    for statement in statements:
        if statement["Resource"] == resource:
            action = statement["Action"]
            actions |= {action} if isinstance(action, str) else set(action)
    return actions


#: What ``resolve`` gives for ``!Ref AWS::NoValue``: dropped from lists.
NO_VALUE = object()
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}


def resolve(node, template: dict, params: dict[str, str]):
    """Evaluate the intrinsic functions in ``node`` as CloudFormation would,
    for the template's parameters (defaults, overridden by ``params``): for
    what moto skips (the scaling policy). Resources resolve to ``<Name>``
    and ``<Name.Attribute>``; only the functions the template uses are known.
    """
    values = {k: v.get("Default", "") for k, v in template["Parameters"].items()}
    values.update(params, **PSEUDO)

    def condition(name: str) -> bool:
        return bool(walk(template["Conditions"][name]))

    def ref(name: str):
        if name == "AWS::NoValue":
            return NO_VALUE
        return values.get(name, f"<{name}>")

    def sub(text: str, extra: dict) -> str:
        def one(match):
            name = match.group(1)
            if name in extra:
                return str(extra[name])
            return str(ref(name)) if "." not in name else f"<{name}>"

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def walk(item):
        if isinstance(item, list):
            return [v for v in (walk(i) for i in item) if v is not NO_VALUE]
        if not isinstance(item, dict):
            return item
        if len(item) != 1 or not next(iter(item)).startswith(("Fn::", "Ref", "Condition")):
            return {k: v for k, v in ((k, walk(v)) for k, v in item.items()) if v is not NO_VALUE}
        ((key, arg),) = item.items()
        if key == "Ref":
            return ref(arg)
        if key == "Condition":
            return condition(arg)
        if key == "Fn::If":
            return walk(arg[1] if condition(arg[0]) else arg[2])
        if key == "Fn::GetAtt":
            return f"<{'.'.join(arg)}>"
        if key == "Fn::Sub":
            if isinstance(arg, str):
                return sub(arg, {})
            return sub(arg[0], {k: walk(v) for k, v in arg[1].items()})
        arg = walk(arg)
        functions = {
            "Fn::Join": lambda a: a[0].join(a[1]),
            "Fn::Split": lambda a: a[1].split(a[0]),
            "Fn::Select": lambda a: a[1][int(a[0])],
            "Fn::Equals": lambda a: a[0] == a[1],
            "Fn::Not": lambda a: not a[0],
            "Fn::And": all,
            "Fn::Or": any,
        }
        return functions[key](arg)

    return walk(node)


def put_lambda_code(session) -> tuple[str, str]:
    """moto's Lambda reads the function's code from S3 at creation."""
    s3 = session.client("s3")
    s3.create_bucket(Bucket="alligator-code")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("alligator/__init__.py", "")
    s3.put_object(Bucket="alligator-code", Key="lambda.zip", Body=buffer.getvalue())
    return "alligator-code", "lambda.zip"


# ------------------------------------------------------------------ lint
@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_template_passes_cfn_lint(template):
    # Given a template in infra/
    pytest.importorskip("cfnlint")
    # When cfn-lint checks it (errors and warnings both count)
    run = "import sys; from cfnlint.runner import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", run, str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    # Then it reports nothing
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------- on moto


def test_queues_only_stack_wires_the_dlq(aws):
    # Given the template with the Lambda and ECS parts off
    outputs = create_stack(aws, QueueName="emails", MaxReceiveCount="7", FunctionTimeout="120")
    # Then the queue redrives to NAME-dlq after MaxReceiveCount receives
    attributes = queue_attributes(aws, outputs["QueueUrl"])
    redrive = json.loads(attributes["RedrivePolicy"])
    assert outputs["DeadLetterQueueUrl"].endswith("/emails-dlq")
    assert redrive["deadLetterTargetArn"] == outputs["DeadLetterQueueArn"]
    assert int(redrive["maxReceiveCount"]) == 7
    # And hides a received message for at least 6x the function timeout
    assert int(attributes["VisibilityTimeout"]) >= 6 * 120
    assert attributes["ReceiveMessageWaitTimeSeconds"] == "20"
    assert outputs["Dsn"] == "sqs://us-east-1/emails"
    # And nothing else was deployed
    assert aws.client("lambda").list_functions()["Functions"] == []
    assert aws.client("ecs").list_clusters()["clusterArns"] == []


def test_fifo_variant_creates_fifo_queues(aws):
    outputs = create_stack(aws, QueueName="orders", Fifo="true")

    attributes = queue_attributes(aws, outputs["QueueUrl"])
    assert outputs["QueueName"] == "orders.fifo"
    assert outputs["DeadLetterQueueUrl"].endswith("/orders-dlq.fifo")
    assert attributes["FifoQueue"] == "true"
    assert queue_attributes(aws, outputs["DeadLetterQueueUrl"])["FifoQueue"] == "true"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == outputs["DeadLetterQueueArn"]
    assert outputs["Dsn"] == "sqs://us-east-1/orders.fifo"


def test_full_stack_creates_lambda_consumer(aws):
    # Given the code in S3 and the Lambda part on
    bucket, key = put_lambda_code(aws)
    outputs = create_stack(
        aws,
        QueueName="emails",
        DeployLambda="true",
        LambdaCodeBucket=bucket,
        LambdaCodeKey=key,
        FunctionTimeout="60",
        BatchSize="10",
        MaximumConcurrency="5",
        ImportAllow="myapp.tasks",
    )
    awslambda = aws.client("lambda")
    function = awslambda.get_function(FunctionName=outputs["FunctionName"])
    config = function["Configuration"]
    # Then the function runs alligator's handler, configured by environment
    assert config["Runtime"] == "python3.12"
    assert config["Handler"] == "alligator.sqs.lambda_handler.handler"
    assert config["Timeout"] == 60
    assert config["Environment"]["Variables"] == {
        "ALLIGATOR_DLQ": outputs["DeadLetterQueueUrl"],
        "ALLIGATOR_LOG_FORMAT": "json",
        "ALLIGATOR_IMPORT_ALLOW": "myapp.tasks",
    }
    # And the mapping reports partial batch failures
    (mapping,) = awslambda.list_event_source_mappings()["EventSourceMappings"]
    assert mapping["EventSourceArn"] == outputs["QueueArn"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5}
    # And the role may consume the queue and only send to the DLQ
    role = stack_resource(aws, "LambdaRole")
    assert config["Role"].endswith(f"/{role}")
    statements = inline_policy_statements(aws, role)
    assert actions_on(statements, outputs["QueueArn"]) == CONSUMER_ACTIONS
    assert actions_on(statements, outputs["DeadLetterQueueArn"]) == {"sqs:SendMessage"}
    assert not any(s["Resource"] == "*" for s in statements)


def test_full_stack_creates_ecs_worker(aws):
    # Given the ECS part on
    outputs = create_stack(
        aws,
        QueueName="emails",
        DeployEcs="true",
        WorkerImage="example.com/worker:1",
        WorkerConcurrency="8",
        Subnets="subnet-0123456789abcdef0",
        SecurityGroups="sg-0123456789abcdef0",
    )
    ecs = aws.client("ecs")
    (arn,) = ecs.list_task_definitions()["taskDefinitionArns"]
    task = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    (container,) = task["containerDefinitions"]
    # Then the container runs a worker on the queue (ENTRYPOINT alligator worker)
    assert container["image"] == "example.com/worker:1"
    # (moto leaves a None where !If gave AWS::NoValue in a list)
    assert [arg for arg in container["command"] if arg is not None] == [
        "sqs://us-east-1/emails",
        "--log-format",
        "json",
        "--concurrency",
        "8",
    ]
    # And ECS waits longer than the worker's shutdown grace before SIGKILL
    assert container["stopTimeout"] > SHUTDOWN_GRACE_SECONDS
    # (moto leaves a None where !If gave AWS::NoValue in a list)
    environment = {e["name"]: e["value"] for e in container["environment"] if e}
    assert environment["ALLIGATOR_DLQ"] == outputs["DeadLetterQueueUrl"]
    assert environment["ALLIGATOR_LOG_FORMAT"] == "json"
    # And the task role may consume the queue and only send to the DLQ
    statements = inline_policy_statements(aws, stack_resource(aws, "TaskRole"))
    assert actions_on(statements, outputs["QueueArn"]) == CONSUMER_ACTIONS
    assert actions_on(statements, outputs["DeadLetterQueueArn"]) == {"sqs:SendMessage"}
    (cluster,) = ecs.list_clusters()["clusterArns"]
    assert ecs.list_services(cluster=cluster)["serviceArns"]


# ------------------------------------------- what moto does not create
def test_template_text_covers_what_moto_skips():
    template = load_template()
    resources = template["Resources"]

    # Visibility is at least 6x every allowed function timeout
    timeouts = template["Parameters"]["FunctionTimeout"]["AllowedValues"]
    visibility = template["Mappings"]["VisibilityForFunctionTimeout"]
    for timeout in timeouts:
        assert visibility[timeout]["Seconds"] >= 6 * int(timeout)

    # The DLQ alarm fires on a single visible message
    alarm = resources["DeadLetterAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "GreaterThanThreshold",
        0,
    )

    # ECS scales the service on visible messages per running task
    target = resources["ScalableTarget"]["Properties"]
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    # (with one queue; see test_autoscaling_tracks_the_combined_backlog_per_task)
    policy = resolve(resources["BacklogPerTaskPolicy"]["Properties"], template, {})
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    queries = {q["Id"]: q for q in config["CustomizedMetricSpecification"]["Metrics"]}
    metric = queries["visible"]["MetricStat"]["Metric"]
    assert metric["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert queries["tasks"]["MetricStat"]["Metric"]["MetricName"] == "RunningTaskCount"
    (returned,) = [q for q in queries.values() if q["ReturnData"]]
    assert returned["Expression"].startswith("visible /")

    # And the worker gets more than its shutdown grace, the Lambda batches
    # report their failures, and each part can be switched off
    (container,) = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert container["StopTimeout"] > SHUTDOWN_GRACE_SECONDS
    mapping = resources["EventSourceMapping"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert resources["Function"]["Condition"] == "LambdaEnabled"
    assert resources["Service"]["Condition"] == "EcsEnabled"
    assert "Condition" not in resources["Queue"]


# ------------------------------------------- several queues (section 9)
#: Queues made beforehand (by stacks of this template, queues only), for
#: ExtraQueueNames.
EXTRA_QUEUES = ("emails-bulk", "reports.fifo")
ECS_PARAMS = {
    "QueueName": "emails-high",
    "DeployEcs": "true",
    "WorkerImage": "example.com/worker:1",
    "Subnets": "subnet-0123456789abcdef0",
    "SecurityGroups": "sg-0123456789abcdef0",
}


def arn(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:123456789012:{name}"


def make_extra_queues(session) -> None:
    """Each extra queue with its DLQ, named and wired as the template does."""
    sqs = session.client("sqs")
    for name in EXTRA_QUEUES:
        fifo = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
        dlq = name.removesuffix(".fifo") + "-dlq" + (".fifo" if fifo else "")
        sqs.create_queue(QueueName=dlq, Attributes=fifo)
        redrive = json.dumps({"deadLetterTargetArn": arn(dlq), "maxReceiveCount": 10})
        sqs.create_queue(QueueName=name, Attributes={**fifo, "RedrivePolicy": redrive})


def sqs_grants(statements: list[dict]) -> dict[str, set[str]]:
    """Every SQS resource the statements name, with the actions allowed on
    it (a statement may list several resources)."""
    grants: dict[str, set[str]] = {}
    for statement in statements:
        resources = statement["Resource"]
        actions = statement["Action"]
        actions = {actions} if isinstance(actions, str) else set(actions)
        for resource in [resources] if isinstance(resources, str) else resources:
            if resource is not None and "sqs" in resource:  # (moto's None again)
                grants.setdefault(resource, set()).update(actions)
    return grants


def container_of(session) -> dict:
    ecs = session.client("ecs")
    (task_arn,) = ecs.list_task_definitions()["taskDefinitionArns"]
    (container,) = ecs.describe_task_definition(taskDefinition=task_arn)["taskDefinition"][
        "containerDefinitions"
    ]
    return container


def test_the_ecs_worker_serves_the_extra_queues_in_priority_order(aws):
    # Given two queues made beforehand, and the service given them after
    # its own queue, weighted 3:1:1
    make_extra_queues(aws)
    outputs = create_stack(
        aws, **ECS_PARAMS, ExtraQueueNames=",".join(EXTRA_QUEUES), Weights="3,1,1"
    )
    container = container_of(aws)
    # Then the worker gets one DSN per queue, first to last, and the
    # priority and weights
    command = [arg for arg in container["command"] if arg is not None]
    assert command == [
        "sqs://us-east-1/emails-high",
        "sqs://us-east-1/emails-bulk",
        "sqs://us-east-1/reports.fifo",
        "--log-format",
        "json",
        "--concurrency",
        "4",
        "--priority",
        "weighted",
        "--weights",
        "3,1,1",
    ]
    # ...which alligator's own parser reads as one worker on three queues
    from alligator.cli import build_parser

    args = build_parser().parse_args(["worker", *command])
    assert (args.dsn, args.priority, args.weights) == (command[:3], "weighted", [3, 1, 1])
    # ...with no ALLIGATOR_DLQ, which would send every queue's dead letters
    # to this stack's DLQ: each queue's DLQ is its redrive target
    environment = {e["name"]: e["value"] for e in container["environment"] if e}
    assert "ALLIGATOR_DLQ" not in environment
    # And the task role may consume exactly those queues and send to exactly
    # their DLQs (found from the redrive policies: GetQueueUrl), no more
    statements = inline_policy_statements(aws, stack_resource(aws, "TaskRole"))
    assert sqs_grants(statements) == {
        outputs["QueueArn"]: CONSUMER_ACTIONS,
        arn("emails-bulk"): CONSUMER_ACTIONS,
        arn("reports.fifo"): CONSUMER_ACTIONS,
        outputs["DeadLetterQueueArn"]: {"sqs:SendMessage", "sqs:GetQueueUrl"},
        arn("emails-bulk-dlq"): {"sqs:SendMessage", "sqs:GetQueueUrl"},
        arn("reports-dlq.fifo"): {"sqs:SendMessage", "sqs:GetQueueUrl"},
    }
    assert not any(s["Resource"] == "*" for s in statements)


def test_strict_priority_without_weights(aws):
    make_extra_queues(aws)
    create_stack(aws, **ECS_PARAMS, ExtraQueueNames="emails-bulk", Priority="strict")
    command = [arg for arg in container_of(aws)["command"] if arg is not None]
    assert command[:2] == ["sqs://us-east-1/emails-high", "sqs://us-east-1/emails-bulk"]
    assert command[-2:] == ["--priority", "strict"]


def test_the_lambda_gets_a_mapping_per_extra_queue(aws):
    # Given the Lambda part on, with the two extra queues
    make_extra_queues(aws)
    bucket, key = put_lambda_code(aws)
    outputs = create_stack(
        aws,
        QueueName="emails-high",
        DeployLambda="true",
        LambdaCodeBucket=bucket,
        LambdaCodeKey=key,
        ExtraQueueNames=",".join(EXTRA_QUEUES),
    )
    awslambda = aws.client("lambda")
    mappings = awslambda.list_event_source_mappings()["EventSourceMappings"]
    # Then one function reads all three queues, each by its own mapping
    # reporting partial batch failures (the handler settles each record on
    # the queue its eventSourceARN names)
    assert sorted(m["EventSourceArn"] for m in mappings) == sorted(
        [outputs["QueueArn"], arn("emails-bulk"), arn("reports.fifo")]
    )
    assert {m["FunctionArn"].rsplit(":", 1)[-1] for m in mappings} == {outputs["FunctionName"]}
    assert all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings)
    # ...with no ALLIGATOR_DLQ, and a role for every queue and DLQ
    config = awslambda.get_function(FunctionName=outputs["FunctionName"])["Configuration"]
    assert "ALLIGATOR_DLQ" not in config["Environment"]["Variables"]
    grants = sqs_grants(inline_policy_statements(aws, stack_resource(aws, "LambdaRole")))
    assert set(grants) == {
        outputs["QueueArn"],
        arn("emails-bulk"),
        arn("reports.fifo"),
        outputs["DeadLetterQueueArn"],
        arn("emails-bulk-dlq"),
        arn("reports-dlq.fifo"),
    }


@pytest.mark.parametrize(
    ("extra", "expression"),
    [
        ("", "visible / IF(running > 1, running, 1)"),
        ("bulk", "(FILL(visible, 0) + FILL(extra1, 0)) / IF(running > 1, running, 1)"),
        (
            "b1,b2.fifo,b3,b4",
            "(FILL(visible, 0) + FILL(extra1, 0) + FILL(extra2, 0) + FILL(extra3, 0)"
            " + FILL(extra4, 0)) / IF(running > 1, running, 1)",
        ),
    ],
    ids=["one queue", "two queues", "five queues"],
)
def test_autoscaling_tracks_the_combined_backlog_per_task(extra, expression):
    # Given the template's scaling policy (moto skips it), evaluated for
    # this stack's queue and the extra ones
    template = load_template()
    policy = template["Resources"]["BacklogPerTaskPolicy"]["Properties"]
    params = {"QueueName": "emails", "ExtraQueueNames": extra}
    config = resolve(policy, template, params)["TargetTrackingScalingPolicyConfiguration"]
    queries = config["CustomizedMetricSpecification"]["Metrics"]
    by_id = {q["Id"]: q for q in queries}
    # Then the one value it tracks is the sum of every queue's visible
    # messages over the running tasks
    (returned,) = [q for q in queries if q["ReturnData"]]
    assert returned["Expression"] == expression
    names = ["<Queue.QueueName>", *[n for n in extra.split(",") if n]]
    ids = ["visible", *[f"extra{n}" for n in range(1, len(names))]]
    for query_id, name in zip(ids, names, strict=True):
        metric = by_id[query_id]["MetricStat"]["Metric"]
        assert metric["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert metric["Dimensions"] == [{"Name": "QueueName", "Value": name}]
    assert set(by_id) == {*ids, "tasks", "running", "backlog"}
    assert len(queries) <= 10  # a customized metric's most queries


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("", True),
        ("bulk", True),
        ("a,b.fifo,c_1,d-2", True),
        ("a,b,c,d,e", False),  # four at most: the template has four slots
        ("a, b", False),
        ("a,,b", False),
        ("x.fifo.fifo", False),
    ],
)
def test_extra_queue_names_are_checked_at_deploy_time(value, allowed):
    pattern = load_template()["Parameters"]["ExtraQueueNames"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is allowed


# ------------------------------------------- alligator lambda-zip
@pytest.fixture
def task_package(tmp_path):
    """A tiny user task package, with bytecode that must not be shipped."""
    package = tmp_path / "myapp"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text("def send_email(n):\n    return n\n")
    (package / "__pycache__" / "tasks.cpython-312.pyc").write_bytes(b"\0")
    return package


def test_lambda_zip_zips_alligator_and_the_tasks(tmp_path, task_package, capsys):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"

    assert cli_main(["lambda-zip", str(task_package), "-o", str(first)]) == 0
    assert cli_main(["lambda-zip", str(task_package), "-o", str(second)]) == 0

    with zipfile.ZipFile(first) as zf:
        names = zf.namelist()
        dates = {info.date_time for info in zf.infolist()}
        metadata = zf.read(f"alligator-{alligator.__version__}.dist-info/METADATA").decode()
    assert {"alligator/__init__.py", "alligator/_version.py", "alligator/py.typed"} <= set(names)
    assert {"myapp/__init__.py", "myapp/tasks.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith(("boto3/", "botocore/", "tests/"))]
    assert f"Version: {alligator.__version__}" in metadata
    # Deterministic: sorted entries, fixed timestamps, identical bytes
    assert names == sorted(names)
    assert dates == {(1980, 1, 1, 0, 0, 0)}
    assert first.read_bytes() == second.read_bytes()
    # And it printed where, with the sha256 for the S3 key
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    assert capsys.readouterr().out.splitlines()[0] == f"{first} sha256={digest}"


def test_lambda_zip_missing_path_is_a_usage_error(tmp_path, capsys):
    code = cli_main(["lambda-zip", str(tmp_path / "nope"), "-o", str(tmp_path / "x.zip")])

    assert code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("alligator: error: task path not found")
    assert not (tmp_path / "x.zip").exists()


def test_build_lambda_script_is_the_same_command_from_a_checkout(tmp_path, task_package):
    # infra/build_lambda.py runs with nothing installed: only the checkout
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    output = tmp_path / "script.zip"
    result = subprocess.run(
        [sys.executable, str(INFRA / "build_lambda.py"), str(task_package), "-o", str(output)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert cli_main(["lambda-zip", str(task_package), "-o", str(tmp_path / "cli.zip")]) == 0
    assert output.read_bytes() == (tmp_path / "cli.zip").read_bytes()
