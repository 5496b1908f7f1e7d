"""Operator tools behind ``alligator stats``, ``alligator dlq`` and the
dashboard.

``stats`` reads counts; ``dlq`` peeks at dead-lettered tasks and redrives or
deletes one of them; ``redrive`` moves them back in bulk; ``table`` prints
aligned columns for a terminal. None of them imports or runs task code: a
dead-letter queue holds, among other things, messages that were refused as
hostile.
"""

from __future__ import annotations

import os
from typing import Any

from ..constants import ALL
from ..dsn import DSN, backend_class_for, parse_dsn
from ..exceptions import ConfigurationError


def open_backend(dsn: str | DSN) -> Any:
    """The backend for an existing queue, as a ``Gator`` would build it.

    Example:
        >>> backend = open_backend("sqlite:///var/q.db")

    Raises:
        ConfigurationError: a bad DSN; ``locmem://``, which no other process
            can see; a ``sqlite://`` file that does not exist (an operator
            command must not create an empty queue where a typo pointed).
    """
    parsed = parse_dsn(dsn) if isinstance(dsn, str) else dsn
    if parsed.scheme == "locmem":
        raise ConfigurationError(
            "locmem:// lives inside one process, so this command cannot see "
            "another process's queue; use sqlite:///path or sqs://"
        )
    if parsed.scheme == "sqlite" and parsed.path and not os.path.exists(parsed.path):
        raise ConfigurationError(f"no queue database at {parsed.path!r}")
    return backend_class_for(parsed)(parsed, queue_name=ALL)
