"""What a ``Schedule`` looks like in EventBridge Scheduler, and whether an
existing schedule already looks like that.

Each schedule targets the queue (the templated SQS ``SendMessage`` target)
with the task's wire body as the input, ``task_id`` holding
``NAME@<aws.scheduler.scheduled-time>`` for EventBridge to fill in. Choices
that keep EventBridge's times equal to the local scheduler's:

- flexible time window OFF: a firing is sent within its minute, not
  spread over a window;
- ``rate()`` schedules get a ``StartDate`` on the rate's grid (multiples of
  the period since 1970), the grid the local scheduler fires on. AWS
  refuses a ``StartDate`` more than 5 minutes in the past, so each create
  or update takes the grid's next point; any point of the grid is "the
  same" for the comparison;
- FIFO queues: the message group is the schedule's name (its firings stay
  in order; other schedules are not held behind it). EventBridge cannot
  set a deduplication id, and AWS requires content-based deduplication on
  a FIFO target; since each firing's body carries its scheduled time, the
  body's hash is a deduplication id per firing;
- AWS's default retry policy (185 attempts over 24 hours), set explicitly
  so that a comparison sees it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .expressions import Rate
from .schedule import Schedule

#: EventBridge Scheduler's default delivery retries, spelled out.
#: https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html
RETRY_POLICY = {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
#: The schedule group ``schedule sync`` uses unless told otherwise.
DEFAULT_GROUP = "alligator"


def definition(
    schedule: Schedule,
    *,
    group: str,
    queue_arn: str,
    role_arn: str,
    fifo: bool,
    now: datetime,
) -> dict[str, Any]:
    """The ``CreateSchedule``/``UpdateSchedule`` arguments for ``schedule``.

    Example:
        >>> scheduler.create_schedule(**definition(schedule, group="alligator",
        ...     queue_arn=arn, role_arn=role, fifo=False, now=now))
    """
    target: dict[str, Any] = {
        "Arn": queue_arn,
        "RoleArn": role_arn,
        "Input": schedule.input_body,
        "RetryPolicy": dict(RETRY_POLICY),
    }
    if fifo:
        target["SqsParameters"] = {"MessageGroupId": schedule.name}
    wanted: dict[str, Any] = {
        "Name": schedule.name,
        "GroupName": group,
        "ScheduleExpression": schedule.expression_text,
        "ScheduleExpressionTimezone": schedule.timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Description": f"alligator task {schedule.callable_name}"[:512],
        "ActionAfterCompletion": "NONE",
        "Target": target,
    }
    if isinstance(schedule.expression, Rate):
        wanted["StartDate"] = schedule.expression.grid_start(now)
    return wanted


def differences(existing: dict[str, Any], wanted: dict[str, Any], schedule: Schedule) -> list[str]:
    """What differs between a ``GetSchedule`` answer and ``wanted``, by
    name (empty when the schedule is already as it should be)."""
    pairs = {
        "expression": (existing.get("ScheduleExpression"), wanted["ScheduleExpression"]),
        "time zone": (
            existing.get("ScheduleExpressionTimezone") or "UTC",
            wanted["ScheduleExpressionTimezone"],
        ),
        "state": (existing.get("State"), wanted["State"]),
        "time window": (
            (existing.get("FlexibleTimeWindow") or {}).get("Mode"),
            wanted["FlexibleTimeWindow"]["Mode"],
        ),
        "description": (existing.get("Description") or "", wanted["Description"]),
        "after completion": (existing.get("ActionAfterCompletion") or "NONE", "NONE"),
        "end date": (existing.get("EndDate"), None),
        "KMS key": (existing.get("KmsKeyArn"), None),
        "start date": (_start_matches(existing.get("StartDate"), schedule), True),
    }
    changed = [name for name, (have, want) in pairs.items() if have != want]
    have_target, want_target = _target(existing.get("Target") or {}), _target(wanted["Target"])
    changed += [f"target {key}" for key in want_target if have_target[key] != want_target[key]]
    return changed


def _start_matches(start: Any, schedule: Schedule) -> bool:
    if isinstance(schedule.expression, Rate):
        return isinstance(start, datetime) and schedule.expression.on_grid(start)
    return start is None


def _target(target: dict[str, Any]) -> dict[str, Any]:
    """The parts of a target that ``definition`` sets, normalised."""
    return {
        "queue": target.get("Arn"),
        "role": target.get("RoleArn"),
        "input": target.get("Input"),
        "message group": (target.get("SqsParameters") or {}).get("MessageGroupId"),
        "retry policy": target.get("RetryPolicy") or RETRY_POLICY,
        "dead-letter queue": (target.get("DeadLetterConfig") or {}).get("Arn"),
    }
