"""``alligator worker`` (and ``latergator``) and ``alligator enqueue``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .. import _env
from . import _types

#: ``--shutdown-grace`` when not given: inside ECS's default 30 s stopTimeout.
DEFAULT_SHUTDOWN_GRACE = 25.0


def add_parsers(commands: Any) -> None:
    """Register ``worker`` and ``enqueue``."""
    _worker_parser(commands)
    _enqueue_parser(commands)


def _worker_parser(commands: Any) -> None:
    worker = commands.add_parser(
        "worker",
        help="consume one or more queues and run their tasks",
        description=(
            "Consume queues and run their tasks until SIGTERM or SIGINT (a clean "
            "stop: running tasks finish within --shutdown-grace). Several DSNs "
            "make one worker for several queues, first to last in priority."
        ),
    )
    worker.add_argument("dsn", metavar="DSN", nargs="+", help="queue DSN(s)")
    worker.add_argument(
        "--pool",
        choices=("threads", "processes"),
        default="threads",
        help="run tasks on threads of this process, or in child processes",
    )
    worker.add_argument("--concurrency", type=_types.positive, default=1, help="tasks run at once")
    worker.add_argument(
        "--max-tasks",
        type=_types.natural,
        default=0,
        help="stop after this many task runs (0: never)",
    )
    worker.add_argument(
        "--import-allow",
        action="append",
        type=_types.prefixes,
        metavar="PREFIX",
        help=(
            "module prefix tasks may come from; repeat it or separate with commas "
            f"(default: {_env.IMPORT_ALLOW})"
        ),
    )
    worker.add_argument(
        "--wait-time", type=_types.natural, metavar="S", help="long-poll seconds, 0-20"
    )
    worker.add_argument(
        "--visibility-timeout",
        type=_types.positive,
        metavar="S",
        help="seconds a received message stays hidden, 1-43200 (default: the queue's)",
    )
    worker.add_argument(
        "--status", metavar="STATUS_DSN", help=f"status store DSN (default: {_env.STATUS})"
    )
    worker.add_argument(
        "--log-format",
        choices=("text", "json"),
        help=f"log line format (default: {_env.LOG_FORMAT}, else text)",
    )
    worker.add_argument(
        "--time-limit",
        type=_types.interval,
        metavar="S",
        help=f"seconds a run may take before it fails (default: {_env.TIME_LIMIT}, else none)",
    )
    worker.add_argument(
        "--max-tasks-per-child",
        type=_types.natural,
        default=0,
        metavar="N",
        help="replace a child process after N tasks (0: never; --pool processes)",
    )
    worker.add_argument(
        "--max-memory-per-child",
        type=_types.natural,
        default=0,
        metavar="MIB",
        help="replace a child process once its resident memory passes MIB (0: never)",
    )
    worker.add_argument(
        "--priority",
        choices=("weighted", "strict"),
        default="weighted",
        help="how several queues share the worker",
    )
    worker.add_argument(
        "--weights",
        type=_weights,
        metavar="W1,W2,...",
        help="weighted priority: one whole number per queue (default: all 1)",
    )
    worker.add_argument(
        "--shutdown-grace",
        type=_types.seconds,
        default=DEFAULT_SHUTDOWN_GRACE,
        metavar="S",
        help="seconds running tasks get to finish after SIGTERM",
    )
    worker.set_defaults(handler=_worker)


def _weights(text: str) -> list[int]:
    try:
        weights = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not whole numbers separated by commas: {text!r}"
        ) from None
    if not weights or any(weight < 1 for weight in weights):
        raise argparse.ArgumentTypeError(f"every weight must be at least 1: {text!r}")
    return weights


def _worker(args: argparse.Namespace) -> int:
    from .. import logs
    from ..dsn import parse_dsn
    from ..gator import Gator
    from ..worker import Worker

    logs.configure(args.log_format)
    gators = []
    for dsn in args.dsn:
        parsed = parse_dsn(dsn).with_options(
            wait_time=args.wait_time, visibility_timeout=args.visibility_timeout
        )
        gators.append(Gator(parsed, status=args.status))
    allow = None
    if args.import_allow:
        allow = [prefix for group in args.import_allow for prefix in group]
    worker = Worker(
        gators,
        max_tasks=args.max_tasks,
        concurrency=args.concurrency,
        import_allow=allow,
        shutdown_grace=args.shutdown_grace,
        pool=args.pool,
        time_limit=args.time_limit,
        max_tasks_per_child=args.max_tasks_per_child,
        max_memory_per_child=args.max_memory_per_child,
        priority=args.priority,
        weights=args.weights,
    )
    return worker.run_forever()


def _enqueue_parser(commands: Any) -> None:
    enqueue = commands.add_parser(
        "enqueue",
        help="put one task on a queue",
        description="Enqueue MODULE:CALLABLE(*args, **kwargs); prints its task and message ids.",
    )
    enqueue.add_argument("dsn", metavar="DSN", help="queue DSN")
    enqueue.add_argument("target", metavar="MODULE:CALLABLE", help="the function to call")
    enqueue.add_argument(
        "--args", type=_types.json_of(list), default=[], metavar="JSON", help="a JSON list"
    )
    enqueue.add_argument(
        "--kwargs", type=_types.json_of(dict), default={}, metavar="JSON", help="a JSON object"
    )
    enqueue.add_argument(
        "--retries", type=_types.natural, default=0, help="runs tried again after a failure"
    )
    enqueue.add_argument(
        "--delay", type=_types.seconds, metavar="S", help="seconds before it may run"
    )
    enqueue.set_defaults(handler=_enqueue)


def _enqueue(args: argparse.Namespace) -> int:
    from ..gator import Gator
    from ..tasks import Task, import_attr
    from . import UsageError

    module, _, name = args.target.partition(":")
    if not module or not name:
        raise UsageError(f"target must be MODULE:CALLABLE, not {args.target!r}")
    if args.dsn.split("://", 1)[0].lower() == "locmem":
        raise UsageError(
            "locmem:// lives inside one process: a task enqueued from the command "
            "line would vanish with it; use sqlite:///path or sqs://"
        )
    func = import_attr(module, name)
    gator = Gator(args.dsn)
    task = Task(retries=args.retries, delay_by=args.delay)
    gator.push(task, func, *args.args, **args.kwargs)
    print(json.dumps({"task_id": task.task_id, "message_id": task.message_id}))
    return 0
