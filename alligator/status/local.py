"""Status stores on SQLite: ``sqlite:///path`` and ``locmem://``.

``sqlite:///var/status.db`` is shared by every thread and process that opens
the file; ``locmem://`` lives in one process's memory (tests, development,
``is_async=False``). Both run the same SQL: every state change is one
conditional ``UPDATE`` or ``INSERT ... ON CONFLICT`` inside ``BEGIN
IMMEDIATE``, so two consumers holding copies of one message cannot both
claim it, whether they are threads or processes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..constants import TaskStatus
from ..dsn import DSN
from ..exceptions import ConfigurationError
from .base import (
    MAX_ERROR_CHARS,
    Claim,
    Dependencies,
    TaskState,
    Verdict,
    decode_result,
    dependency_verdict,
    encode_result,
)

#: Seconds a writer waits for another process's write lock before failing.
BUSY_TIMEOUT_SECONDS = 30
#: Ids per ``IN (...)`` query, well under SQLite's bound-variable limit.
IN_CHUNK = 500

_TABLE = "alligator_status"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    task_id TEXT PRIMARY KEY,
    status INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL
)
"""
#: Nobody else holds a live lease: free, ours, or expired.
_LEASE_FREE = "(lease_owner IS NULL OR lease_owner = :owner OR lease_until <= :now)"
_COLUMNS = "task_id, status, attempts, result, error, created_at, updated_at"

_CREATED = f"""
INSERT INTO {_TABLE} (task_id, status, attempts, created_at, updated_at)
VALUES (:task_id, :status, 0, :now, :now)
ON CONFLICT (task_id) DO NOTHING
"""
# A message can arrive for a task the store never saw (enqueued by a 1.0
# producer, or before the store was configured): claiming inserts it.
_CLAIM = f"""
INSERT INTO {_TABLE}
    (task_id, status, attempts, created_at, updated_at, lease_owner, lease_until)
VALUES (:task_id, :running, 1, :now, :now, :owner, :until)
ON CONFLICT (task_id) DO UPDATE SET
    status = :running, attempts = attempts + 1, updated_at = :now,
    lease_owner = :owner, lease_until = :until
WHERE status NOT IN (:success, :canceled) AND {_LEASE_FREE}
RETURNING attempts
"""
_RENEW = f"""
UPDATE {_TABLE} SET lease_until = :until
WHERE task_id = :task_id AND lease_owner = :owner AND status = :running
"""
# Success is recorded even if our lease expired and another consumer took
# the task over (the work is done either way), but never over a cancel.
_SUCCEEDED = f"""
INSERT INTO {_TABLE} (task_id, status, attempts, result, created_at, updated_at)
VALUES (:task_id, :success, 0, :result, :now, :now)
ON CONFLICT (task_id) DO UPDATE SET
    status = :success, result = :result, error = NULL, updated_at = :now,
    lease_owner = NULL, lease_until = NULL
WHERE status != :canceled
"""
# A failure must not clobber another consumer's live run, nor a finished task.
_FAILED = f"""
INSERT INTO {_TABLE} (task_id, status, attempts, error, created_at, updated_at)
VALUES (:task_id, :status, 0, :error, :now, :now)
ON CONFLICT (task_id) DO UPDATE SET
    status = :status, error = :error, updated_at = :now,
    lease_owner = NULL, lease_until = NULL
WHERE status NOT IN (:success, :canceled) AND {_LEASE_FREE}
"""
# Waiting never overrides a finished task or a live run of a duplicate.
_WAITING = f"""
INSERT INTO {_TABLE} (task_id, status, attempts, created_at, updated_at)
VALUES (:task_id, :status, 0, :now, :now)
ON CONFLICT (task_id) DO UPDATE SET
    status = :status, updated_at = :now, lease_owner = NULL, lease_until = NULL
WHERE status NOT IN (:success, :failed, :canceled)
    AND (lease_until IS NULL OR lease_until <= :now)
"""
# An unknown id is inserted as CANCELED: a cancel that races ahead of the
# enqueue (or of the store hearing about it) still wins.
_CANCEL = f"""
INSERT INTO {_TABLE} (task_id, status, attempts, created_at, updated_at)
VALUES (:task_id, :canceled, 0, :now, :now)
ON CONFLICT (task_id) DO UPDATE SET
    status = :canceled, updated_at = :now, lease_owner = NULL, lease_until = NULL
WHERE status NOT IN (:success, :failed)
RETURNING status
"""

#: The statuses every statement may name, bound as parameters.
_STATUS_PARAMS = {
    "running": int(TaskStatus.RUNNING),
    "success": int(TaskStatus.SUCCESS),
    "failed": int(TaskStatus.FAILED),
    "canceled": int(TaskStatus.CANCELED),
}


