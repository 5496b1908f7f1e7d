"""``run_inline``: ``is_async=False``, a task run in the caller's process at
once, with its retries and no wait; recorded as a consumer would record it
when there is a status store."""

from __future__ import annotations

from ..constants import RUNNING
from ..status import StatusStore, Verdict
from ..tasks import Task
from .config import default_owner

#: Seconds an in-process run holds its status lease. No heartbeat renews it;
#: it only keeps a queued copy of the same task id from running meanwhile.
INLINE_LEASE_SECONDS = 900


def run_inline(task: Task, store: StatusStore | None) -> Task:
    """Run ``task`` now, up to ``retries + 1`` times.

    With a store, each run is claimed and recorded: the store counts the
    attempts and keeps the result or error, and a task id it knows as
    canceled or succeeded is not run again (the task comes back CANCELED,
    or SUCCESS with the stored result).

    Raises:
        Exception: the last run's error, once the retries are used up.
    """
    owner = default_owner()
    attempt = 0
    while True:
        if store is not None:
            claim = store.claim(task.task_id, owner=owner, lease_seconds=INLINE_LEASE_SECONDS)
            if claim.verdict is not Verdict.RUN:
                return _not_run(store, task, claim.verdict)
            attempt = claim.attempts
        else:
            attempt += 1
        try:
            task.run()
        except Exception as exc:
            final = attempt >= task.retries + 1
            if store is not None:
                error = f"{type(exc).__name__}: {exc}"
                store.failed(task.task_id, owner=owner, error=error, final=final)
            if final:
                raise
            task.to_retrying()
            continue
        if store is not None:
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
