"""The raw boto3 loop, the baseline every SQS consumer reduces to, as a
worker process that imports nothing but boto3 and the standard library (so
its start-up is the floor a consumer could reach):

    python bench/_raw.py ENDPOINT QUEUE_URL [--threads N]

Each of N threads, independently: ``ReceiveMessage`` (10, long poll 20 s),
run each task in turn (``module``/``callable``/``args`` from the JSON
body, as alligator's wire format spells them), ``DeleteMessageBatch``.
Nothing overlaps within a thread: no prefetch, no pipelining. With N = 1
this is the sequential loop ("raw"); with N = 8, "raw8", eight of them
sharing one client (boto3 clients are thread-safe) and its connection pool
(10 connections by default, enough for eight).
"""

from __future__ import annotations

import argparse
import importlib
import json
import threading
from collections.abc import Callable
from typing import Any

import boto3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint")
    parser.add_argument("queue_url")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    serve(args.endpoint, args.queue_url, args.threads)


def serve(endpoint_url: str, queue_url: str, threads: int) -> None:
    client = boto3.session.Session().client(
        "sqs", region_name="us-east-1", endpoint_url=endpoint_url
    )
    functions: dict[tuple[str, str], Callable[..., Any]] = {}

    def run(body: str) -> None:
        data = json.loads(body)
        key = (data["module"], data["callable"])
        function = functions.get(key)
        if function is None:
            function = functions[key] = getattr(importlib.import_module(key[0]), key[1])
        function(*data.get("args", ()), **data.get("kwargs", {}))

    def loop() -> None:
        while True:
            response = client.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=20
            )
            messages = response.get("Messages", [])
            for message in messages:
                run(message["Body"])
            if messages:
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ]
                client.delete_message_batch(QueueUrl=queue_url, Entries=entries)

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
