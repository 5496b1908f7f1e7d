"""alligator: a small, plain-Python task queue for Amazon SQS.

Example:
    >>> from alligator import Gator
    >>> gator = Gator("sqs://us-east-1/emails")
    >>> gator.task(send_email, 42)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .constants import (
    ALL,
    CANCELED,
    DELAYED,
    FAILED,
    RETRYING,
    RUNNING,
    SUCCESS,
    WAITING,
    TaskStatus,
)
from .exceptions import (
    AlligatorException,
    ConfigurationError,
    MultipleDelayError,
    NotSupportedError,
    PayloadTooLargeError,
    PoisonMessageError,
    TaskFailed,
    TimeLimitExceeded,
    UnknownCallableError,
    UnknownModuleError,
    UnserializableTaskError,
    WorkerLostError,
)
from .gator import Gator, Options
from .status import TaskState
from .tasks import Task
from .worker import Worker

if TYPE_CHECKING:
    from .schedules import Schedule


def __getattr__(name: str) -> Any:
    """``Schedule`` is imported on first use: a worker or a Lambda function
    never needs it, and it brings zoneinfo and the calendar rules with it
    (about 10 ms of a worker's start-up, bench/README.md)."""
    if name == "Schedule":
        from .schedules import Schedule

        return Schedule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALL",
    "CANCELED",
    "DELAYED",
    "FAILED",
    "RETRYING",
    "RUNNING",
    "SUCCESS",
    "WAITING",
    "AlligatorException",
    "ConfigurationError",
    "Gator",
    "MultipleDelayError",
    "NotSupportedError",
    "Options",
    "PayloadTooLargeError",
    "PoisonMessageError",
    "Schedule",
    "Task",
    "TaskFailed",
    "TaskState",
    "TaskStatus",
    "TimeLimitExceeded",
    "UnknownCallableError",
    "UnknownModuleError",
    "UnserializableTaskError",
    "Worker",
    "WorkerLostError",
    "__version__",
]
