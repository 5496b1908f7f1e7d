"""``alligator schedule sync`` and ``schedule list``: EventBridge Scheduler
holding exactly the schedules in the user's code.

Sync is idempotent: it creates what is missing, updates what differs,
leaves alone what is already right and, with ``prune``, deletes the
group's schedules that are no longer listed. It reports each change as one
line; a second run reports ``no changes``.

Signing: EventBridge sends the input as the message body and cannot add
the ``alligator-signature`` attribute, so a worker with a signing key would
dead-letter every firing as unsigned. Sync therefore refuses to run while a
signing key is configured (``ALLIGATOR_SIGNING_KEY``): run ``alligator
scheduler`` (which signs, like any producer) for such queues, or sync
without the key for a queue whose workers take unsigned messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import _aws, _env
from ..exceptions import ConfigurationError
from .eventbridge import definition, differences
from .expressions import format_time, parse
from .schedule import NAME, Schedule

if TYPE_CHECKING:
    from ..gator import Gator

#: IAM role ARNs.
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
#: Where a role comes from, for the error without one.
ROLE_HINT = (
    "pass --role-arn or set ALLIGATOR_SCHEDULER_ROLE to the SchedulerRoleArn "
    "output of the infra/schedules.yaml stack"
)
#: Seconds a scheduler API call may take.
READ_TIMEOUT_SECONDS = 30
#: Queue attributes sync needs.
QUEUE_ATTRIBUTES = ["QueueArn", "FifoQueue", "ContentBasedDeduplication"]


def sync(
    gator: Gator,
    schedules: list[Schedule],
    *,
    role_arn: str | None = None,
    group: str = "alligator",
    prune: bool = False,
    now: datetime | None = None,
) -> list[str]:
    """Make EventBridge Scheduler's ``group`` hold exactly ``schedules``,
    targeting ``gator``'s queue; returns one line per change (``created``,
    ``updated``, ``deleted``), and ``kept`` for an unlisted schedule left
    in place without ``prune``.

    Example:
        >>> sync(Gator("sqs://eu-west-1/emails"), SCHEDULES, role_arn=role)
        ['created group alligator', 'created nightly-report']

    Raises:
        ConfigurationError: no role, a signing key, not an SQS queue, a
            FIFO queue without content-based deduplication, or a refusal
            from AWS the user must fix.
    """
    role = _role(role_arn)
    if _env.get(_env.SIGNING_KEY):
        raise ConfigurationError(
            "a signing key is configured (ALLIGATOR_SIGNING_KEY), but EventBridge "
            "Scheduler cannot sign messages, so workers checking signatures would "
            "dead-letter every firing; use 'alligator scheduler' for this queue, or "
            "sync without the key if its workers accept unsigned messages"
        )
    _check_group(group)
    queue_arn, fifo = _queue(gator)
    client, region = _client(gator)
    now = now or datetime.now(UTC)
    lines = _ensure_group(client, region, group)
    existing = set(_names(client, region, group))
    for schedule in schedules:
        wanted = definition(
            schedule, group=group, queue_arn=queue_arn, role_arn=role, fifo=fifo, now=now
        )
        lines += _put(client, region, schedule, wanted, exists=schedule.name in existing)
    for name in sorted(existing - {s.name for s in schedules}):
        if prune:
            with _translate(region, f"schedule {name!r}"):
                client.delete_schedule(Name=name, GroupName=group)
            lines.append(f"deleted {name}")
        else:
            lines.append(f"kept {name}: in group {group} but not listed (--prune deletes it)")
    return lines


def describe(gator: Gator, *, group: str = "alligator", now: datetime | None = None) -> list[str]:
    """``schedule list``: one line per schedule of ``group``, with its
    next firing as the local scheduler computes it.

    Example:
        >>> print("\n".join(describe(Gator("sqs://eu-west-1/emails"))))
        NAME            EXPRESSION         TIME ZONE     STATE    NEXT (UTC)  ...

    Raises:
        ConfigurationError: not an SQS queue, or no such group.
    """
    _check_group(group)
    client, region = _client(gator)
    now = now or datetime.now(UTC)
    _get_group(client, region, group)
    rows = [("NAME", "EXPRESSION", "TIME ZONE", "STATE", "NEXT (UTC)", "QUEUE")]
    for name in sorted(_names(client, region, group)):
        with _translate(region, f"schedule {name!r}"):
            found = client.get_schedule(Name=name, GroupName=group)
        expression = found.get("ScheduleExpression", "")
        zone = found.get("ScheduleExpressionTimezone") or "UTC"
        queue = str((found.get("Target") or {}).get("Arn", "")).rsplit(":", 1)[-1]
        state = found.get("State", "")
        rows.append((name, expression, zone, state, _next(expression, zone, now), queue))
    if len(rows) == 1:
        return [f"no schedules in group {group}"]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return lines


# -- helpers -----------------------------------------------------------------


def _role(role_arn: str | None) -> str:
    role = role_arn or _env.get(_env.SCHEDULER_ROLE)
    if not role:
        raise ConfigurationError(f"no role for EventBridge Scheduler to assume: {ROLE_HINT}")
    if not ROLE_ARN.match(role):
        raise ConfigurationError(f"{role!r} is not an IAM role ARN: {ROLE_HINT}")
    return role


def _check_group(group: str) -> None:
    if not NAME.match(group):
        raise ConfigurationError(f"group name {group!r} is not 1-64 letters, digits, '-', '_', '.'")


def _sqs_settings(gator: Gator) -> Any:
    settings = getattr(gator.backend, "settings", None)
    if settings is None or not hasattr(gator.backend, "queue_url"):
        raise ConfigurationError(
            "EventBridge Scheduler sends to SQS: give an sqs:// DSN, or run "
            "'alligator scheduler DSN MODULE:ATTRIBUTE' for other backends"
        )
    return settings


def _client(gator: Gator) -> tuple[Any, str]:
    """A scheduler client in the queue's region. A loopback ``endpoint_url``
    (moto, LocalStack) serves the scheduler API too; any other endpoint is
    SQS's alone, so boto3 resolves the scheduler's own."""
    settings = _sqs_settings(gator)
    endpoint = settings.endpoint_url if _aws.is_loopback(settings.endpoint_url) else None
    client = _aws.session_for(endpoint).client(
        "scheduler",
        region_name=settings.region,
        endpoint_url=endpoint,
        config=_aws.client_config(READ_TIMEOUT_SECONDS),
    )
    return client, settings.region


def _queue(gator: Gator) -> tuple[str, bool]:
    """The queue's ARN and whether it is FIFO (with content-based dedup)."""
    settings = _sqs_settings(gator)
    url = gator.backend.queue_url
    client = _aws.session_for(settings.endpoint_url).client(
        "sqs",
        region_name=settings.region,
        endpoint_url=settings.endpoint_url,
        config=_aws.client_config(READ_TIMEOUT_SECONDS),
    )
    try:
        with _aws.translate_aws_errors(f"queue {settings.queue_name!r}", settings.region):
            attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=QUEUE_ATTRIBUTES)[
                "Attributes"
            ]
    finally:
        client.close()
    fifo = attributes.get("FifoQueue") == "true"
    if fifo and attributes.get("ContentBasedDeduplication") != "true":
        raise ConfigurationError(
            f"FIFO queue {settings.queue_name!r} needs ContentBasedDeduplication=true: "
            "EventBridge Scheduler cannot set a deduplication id (each firing's body "
            "differs, so its hash is one per firing); turn it on with "
            "aws sqs set-queue-attributes"
        )
    return attributes["QueueArn"], fifo


