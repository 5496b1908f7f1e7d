"""Run a worker and report its exact CPU time when asked:

    python bench/_rusage.py OUT -m MODULE ARGS...
    python bench/_rusage.py OUT SCRIPT ARGS...

On every SIGUSR1 the process appends one line to OUT: its user + system
CPU seconds so far, every thread's, living or exited
(``getrusage(RUSAGE_SELF)``, microseconds). ``/proc/PID/stat`` counts in
clock ticks (10 ms), too coarse for a few hundred tasks at a fraction of a
millisecond each. The handler runs in the main thread between two bytecodes
(a wait with a timeout is interrupted for it) and costs microseconds.
"""

from __future__ import annotations

import os
import resource
import runpy
import signal
import sys
from typing import Any


def main() -> None:
    out, *rest = sys.argv[1:]

    def report(signum: int, frame: Any) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open(out, "a") as stream:
            stream.write(f"{usage.ru_utime + usage.ru_stime:.6f}\n")

    signal.signal(signal.SIGUSR1, report)
    if rest[0] == "-m":
        # As ``python -m`` has it: the working directory first on the path.
        sys.path[0] = os.getcwd()
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.path[0] = os.path.dirname(os.path.abspath(rest[0]))
        sys.argv = rest
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main()
