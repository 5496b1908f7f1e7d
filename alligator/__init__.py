"""alligator: a small, plain-Python task queue for Amazon SQS.

Example:
    >>> from alligator import Gator
    >>> gator = Gator("sqs://us-east-1/emails")
    >>> gator.task(send_email, 42)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
    UnknownCallableError,
    UnknownModuleError,
    UnserializableTaskError,
)
from .gator import Gator, Options
from .schedules import Schedule
from .status import TaskState
from .tasks import Task
from .workers import Worker

try:
    __version__ = version("alligator")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

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
    "UnknownCallableError",
    "UnknownModuleError",
    "UnserializableTaskError",
    "Worker",
    "__version__",
]
