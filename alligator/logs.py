"""Logging: one line per task outcome, as text or JSON.

The format comes from ``--log-format`` or ``ALLIGATOR_LOG_FORMAT``. A text
line starts with what a reader scans for::

    12:03:04 INFO  91882b61-94b1-40d1-892c-316e27ae6c15 myapp.tasks.send_email success
        attempt=1 12ms queued_ms=147

(one line, folded here) and goes on with what else matters: how long until
the next attempt on a retry, the DLQ on a dead letter, the error. Colour is
used only on a terminal. A JSON line keeps every field. Text from a message
(ids, errors) has its control characters escaped, so a message cannot
rewrite the terminal.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from . import _env
from ._text import printable
from .exceptions import ConfigurationError
from .outcome import Action, Outcome

log = logging.getLogger("alligator")
FORMATS = ("text", "json")
#: Fields an outcome line carries, in the order a text line shows them.
OUTCOME_FIELDS = (
    "task_id",
    "callable",
    "outcome",
    "attempt",
    "duration_ms",
    "queued_ms",
    "next_attempt_at",
    "dlq",
    "queue",
    "message_id",
    "error",
)
#: Fields a text line shows bare (no ``name=``), first.
_BARE = ("task_id", "callable", "outcome")
#: ANSI colours per outcome, used only on a terminal.
_COLOURS = {"success": "32", "retry": "33", "dead": "31", "deferred": "36"}
#: The longest error shown on a text line (JSON keeps it whole).
TEXT_ERROR_CHARS = 200

_format = "text"


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


class TextFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL message``, the outcome word in colour on a terminal."""

    def __init__(self, colour: bool) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(message)s", datefmt="%H:%M:%S")
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if fields is not None:
            record.msg, record.args = text_line(fields, colour=self.colour), None
        else:
            record.msg, record.args = printable(record.getMessage()), None
        return super().format(record)

    def formatException(self, ei: Any) -> str:
        # A traceback quotes the exception's text, which may come from a
        # message (a task's error, a hook's): escaped line by line.
        lines = super().formatException(ei).split("\n")
        return "\n".join(printable(line) for line in lines)


def log_format(value: str | None = None) -> str:
    """The chosen format: argument, else ``ALLIGATOR_LOG_FORMAT``, else text."""
    chosen = (value or _env.get(_env.LOG_FORMAT) or "text").lower()
    if chosen not in FORMATS:
        raise ConfigurationError(f"log format must be text or json, not {chosen!r}")
    return chosen


def current_format() -> str:
    """The format ``configure`` chose last (children of a process pool log alike)."""
    return _format


def configure(value: str | None = None, *, level: int = logging.INFO) -> None:
    """Send alligator's logs to stderr in the chosen format."""
    global _format
    _format = log_format(value)
    handler = logging.StreamHandler(sys.stderr)
    if _format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(colour=_is_terminal(sys.stderr)))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def outcome_fields(outcome: Outcome, *, dlq: str | None = None) -> dict[str, Any]:
    """What one outcome line says."""
    task = outcome.task
    queued = outcome.queued_for
    fields: dict[str, Any] = {
        "task_id": outcome.task_id,
        "callable": task.callable_name if task else None,
        "outcome": outcome.label,
        "attempt": outcome.attempt,
        "duration_ms": round(outcome.duration * 1000, 1),
        "queued_ms": None if queued is None else round(queued * 1000),
        "next_attempt_at": None,
        "dlq": None,
        "queue": outcome.queue or None,
        "message_id": outcome.message.message_id,
        "error": outcome.error,
        "ran": outcome.ran,
    }
    if outcome.action in (Action.RETRY, Action.DEFER):
        due = time.gmtime(time.time() + outcome.delay_seconds)
        fields["next_attempt_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", due)
        fields["delay_seconds"] = outcome.delay_seconds
    if outcome.action is Action.DEAD:
        fields["dlq"] = dlq or "none"
    return fields


def text_line(fields: dict[str, Any], *, colour: bool = False) -> str:
    """An outcome's fields as one short text line."""
    parts = []
    for key in OUTCOME_FIELDS:
        value = fields.get(key)
        if value is None or key == "message_id":
            continue  # (the message id is in the JSON lines)
        if key == "queue" and fields.get("outcome") == "success":
            continue
        if key in ("attempt", "duration_ms") and not fields.get("ran", True) and not value:
            continue  # nothing ran: no attempt, no duration
        if key == "duration_ms":
            parts.append(f"{value:g}ms")  # a number: nothing to escape
            continue
        if key == "next_attempt_at":
            # (a clock time means little beside the line's own: say how long)
            parts.append(f"next_in={fields.get('delay_seconds', '?')}s")
            continue
        if key == "error":
            value = _shorten(str(value), TEXT_ERROR_CHARS)
        text = _logfmt(value) if key not in _BARE else printable(str(value))
        if key == "outcome" and colour and value in _COLOURS:
            text = f"\x1b[{_COLOURS[value]}m{text}\x1b[0m"
        if key in _BARE:
            parts.append(text)
        else:
            parts.append(f"{key}={text}")
    return " ".join(parts)


def log_outcome(outcome: Outcome, *, dlq: str | None = None) -> None:
    """Log one line for a task outcome; failures at WARNING, DLQ at ERROR.

    Nothing is built when the line would not be emitted.
    """
    level = logging.INFO
    if outcome.action is Action.RETRY:
        level = logging.WARNING
    elif outcome.action is Action.DEAD:
        level = logging.ERROR
    if not log.isEnabledFor(level):
        return
    fields = outcome_fields(outcome, dlq=dlq)
    summary = f"task {fields['outcome']}"
    log.log(level, "%s", _Line(fields), extra={"fields": fields, "summary": summary})


class _Line:
    """The text line, built only if a handler formats the record."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return text_line(self.fields)


def _logfmt(value: Any) -> str:
    """A value as logfmt writes it: quoted (JSON-escaped) when it holds a
    space, a quote or an ``=``, so ``error="RuntimeError: boom"`` stays one
    field for log parsers; control characters escaped either way."""
    if type(value) is int:
        return str(value)  # digits (an attempt, a wait): nothing to quote
    text = printable(str(value))
    if text == "" or _NEEDS_QUOTES.search(text):
        return json.dumps(text)
    return text


#: What makes a logfmt value need quotes.
_NEEDS_QUOTES = re.compile(r'[ "=\\]')


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
