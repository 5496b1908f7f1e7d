"""``alligator demo`` and ``alligator local-sqs``: SQS with no AWS account."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from ._types import natural


def add_parsers(commands: Any) -> None:
    """Register ``demo`` and ``local-sqs``."""
    demo = commands.add_parser(
        "demo",
        help="the whole flow on an embedded SQS endpoint",
        description="Enqueue, run, retry and dead-letter tasks on an embedded SQS endpoint.",
    )
    demo.set_defaults(handler=_demo)
    local = commands.add_parser(
        "local-sqs",
        help="serve an embedded SQS endpoint for development",
        description="Serve moto's SQS (and S3, DynamoDB) on loopback until Ctrl-C.",
    )
    local.add_argument("--port", type=natural, default=0, help="port to listen on (0: any free)")
    local.set_defaults(handler=_local_sqs)


def _demo(args: argparse.Namespace) -> int:
    from .. import logs
    from ..demo import run_demo

    logs.configure()
    return run_demo()


def _local_sqs(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    from .._moto import DUMMY_AWS_ENVIRONMENT, start_moto

    server, url = start_moto(args.port)
    print(f"SQS endpoint: {url}")
    print(f"DSN:          sqs://us-east-1/QUEUE?endpoint_url={url}&create=true")
    print("In another shell:")
    for key, value in DUMMY_AWS_ENVIRONMENT.items():
        print(f"  export {key}={value}")
    print(f"  export AWS_ENDPOINT_URL_SQS={url}")
    print("Stop with Ctrl-C.", flush=True)
    stopped = threading.Event()
    # SIGTERM (docker stop, a test's terminate()) is a clean stop too.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        while not stopped.wait(1.0):  # a timeout keeps signals deliverable
            pass
    finally:
        server.stop()
    return 0
