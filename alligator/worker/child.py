"""The child process of ``--pool processes``: imports and runs one task at a
time for its parent, which alone talks to the queue.

The protocol is one JSON document each way per task over a pipe, never a
pickle: the parent sends ``{"data": <checked wire data>, "time_limit": S,
"task_class": "module:Class"}`` (the queue's own class, from the worker's
configuration) or ``null`` to stop, and the child answers ``{"ok": …,
"result": <JSON text>, "error": "Type: message", "retries": N, "duration":
S, "rss_mib": M, "timed_out": …}`` (``rss_mib`` is read only where
``max_memory_per_child`` needs it). When tracing, the job also has
``"traceparent"`` (and ``"tracestate"``): the parent's consumer span, made
current around the run so that the task's own spans nest under it. A child
that dies mid-task sends nothing; the parent sees its exit instead and
fails the run with ``WorkerLostError``.

Children ignore SIGINT and SIGTERM: a Ctrl-C reaches the whole process
group, and the parent decides what a stop means for the tasks they run.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import signal
import sys
from typing import Any

from .. import tracing
from ..backends.base import Received
from ..consume.execute import InlineExecutor, RunResult
from ..consume.run import Run
from ..status.base import encode_result
from ..tasks import Task

#: The parent holds the message; the child needs only the task's data.
_NO_MESSAGE = Received(body="", message_id="", receipt="")
#: Bytes per page, for reading the resident set size from /proc.
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def main(connection: Any, setup: dict[str, Any]) -> None:
    """Serve jobs until the parent sends ``null`` or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.path[:] = setup.get("sys_path", sys.path)
    _configure_logging(setup)
    executor = InlineExecutor()
    try:
        _serve(connection, executor, measure_memory=bool(setup.get("measure_memory", True)))
    finally:
        tracing.flush()  # the process ends with os._exit: no exit handlers


def _serve(connection: Any, executor: InlineExecutor, *, measure_memory: bool) -> None:
    while True:
        try:
            raw = connection.recv_bytes()
        except (EOFError, OSError):
            return  # the parent is gone
        job = json.loads(raw)
        if job is None:
            return
        with tracing.attached(job):
            reply = _run(job.get("task_class"), executor, job["data"], job.get("time_limit"))
            reply["rss_mib"] = resident_mib() if measure_memory else 0.0
        try:
            connection.send_bytes(json.dumps(reply).encode("utf-8"))
        except (BrokenPipeError, OSError):
            return


def _run(
    task_class: str | None, executor: InlineExecutor, data: dict[str, Any], time_limit: Any
) -> dict[str, Any]:
    try:
        task = _task_class(task_class).unresolved(data)
    except BaseException as exc:  # the parent checked it; be safe anyway
        result = RunResult(ok=False, error=f"{type(exc).__name__}: {exc}")
    else:
        run = Run(message=_NO_MESSAGE, task=task, data=data, attempt=0, time_limit=time_limit)
        result = executor.execute(run)
    return {
        "ok": result.ok,
        "result": encode_result(result.result) if result.ok else None,
        "error": result.error,
        "retries": result.retries,
        "duration": result.duration,
        "timed_out": result.timed_out,
    }


def resident_mib() -> float:
    """This process's resident memory now, in MiB (its peak where /proc
    is not there to say)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * PAGE_BYTES / 1_048_576
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1_048_576 if sys.platform == "darwin" else 1024)


@functools.cache
def _task_class(path: str | None) -> type[Task]:
    """The job's task class (each queue may have its own), by its path."""
    if not path:
        return Task
    module, _, name = path.partition(":")
    found: Any = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found  # type: ignore[no-any-return]


def _configure_logging(setup: dict[str, Any]) -> None:
    from .. import logs

    if setup.get("log_format"):
        logs.configure(setup["log_format"], level=setup.get("log_level", logging.INFO))
