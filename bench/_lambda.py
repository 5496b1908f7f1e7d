"""The Lambda handler's cost per record, in-process (run by ``goals.py``):

    python bench/_lambda.py ENDPOINT [--invocations 300] [--repeats 7] [--profile N]

Ten tasks are enqueued with alligator's own producer to a fresh standard
queue on ENDPOINT, received once, and turned into the event an SQS event
source mapping delivers (Lambda's record spelling). That one event is then
handed to ``alligator.sqs.lambda_handler.handle`` again and again, with the
gator a warm function keeps: what is measured is the per-record path
(parse, admit, run the no-op task, one outcome line, settle). Successes on
a standard queue make no SQS call (Lambda deletes what is not reported);
the meter's request count over the timed loops says so.

CPU time (``time.process_time``) per record, the median over ``--repeats``
repeats; the variants take turns within each repeat:

- alligator, text line to a null stream: ``logs.configure()`` as the
  handler does (INFO, ``ALLIGATOR_LOG_FORMAT`` text), its stream swapped
  for ``os.devnull``;
- alligator, JSON line to a null stream;
- alligator, logging off: the ``alligator`` logger at WARNING, so the INFO
  outcome line is not emitted (nor built);
- a bare handler, for scale: ``json.loads`` the body, call the function,
  one INFO line through ``logging`` to a null stream, nothing else (no
  checks, no settling, no outcome): roughly what Powertools' batch
  processor costs with one log line.

``--profile N`` prints cProfile's top N entries (by own time and by
cumulative time) of the text-line variant instead, and exits.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import statistics
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

RECORDS = 10


def build_event(endpoint_url: str) -> tuple[Any, dict[str, Any]]:
    """A gator on a fresh queue, and one 10-record event of its tasks."""
    import bench_tasks
    import boto3

    from alligator import Gator

    client = boto3.session.Session().client(
        "sqs", region_name="us-east-1", endpoint_url=endpoint_url
    )
    name = f"bench-lambda-{uuid.uuid4().hex[:10]}"
    url = client.create_queue(QueueName=name)["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    gator = Gator(f"sqs://us-east-1/{name}?endpoint_url={endpoint_url}")
    gator.task_many([(bench_tasks.noop, (index,)) for index in range(RECORDS)])
    messages: list[dict[str, Any]] = []
    while len(messages) < RECORDS:
        messages += client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=RECORDS,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
    records = [lambda_record(message, arn) for message in messages]
    gator.queue.check()  # as gator_for does once per warm function
    return gator, {"Records": records}


def lambda_record(message: dict[str, Any], arn: str) -> dict[str, Any]:
    """A ``ReceiveMessage`` message in an event source mapping's spelling."""
    attributes = {
        key: message.get("Attributes", {}).get(key, "1")
        for key in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        )
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": "us-east-1",
    }


def alligator_variant(gator: Any, event: dict[str, Any], mode: str) -> Callable[[], None]:
    """One invocation of ``handle`` with logging set up as ``mode`` says."""
    from alligator import logs
    from alligator.sqs.lambda_handler import handle

    null = open(os.devnull, "w")  # noqa: SIM115 (kept for the process's life)
    log = logging.getLogger("alligator")

    def setup() -> None:
        logs.configure("json" if mode == "json" else "text")
        log.handlers[0].setStream(null)  # type: ignore[attr-defined]
        if mode == "off":
            log.setLevel(logging.WARNING)

    def invoke() -> None:
        response = handle(event, None, gator=gator)
        assert not response["batchItemFailures"], response

    invoke.setup = setup  # type: ignore[attr-defined]
    return invoke


def bare_variant(event: dict[str, Any]) -> Callable[[], None]:
    """Parse, call, one log line: the floor a handler could reach."""
    import importlib

    log = logging.getLogger("bench.bare")
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    functions: dict[tuple[str, str], Callable[..., Any]] = {}

    def invoke() -> None:
        failures = []
        for record in event["Records"]:
            try:
                data = json.loads(record["body"])
                key = (data["module"], data["callable"])
                function = functions.get(key)
                if function is None:
                    function = functions[key] = getattr(importlib.import_module(key[0]), key[1])
                function(*data.get("args", ()), **data.get("kwargs", {}))
                log.info("task %s %s success", data["task_id"], key[1])
            except Exception:
                failures.append({"itemIdentifier": record["messageId"]})
        assert not failures

    invoke.setup = lambda: None  # type: ignore[attr-defined]
    return invoke


def requests_so_far(endpoint_url: str) -> int:
    with urllib.request.urlopen(f"{endpoint_url}/__bench/stats", timeout=30) as response:
        return sum(json.loads(response.read())["counts"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint")
    parser.add_argument("--invocations", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--profile", type=int, metavar="N", help="print cProfile's top N")
    parser.add_argument(
        "--profile-variant", choices=("text", "json", "off"), default="text", help="(--profile)"
    )
    args = parser.parse_args()
    os.environ.setdefault("ALLIGATOR_IMPORT_ALLOW", "bench_tasks")
    gator, event = build_event(args.endpoint)
    variants = {
        "alligator, text line to a null stream": alligator_variant(gator, event, "text"),
        "alligator, JSON line to a null stream": alligator_variant(gator, event, "json"),
        "alligator, logging off": alligator_variant(gator, event, "off"),
        "bare handler (json.loads, call, one log line)": bare_variant(event),
    }
    if args.profile:
        profile(alligator_variant(gator, event, args.profile_variant), args)
        return
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    requests: dict[str, int] = dict.fromkeys(variants, 0)
    for invoke in variants.values():  # warm: imports, caches, the first resolution
        invoke.setup()  # type: ignore[attr-defined]
        for _ in range(20):
            invoke()
    for _ in range(args.repeats):
        for name, invoke in variants.items():
            invoke.setup()  # type: ignore[attr-defined]
            before = requests_so_far(args.endpoint)
            started = time.process_time()
            for _ in range(args.invocations):
                invoke()
            seconds[name].append(time.process_time() - started)
            requests[name] += requests_so_far(args.endpoint) - before
    records = args.invocations * RECORDS
    rows = [
        {
            "name": name,
            "us_per_record": 1e6 * statistics.median(samples) / records,
            "sqs_requests": requests[name],
        }
        for name, samples in seconds.items()
    ]
    json.dump({"invocations": args.invocations, "repeats": args.repeats, "rows": rows}, sys.stdout)


def profile(invoke: Callable[[], None], args: argparse.Namespace) -> None:
    invoke.setup()  # type: ignore[attr-defined]
    for _ in range(20):
        invoke()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.invocations):
        invoke()
    profiler.disable()
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(args.profile)
        print(f"--- by {order} ({args.invocations * RECORDS} records) ---")
        print(text.getvalue().split("\n\n", 1)[-1].strip())


if __name__ == "__main__":
    main()
