"""``Gator``: the producer side, and 1.0's push/pop/get/cancel.

Example:
    >>> gator = Gator("sqs://us-east-1/emails")
    >>> task = gator.task(send_email, 42)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .backends.base import Lookup, Queue
from .backends.legacy import LegacyQueue, is_legacy_client
from .constants import ALL
from .consume import ConsumerConfig, Owner, Processor, Settler, run_inline
from .dsn import DSN, backend_class_for, parse_dsn
from .exceptions import NotSupportedError
from .produce import send
from .retries import Backoff
from .security import ImportAllow, Signer
from .status import StatusStore, TaskState, open_status, wait_for_final
from .tasks import Task

Call = tuple[Callable[..., Any], Sequence[Any], dict[str, Any]]


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
            as ``backend_class(conn_string, queue_name=queue_name)``, or as
            ``backend_class(conn_string)`` for a 1.0 ``Client``.
        status: a status store DSN or instance (or ``ALLIGATOR_STATUS``).
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
        backend_class: Callable[..., Any] | None = None,
        status: str | StatusStore | None = None,
        signing_key: str | Iterable[str] | None = None,
    ) -> None:
        dsn = parse_dsn(conn_string) if isinstance(conn_string, str) else conn_string
        self.conn_string = dsn.raw
        self.queue_name = queue_name
        self.task_class = task_class
        self.backend_class = backend_class
        if backend_class is None:
            self.backend: Any = self.build_backend(dsn)
        else:
            self.backend = _build_custom_backend(backend_class, dsn.raw, queue_name)
        #: The queue as consumers see it: the backend itself, or a 1.0
        #: client behind today's verbs.
        self.queue: Queue = (
            LegacyQueue(self.backend, queue_name)
            if is_legacy_client(self.backend)
            else self.backend
        )
        #: The retry backoff: the DSN's ``backoff_base``/``backoff_max``,
        #: else the environment, else the defaults.
        self.backoff = Backoff.from_options(dsn.options)
        self.status_store = open_status(status)
        self.signer = Signer.from_setting(signing_key)

    def __repr__(self) -> str:
        return f"Gator({self.queue!r})"

    def build_backend(self, conn_string: str | DSN) -> Any:
        """The backend for a DSN, chosen by its scheme."""
        dsn = parse_dsn(conn_string) if isinstance(conn_string, str) else conn_string
        return backend_class_for(dsn)(dsn, queue_name=self.queue_name)

    def len(self) -> int:
        """How many tasks are in the queue (waiting, delayed or in flight)."""
        return int(self.queue.size())  # type: ignore[attr-defined]

    # -- producing ---------------------------------------------------------------

    def push(self, task: Task, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Put a configured task on the queue (or run it now if not async).

        Raises:
            UnserializableTaskError: the callable or an argument cannot travel.
            PayloadTooLargeError: too big for SQS and no payload bucket.
            ValueError: a field every consumer would refuse (see ``Task``).
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
        return run_inline(task, self.status_store)

    # -- consuming, 1.0 style ----------------------------------------------------------

    def pop(self) -> Task | None:
        """Receive one task and process it, as a worker would.

        Returns:
            The task (succeeded, or failed and retried or dead-lettered), or
            ``None`` when nothing was waiting.
        """
        messages = self.queue.receive(max_messages=1, wait_seconds=0)
        return self._process(messages[0]) if messages else None

    def get(self, task_id: str) -> Task | None:
        """Take a specific task off the queue and process it.

        Raises:
            NotSupportedError: the backend cannot fetch by id (SQS).
        """
        if not isinstance(self.queue, Lookup):
            raise NotSupportedError(
                "this backend cannot fetch a message by id (SQS cannot); use a "
                "status store (status=...) to look tasks up"
            )
        message = self.queue.take(task_id)
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
            if not isinstance(self.queue, Lookup):
                raise NotSupportedError(
                    "this backend cannot cancel a queued message: pass a status "
                    "store (Gator(dsn, status='sqlite:///status.db'))"
                )
            body = self.queue.remove(task_id)
            if body is None:
                return None
            task = self.task_class.deserialize(body)
        task.to_canceled()
        return task

    # -- task states --------------------------------------------------------------------

    def status(self, task_id: str) -> TaskState | None:
        """The task's state, or ``None`` for an unknown id.

        Raises:
            NotSupportedError: there is no status store.
        """
        return self._store().get(task_id)

    def wait(self, task_id: str, timeout: float | None = None) -> TaskState:
        """Block until the task is SUCCESS, FAILED or CANCELED.

        Polls the status store, quickly at first and then less often (up to
        every 2 s), so a long wait costs few reads.

        Example:
            >>> state = gator.wait(gator.task(add, 1, 2).task_id, timeout=30)
            >>> state.result
            3

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
            NotSupportedError: there is no status store.
        """
        return wait_for_final(self._store(), task_id, timeout)

    def _store(self) -> StatusStore:
        if self.status_store is None:
            raise NotSupportedError(
                "task status needs a status store: Gator(dsn, status=...) or ALLIGATOR_STATUS"
            )
        return self.status_store

    # -- what consumers of this gator share ----------------------------------------------

    def consumer_config(
        self,
        *,
        import_allow: str | Iterable[str] | ImportAllow | None = None,
        signing_key: str | Iterable[str] | None = None,
        backoff: Backoff | None = None,
        time_limit: float | None = None,
    ) -> ConsumerConfig:
        """How consumers of this gator treat its messages. Each setting is
        the argument, else the gator's own, else the environment.

        Raises:
            ConfigurationError: a bad allow-list entry or time limit.
        """
        return ConsumerConfig.build(
            task_class=self.task_class,
            store=self.status_store,
            signer=self.signer,
            backoff=backoff or self.backoff,
            import_allow=import_allow,
            signing_key=signing_key,
            time_limit=time_limit,
        )

    def processor(self, **config: Any) -> Processor:
        """The per-message processor for this gator's queue."""
        return Processor(self.queue, self.consumer_config(**config))

    def _process(self, message: Any) -> Task | None:
        processor = self.processor()
        settler = Settler(self.queue, self.backoff, owner=Owner.WORKER)
        outcome = processor.handle(message)
        if outcome is None:  # pragma: no cover - only the thread pool expires runs
            return None
        settler.settle(outcome)
        settler.flush()
        return outcome.task

    def _send(self, tasks: list[Task]) -> None:
        send(self.queue, tasks, store=self.status_store, signer=self.signer)


def _build_custom_backend(
    backend_class: Callable[..., Any], conn_string: str, queue_name: str
) -> Any:
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
