"""``locmem://``: the sqlite backend on a private in-memory database.

Example:
    >>> backend = LocmemBackend("locmem://?visibility_timeout=5")

Each instance has its own queue (two ``Gator("locmem://")`` share nothing),
with the same lease semantics as ``sqlite://``; ``dlq_backend()`` shares the
instance's database, since an in-memory database lives on one connection.
"""

from __future__ import annotations

import sqlite3

from ..exceptions import ConfigurationError
from .sqlite import SqliteBackend


class LocmemBackend(SqliteBackend):
    """An in-process queue for development and tests; gone with the process.

    Example:
        >>> gator = Gator("locmem://?backoff_base=1")

    Args:
        dsn: ``locmem://`` with the options of ``SqliteBackend`` and no path.
        queue_name: the queue; ``"all"`` when not given, as in 1.0.

    Raises:
        ConfigurationError: a path, or a bad or unknown option.
    """

    scheme = "locmem"

    def _connect(self) -> sqlite3.Connection:
        if self.dsn.host or self.dsn.path.strip("/"):
            raise ConfigurationError(
                f"locmem:// takes no path, got {self.dsn.raw!r}; "
                "use sqlite:///path/to/q.db for a queue in a file"
            )
        # check_same_thread=False: a worker's threads share the connection,
        # serialised by the store's lock.
        return sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
