"""The error tree. Everything alligator raises derives from one base::

AlligatorException               (the 1.0 base name)
├── ConfigurationError           bad DSN, unknown scheme, missing extra or queue
├── NotSupportedError            the backend cannot do this (SQS: get by id)
├── UnknownModuleError           (1.0) the task's module cannot be imported
├── UnknownCallableError         (1.0) the module has no such callable
├── UnserializableTaskError      lambda, closure, non-JSON argument
├── PoisonMessageError           a body that is not a task, a bad signature,
│                                a refused import
├── PayloadTooLargeError         over the SQS size limit with no bucket
├── MultipleDelayError           (1.0) delay_by and delay_until together
├── TaskFailed                   (1.0) raised by a task to signal failure
├── TimeLimitExceeded            a run went past its time limit
└── WorkerLostError              the child process running a task died
"""

from __future__ import annotations


class AlligatorException(Exception):
    """The base of every alligator error."""


class ConfigurationError(AlligatorException):
    """A DSN, option or environment variable is wrong, or a queue is missing."""


class NotSupportedError(AlligatorException):
    """The backend cannot do what was asked; the message says why."""


class UnknownModuleError(AlligatorException):
    """The module a task names cannot be imported."""


class UnknownCallableError(AlligatorException):
    """The module exists but has no callable with the task's name."""


class UnserializableTaskError(AlligatorException):
    """The callable or an argument cannot travel in a JSON message."""


class PoisonMessageError(AlligatorException):
    """A message that must never run: not a task, badly signed, or refused."""


class PayloadTooLargeError(AlligatorException):
    """The message body is over the SQS limit and no payload bucket is set."""


class MultipleDelayError(AlligatorException):
    """Both ``delay_by`` and ``delay_until`` were given."""


class TaskFailed(AlligatorException):
    """A task may raise this to mark itself failed."""


class TimeLimitExceeded(AlligatorException):
    """A run was still going at its time limit; it failed there."""


class WorkerLostError(AlligatorException):
    """The child process running a task died (a signal, the OOM killer,
    ``os._exit``); the message names its exit code or signal."""
