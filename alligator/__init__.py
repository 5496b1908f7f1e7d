"""alligator: a small, plain-Python task queue for Amazon SQS.

Example:
    >>> from alligator import Gator
    >>> gator = Gator("sqs://us-east-1/emails")
    >>> gator.task(send_email, 42)
"""

from __future__ import annotations

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
from .schedules import Schedule
from .status import TaskState
from .tasks import Task
from .worker import Worker

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
