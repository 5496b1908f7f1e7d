"""The verdict on a run that ended: succeeded, to retry, exhausted for the
dead-letter queue, or canceled while it ran; recorded in the status store.
"""

from __future__ import annotations

from .._text import sqs_safe
from ..constants import CANCELED
from ..outcome import Action, Outcome, Reason
from ..tasks import Task
from .config import ConsumerConfig
from .execute import RunResult
from .run import Run


def verdict(run: Run, result: RunResult, config: ConsumerConfig) -> Outcome:
    """The outcome of ``run``, which ended as ``result`` says."""
    store, owner, backoff = config.store, config.owner, config.backoff
    task = run.task
    adopt(task, result)
    if result.ok:
        if store is not None:
            store.succeeded(task.task_id, owner=owner, result=task.result)
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
    if store is not None:
        store.failed(task.task_id, owner=owner, error=error, final=final)
        state = store.get(task.task_id)
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
        delay_seconds=backoff.seconds(run.attempt),
        error=error,
        attempt=run.attempt,
        duration=result.duration,
    )


def adopt(task: Task, result: RunResult) -> None:
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
        task.error = result.exception or RemoteError(result.error or "")
        task.to_failed()


class RemoteError(Exception):
    """A failure that happened in a child process, known by its text
    (``"ValueError: boom"``)."""
