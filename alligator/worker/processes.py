"""The parent's side of one child process (``--pool processes``).

Start method: ``forkserver`` where the platform has it (Linux, macOS),
else ``spawn``; never ``fork``. The worker has threads running by the time
a child is replaced, and forking a threaded process copies locks that are
held by threads that do not exist in the child. The fork server is a fresh
interpreter that preloads alligator once, so replacing a child costs a fork
of a small single-threaded process, not an interpreter start.

The parent never blocks on a child without also watching the child's exit
(``multiprocessing.connection.wait`` on the pipe and the process sentinel,
with the time limit as the timeout), so a child that dies mid-task — a
segfault, the OOM killer, ``os._exit`` — or hangs past its limit can never
wedge the parent: the run fails with ``WorkerLostError`` or
``TimeLimitExceeded`` and the child is replaced.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import multiprocessing.connection
import signal
import threading
from typing import Any

from .. import tracing
from ..consume import Run, RunResult, describe
from ..exceptions import TimeLimitExceeded, WorkerLostError
from ..status import decode_result

#: Seconds a child gets past the time limit to answer on its own (its own
#: watchdog raises ``TimeLimitExceeded`` at the limit) before it is killed.
KILL_GRACE_SECONDS = 1.0
#: Seconds a child gets to exit when asked, before it is killed.
STOP_SECONDS = 5.0

_context_lock = threading.Lock()
_context: Any = None


def context() -> Any:
    """The multiprocessing context every child is started from."""
    global _context
    with _context_lock:
        if _context is None:
            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            _context = multiprocessing.get_context(method)
            if method == "forkserver":
                _context.set_forkserver_preload(["alligator.worker.child"])
        return _context


class ChildProcess:
    """One child, started on construction.

    Args:
        setup: what the child needs before its first job (``sys.path``, the
            log format).
    """

    def __init__(self, setup: dict[str, Any]) -> None:
        from . import child

        ctx = context()
        self.connection, theirs = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=child.main, args=(theirs, setup), name="alligator-child", daemon=False
        )
        self.process.start()
        theirs.close()
        self.tasks = 0
        self.rss_mib = 0.0

    @property
    def pid(self) -> int | None:
        pid: int | None = self.process.pid
        return pid

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def run(self, run: Run) -> RunResult:
        """Run one task in the child; never raises for the task's sake."""
        self.tasks += 1
        # The task class is the lane's own (a queue's ``task_class``): from
        # the worker's configuration, never from the message.
        kind = type(run.task)
        job: dict[str, Any] = {
            "data": run.data,
            "time_limit": run.time_limit,
            "task_class": f"{kind.__module__}:{kind.__qualname__}",
        }
        job.update(tracing.carrier())  # the consumer span's traceparent, if tracing
        try:
            self.connection.send_bytes(json.dumps(job).encode("utf-8"))
        except (BrokenPipeError, OSError):
            return self._lost(run)
        timeout = None if run.time_limit is None else run.time_limit + KILL_GRACE_SECONDS
        ready = multiprocessing.connection.wait([self.connection, self.process.sentinel], timeout)
        if self.connection in ready:
            try:
                reply = json.loads(self.connection.recv_bytes())
            except (EOFError, OSError, ValueError):
                return self._lost(run)
            return self._result(reply)
        if self.process.sentinel in ready:
            return self._lost(run)
        self.kill()
        error = TimeLimitExceeded(
            f"the run went past its time limit of {run.time_limit:g} s; its child was killed"
        )
        return RunResult(ok=False, error=describe(error), timed_out=True, duration=timeout or 0.0)

    def _result(self, reply: dict[str, Any]) -> RunResult:
        self.rss_mib = float(reply.get("rss_mib") or 0.0)
        return RunResult(
            ok=bool(reply.get("ok")),
            result=decode_result(reply.get("result")) if reply.get("ok") else None,
            error=reply.get("error"),
            retries=reply.get("retries"),
            duration=float(reply.get("duration") or 0.0),
            timed_out=bool(reply.get("timed_out")),
        )

    def _lost(self, run: Run) -> RunResult:
        self.process.join(STOP_SECONDS)
        error = WorkerLostError(f"the child process running the task {_how_it_ended(self.process)}")
        return RunResult(ok=False, error=describe(error), retries=run.task.retries)

    def stop(self) -> None:
        """Ask the child to exit after its current job; kill it if it will not."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self.connection.send_bytes(b"null")
        self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.kill()
        self.connection.close()

    def close(self) -> None:
        """Let go of a child that is gone: reap it, close its pipe."""
        self.process.join(STOP_SECONDS)
        self.connection.close()

    def kill(self) -> None:
        """SIGKILL: for a child past its time limit, or at the end of the grace."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(STOP_SECONDS)


def _how_it_ended(process: Any) -> str:
    code = process.exitcode
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        return f"died of signal {-code} ({name})"
    return f"exited with code {code}"
