"""The ``alligator`` command (and 1.0's ``latergator``).

Exit codes: 0 clean stop, 2 usage or configuration error (one line, no
traceback), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn
from urllib.parse import urlencode

from .exceptions import (
    AlligatorException,
    ConfigurationError,
    NotSupportedError,
    PayloadTooLargeError,
    UnknownCallableError,
    UnknownModuleError,
    UnserializableTaskError,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
#: Errors that mean "you asked for something wrong": exit 2, one line.
USAGE_ERRORS = (
    ConfigurationError,
    NotSupportedError,
    UnserializableTaskError,
    PayloadTooLargeError,
    UnknownModuleError,
    UnknownCallableError,
)


class UsageError(AlligatorException):
    """A bad argument the parser could not catch by itself."""


class Parser(argparse.ArgumentParser):
    """argparse with the contract's one-line errors (no usage block)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _import_from_cwd()
    return run(args.handler, args)


def _import_from_cwd() -> None:
    """Make modules in the working directory importable, as ``python -m``
    does: a console script's ``sys.path[0]`` is its own bin directory, so
    ``alligator enqueue DSN myapp.tasks:f`` (and a worker importing
    ``myapp``) would otherwise fail where ``python -m alligator`` works."""
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)


def latergator(argv: Sequence[str] | None = None) -> int:
    """1.0's script: ``latergator DSN`` is ``alligator worker DSN``."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    return main(["worker", *arguments])


def run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Call a subcommand, mapping errors to one line and an exit code."""
    try:
        return handler(args) or EXIT_OK
    except (*USAGE_ERRORS, UsageError) as exc:
        print(f"alligator: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:
        print(f"alligator: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-parser per command."""
    parser = Parser(
        prog="alligator",
        description="A task queue for Amazon SQS: run workers, enqueue tasks, operate queues.",
    )
    commands = parser.add_subparsers(metavar="COMMAND")
    _worker_parser(commands)
    _enqueue_parser(commands)
    from . import operate

    operate.add_parsers(commands)
    return parser


def _worker_parser(commands: Any) -> None:
    worker = commands.add_parser("worker", help="consume a queue and run its tasks")
    worker.add_argument("dsn", metavar="DSN")
    worker.add_argument("--concurrency", type=_positive, default=1)
    worker.add_argument("--max-tasks", type=_natural, default=0)
    worker.add_argument("--import-allow", nargs="+", metavar="PREFIX")
    worker.add_argument("--wait-time", type=_natural, metavar="S")
    worker.add_argument("--visibility-timeout", type=_natural, metavar="S")
    worker.add_argument("--status", metavar="STATUS_DSN")
    worker.add_argument("--log-format", choices=("text", "json"))
    worker.add_argument("--shutdown-grace", type=float, default=25, metavar="S")
    worker.set_defaults(handler=_worker)


def _worker(args: argparse.Namespace) -> int:
    from . import logs
    from .gator import Gator
    from .workers import Worker

    logs.configure(args.log_format)
    dsn = with_options(
        args.dsn, wait_time=args.wait_time, visibility_timeout=args.visibility_timeout
    )
    gator = Gator(dsn, status=args.status)
    worker = Worker(
        gator,
        max_tasks=args.max_tasks,
        concurrency=args.concurrency,
        import_allow=args.import_allow,
        shutdown_grace=args.shutdown_grace,
    )
    return worker.run_forever()


def _enqueue_parser(commands: Any) -> None:
    enqueue = commands.add_parser("enqueue", help="put one task on a queue")
    enqueue.add_argument("dsn", metavar="DSN")
    enqueue.add_argument("target", metavar="MODULE:CALLABLE")
    enqueue.add_argument("--args", type=_json_of(list), default=[], metavar="JSON")
    enqueue.add_argument("--kwargs", type=_json_of(dict), default={}, metavar="JSON")
    enqueue.add_argument("--retries", type=_natural, default=0)
    enqueue.add_argument("--delay", type=_seconds, metavar="S")
    enqueue.set_defaults(handler=_enqueue)


def _enqueue(args: argparse.Namespace) -> int:
    from .gator import Gator
    from .tasks import Task, import_attr

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
    return EXIT_OK


def with_options(dsn: str, **options: Any) -> str:
    """``dsn`` with these query options added or replaced (``None`` skipped)."""
    from .dsn import parse_dsn

    chosen = {k: str(v) for k, v in options.items() if v is not None}
    if not chosen:
        return dsn
    parsed = parse_dsn(dsn)
    merged = {**parsed.options, **chosen}
    base = dsn.split("?", 1)[0]
    return f"{base}?{urlencode(merged)}"


def _positive(text: str) -> int:
    value = _natural(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _natural(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _json_of(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
        if not isinstance(value, kind):
            raise argparse.ArgumentTypeError(f"must be a JSON {kind.__name__}")
        return value

    return parse
