"""The one per-message path, shared by the worker, the Lambda handler,
``Gator.pop()`` and ``alligator.testing.drain``.

``Processor.handle`` decides what happens to one received message and runs
its task if it should; it returns an ``Outcome`` and touches the queue not at
all. Applying the outcome is the caller's job (``Settler`` for consumers that
own their messages, the Lambda handler for records Lambda owns), because
deleting is done in batches and, on Lambda, by Lambda itself.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import uuid

from . import wire
from .backends.base import (
    SIGNATURE_ATTRIBUTE,
    Backend,
    Received,
)
from .constants import CANCELED, SUCCESS
from .exceptions import (
    AlligatorException,
    PoisonMessageError,
    UnknownCallableError,
    UnknownModuleError,
)
from .outcome import Action, Outcome, failure_reason  # noqa: F401
from .security import ImportAllow, Signer
from .status import Dependencies, StatusStore, TaskState, Verdict
from .tasks import Task


def default_owner() -> str:
    """A lease owner id unique to this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Processor:
    """Turns one received message into an ``Outcome``, running its task.

    Example:
        >>> processor = Processor(gator.backend, import_allow=ImportAllow(("myapp",)))
        >>> outcome = processor.handle(message)

    Args:
        backend: the queue the message came from (for payloads and leases).
        task_class: builds tasks from bodies (1.0's ``task_class``).
        status: an optional status store (exact attempts, cancel, dedup).
        import_allow: module prefixes tasks may come from; ``None`` allows all.
        signer: when set, messages must carry a valid signature.
        retry_at_once: retry with no backoff wait (``drain`` in tests).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        task_class: type[Task] = Task,
        status: StatusStore | None = None,
        import_allow: ImportAllow | None = None,
        signer: Signer | None = None,
        retry_at_once: bool = False,
        owner: str | None = None,
    ) -> None:
        self.backend = backend
        self.task_class = task_class
        self.status = status
        self.import_allow = import_allow
        self.signer = signer
        self.retry_at_once = retry_at_once
        self.owner = owner or default_owner()
        self._running: set[str] = set()
        self._running_lock = threading.Lock()

    def running_task_ids(self) -> list[str]:
        """Tasks running right now, whose status leases the heartbeat renews."""
        with self._running_lock:
            return list(self._running)

    def handle(self, message: Received) -> Outcome:
        """Decide, and run the task if it should run now."""
        now = time.time()
        queued_for = None if message.sent_at is None else max(0.0, now - message.sent_at)
        try:
            task = self.decode(message)
        except PoisonMessageError as exc:
            return Outcome(
                Action.DEAD,
                message,
                error=f"PoisonMessageError: {exc}",
                attempt=message.attempt,
                queued_for=queued_for,
            )
        except Exception as exc:
            # Not the message's fault (S3 throttled, denied or unreachable
            # while fetching its payload): try it again later rather than
            # dead-letter it or let the exception take a worker thread down.
            # The queue's maxReceiveCount is the backstop.
            delay = 0 if self.retry_at_once else self.backend.backoff.seconds(message.attempt)
            return Outcome(
                Action.RETRY,
                message,
                delay_seconds=delay,
                error=f"{type(exc).__name__}: {exc}",
                attempt=message.attempt,
                queued_for=queued_for,
            )
        outcome = self._gate(message, task, now)
        if outcome is None:
            claimed = self._claim(message, task)
            if isinstance(claimed, Outcome):
                outcome = claimed
            else:
                outcome = self._run(message, task, attempt=claimed)
        outcome.queued_for = queued_for
        return outcome

    def decode(self, message: Received) -> Task:
        """Verify, load, check and import, in that order: nothing is imported
        before the signature and the allow-list have said yes.

        Raises:
            PoisonMessageError: the message must never run; says why.
        """
        if self.signer is not None:
            signature = message.attributes.get(SIGNATURE_ATTRIBUTE)
            if not self.signer.verify(message.body, signature):
                state = "missing" if not signature else "wrong"
                raise PoisonMessageError(f"signature is {state}")
        try:
            body = self.backend.load(message.body)
        except PoisonMessageError:
            raise
        except AlligatorException as exc:
            raise PoisonMessageError(f"payload cannot be loaded: {exc}") from exc
        data = wire.decode(body)
        if self.import_allow is not None:
            for module in wire.modules_named(data):
                if not self.import_allow.allows(module):
                    raise PoisonMessageError(f"module {module!r} is not in the import allow-list")
        try:
            task = self.task_class.from_dict(data)
        except (UnknownModuleError, UnknownCallableError) as exc:
            raise PoisonMessageError(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # a task_class that chokes on checked data
            raise PoisonMessageError(f"cannot build the task: {type(exc).__name__}: {exc}") from exc
        task.message_id = message.message_id
        return task

    def _gate(self, message: Received, task: Task, now: float) -> Outcome | None:
        """Everything that stops a task from running now, or ``None``."""
        # Strictly, with no tolerance: a task never runs early. A message
        # back a little before its due time (another host's clock, a
        # producer that rounds down) waits once more, for a whole second.
        due_later = task.delay_until is not None and task.delay_until > now
        if not due_later and not task.depends_on:
            return None
        state = None
        if self.status is not None:
            # Before waiting again: a canceled or finished task is deleted
            # now, not re-sent every poll until it is due.
            state = self.status.get(task.task_id)
            settled = self._settled(message, task, state)
            if settled is not None:
                return settled
        if due_later:
            if self.status is not None:
                self.status.waiting(task.task_id, delayed=True)
            wait = math.ceil(task.delay_until - now)  # type: ignore[operator]
            return Outcome(Action.DEFER, message, task, delay_seconds=wait, note="due later")
        return self._check_dependencies(message, task, state)

    def _settled(self, message: Received, task: Task, state: TaskState | None) -> Outcome | None:
        """ACK a message whose task the store says was canceled or succeeded."""
        if state is None or state.status not in (CANCELED, SUCCESS):
            return None
        return self._unrun(message, task, canceled=state.status is CANCELED)

    def _unrun(self, message: Received, task: Task, *, canceled: bool) -> Outcome:
        """Delete a canceled task, or a duplicate of one that succeeded, unrun."""
        if canceled:
            task.to_canceled()
        return Outcome(Action.ACK, message, task, note="canceled" if canceled else "duplicate")

    def _claim(self, message: Received, task: Task) -> Outcome | int:
        """The attempt number to run as, or why not to run: counted exactly
        by the status store when there is one, else SQS's receive count."""
        if self.status is None:
            return message.attempt
        with self._running_lock:
            # A second copy of a task this process is running: the store
            # would let it in (the lease owner is this process), so refuse
            # here, or two runner threads would run it at once.
            if task.task_id in self._running:
                return self._busy(message, task)
            self._running.add(task.task_id)
        try:
            claim = self.status.claim(
                task.task_id,
                owner=self.owner,
                lease_seconds=self.backend.visibility_timeout,
            )
        except BaseException:
            self._let_go(task.task_id)
            raise
        if claim.verdict is Verdict.RUN:
            return claim.attempts  # still reserved: ``_run`` lets go
        self._let_go(task.task_id)
        if claim.verdict is Verdict.BUSY:
            return self._busy(message, task)
        return self._unrun(message, task, canceled=claim.verdict is Verdict.CANCELED)

    def _let_go(self, task_id: str) -> None:
        with self._running_lock:
            self._running.discard(task_id)

    def _busy(self, message: Received, task: Task) -> Outcome:
        """Another live consumer runs this task: look again in a while."""
        delay = self._poll_seconds()
        return Outcome(Action.DEFER, message, task, delay_seconds=delay, note="busy")

    def _check_dependencies(
        self, message: Received, task: Task, state: TaskState | None
    ) -> Outcome | None:
        if self.status is None:
            error = "ConfigurationError: depends_on needs a status store (status=...)"
            return Outcome(Action.DEAD, message, task, error=error, attempt=message.attempt)
        verdict, failed_id = self.status.dependencies(task.depends_on or [])
        if verdict is Dependencies.READY:
            return None
        if verdict is Dependencies.WAITING:
            # Unknown ids count as waiting: a dependency may be enqueued
            # after its dependent. Canceling the id ends the wait.
            self.status.waiting(task.task_id, delayed=False)
            delay = self._poll_seconds()
            return Outcome(Action.DEFER, message, task, delay_seconds=delay, note="waiting")
        failed = self.status.get(failed_id) if failed_id else None
        how = "was canceled" if failed is not None and failed.status is CANCELED else "failed"
        error = f"DependencyFailed: dependency {failed_id} {how}"
        self.status.failed(task.task_id, owner=self.owner, error=error, final=True)
        # It never ran: the store's count of runs, not the receive count.
        attempts = state.attempts if state is not None else 0
        return Outcome(Action.DEAD, message, task, error=error, attempt=attempts)

    def _poll_seconds(self) -> int:
        return 0 if self.retry_at_once else math.ceil(self.backend.backoff.base)

    def _run(self, message: Received, task: Task, *, attempt: int) -> Outcome:
        started = time.monotonic()
        with self._running_lock:
            self._running.add(task.task_id)
        try:
            task.run()
        except (Exception, SystemExit) as exc:  # a task's sys.exit() is its failure
            return self._failed(message, task, exc, attempt, time.monotonic() - started)
        finally:
            self._let_go(task.task_id)
        duration = time.monotonic() - started
        if self.status is not None:
            self.status.succeeded(task.task_id, owner=self.owner, result=task.result)
        return Outcome(Action.ACK, message, task, attempt=attempt, duration=duration)

    def _failed(
        self, message: Received, task: Task, exc: BaseException, attempt: int, duration: float
    ) -> Outcome:
        error = f"{type(exc).__name__}: {exc}"
        # Read retries after on_error ran: 1.0's hooks may raise it.
        final = attempt >= task.retries + 1
        if self.status is not None:
            self.status.failed(task.task_id, owner=self.owner, error=error, final=final)
            state = self.status.get(task.task_id)
            if state is not None and state.status is CANCELED:
                # Canceled while it ran: no retry, and no dead letter for a
                # task nobody wants any more.
                task.to_canceled()
                return Outcome(
                    Action.ACK,
                    message,
                    task,
                    error=error,
                    attempt=attempt,
                    duration=duration,
                    note="canceled",
                )
        if final:
            return Outcome(
                Action.DEAD, message, task, error=error, attempt=attempt, duration=duration
            )
        task.to_retrying()
        delay = 0 if self.retry_at_once else self.backend.backoff.seconds(attempt)
        return Outcome(
            Action.RETRY,
            message,
            task,
            delay_seconds=delay,
            error=error,
            attempt=attempt,
            duration=duration,
        )
