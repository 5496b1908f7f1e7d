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

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from .. import tracing
from .._text import sqs_safe
from ..backends.base import Queue, Received
from ..exceptions import PoisonMessageError
from ..outcome import Action, Outcome, Reason
from ..security import ImportAllow, Signer
from ..status import Verdict
from ..tasks import Task
from ..wire import PRIOR_ATTEMPTS_ATTRIBUTE, task_id_of
from .admit import admit
from .config import ConsumerConfig
from .execute import INLINE, Executor, RunResult, describe
from .gate import Gate, whole
from .run import Run
from .verdict import verdict

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
        self._gate = Gate(config)
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
        return max(1, message.attempt - unrun) + whole(
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
        gated = self._gate.check(message, task, now, self.receive_attempt(message))
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
                return self._gate.busy(message, task)
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
                return self._gate.busy(message, task)
            return self._gate.unrun(message, task, canceled=claim.verdict is Verdict.CANCELED)
        return claim.attempts  # still reserved: ``conclude`` lets go

    def _let_go(self, task_id: str) -> None:
        with self._lock:
            self._running.discard(task_id)

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
        outcome = verdict(run, result, self.config)
        outcome.ran = True
        return outcome


__all__ = ["Processor"]