class SqliteStatusStore:
    """Task states in an SQLite file, shared by threads and processes.

    Example:
        >>> gator = Gator("sqs://us-east-1/emails", status="sqlite:///var/status.db")
        >>> gator.status(task.task_id).status
        <TaskStatus.SUCCESS: 1>

    Args:
        dsn: ``sqlite://PATH``, the path as written (``sqlite:///abs.db``,
            ``sqlite://relative.db``), as for the queue backend.

    Raises:
        ConfigurationError: no path, an option, or a file that cannot be
            opened.
    """

    def __init__(self, dsn: DSN) -> None:
        dsn.reject_unknown(set())
        self._lock = threading.Lock()
        self._conn = self._connect(dsn)
        with self._write() as conn:
            conn.execute(_SCHEMA)

    def _connect(self, dsn: DSN) -> sqlite3.Connection:
        if not dsn.path:
            raise ConfigurationError(
                "the sqlite:// status store needs a path: sqlite:///path/to/status.db"
            )
        self._where = dsn.path
        try:
            conn = sqlite3.connect(
                dsn.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            # WAL: readers (gator.status() polls) never block a consumer's
            # claim, nor a claim the readers.
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise ConfigurationError(
                f"cannot open the status database {dsn.path!r}: {exc}"
            ) from exc
        return conn

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r})"

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock at once
        (waiting up to ``BUSY_TIMEOUT_SECONDS`` for other processes), so a
        read-then-write inside it sees the state it changes."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _params(self, task_id: str, **extra: Any) -> dict[str, Any]:
        return {"task_id": task_id, "now": time.time(), **_STATUS_PARAMS, **extra}

    def created(self, task_id: str, *, delayed: bool = False) -> None:
        """Record a task just enqueued (WAITING or DELAYED) unless it is known."""
        status = TaskStatus.DELAYED if delayed else TaskStatus.WAITING
        with self._write() as conn:
            conn.execute(_CREATED, self._params(task_id, status=int(status)))

    def get(self, task_id: str) -> TaskState | None:
        """The task's state, or ``None`` for an unknown id."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM {_TABLE} WHERE task_id = ?", (task_id,)
            ).fetchone()
        if row is None:
            return None
        task_id, status, attempts, result, error, created_at, updated_at = row
        return TaskState(
            task_id=task_id,
            status=TaskStatus(status),
            attempts=attempts,
            result=decode_result(result),
            error=error,
            created_at=created_at,
            updated_at=updated_at,
        )

    def claim(self, task_id: str, *, owner: str, lease_seconds: int) -> Claim:
        """Take the task's lease to run it, counting one more attempt.

        Returns:
            RUN with the attempt number; DONE if it already succeeded;
            CANCELED; BUSY while another owner's lease is alive.
        """
        params = self._params(task_id, owner=owner)
        params["until"] = params["now"] + lease_seconds
        with self._write() as conn:
            rows = conn.execute(_CLAIM, params).fetchall()
            if rows:
                return Claim(Verdict.RUN, rows[0][0])
            # Read inside the same transaction: the state that refused us.
            (status,) = conn.execute(
                f"SELECT status FROM {_TABLE} WHERE task_id = ?", (task_id,)
            ).fetchone()
        if status == TaskStatus.SUCCESS:
            return Claim(Verdict.DONE)
        if status == TaskStatus.CANCELED:
            return Claim(Verdict.CANCELED)
        return Claim(Verdict.BUSY)

    def renew(self, task_id: str, *, owner: str, lease_seconds: int) -> None:
        """Extend our lease (the heartbeat); a lease we lost stays lost."""
        params = self._params(task_id, owner=owner)
        params["until"] = params["now"] + lease_seconds
        with self._write() as conn:
            conn.execute(_RENEW, params)

    def succeeded(self, task_id: str, *, owner: str, result: Any) -> None:
        """SUCCESS with its JSON result (a ``repr`` if not JSON); the lease ends."""
        params = self._params(task_id, owner=owner, result=encode_result(result))
        with self._write() as conn:
            conn.execute(_SUCCEEDED, params)

    def failed(self, task_id: str, *, owner: str, error: str, final: bool) -> None:
        """FAILED when ``final``, else RETRYING; the lease ends."""
        status = TaskStatus.FAILED if final else TaskStatus.RETRYING
        params = self._params(
            task_id, owner=owner, error=error[:MAX_ERROR_CHARS], status=int(status)
        )
        with self._write() as conn:
            conn.execute(_FAILED, params)

    def waiting(self, task_id: str, *, delayed: bool) -> None:
        """Back to WAITING (or DELAYED) after a deferral; no attempt counted."""
        status = TaskStatus.DELAYED if delayed else TaskStatus.WAITING
        with self._write() as conn:
            conn.execute(_WAITING, self._params(task_id, status=int(status)))

    def cancel(self, task_id: str) -> bool:
        """CANCELED unless it already finished; ``True`` if now canceled."""
        with self._write() as conn:
            return bool(conn.execute(_CANCEL, self._params(task_id)).fetchall())

    def dependencies(self, task_ids: list[str]) -> tuple[Dependencies, str | None]:
        """READY, WAITING, or FAILED with the id of the dependency that failed."""
        unique = list(dict.fromkeys(task_ids))
        statuses: dict[str, int] = {}
        with self._lock:
            for start in range(0, len(unique), IN_CHUNK):
                chunk = unique[start : start + IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT task_id, status FROM {_TABLE} WHERE task_id IN ({marks})",
                    chunk,
                )
                statuses.update(rows)
        return dependency_verdict(unique, statuses)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


class LocmemStatusStore(SqliteStatusStore):
    """Task states in this process's memory (``locmem://``).

    The same SQL as ``SqliteStatusStore`` on a private in-memory database,
    so the two cannot drift apart. Share one instance between gators to
    share the states (``open_status`` passes an instance through).

    Example:
        >>> store = open_status("locmem://")
        >>> gator = Gator("locmem://", status=store)
    """

    def _connect(self, dsn: DSN) -> sqlite3.Connection:
        if dsn.host or dsn.path:
            raise ConfigurationError(f"locmem:// takes no path, not {dsn.raw!r}")
        self._where = "locmem://"
        return sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)

    def __repr__(self) -> str:
        return "LocmemStatusStore()"
