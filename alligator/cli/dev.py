"""``alligator demo``, ``alligator local-sqs`` and ``alligator lambda-zip``:
SQS with no AWS account, and the Lambda package."""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
from pathlib import Path
from typing import Any

from .. import _signals
from .._moto import DUMMY_AWS_ENVIRONMENT
from ._types import natural

#: The region ``local-sqs``'s DSN and exports name (moto takes any).
LOCAL_REGION = DUMMY_AWS_ENVIRONMENT["AWS_DEFAULT_REGION"]


def add_parsers(commands: Any) -> None:
    """Register ``demo``, ``local-sqs`` and ``lambda-zip``."""
    demo = commands.add_parser(
        "demo",
        help="the whole flow on an embedded SQS endpoint",
        description="Enqueue, run, retry and dead-letter tasks on an embedded SQS endpoint "
        "(moto's, in this process: no AWS account needed). Needs alligator[test].",
    )
    demo.set_defaults(handler=_demo)
    local = commands.add_parser(
        "local-sqs",
        help="serve an embedded SQS endpoint for development",
        description="Serve moto's SQS (and S3, DynamoDB) on loopback until Ctrl-C, and print "
        "the DSN and the lines to paste into another shell. Needs alligator[test].",
    )
    local.add_argument(
        "--port", type=port, default=0, help="port to listen on, 0-65535 (0: any free one)"
    )
    local.set_defaults(handler=_local_sqs)
    _add_lambda_zip(commands)


def port(text: str) -> int:
    """A TCP port, 0-65535."""
    value = natural(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535, not {value}")
    return value


def _demo(args: argparse.Namespace) -> int:
    from .. import logs
    from ..demo import run_demo

    logs.configure()
    return run_demo()


def local_sqs_lines(url: str) -> list[str]:
    """What ``local-sqs`` prints: the endpoint, a DSN, and ``export`` lines
    for a second shell (dummy credentials, region, endpoint), after which
    ``sqs://us-east-1/QUEUE`` with no ``endpoint_url`` reaches this server."""
    exports = {**DUMMY_AWS_ENVIRONMENT, "AWS_ENDPOINT_URL_SQS": url}
    return [
        f"SQS endpoint: {url}",
        f"DSN:          sqs://{LOCAL_REGION}/QUEUE?endpoint_url={url}&create=true",
        "In another shell (then sqs://us-east-1/QUEUE?create=true needs no endpoint_url):",
        *(f"  export {key}={shlex.quote(value)}" for key, value in exports.items()),
        "Stop with Ctrl-C.",
    ]


def _local_sqs(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    from .._moto import start_moto

    server, url = start_moto(args.port)
    print("\n".join(local_sqs_lines(url)), flush=True)
    stopped = threading.Event()
    # SIGTERM (docker stop, a test's terminate()) is a clean stop too.
    with _signals.handled(lambda *_: stopped.set()):
        try:
            while not stopped.wait(1.0):  # a timeout keeps signals deliverable
                pass
        finally:
            server.stop()
    return 0


def _add_lambda_zip(commands: Any) -> None:
    parser = commands.add_parser(
        "lambda-zip",
        help="build the Lambda deployment zip: alligator plus your tasks",
        description="Build a deterministic Lambda zip: this alligator package, your task "
        "packages or modules at the zip's root and, with --requirements, their dependencies "
        "for the Lambda runtime (python3.12). Prints the zip's path and sha256.",
    )
    parser.add_argument(
        "tasks",
        nargs="+",
        type=Path,
        metavar="TASK_PATH",
        help="a task package directory or a module file",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("build/lambda.zip"), help="the zip to write"
    )
    parser.add_argument(
        "--requirements",
        type=Path,
        metavar="FILE",
        help="pip-install these into the zip, as Linux wheels (default: none)",
    )
    parser.add_argument(
        "--arch",
        choices=["x86_64", "arm64"],
        default="x86_64",
        help="the function's architecture, for --requirements",
    )
    parser.add_argument(
        "--include-boto3",
        action="store_true",
        help="keep boto3/botocore instead of the runtime's own",
    )
    parser.set_defaults(handler=_lambda_zip)


def _lambda_zip(args: argparse.Namespace) -> int:
    from .. import lambda_zip

    output, size = lambda_zip.build(
        args.tasks,
        args.output,
        requirements=args.requirements,
        arch=args.arch,
        include_boto3=args.include_boto3,
    )
    if size > lambda_zip.MAX_UNZIPPED_BYTES:
        print(f"alligator: warning: {size} bytes unzipped exceeds Lambda's 250 MB", file=sys.stderr)
    print(f"{output} sha256={lambda_zip.sha256_of(output)}")
    return 0
