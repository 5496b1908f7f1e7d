"""``sqlite://PATH``: SQS's lease semantics, simulated on one sqlite table.

Example:
    >>> backend = SqliteBackend("sqlite:///var/q.db?visibility_timeout=60")
    >>> [message] = backend.receive(max_messages=1, wait_seconds=0)
    >>> backend.ack([message])

A received message is not removed: its ``visible_at`` moves forward by the
visibility timeout and it gets a fresh receipt. Deleting, retrying and
extending need that receipt, so a consumer whose lease expired (and whose
message someone else received since) changes nothing, exactly as on SQS.
Several worker *processes* may share one file: every change runs in a
``BEGIN IMMEDIATE`` transaction, which sqlite serialises across processes.
``LocmemBackend`` is this same class on a private in-memory database.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ..constants import ALL
from ..dsn import DSN, parse_dsn
from ..exceptions import ConfigurationError
from ..limits import MAX_BATCH_ENTRIES, MAX_VISIBILITY_SECONDS, MAX_WAIT_SECONDS
from ..retries import Backoff
from .base import LocalPayloads, Outgoing, QueueStats, Received

#: Options both local backends accept.
LEASE_OPTIONS = {"visibility_timeout", "batch_size", "wait_time"}
OPTIONS = LEASE_OPTIONS | {"backoff_base", "backoff_max"}
#: Seconds between polls while ``receive`` waits for a message.
POLL_SECONDS = 0.05

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    task_id TEXT,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    sent_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    held INTEGER NOT NULL DEFAULT 0  -- being run (not retried/released): remove()
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (queue, visible_at, seq);
CREATE INDEX IF NOT EXISTS messages_task ON messages (queue, task_id);
"""


class _Store:
    """One connection and the lock that serialises threads on it.

    Shared (and reference counted) between a backend and its
    ``dlq_backend()``, because an in-memory database exists only on its
    own connection.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.lock = threading.Lock()
        self.users = 1
        connection.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, atomic across threads and processes."""
        with self.lock:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
                self.connection.execute("COMMIT")
            finally:
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")

    def query(self, sql: str, params: Any = ()) -> list[Any]:
        with self.lock:
            return self.connection.execute(sql, params).fetchall()

    def share(self) -> _Store:
        with self.lock:
            self.users += 1
        return self

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0:
                self.connection.close()


