"""The wire format: one JSON object per message, read as untrusted input.

``decode`` checks the shape of a body *before* anything is imported, so a
hostile or broken message becomes a ``PoisonMessageError`` (and goes to the
dead-letter queue) instead of an import, a crash or a hang. ``check_fields``
holds the same limits for producers, so what every consumer would refuse is
refused at the source instead (a ``ValueError`` naming the field).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .exceptions import PoisonMessageError

#: A dotted module path or a plain identifier, nothing else.
MODULE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HOOKS = ("on_start", "on_success", "on_error")

#: Task ids are 1-128 printable characters (SQS's deduplication id limit).
MAX_TASK_ID_CHARS = 128
#: A task is tried at most 1001 times.
MAX_RETRIES = 1000
#: A task waits on at most 100 others (each look is a status-store read).
MAX_DEPENDENCIES = 100
#: The last second of the year 9999: no later due time can be written down.
MAX_UNIX_TIME = 253_402_300_799
#: A run takes at most 12 hours, SQS's longest time in flight.
MAX_TIME_LIMIT_SECONDS = 43_200

#: Names of the message attributes alligator writes.
SIGNATURE_ATTRIBUTE = "alligator-signature"
PAYLOAD_SIGNATURE_ATTRIBUTE = "alligator-payload-signature"
ERROR_ATTRIBUTE = "alligator-error"
ATTEMPTS_ATTRIBUTE = "alligator-attempts"
FAILED_AT_ATTRIBUTE = "alligator-failed-at"
FAILURE_ATTRIBUTES = (ERROR_ATTRIBUTE, ATTEMPTS_ATTRIBUTE, FAILED_AT_ATTRIBUTE)
#: A wait carried across a re-send (when hiding the message would outlast
#: the queue's retention): the earliest time to run, and the runs made.
NOT_BEFORE_ATTRIBUTE = "alligator-not-before"
PRIOR_ATTEMPTS_ATTRIBUTE = "alligator-prior-attempts"
#: What a redrive strips: a redriven task starts afresh.
TRANSIENT_ATTRIBUTES = (*FAILURE_ATTRIBUTES, NOT_BEFORE_ATTRIBUTE, PRIOR_ATTEMPTS_ATTRIBUTE)
#: W3C trace context (OpenTelemetry), carried as message attributes.
TRACEPARENT_ATTRIBUTE = "traceparent"
TRACESTATE_ATTRIBUTE = "tracestate"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode(body: str | bytes) -> dict[str, Any]:
    """Parse and check a message body; return the task dict.

    Raises:
        PoisonMessageError: the body is not a task, with the reason.
    """
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError, TypeError) as exc:
        raise PoisonMessageError(f"body is not JSON: {_short(exc)}") from None
    if not isinstance(data, dict):
        raise PoisonMessageError(f"body is a JSON {type(data).__name__}, not an object")
    try:
        _check_required(data)
        _check_call(data)
        _check_options(data.get("options", {}))
    except ValueError as exc:
        raise PoisonMessageError(str(exc)) from None
    return data


def task_id_of(body: str) -> str | None:
    """The task id a body claims, if it has a readable one (for the log
    line of a poison message); never raises."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError, TypeError):
        return None
    task_id = data.get("task_id") if isinstance(data, dict) else None
    return task_id if isinstance(task_id, str) and task_id.isprintable() else None


def modules_named(data: dict[str, Any]) -> list[str]:
    """Every module a decoded task would import: its own and its hooks'."""
    modules = [data["module"]]
    options = data.get("options") or {}
    modules += [options[hook]["module"] for hook in HOOKS if options.get(hook)]
    return modules


def check_fields(
    *,
    task_id: Any,
    retries: Any,
    delay_until: Any = None,
    depends_on: Any = None,
    time_limit: Any = None,
) -> None:
    """The limits every consumer holds a task to.

    Raises:
        ValueError: naming the first field out of bounds.
    """
    if not isinstance(task_id, str) or not 0 < len(task_id) <= MAX_TASK_ID_CHARS:
        raise ValueError(f"task_id must be a string of 1-{MAX_TASK_ID_CHARS} characters")
    if not task_id.isprintable():
        raise ValueError("task_id must be printable characters only")
    if type(retries) is not int or not 0 <= retries <= MAX_RETRIES:
        raise ValueError(f"retries must be a whole number 0-{MAX_RETRIES}, not {retries!r}")
    if delay_until is not None and not _is_time(delay_until):
        raise ValueError("delay_until must be a finite Unix time before the year 10000")
    if depends_on is not None:
        if not isinstance(depends_on, list) or len(depends_on) > MAX_DEPENDENCIES:
            raise ValueError(f"depends_on must be a list of at most {MAX_DEPENDENCIES} task ids")
        for dependency in depends_on:
            if not isinstance(dependency, str) or not 0 < len(dependency) <= MAX_TASK_ID_CHARS:
                raise ValueError("depends_on must hold task ids (1-128 character strings)")
    if time_limit is not None and not _is_duration(time_limit):
        raise ValueError(
            f"time_limit must be a number of seconds, more than 0 and at most "
            f"{MAX_TIME_LIMIT_SECONDS}, not {time_limit!r}"
        )


def _check_required(data: dict[str, Any]) -> None:
    options = data.get("options")
    options = options if isinstance(options, dict) else {}
    if "task_id" not in data:
        raise ValueError("task_id is missing")
    if "retries" not in data:
        raise ValueError("retries is missing")
    check_fields(
        task_id=data.get("task_id"),
        retries=data.get("retries"),
        delay_until=options.get("delay_until"),
        depends_on=options.get("depends_on"),
        time_limit=options.get("time_limit"),
    )
    flags = [data[key] for key in ("async", "is_async") if key in data]
    if not flags:
        raise ValueError("neither async nor is_async is present")
    if not all(isinstance(flag, bool) for flag in flags):
        raise ValueError("async/is_async must be true or false")


def _check_call(data: dict[str, Any]) -> None:
    _check_target(data, "task")
    if not isinstance(data.get("args", []), list):
        raise ValueError("args must be a list")
    kwargs = data.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise ValueError("kwargs must be an object")
    if not all(NAME_PATTERN.match(key) for key in kwargs):
        raise ValueError("kwargs keys must be identifiers")


def _check_target(target: Any, what: str) -> None:
    if not isinstance(target, dict):
        raise ValueError(f"{what} must be an object with module and callable")
    module, name = target.get("module"), target.get("callable")
    if not isinstance(module, str) or not MODULE_PATTERN.match(module):
        raise ValueError(f"{what} module is missing or not a module path")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(f"{what} callable is missing or not an identifier")
    # A dunder names the machinery, never a task: ``__setattr__`` of an
    # allowed module would rewrite it, ``pkg.__init__`` runs a package's
    # import code a second time, ``pkg.__main__`` runs its command line.
    for part in (*module.split("."), name):
        if part.startswith("__") and part.endswith("__"):
            raise ValueError(f"{what} names {module}.{name}, with the dunder part {part!r}")


def _check_options(options: Any) -> None:
    if not isinstance(options, dict):
        raise ValueError("options must be an object")
    for hook in HOOKS:
        if options.get(hook) is not None:
            _check_target(options[hook], hook)


def _is_time(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 <= value <= MAX_UNIX_TIME


def _is_duration(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 < value <= MAX_TIME_LIMIT_SECONDS


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"