def _ensure_group(client: Any, region: str, group: str) -> list[str]:
    try:
        _get_group(client, region, group)
        return []
    except ConfigurationError:
        pass
    with _translate(region, f"schedule group {group!r}"):
        client.create_schedule_group(Name=group)
    return [f"created group {group}"]


def _get_group(client: Any, region: str, group: str) -> None:
    with _translate(region, f"schedule group {group!r}", missing=True):
        client.get_schedule_group(Name=group)


def _names(client: Any, region: str, group: str) -> Iterator[str]:
    with _translate(region, f"schedule group {group!r}"):
        for page in client.get_paginator("list_schedules").paginate(GroupName=group):
            for summary in page.get("Schedules", []):
                # Only this group's: some servers match group names loosely.
                if summary.get("GroupName", group) == group:
                    yield summary["Name"]


def _put(
    client: Any, region: str, schedule: Schedule, wanted: dict[str, Any], *, exists: bool
) -> list[str]:
    summary = f"{schedule.name} ({schedule.expression_text}, {schedule.timezone})"
    with _translate(region, f"schedule {schedule.name!r}"):
        if not exists:
            client.create_schedule(**wanted)
            return [f"created {summary}"]
        found = client.get_schedule(Name=schedule.name, GroupName=wanted["GroupName"])
        changed = differences(found, wanted, schedule)
        if not changed:
            return []
        client.update_schedule(**wanted)
    return [f"updated {summary}: {', '.join(changed)}"]


def _next(expression: str, zone: str, now: datetime) -> str:
    try:
        moment = parse(expression, zone).next_after(now)
    except ConfigurationError:
        return "?"
    return format_time(moment) if moment else "-"


@contextmanager
def _translate(region: str, what: str, *, missing: bool = False) -> Iterator[None]:
    """AWS errors the user must fix as one line; a refused request
    (``ValidationException``) names what AWS said."""
    from botocore.exceptions import ClientError

    codes = frozenset({"ResourceNotFoundException"}) if missing else frozenset()
    try:
        with _aws.translate_aws_errors(what, region, missing_codes=codes):
            yield
    except ClientError as exc:
        if _aws.error_code(exc) not in ("ValidationException", "ConflictException"):
            raise
        message = exc.response.get("Error", {}).get("Message", "")
        raise ConfigurationError(f"EventBridge Scheduler refused {what}: {message}") from exc
