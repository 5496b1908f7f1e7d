"""``alligator schedule sync|list`` and ``alligator scheduler``: periodic
tasks on EventBridge Scheduler, or enqueued by a local process."""

from __future__ import annotations

import argparse
import logging
import threading
from typing import Any

from .. import _env, _signals
from .._text import printable

log = logging.getLogger("alligator")


def add_parsers(commands: Any) -> None:
    """Register ``schedule`` (with ``sync`` and ``list``) and ``scheduler``."""
    from ..schedules.eventbridge import DEFAULT_GROUP

    schedule = commands.add_parser(
        "schedule",
        help="keep EventBridge Scheduler in step with your schedules",
        description="Sync or list the schedules EventBridge Scheduler sends to a queue.",
    )
    actions = schedule.add_subparsers(metavar="ACTION", dest="action", required=True)
    sync = actions.add_parser(
        "sync",
        help="make EventBridge Scheduler hold exactly these schedules",
        description=(
            "Create, update (and with --prune delete) the schedules of a group so "
            "that it holds exactly the Schedule objects of MODULE:ATTRIBUTE, each "
            "sending its task to the queue. Idempotent."
        ),
    )
    sync.add_argument("dsn", metavar="DSN", help="the queue: sqs://REGION/QUEUE")
    sync.add_argument("schedules", metavar="MODULE:ATTRIBUTE", help="a list of Schedule objects")
    sync.add_argument(
        "--role-arn",
        metavar="ARN",
        help=f"the role EventBridge Scheduler assumes (default: {_env.SCHEDULER_ROLE})",
    )
    sync.add_argument("--group", metavar="NAME", default=DEFAULT_GROUP, help="schedule group")
    sync.add_argument(
        "--prune", action="store_true", help="delete the group's schedules not listed"
    )
    sync.set_defaults(handler=_sync)
    listing = actions.add_parser(
        "list",
        help="show a group's schedules and their next firing",
        description="List the schedules of an EventBridge Scheduler group.",
    )
    listing.add_argument("dsn", metavar="DSN", help="the queue: sqs://REGION/QUEUE")
    listing.add_argument("--group", metavar="NAME", default=DEFAULT_GROUP, help="schedule group")
    listing.set_defaults(handler=_list)
    local = commands.add_parser(
        "scheduler",
        help="enqueue the schedules' tasks from this process, on any backend",
        description=(
            "Enqueue each schedule's task at the times EventBridge Scheduler would, "
            "until SIGTERM or SIGINT. Run one per queue; firings missed while it is "
            "down are not made up."
        ),
    )
    local.add_argument("dsn", metavar="DSN", help="queue DSN (sqs://, sqlite://)")
    local.add_argument("schedules", metavar="MODULE:ATTRIBUTE", help="a list of Schedule objects")
    local.set_defaults(handler=_scheduler)


def _sync(args: argparse.Namespace) -> int:
    from ..gator import Gator
    from ..schedules.loader import load_schedules
    from ..schedules.sync import sync

    schedules = load_schedules(args.schedules)
    lines = sync(
        Gator(args.dsn), schedules, role_arn=args.role_arn, group=args.group, prune=args.prune
    )
    for line in lines:
        print(printable(line))
    if all(line.startswith("kept ") for line in lines):
        print("no changes")
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..gator import Gator
    from ..schedules.sync import describe

    for line in describe(Gator(args.dsn), group=args.group):
        print(printable(line))
    return 0


def _scheduler(args: argparse.Namespace) -> int:
    """Run until SIGTERM or SIGINT, then exit 0."""
    from .. import logs
    from ..gator import Gator
    from ..schedules.loader import load_schedules
    from ..schedules.local import Scheduler

    logs.configure()
    schedules = load_schedules(args.schedules)
    if args.dsn.split(":", 1)[0].lower() == "locmem":
        # The contract's "any backend": it fires, for trying schedules out,
        # but nothing outside this process sees the tasks.
        log.warning(
            "locmem:// lives inside this process: no worker elsewhere sees what this "
            "scheduler enqueues (use sqlite:// or sqs:// for that, or "
            "Scheduler(gator, ...) beside a Worker in your own process)"
        )
    gator = Gator(args.dsn)
    gator.len()  # a missing queue is a one-line error now, not a retry loop
    stopped = threading.Event()
    with _signals.handled(lambda *_: stopped.set()):
        log.info("scheduler started: %d schedule(s) for %s", len(schedules), gator.conn_string)
        Scheduler(gator, schedules).run(stopped)
    log.info("scheduler stopped")
    return 0