class SqliteBackend:
    """A queue in a sqlite file, with SQS's receive/ack/retry semantics.

    Example:
        >>> backend = SqliteBackend("sqlite://q.db", queue_name="emails")
        >>> backend.send_many([Outgoing('{"task_id": "t1"}')])

    Args:
        dsn: ``sqlite://PATH?option=...``; PATH as written (``sqlite:///var/q.db``
            is absolute, ``sqlite://q.db`` is relative to the working
            directory). Options: ``visibility_timeout`` (0-43200, default 30),
            ``batch_size`` (1-10, default 10), ``wait_time`` (0-20, default 0),
            ``backoff_base``, ``backoff_max``.
        queue_name: the queue inside the file; ``"all"`` when not given, as
            in 1.0. Its dead-letter queue is ``NAME-dlq`` in the same file.

    Raises:
        ConfigurationError: no path, or a bad or unknown option.
    """

    scheme = "sqlite"
    blocking = False  # receive() never blocks long, so the worker naps
    fifo = False
    #: Any delay is fine locally; SQS's 900 s cap does not apply.
    max_delay_seconds = 10**9
    #: Nothing expires locally.
    retention_seconds = None

    def __init__(
        self,
        dsn: str | DSN,
        queue_name: str | None = None,
        *,
        _store: _Store | None = None,
    ) -> None:
        self.dsn = parse_dsn(dsn) if isinstance(dsn, str) else dsn
        if self.dsn.scheme != self.scheme:
            raise ConfigurationError(
                f"{type(self).__name__} needs a {self.scheme}:// DSN, not {self.dsn.scheme}://"
            )
        self.dsn.reject_unknown(OPTIONS)
        self.payloads = LocalPayloads()
        self.queue_name = queue_name or ALL
        self.dlq_name = f"{self.queue_name}-dlq"
        # The same limits as SQS, so a DSN tried locally also works there.
        self.visibility_timeout = self.dsn.int("visibility_timeout", 30, 1, MAX_VISIBILITY_SECONDS)
        self.batch_size = self.dsn.int("batch_size", MAX_BATCH_ENTRIES, 1, MAX_BATCH_ENTRIES)
        self.wait_time = self.dsn.int("wait_time", 0, 0, MAX_WAIT_SECONDS)
        #: The DSN's backoff options, checked here too (the gator uses them).
        self.backoff = Backoff.from_options(self.dsn.options)
        self._store = self._open() if _store is None else _store.share()

    def _open(self) -> _Store:
        try:
            return _Store(self._connect())
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open {self.dsn.raw!r}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        if not self.dsn.path:
            raise ConfigurationError(
                "sqlite:// needs a file path: sqlite:///abs/q.db or sqlite://rel.db"
            )
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so the
        # write lock is taken before the SELECT that picks rows. WAL lets
        # readers (stats, size) go on while a worker writes.
        connection = sqlite3.connect(
            self.dsn.path, timeout=30, check_same_thread=False, isolation_level=None
        )
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dsn.raw!r}, queue={self.queue_name!r})"

    def check(self) -> None:
        """Nothing to resolve: the database opened at construction."""

    def dlq_backend(self) -> SqliteBackend:
        """A backend on this queue's dead-letter queue, on the same database."""
        return type(self)(self.dsn, self.dlq_name, _store=self._store)

    # -- producing -------------------------------------------------------------

    def send_many(self, messages: Sequence[Outgoing]) -> list[str]:
        """Insert messages, each hidden for its ``delay_seconds``.

        Returns:
            The new message ids, in input order.
        """
        with self._store.transaction() as db:
            return [_insert(db, self.queue_name, message) for message in messages]

    # -- consuming -------------------------------------------------------------

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[Received]:
        """Lease up to ``max_messages`` visible messages, oldest first.

        With ``wait_seconds`` > 0, polls until a message shows up or the wait
        is over (counted in polls, not clock time, so a frozen clock in tests
        cannot make it spin forever).
        """
        polls = int(wait_seconds / POLL_SECONDS)
        while True:
            received = self._lease("", (), max_messages)
            if received or polls <= 0:
                return received
            polls -= 1
            time.sleep(POLL_SECONDS)

    def take(self, task_id: str) -> Received | None:
        """Lease the visible message of task ``task_id`` (1.0's ``get``)."""
        received = self._lease("AND task_id = ?", (task_id,), 1)
        return received[0] if received else None

    def _lease(self, where: str, params: tuple[Any, ...], limit: int) -> list[Received]:
        now = time.time()
        hidden_until = now + self.visibility_timeout
        with self._store.transaction() as db:
            rows = db.execute(
                "SELECT seq, body, message_id, receive_count, attributes, sent_at"
                f" FROM messages WHERE queue = ? AND visible_at <= ? {where}"
                " ORDER BY seq LIMIT ?",
                (self.queue_name, now, *params, max(0, limit)),
            ).fetchall()
            received = []
            for seq, body, message_id, count, attributes, sent_at in rows:
                receipt, attempt = str(uuid.uuid4()), count + 1
                db.execute(
                    "UPDATE messages SET visible_at = ?, receive_count = ?,"
                    " receipt = ?, held = 1 WHERE seq = ?",
                    (hidden_until, attempt, receipt, seq),
                )
                attrs = json.loads(attributes)
                received.append(Received(body, message_id, receipt, attempt, attrs, sent_at))
        return received

    def ack(self, messages: Sequence[Received], *, keep_payload: bool = False) -> None:
        """Delete messages whose lease is still theirs (stale receipts do nothing)."""
        with self._store.transaction() as db:
            db.executemany(
                "DELETE FROM messages WHERE message_id = ? AND receipt = ?",
                [(m.message_id, m.receipt) for m in messages],
            )

    def retry(self, message: Received, *, delay_seconds: int) -> None:
        """Make a message visible again after ``delay_seconds``."""
        self._set_visibility([message], delay_seconds, held=0)

    def release(self, messages: Sequence[Received]) -> None:
        """Make unstarted messages visible at once."""
        self._set_visibility(messages, 0, held=0)

    def extend(self, messages: Sequence[Received], *, seconds: int) -> None:
        """Keep messages hidden for ``seconds`` more from now (a heartbeat)."""
        self._set_visibility(messages, min(seconds, MAX_VISIBILITY_SECONDS), held=1)

    def _set_visibility(self, messages: Sequence[Received], seconds: float, *, held: int) -> None:
        # ``held`` only tells ``remove`` whether a consumer is running it;
        # the receipt stays valid after a retry or release, as on SQS.
        visible_at = time.time() + max(0, seconds)
        with self._store.transaction() as db:
            db.executemany(
                "UPDATE messages SET visible_at = ?, held = ? WHERE message_id = ? AND receipt = ?",
                [(visible_at, held, m.message_id, m.receipt) for m in messages],
            )

    def send_to_dlq(self, message: Received, reason: Mapping[str, str]) -> bool:
        """Copy a message into ``NAME-dlq`` with the reason attached.

        The source is left alone: the caller acks it once this returned True.
        """
        copy = Outgoing(message.body, attributes={**message.attributes, **reason})
        with self._store.transaction() as db:
            _insert(db, self.dlq_name, copy)
        return True

    def remove(self, task_id: str) -> str | None:
        """Delete task ``task_id``'s message unless a consumer holds it.

        For ``Gator.cancel`` without a status store, as 1.0 did.

        Returns:
            The removed body, or ``None`` when no such message is waiting.
        """
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT seq, body FROM messages WHERE queue = ? AND task_id = ?"
                " AND (held = 0 OR visible_at <= ?) ORDER BY seq LIMIT 1",
                (self.queue_name, task_id, time.time()),
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM messages WHERE seq = ?", (row[0],))
        return str(row[1])

    # -- the queue as a whole --------------------------------------------------

    def size(self) -> int:
        """Messages in the queue: visible, in flight and delayed."""
        return self.len()

    def len(self, queue_name: str | None = None) -> int:
        """Messages in ``queue_name`` (this queue by default), as 1.0's
        ``backend.len(queue)``."""
        [(count,)] = self._store.query(
            "SELECT COUNT(*) FROM messages WHERE queue = ?", (queue_name or self.queue_name,)
        )
        return int(count)

    def drop_all(self, queue_name: str | None = None) -> None:
        """Delete every message in ``queue_name`` (this queue by default),
        as 1.0's ``backend.drop_all(queue)``."""
        with self._store.transaction() as db:
            db.execute("DELETE FROM messages WHERE queue = ?", (queue_name or self.queue_name,))

    def stats(self) -> QueueStats:
        """Counts as SQS reports them: a received message hidden by a retry
        counts as in flight; one never received and hidden is delayed."""
        now = time.time()
        [(visible, in_flight, delayed, oldest)] = self._store.query(
            "SELECT COALESCE(SUM(visible_at <= :now), 0),"
            " COALESCE(SUM(visible_at > :now AND receive_count > 0), 0),"
            " COALESCE(SUM(visible_at > :now AND receive_count = 0), 0),"
            " MIN(sent_at) FROM messages WHERE queue = :queue",
            {"now": now, "queue": self.queue_name},
        )
        [(dlq_depth,)] = self._store.query(
            "SELECT COUNT(*) FROM messages WHERE queue = ?", (self.dlq_name,)
        )
        age = None if oldest is None else max(0.0, now - oldest)
        return QueueStats(visible, in_flight, delayed, dlq_depth, age)

    def purge(self) -> None:
        """Delete every message in this queue (its DLQ is left alone)."""
        self.drop_all()

    def close(self) -> None:
        """Let go of the database; the connection closes with its last user."""
        store, self._store = self._store, None  # type: ignore[assignment]
        if store is not None:
            store.release()


def _insert(db: sqlite3.Connection, queue: str, message: Outgoing) -> str:
    now, message_id = time.time(), str(uuid.uuid4())
    db.execute(
        "INSERT INTO messages (queue, message_id, task_id, body, attributes,"
        " sent_at, visible_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            queue,
            message_id,
            _task_id(message.body),
            message.body,
            json.dumps(dict(message.attributes)),
            now,
            now + max(0, message.delay_seconds),
        ),
    )
    return message_id


def _task_id(body: str) -> str | None:
    """The body's task id, so ``take``/``remove`` can find it; None if none."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # hostile bodies must still queue
        return None
    task_id = data.get("task_id") if isinstance(data, dict) else None
    # Printable only: a lone surrogate cannot be stored (sqlite encodes
    # UTF-8 strictly), and such an id is poison to every consumer anyway.
    return task_id if isinstance(task_id, str) and task_id.isprintable() else None
