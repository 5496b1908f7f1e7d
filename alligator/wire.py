"""The wire format: one JSON object per message, read as untrusted input.

``decode`` checks the shape of a body *before* anything is imported, so a
hostile or broken message becomes a ``PoisonMessageError`` (and goes to the
dead-letter queue) instead of an import, a crash or a hang.
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
MAX_TASK_ID_LENGTH = 512


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
    _check_required(data)
    _check_call(data)
    _check_options(data.get("options", {}))
    return data


def modules_named(data: dict[str, Any]) -> list[str]:
    """Every module a decoded task would import: its own and its hooks'."""
    modules = [data["module"]]
    options = data.get("options") or {}
    modules += [options[hook]["module"] for hook in HOOKS if options.get(hook)]
    return modules


def _check_required(data: dict[str, Any]) -> None:
    task_id = data.get("task_id")
    if not isinstance(task_id, str) or not 0 < len(task_id) <= MAX_TASK_ID_LENGTH:
        raise PoisonMessageError("task_id is missing or not a short string")
    retries = data.get("retries")
    if type(retries) is not int or not 0 <= retries <= 10_000:
        raise PoisonMessageError("retries is missing or not a whole number 0-10000")
    flags = [data[key] for key in ("async", "is_async") if key in data]
    if not flags:
        raise PoisonMessageError("neither async nor is_async is present")
    if not all(isinstance(flag, bool) for flag in flags):
        raise PoisonMessageError("async/is_async must be true or false")


def _check_call(data: dict[str, Any]) -> None:
    _check_target(data, "task")
    if not isinstance(data.get("args", []), list):
        raise PoisonMessageError("args must be a list")
    kwargs = data.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise PoisonMessageError("kwargs must be an object")
    if not all(NAME_PATTERN.match(key) for key in kwargs):
        raise PoisonMessageError("kwargs keys must be identifiers")


def _check_target(target: Any, what: str) -> None:
    if not isinstance(target, dict):
        raise PoisonMessageError(f"{what} must be an object with module and callable")
    module, name = target.get("module"), target.get("callable")
    if not isinstance(module, str) or not MODULE_PATTERN.match(module):
        raise PoisonMessageError(f"{what} module is missing or not a module path")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise PoisonMessageError(f"{what} callable is missing or not an identifier")


def _check_options(options: Any) -> None:
    if not isinstance(options, dict):
        raise PoisonMessageError("options must be an object")
    for hook in HOOKS:
        if options.get(hook) is not None:
            _check_target(options[hook], hook)
    delay_until = options.get("delay_until")
    if delay_until is not None and not _is_time(delay_until):
        raise PoisonMessageError("delay_until must be a Unix time")
    depends_on = options.get("depends_on")
    if depends_on is not None and not (
        isinstance(depends_on, list) and all(isinstance(d, str) for d in depends_on)
    ):
        raise PoisonMessageError("depends_on must be a list of task ids")


def _is_time(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 <= value < 1e11


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"
