"""``MODULE:ATTRIBUTE``: the list of ``Schedule``s in the user's code.

The CLI imports the module by name (nothing is evaluated) and takes the
attribute, which must be a list or tuple of ``Schedule``s with distinct
names (EventBridge keys schedules by name).
"""

from __future__ import annotations

import importlib

from .. import wire
from ..exceptions import ConfigurationError
from .schedule import Schedule


def load_schedules(reference: str) -> list[Schedule]:
    """Import ``module:attribute`` and return its schedules.

    Example:
        >>> load_schedules("myapp.schedules:SCHEDULES")
        [Schedule('nightly-report', 'cron(0 2 * * ? *)', timezone='UTC')]

    Raises:
        ConfigurationError: a malformed reference, a module that cannot be
            imported, a missing attribute, something that is not a list of
            ``Schedule``s, or a name used twice.
    """
    module_name, _, attribute = reference.partition(":")
    if not wire.MODULE_PATTERN.match(module_name) or not wire.NAME_PATTERN.match(attribute):
        raise ConfigurationError(
            f"{reference!r} is not MODULE:ATTRIBUTE (for example myapp.schedules:SCHEDULES)"
        )
    try:
        module = importlib.import_module(module_name)
    except ConfigurationError:
        raise  # a Schedule in the module refused itself: its message says why
    except Exception as exc:  # an import can fail in any way
        raise ConfigurationError(
            f"cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    if not hasattr(module, attribute):
        raise ConfigurationError(f"module {module_name!r} has no attribute {attribute!r}")
    return checked(getattr(module, attribute), reference)


def checked(value: object, where: str) -> list[Schedule]:
    """``value`` as a list of schedules with distinct names, or a refusal."""
    if not isinstance(value, list | tuple):
        raise ConfigurationError(
            f"{where} is a {type(value).__name__}, not a list of Schedule objects"
        )
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, Schedule):
            raise ConfigurationError(f"{where} holds a {type(item).__name__}, not a Schedule")
        if item.name in seen:
            raise ConfigurationError(f"{where} names schedule {item.name!r} twice")
        seen.add(item.name)
    return list(value)
