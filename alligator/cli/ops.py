"""Operator commands: ``stats`` and ``dlq peek|redrive``; the work itself
is in ``alligator.ops``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..dsn import parse_dsn
from ..ops import dlq as dlq_ops
from ..ops import open_backend
from ..ops import redrive as redrive_ops
from ..ops import stats as stats_ops
from ..ops.table import wants_colour
from ._types import interval, positive

#: ``--watch`` with no value refreshes this often, in seconds.
DEFAULT_WATCH_SECONDS = 2.0
#: ``dlq peek`` shows this many tasks unless ``--limit`` says otherwise.
DEFAULT_PEEK_LIMIT = 10


def add_parsers(commands: Any) -> None:
    """Register the operator subcommands."""
    _stats_parser(commands)
    _dlq_parser(commands)


def _stats_parser(commands: Any) -> None:
    stats = commands.add_parser(
        "stats",
        help="visible, in flight, delayed, DLQ depth, oldest age",
        description=(
            "Show how deep queues and their dead-letter queues are: one aligned row "
            "per queue (in colour on a terminal), or one JSON object per queue."
        ),
    )
    stats.add_argument("dsn", metavar="DSN", nargs="+", help="queue DSN(s)")
    stats.add_argument(
        "--watch",
        nargs="?",
        const=DEFAULT_WATCH_SECONDS,
        type=interval,
        metavar="SECONDS",
        help=f"refresh every SECONDS (default {DEFAULT_WATCH_SECONDS:g}) until Ctrl-C",
    )
    stats.add_argument(
        "--json", action="store_true", help="one JSON object per queue and report, a line each"
    )
    stats.set_defaults(handler=_stats)


def _dlq_parser(commands: Any) -> None:
    dlq = commands.add_parser("dlq", help="inspect or replay the dead-letter queue")
    actions = dlq.add_subparsers(metavar="ACTION", dest="action", required=True)
    peek = actions.add_parser(
        "peek",
        help="failed tasks with their failure reasons (left in place)",
        description=(
            "List dead-lettered tasks without consuming them. They are received "
            "and released at once, so other readers of the DLQ miss them for "
            "that moment."
        ),
    )
    peek.add_argument("dsn", metavar="DSN")
    peek.add_argument("--limit", type=positive, default=DEFAULT_PEEK_LIMIT, metavar="N")
    peek.add_argument("--json", action="store_true", help="a JSON list, for scripts")
    peek.set_defaults(handler=_peek)
    redrive = actions.add_parser(
        "redrive",
        help="move dead-lettered tasks back to their queue",
        description=(
            "Move tasks from the dead-letter queue back to DSN's queue, without "
            "their failure attributes, ten at a time. Sent before deleted: an "
            "interruption loses nothing. Poison messages stay unless "
            "--include-poison. Ctrl-C stops after the batch in flight."
        ),
    )
    redrive.add_argument("dsn", metavar="DSN")
    redrive.add_argument("--limit", type=positive, metavar="N", help="move at most N")
    redrive.add_argument(
        "--include-poison",
        action="store_true",
        help=(
            "move poison messages too (bodies that are not a task, or refused as "
            "PoisonMessageError): only once their cause is fixed on the workers"
        ),
    )
    redrive.set_defaults(handler=_redrive)


def _stats(args: argparse.Namespace) -> int:
    # Every DSN is opened before anything is printed: a typo in the third
    # one is a one-line error, not a half-printed table.
    readers = [stats_ops.StatsReader(open_backend(dsn)) for dsn in args.dsn]
    return stats_ops.show(readers, as_json=args.json, watch=args.watch)


def _open_dlq(dsn: str, visibility_seconds: int) -> tuple[Any, Any]:
    """The queue and its DLQ, leasing what they receive for this long."""
    source = open_backend(parse_dsn(dsn).with_options(visibility_timeout=visibility_seconds))
    return source, source.dlq_backend()


def _peek(args: argparse.Namespace) -> int:
    source, dlq = _open_dlq(args.dsn, dlq_ops.PEEK_VISIBILITY_SECONDS)
    dead = dlq_ops.peek(dlq, args.limit)
    if args.json:
        print(json.dumps([task.to_dict() for task in dead], indent=2))
    elif not dead:
        print(f"the dead-letter queue {dlq.queue_name!r} is empty")
    else:
        print(dlq_ops.render_table(dead, colour=wants_colour(sys.stdout)))
        depth = dlq.size()
        print(f"\n{len(dead)} shown of about {max(depth, len(dead))} in {dlq.queue_name!r}")
    return 0


def _redrive(args: argparse.Namespace) -> int:
    source, dlq = _open_dlq(args.dsn, dlq_ops.REDRIVE_VISIBILITY_SECONDS)
    progress = None
    if sys.stderr.isatty():
        progress = _Progress(dlq.size())
    with redrive_ops.stop_on_ctrl_c() as should_stop:
        try:
            result = redrive_ops.redrive(
                source,
                dlq,
                limit=args.limit,
                include_poison=args.include_poison,
                progress=progress,
                should_stop=should_stop,
            )
        finally:
            if progress is not None:
                progress.done()
    print(result.summary())
    return 0


class _Progress:
    """``moved 120 of ~340, skipped 3`` on stderr, redrawn in place."""

    def __init__(self, expected: int) -> None:
        self.expected = expected

    def __call__(self, state: redrive_ops.Redrive) -> None:
        seen = state.moved + state.poison + state.came_back
        text = f"\rredrive: moved {state.moved} of ~{max(self.expected, seen)}"
        if seen > state.moved:
            text += f", skipped {seen - state.moved}"
        print(text, end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        print(file=sys.stderr, flush=True)
