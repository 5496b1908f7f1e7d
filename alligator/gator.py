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
from dataclasses import replace
from typing import Any

from . import _env, tracing
from .backends.base import Lookup, Outgoing, Queue
from .backends.legacy import LegacyQueue, is_legacy_client
from .constants import ALL, CANCELED, FAILED, SUCCESS
from .consume import ConsumerConfig, Owner, Processor, Settler, run_inline
from .dsn import DSN, backend_class_for, parse_dsn
from .exceptions import ConfigurationError, NotSupportedError
from .retries import Backoff
from .security import ImportAllow, Signer
from .status import StatusStore, TaskState, open_status
from .tasks import Task
from .wire import MAX_TIME_LIMIT_SECONDS, PAYLOAD_SIGNATURE_ATTRIBUTE, SIGNATURE_ATTRIBUTE

Call = tuple[Callable[..., Any], Sequence[Any], dict[str, Any]]

#: ``gator.wait`` polls the status store this often at first, then less
#: often (×1.5 a time) up to ``WAIT_POLL_MAX_SECONDS``: a long wait costs few
#: reads (DynamoDB bills each).
WAIT_POLL_FIRST_SECONDS = 0.05
WAIT_POLL_MAX_SECONDS = 2.0
#: The statuses ``gator.wait`` returns on.
FINAL_STATUSES = (SUCCESS, FAILED, CANCELED)


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
        store = self._store()
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = WAIT_POLL_FIRST_SECONDS
        while True:
            state = store.get(task_id)
            if state is not None and state.status in FINAL_STATUSES:
                return state
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    where = "unknown" if state is None else state.status.name.lower()
                    raise TimeoutError(f"task {task_id} is still {where} after {timeout:g} s")
                interval = min(interval, left)
            time.sleep(interval)
            interval = min(WAIT_POLL_MAX_SECONDS, interval * 1.5)

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
        if not isinstance(import_allow, ImportAllow):
            import_allow = ImportAllow.from_setting(import_allow)
        if signing_key is not None:
            signer = Signer.from_setting(signing_key)
        else:  # the gator's own key, else the environment as it is now
            signer = self.signer or Signer.from_setting(None)
        return ConsumerConfig(
            task_class=self.task_class,
            store=self.status_store,
            signer=signer,
            import_allow=import_allow,
            backoff=backoff or self.backoff,
            time_limit=_time_limit(time_limit),
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

    # -- sending ----------------------------------------------------------------------------

    def _send(self, tasks: list[Task]) -> None:
        if any(task.depends_on for task in tasks) and self.status_store is None:
            raise ConfigurationError("depends_on needs a status store: Gator(dsn, status=...)")
        with tracing.producing(self.queue, tasks) as trace_attributes:
            outgoing = [self._outgoing(task, trace_attributes) for task in tasks]
            if self.status_store is not None:
                # DELAYED by the task's own due time, not the message's delay:
                # FIFO queues carry no per-message delay at all.
                now = time.time()
                for task in tasks:
                    delayed = task.delay_until is not None and task.delay_until > now
                    self.status_store.created(task.task_id, delayed=delayed)
            ids = self.queue.send_many(outgoing)
            for task, message_id in zip(tasks, ids, strict=True):
                task.message_id = message_id  # (in the span: it names the message)

    def _outgoing(self, task: Task, trace_attributes: dict[str, str]) -> Outgoing:
        body = task.serialize()
        sent, attributes = self.queue.payloads.offload(body)
        attributes = {**attributes, **trace_attributes}
        if self.signer is not None:
            attributes[SIGNATURE_ATTRIBUTE] = self.signer.sign(sent)
            if sent is not body:
                # The signature covers the pointer; this one the payload
                # itself, so whoever can write the bucket cannot swap it.
                attributes[PAYLOAD_SIGNATURE_ATTRIBUTE] = self.signer.sign(body)
        delay = 0
        if task.delay_until is not None and not self.queue.fifo:
            wait = math.ceil(task.delay_until - time.time())
            delay = max(0, min(wait, self.queue.max_delay_seconds))
        return Outgoing(
            body=sent,
            delay_seconds=delay,
            attributes=attributes,
            group=task.group,
            dedup_id=task.dedup_id or task.task_id,
        )


def drain_backoff(backoff: Backoff) -> Backoff:
    """``backoff`` that retries at once (its maximum kept)."""
    return replace(backoff, immediate=True)


def _time_limit(value: float | None) -> float | None:
    """The argument, else ``ALLIGATOR_TIME_LIMIT``; refused if not a sane limit."""
    raw: Any = value if value is not None else _env.get(_env.TIME_LIMIT)
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"time_limit must be a number of seconds, not {raw!r}") from None
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIME_LIMIT_SECONDS):
        raise ConfigurationError(
            f"time_limit must be more than 0 and at most {MAX_TIME_LIMIT_SECONDS} s, not {raw!r}"
        )
    return seconds


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
