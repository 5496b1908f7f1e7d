"""The one per-message path, shared by the worker (both pools), the Lambda
handler, ``Gator.pop/get`` and ``alligator.testing.drain``.

``Processor.handle`` decides what happens to one received message and runs
its task if it should; it returns an ``Outcome`` and touches the queue not at
all. Applying the outcome is the ``Settler``'s job. The ladder: admit
(signature, payload, wire, allow-list) → gate (due later? dependencies?) →
claim (the status store's lease and exact attempt count) → run (an
``Executor``: this thread, or a child process) → conclude, all in the
message's consumer span where OpenTelemetry is installed (``tracing``).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from .. import tracing
from .._text import sqs_safe
from ..backends.base import Queue, Received
from ..constants import CANCELED, SUCCESS
from ..exceptions import PoisonMessageError
from ..outcome import Action, Outcome, Reason
from ..security import ImportAllow, Signer
from ..status import Dependencies, TaskState, Verdict
from ..tasks import Task
from ..wire import NOT_BEFORE_ATTRIBUTE, PRIOR_ATTEMPTS_ATTRIBUTE, task_id_of
from .admit import admit
from .config import ConsumerConfig
from .execute import INLINE, Executor, RunResult, describe
from .run import Run

#: Message ids remembered as received-but-not-run (see ``note_unrun``).
MAX_UNRUN_REMEMBERED = 10_000


class Processor:
    """Turns one received message into an ``Outcome``, running its task.

    Example:
        >>> processor = Processor(gator.backend, gator.consumer_config())
        >>> outcome = processor.handle(message)

    Args:
        queue: the queue the messages come from (payloads, lease length).
        config: signatures, allow-list, status store, backoff, time limit.
    """

    def __init__(self, queue: Queue, config: ConsumerConfig) -> None:
        self.queue = queue
        self.config = config
        self.store = config.store
        self.owner = config.owner
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._unrun: OrderedDict[str, int] = OrderedDict()
        #: The consumer span of each run under way (by ``id(run)``).
        self._spans: dict[int, Any] = {}

    @property
    def import_allow(self) -> ImportAllow | None:
        """The module prefixes this processor imports from (None: any)."""
        return self.config.import_allow

    @property
    def signer(self) -> Signer | None:
        """The keys messages must be signed with (None: not checked)."""
        return self.config.signer

    def running_task_ids(self) -> list[str]:
        """Tasks running right now, whose status leases the heartbeat renews."""
        with self._lock:
            return list(self._running)

    def note_unrun(self, messages: Iterable[Received]) -> None:
        """These were received and go back unrun (a FIFO group's tail, a
        deferral by visibility, a release at shutdown). Their next receive
        count is one higher without a run, so the attempt number (without a
        status store, ``ApproximateReceiveCount``) must not count it."""
        with self._lock:
            for message in messages:
                self._unrun[message.message_id] = self._unrun.pop(message.message_id, 0) + 1
            while len(self._unrun) > MAX_UNRUN_REMEMBERED:
                self._unrun.popitem(last=False)

    def receive_attempt(self, message: Received) -> int:
        """The run this is, without a status store: the receive count, less
        the receives this process knows were not runs, plus the runs made
        before a re-send (``alligator-prior-attempts``)."""
        with self._lock:
            unrun = self._unrun.get(message.message_id, 0)
        return max(1, message.attempt - unrun) + _whole(
            message.attributes.get(PRIOR_ATTEMPTS_ATTRIBUTE)
        )

    # -- the ladder ------------------------------------------------------------

    def handle(
        self,
        message: Received,
        executor: Executor = INLINE,
        *,
        time_limit_cap: float | None = None,
    ) -> Outcome | None:
        """Decide, and run the task if it should run now.

        Returns:
            The outcome; ``None`` only when the run went past its time limit
            and ``Run.expire`` concluded it elsewhere (the thread pool).
        """
        now = time.time()
        queued_for = None if message.sent_at is None else max(0.0, now - message.sent_at)
        with tracing.consuming(self.queue, message) as span:
            prepared = self._prepare(message, now)
            outcome: Outcome | None
            if isinstance(prepared, Run):
                outcome = self._run(prepared, executor, time_limit_cap, span)
            else:
                outcome = prepared
            if outcome is not None:
                outcome.queued_for = queued_for
                outcome.queue = self.queue.queue_name
                span.outcome(outcome)
        return outcome

    def _run(
        self, run: Run, executor: Executor, time_limit_cap: float | None, span: Any
    ) -> Outcome | None:
        span.named(run.task)
        run.time_limit = self._time_limit(run.task, time_limit_cap)
        with self._lock:
            self._spans[id(run)] = span  # for ``conclude`` at the time limit
        try:
            result = executor.execute(run)
            if run.finish():
                return self.conclude(run, result)
            # Expired: concluded elsewhere at its limit (the thread pool),
            # where its span gets the outcome and ends; let that happen first.
            span.wait_ended()
            return None
        finally:
            with self._lock:
                del self._spans[id(run)]

    def _prepare(self, message: Received, now: float) -> Outcome | Run:
        try:
            data = admit(message, self.queue.payloads, self.config)
            task = self.config.task_class.unresolved(data)
        except PoisonMessageError as exc:
            return self._poison(message, str(exc))
        except (ValueError, TypeError) as exc:  # a task_class that chokes on checked data
            return self._poison(message, f"cannot build the task: {describe(exc)}")
        except Exception as exc:
            # Not the message's fault (S3 throttled, denied or unreachable
            # while fetching its payload): try again later rather than
            # dead-letter it. The queue's maxReceiveCount is the backstop.
            attempt = self.receive_attempt(message)
            return Outcome(
                Action.RETRY,
                message,
                Reason.LOAD_FAILED,
                task_id=task_id_of(message.body),
                delay_seconds=self.config.backoff.seconds(attempt),
                error=sqs_safe(describe(exc)),
                attempt=attempt,
            )
        task.message_id = message.message_id
        gated = self._gate(message, task, now)
        if gated is not None:
            return gated
        claimed = self._claim(message, task)
        if isinstance(claimed, Outcome):
            return claimed
        return Run(message=message, task=task, data=data, attempt=claimed)

    def _poison(self, message: Received, reason: str) -> Outcome:
        return Outcome(
            Action.DEAD,
            message,
            Reason.POISON,
            task_id=task_id_of(message.body),
            error=sqs_safe(f"PoisonMessageError: {reason}"),
            attempt=self.receive_attempt(message),
        )

    def _time_limit(self, task: Task, cap: float | None) -> float | None:
        limit = task.time_limit if task.time_limit is not None else self.config.time_limit
        if cap is not None:
            limit = cap if limit is None else min(limit, cap)
        return limit

    def _gate(self, message: Received, task: Task, now: float) -> Outcome | None:
        """Everything that stops a task from running now, or ``None``."""
        # Strictly, with no tolerance: a task never runs early. A message
        # back a little before its due time (another host's clock, a
        # producer that rounds down) waits once more, for a whole second.
        due = task.delay_until
        not_before = _whole(message.attributes.get(NOT_BEFORE_ATTRIBUTE))
        if not_before > now and (due is None or not_before > due):
            due = not_before  # a retry's backoff, carried across a re-send
        due_later = due is not None and due > now
        if not due_later and not task.depends_on:
            return None
        state = None
        if self.store is not None:
            # Before waiting again: a canceled or finished task is deleted
            # now, not re-sent every poll until it is due.
            state = self.store.get(task.task_id)
            if state is not None and state.status in (CANCELED, SUCCESS):
                return self._unrun_outcome(message, task, canceled=state.status is CANCELED)
        if due_later:
            if self.store is not None:
                self.store.waiting(task.task_id, delayed=True)
            wait = math.ceil(due - now)  # type: ignore[operator]
            return Outcome(Action.DEFER, message, Reason.DUE_LATER, task, delay_seconds=wait)
        return self._check_dependencies(message, task, state)

    def _unrun_outcome(self, message: Received, task: Task, *, canceled: bool) -> Outcome:
        """Delete a canceled task, or a duplicate of one that succeeded, unrun."""
        if canceled:
            task.to_canceled()
            return Outcome(Action.ACK, message, Reason.CANCELED, task)
        return Outcome(Action.ACK, message, Reason.DUPLICATE, task)

    def _claim(self, message: Received, task: Task) -> Outcome | int:
        """The attempt number to run as, or why not to run: counted exactly
        by the status store when there is one, else the receive count."""
        if self.store is None:
            return self.receive_attempt(message)
        with self._lock:
            # A second copy of a task this process is running: the store
            # would let it in (the lease owner is this process), so refuse
            # here, or two threads would run it at once.
            if task.task_id in self._running:
                return self._busy(message, task)
            self._running.add(task.task_id)
        try:
            claim = self.store.claim(
                task.task_id, owner=self.owner, lease_seconds=self.queue.visibility_timeout
            )
        except BaseException:
            self._let_go(task.task_id)
            raise
        if claim.verdict is not Verdict.RUN:
            self._let_go(task.task_id)
            if claim.verdict is Verdict.BUSY:
                return self._busy(message, task)
            return self._unrun_outcome(message, task, canceled=claim.verdict is Verdict.CANCELED)
        return claim.attempts  # still reserved: ``conclude`` lets go

    def _let_go(self, task_id: str) -> None:
        with self._lock:
            self._running.discard(task_id)

    def _busy(self, message: Received, task: Task) -> Outcome:
        """Another live consumer runs this task: look again in a while."""
        delay = self.config.backoff.poll_seconds()
        return Outcome(Action.DEFER, message, Reason.BUSY, task, delay_seconds=delay)

    def _check_dependencies(
        self, message: Received, task: Task, state: TaskState | None
    ) -> Outcome | None:
        if self.store is None:
            error = "ConfigurationError: depends_on needs a status store (status=...)"
            attempt = self.receive_attempt(message)
            return Outcome(Action.DEAD, message, Reason.POISON, task, error=error, attempt=attempt)
        verdict, failed_id = self.store.dependencies(task.depends_on or [])
        if verdict is Dependencies.READY:
            return None
        if verdict is Dependencies.WAITING:
            # Unknown ids count as waiting: a dependency may be enqueued
            # after its dependent. Canceling the id ends the wait.
            self.store.waiting(task.task_id, delayed=False)
            delay = self.config.backoff.poll_seconds()
            return Outcome(Action.DEFER, message, Reason.WAITING, task, delay_seconds=delay)
        failed = self.store.get(failed_id) if failed_id else None
        how = "was canceled" if failed is not None and failed.status is CANCELED else "failed"
        error = f"DependencyFailed: dependency {failed_id} {how}"
        # It never ran: the store's count of runs, not the receive count.
        attempts = state.attempts if state is not None else 0
        outcome = self._failed_for_good(message, task, error, attempts)
        outcome.reason = Reason.DEPENDENCY_FAILED
        return outcome

    def _failed_for_good(self, message: Received, task: Task, error: str, attempt: int) -> Outcome:
        if self.store is not None:
            self.store.failed(task.task_id, owner=self.owner, error=error, final=True)
        task.to_failed()
        return Outcome(Action.DEAD, message, Reason.EXHAUSTED, task, error=error, attempt=attempt)

    # -- after the run ----------------------------------------------------------

    def conclude(self, run: Run, result: RunResult) -> Outcome:
        """The outcome of a finished (or timed-out, or lost) run, recorded in
        the status store."""
        try:
            outcome = self._conclude(run, result)
        finally:
            self._let_go(run.task.task_id)
        with self._lock:
            span = self._spans.get(id(run)) if run.expired else None
        if span is not None:
            # Concluded at its limit, away from the thread that is stuck in
            # it: the span ends here, with this outcome.
            span.outcome(outcome)
            span.end()
        return outcome

    def _conclude(self, run: Run, result: RunResult) -> Outcome:
        outcome = self._verdict(run, result)
        outcome.ran = True
        return outcome

    def _verdict(self, run: Run, result: RunResult) -> Outcome:
        task = run.task
        _adopt(task, result)
        if result.ok:
            if self.store is not None:
                self.store.succeeded(task.task_id, owner=self.owner, result=task.result)
            return Outcome(
                Action.ACK,
                run.message,
                Reason.SUCCEEDED,
                task,
                attempt=run.attempt,
                duration=result.duration,
            )
        error = sqs_safe(result.error or "unknown error")
        # Read retries after on_error ran: 1.0's hooks may raise it.
        retries = task.retries if result.retries is None else result.retries
        final = run.attempt >= retries + 1
        if self.store is not None:
            self.store.failed(task.task_id, owner=self.owner, error=error, final=final)
            state = self.store.get(task.task_id)
            if state is not None and state.status is CANCELED:
                # Canceled while it ran: no retry, and no dead letter for a
                # task nobody wants any more.
                task.to_canceled()
                return Outcome(
                    Action.ACK,
                    run.message,
                    Reason.CANCELED,
                    task,
                    error=error,
                    attempt=run.attempt,
                    duration=result.duration,
                )
        if final:
            return Outcome(
                Action.DEAD,
                run.message,
                Reason.EXHAUSTED,
                task,
                error=error,
                attempt=run.attempt,
                duration=result.duration,
            )
        task.to_retrying()
        return Outcome(
            Action.RETRY,
            run.message,
            Reason.RETRYING,
            task,
            delay_seconds=self.config.backoff.seconds(run.attempt),
            error=error,
            attempt=run.attempt,
            duration=result.duration,
        )


def _whole(text: str | None) -> int:
    """A whole number from an attribute; 0 when absent or not one."""
    return int(text) if text and text.isdigit() and len(text) < 16 else 0


def _adopt(task: Task, result: RunResult) -> None:
    """Carry what a run in another process learned onto our task."""
    if result.task is not None and result.task is not task:
        task.func = result.task.func
    if result.retries is not None:
        task.retries = result.retries
    if result.ok:
        task.result = result.result
        task.error = None
        task.to_success()
    else:
        task.error = result.exception or _RemoteError(result.error or "")
        task.to_failed()


class _RemoteError(Exception):
    """A failure that happened in a child process, known by its text
    (``"ValueError: boom"``)."""


__all__ = ["Processor"]
