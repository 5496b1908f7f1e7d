"""Logging: one line per task outcome, as text or JSON.

The format comes from ``--log-format`` or ``ALLIGATOR_LOG_FORMAT``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from .exceptions import ConfigurationError
from .outcome import Action, Outcome

log = logging.getLogger("alligator")
FORMATS = ("text", "json")
#: Fields an outcome line carries, in order.
OUTCOME_FIELDS = (
    "task_id",
    "callable",
    "attempt",
    "outcome",
    "queued_ms",
    "duration_ms",
    "message_id",
    "error",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the record's ``fields`` merged in."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            # An outcome line's fields follow as keys: its message is only
            # "task success" etc., not the text line again (log volume costs).
            "message": getattr(record, "summary", None) or record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def log_format(value: str | None = None) -> str:
    """The chosen format: argument, else ``ALLIGATOR_LOG_FORMAT``, else text."""
    chosen = (value or os.environ.get("ALLIGATOR_LOG_FORMAT") or "text").lower()
    if chosen not in FORMATS:
        raise ConfigurationError(f"log format must be text or json, not {chosen!r}")
    return chosen


def configure(value: str | None = None, *, level: int = logging.INFO) -> None:
    """Send alligator's logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format(value) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def outcome_fields(outcome: Outcome) -> dict[str, Any]:
    """What one outcome line says."""
    task = outcome.task
    queued = outcome.queued_for
    return {
        "task_id": task.task_id if task else None,
        "callable": task.callable_name if task else None,
        "attempt": outcome.attempt or outcome.message.attempt,
        "outcome": outcome.label,
        "queued_ms": None if queued is None else round(queued * 1000),
        "duration_ms": round(outcome.duration * 1000, 1),
        "message_id": outcome.message.message_id,
        "error": outcome.error,
    }


def log_outcome(outcome: Outcome) -> None:
    """Log one line for a task outcome; failures at WARNING, DLQ at ERROR."""
    fields = outcome_fields(outcome)
    level = logging.INFO
    if outcome.action is Action.RETRY:
        level = logging.WARNING
    elif outcome.action is Action.DEAD:
        level = logging.ERROR
    text = " ".join(f"{k}={_logfmt(fields[k])}" for k in OUTCOME_FIELDS if fields[k] is not None)
    summary = f"task {fields['outcome']}"
    log.log(level, "task %s", text, extra={"fields": fields, "summary": summary})


def _logfmt(value: Any) -> str:
    """A value as logfmt writes it: quoted (JSON-escaped) when it holds a
    space, a quote or an ``=``, so ``error="RuntimeError: boom"`` stays one
    field for log parsers."""
    text = str(value)
    if text == "" or any(char in text for char in ' "=\\\n\t'):
        return json.dumps(text)
    return text
