"""``Gator``: the producer side, and 1.0's push/pop/get/cancel.

Example:
    >>> gator = Gator("sqs://us-east-1/emails")
    >>> task = gator.task(send_email, 42)
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .backends.base import SIGNATURE_ATTRIBUTE, Backend, Outgoing
from .constants import ALL, RUNNING
from .dsn import DSN, backend_class_for, parse_dsn
from .exceptions import ConfigurationError, NotSupportedError
from .processing import Processor, default_owner
from .security import ImportAllow, Signer
from .settle import Settler
from .status import StatusStore, TaskState, Verdict, open_status
from .tasks import Task

Call = tuple[Callable[..., Any], Sequence[Any], dict[str, Any]]

#: Seconds an in-process run (``is_async=False``) holds its status lease. No
#: heartbeat renews it; it only keeps a queued copy of the same task id
#: from running at the same time.
INLINE_LEASE_SECONDS = 900


class Gator:
    """Puts tasks on a queue (and, for 1.0's API, takes them off).

    Example:
        >>> gator = Gator("sqs://us-east-1/", queue_name="emails")
        >>> with gator.options(retries=3, delay_by=60) as opts:
        ...     opts.task(send_email, 42)

    Args:
        conn_string: the queue's DSN: ``sqs://REGION/QUEUE?...``,
            ``locmem://`` or ``sqlite:///path``.
        queue_name: the queue, when the DSN does not name one (1.0 style).
        task_class: builds tasks (1.0's hook for custom tasks).
        backend_class: a backend to use instead of the DSN's scheme; called
            as ``backend_class(conn_string, queue_name=queue_name)``.
        status: a status store DSN (or ``ALLIGATOR_STATUS``).
        signing_key: sign messages (or ``ALLIGATOR_SIGNING_KEY``); a
            comma-separated string or a list, the first key signs.

    Raises:
        ConfigurationError: unknown scheme, malformed DSN, bad option.
    """

    def __init__(
        self,
        conn_string: str | DSN,
        queue_name: str = ALL,
        task_class: type[Task] = Task,
        backend_class: Callable[..., Backend] | None = None,
        status: str | StatusStore | None = None,
        signing_key: str | Iterable[str] | None = None,
    ) -> None:
        dsn = parse_dsn(conn_string) if isinstance(conn_string, str) else conn_string
        self.conn_string = dsn.raw
        self.queue_name = queue_name
        self.task_class = task_class
        self.backend_class = backend_class
        if backend_class is None:
            self.backend = self.build_backend(dsn)
        else:
            self.backend = _build_custom_backend(backend_class, dsn.raw, queue_name)
        self.status_store = open_status(status)
        self.signer = Signer.from_setting(signing_key)

    def build_backend(self, conn_string: str | DSN) -> Backend:
        """The backend for a DSN, chosen by its scheme."""
        dsn = parse_dsn(conn_string) if isinstance(conn_string, str) else conn_string
        return backend_class_for(dsn)(dsn, queue_name=self.queue_name)

    def len(self) -> int:
        """How many tasks are in the queue (waiting, delayed or in flight)."""
        return self.backend.size()

    def push(self, task: Task, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Put a configured task on the queue (or run it now if not async).

        Raises:
            UnserializableTaskError: the callable or an argument cannot travel.
            PayloadTooLargeError: too big for SQS and no payload bucket.
        """
        task.to_call(func, *args, **kwargs)
        if not task.is_async:
            return self.execute(task)
        self._send([task])
        return task

    def task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Enqueue ``func(*args, **kwargs)``; the returned task has its id.

        Example:
            >>> task = gator.task(send_email, 42, subject="hi")
            >>> task.task_id, task.message_id
        """
        return self.push(self.task_class(), func, *args, **kwargs)

    def task_many(self, calls: Iterable[Call], **task_options: Any) -> list[Task]:
        """Enqueue many calls in as few requests as possible (10 per batch).

        Example:
            >>> gator.task_many([(send_email, (1,), {}), (send_email, (2,), {})])

        Args:
            calls: ``(func, args, kwargs)`` tuples; ``args`` and ``kwargs``
                may be left off.
            **task_options: ``Task`` options applied to every task.
        """
        tasks = []
        for call in calls:
            func, args, kwargs = _call_parts(call)
            task = self.task_class(**task_options)
            task.to_call(func, *args, **kwargs)
            tasks.append(task)
        queued = [task for task in tasks if task.is_async]
        if queued:
            self._send(queued)
        for task in tasks:
            if not task.is_async:
                self.execute(task)
        return tasks

    def options(self, **kwargs: Any) -> Options:
        """A context manager that makes tasks with these ``Task`` options."""
        return Options(self, **kwargs)

    def execute(self, task: Task) -> Task:
        """Run a task in-process now, with its retries and no wait.

        With a status store, each run is claimed and recorded as a consumer
        would: the store counts the attempts and keeps the result or error,
        and a task id it knows as canceled or succeeded is not run again
        (the task comes back CANCELED, or SUCCESS with the stored result).

        Raises:
            Exception: the last run's error, once the retries are used up.
        """
        if self.status_store is not None:
            return _execute_recorded(self.status_store, task)
        attempt = 0
        while True:
            attempt += 1
            try:
                task.run()
            except Exception:
                if attempt < task.retries + 1:
                    task.to_retrying()
                    continue
                raise
            return task

    def pop(self) -> Task | None:
        """Receive one task and process it, as a worker would.

        Returns:
            The task (succeeded, or failed and retried or dead-lettered), or
            ``None`` when nothing was waiting.
        """
        messages = self.backend.receive(max_messages=1, wait_seconds=0)
        return self._process(messages[0]) if messages else None

    def get(self, task_id: str) -> Task | None:
        """Take a specific task off the queue and process it.

        Raises:
            NotSupportedError: the backend cannot fetch by id (SQS).
        """
        message = self.backend.take(task_id)
        return self._process(message) if message else None

    def cancel(self, task_id: str) -> Task | None:
        """Cancel a task before it runs.

        With a status store (any backend) the task is marked canceled and a
        consumer deletes it unrun when it arrives; an id the store does not
        know yet is recorded as canceled too, so a cancel that overtakes the
        enqueue still wins. A run already under way is not interrupted, but
        its result is not recorded and it is never retried. Without a store,
        the local backends remove the message from the queue.

        Returns:
            The canceled task, or ``None`` if it already finished (or, with
            no store, was not found).

        Raises:
            NotSupportedError: SQS without a status store.
        """
        if self.status_store is not None:
            if not self.status_store.cancel(task_id):
                return None
            task = self.task_class(task_id=task_id)
        else:
            remove = getattr(self.backend, "remove", None)
            if remove is None:
                raise NotSupportedError(
                    "this backend cannot cancel a queued message: pass a status "
                    "store (Gator(dsn, status='sqlite:///status.db'))"
                )
            body = remove(task_id)
            if body is None:
                return None
            task = self.task_class.deserialize(body)
        task.to_canceled()
        return task

    def status(self, task_id: str) -> TaskState | None:
        """The task's state, or ``None`` for an unknown id.

        Raises:
            NotSupportedError: there is no status store.
        """
        if self.status_store is None:
            raise NotSupportedError(
                "task status needs a status store: Gator(dsn, status=...) or ALLIGATOR_STATUS"
            )
        return self.status_store.get(task_id)

    def processor(self, **kwargs: Any) -> Processor:
        """The per-message processor consumers of this gator share."""
        # The gator's own signing_key beats the environment (which it read
        # itself at construction when it was given none).
        kwargs.setdefault("signer", self.signer or Signer.from_setting(None))
        kwargs.setdefault("import_allow", ImportAllow.from_setting(None))
        return Processor(
            self.backend,
            task_class=self.task_class,
            status=self.status_store,
            **kwargs,
        )

    def _process(self, message: Any) -> Task | None:
        settler = Settler(self.backend)
        outcome = self.processor().handle(message)
        settler.settle(outcome)
        settler.flush()
        return outcome.task

    def _send(self, tasks: list[Task]) -> None:
        if any(task.depends_on for task in tasks) and self.status_store is None:
            raise ConfigurationError("depends_on needs a status store: Gator(dsn, status=...)")
        outgoing = [self._outgoing(task) for task in tasks]
        if self.status_store is not None:
            # DELAYED by the task's own due time, not the message's delay:
            # FIFO queues carry no per-message delay at all.
            now = time.time()
            for task in tasks:
                delayed = task.delay_until is not None and task.delay_until > now
                self.status_store.created(task.task_id, delayed=delayed)
        ids = self.backend.send_many(outgoing)
        for task, message_id in zip(tasks, ids, strict=True):
            task.message_id = message_id

    def _outgoing(self, task: Task) -> Outgoing:
        body, attributes = self.backend.offload(task.serialize())
        attributes = dict(attributes)
        if self.signer is not None:
            attributes[SIGNATURE_ATTRIBUTE] = self.signer.sign(body)
        delay = 0
        if task.delay_until is not None and not self.backend.fifo:
            wait = math.ceil(task.delay_until - time.time())
            delay = max(0, min(wait, self.backend.max_delay_seconds))
        return Outgoing(
            body=body,
            delay_seconds=delay,
            attributes=attributes,
            group=task.group,
            dedup_id=task.dedup_id or task.task_id,
        )


def _execute_recorded(store: StatusStore, task: Task) -> Task:
    """``Gator.execute`` with a status store: claim, run, record, per run."""
    owner = default_owner()
    while True:
        claim = store.claim(task.task_id, owner=owner, lease_seconds=INLINE_LEASE_SECONDS)
        if claim.verdict is not Verdict.RUN:
            return _not_run(store, task, claim.verdict)
        try:
            task.run()
        except Exception as exc:
            final = claim.attempts >= task.retries + 1
            error = f"{type(exc).__name__}: {exc}"
            store.failed(task.task_id, owner=owner, error=error, final=final)
            if final:
                raise
            task.to_retrying()
            continue
        store.succeeded(task.task_id, owner=owner, result=task.result)
        return task


def _not_run(store: StatusStore, task: Task, verdict: Verdict) -> Task:
    """The task as the store says it is, when it was not ours to run."""
    if verdict is Verdict.CANCELED:
        task.to_canceled()
    elif verdict is Verdict.DONE:
        state = store.get(task.task_id)
        task.result = state.result if state is not None else None
        task.to_success()
    else:  # BUSY: a consumer is running this very task id right now
        task.status = RUNNING
    return task


def _build_custom_backend(
    backend_class: Callable[..., Backend], conn_string: str, queue_name: str
) -> Backend:
    """1.0 called ``backend_class(conn_string)``; ours also take the queue."""
    try:
        accepts_queue = "queue_name" in inspect.signature(backend_class).parameters
    except (TypeError, ValueError):
        accepts_queue = True
    if accepts_queue:
        return backend_class(conn_string, queue_name=queue_name)
    return backend_class(conn_string)


def _call_parts(call: Sequence[Any]) -> Call:
    """``(func,)``, ``(func, args)`` or ``(func, args, kwargs)``, filled in."""
    parts = tuple(call)
    if not 1 <= len(parts) <= 3:
        raise TypeError(f"a call is (func, args, kwargs), not {call!r}")
    args = parts[1] if len(parts) > 1 else ()
    kwargs = parts[2] if len(parts) > 2 else {}
    return parts[0], args, kwargs


class Options:
    """Makes tasks with fixed options; see ``Gator.options``."""

    def __init__(self, gator: Gator, **kwargs: Any) -> None:
        self.gator = gator
        self.task_kwargs = kwargs

    def __enter__(self) -> Options:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Enqueue ``func(*args, **kwargs)`` with these options."""
        task = self.gator.task_class(**self.task_kwargs)
        return self.gator.push(task, func, *args, **kwargs)

    def task_many(self, calls: Iterable[Call]) -> list[Task]:
        """``Gator.task_many`` with these options."""
        return self.gator.task_many(calls, **self.task_kwargs)
