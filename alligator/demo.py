"""``alligator demo`` and ``alligator local-sqs``: SQS with no AWS account.

The demo starts moto's SQS server in-process, enqueues a few dozen tasks in
batches, runs a worker until the queue is empty, and prints what ran, what
was retried and what sits in the dead-letter queue, with the reason.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import sys
import threading
from typing import Any

from .processing import Action, Outcome

#: How many times each flaky call has run, so a retry can succeed.
_runs: collections.Counter[int] = collections.Counter()
_runs_lock = threading.Lock()


def add(a: int, b: int) -> int:
    """A task that always works."""
    return a + b


def flaky(n: int) -> str:
    """Fails on its first run, works on the second."""
    with _runs_lock:
        _runs[n] += 1
        runs = _runs[n]
    if runs == 1:
        raise RuntimeError(f"flaky({n}) failed on its first run")
    return f"flaky({n}) worked on run {runs}"


def broken(order_id: int) -> None:
    """Always fails: it ends in the dead-letter queue."""
    raise ValueError(f"order {order_id} has no customer")


def add_parsers(commands: Any) -> None:
    """Register ``demo`` and ``local-sqs``."""
    demo = commands.add_parser("demo", help="the whole flow on an embedded SQS")
    demo.set_defaults(handler=_demo_command)
    local = commands.add_parser("local-sqs", help="serve an embedded SQS endpoint")
    local.add_argument("--port", type=int, default=0)
    local.set_defaults(handler=lambda args: serve(args.port))


def _demo_command(args: Any) -> int:
    from . import logs

    logs.configure()
    return run_demo()


def start_server(port: int = 0) -> tuple[Any, str]:
    """Start moto's server on loopback; returns (server, endpoint URL)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        from .exceptions import ConfigurationError

        raise ConfigurationError(
            "the embedded SQS endpoint needs moto: pip install 'alligator[test]'"
        ) from exc
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return server, f"http://{host}:{bound}"


def serve(port: int) -> int:
    """``alligator local-sqs``: serve until interrupted."""
    server, url = start_server(port)
    print(f"SQS endpoint: {url}")
    print(f"DSN:          sqs://us-east-1/QUEUE?endpoint_url={url}&create=true")
    print("Credentials:  any (moto); stop with Ctrl-C", flush=True)
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


def run_demo(out: Any = None) -> int:
    """Enqueue, run, retry and dead-letter on an embedded endpoint."""
    from .gator import Gator
    from .workers import Worker

    out = out or sys.stdout
    _runs.clear()
    server, url = start_server()
    try:
        dsn = (
            f"sqs://us-east-1/demo?endpoint_url={url}&create=true"
            "&wait_time=1&backoff_base=1&backoff_max=1"
        )
        gator = Gator(dsn)
        requests = count_requests(gator.backend.client)
        calls = [(add, (n, n), {}) for n in range(30)] + [(flaky, (n,), {}) for n in range(5)]
        tasks = gator.task_many(calls, retries=2)
        tasks.append(gator.options(retries=2).task(broken, 1234))
        print(f"enqueued {len(tasks)} tasks on {url} (FIFO: no, DLQ: demo-dlq)", file=out)
        outcomes: list[Outcome] = []

        def record(outcome: Outcome) -> None:
            outcomes.append(outcome)
            if sum(o.action in (Action.ACK, Action.DEAD) for o in outcomes) == len(tasks):
                worker.stop()

        worker = Worker(gator, concurrency=4, import_allow=["alligator.demo"], on_outcome=record)
        worker.run_forever()
        _summary(outcomes, gator, out)
        total = sum(requests.values())
        print(f"SQS requests: {total} for {len(tasks)} tasks: {dict(requests)}", file=out)
    finally:
        server.stop()
    return 0


def count_requests(client: Any) -> collections.Counter[str]:
    """Count a boto3 client's requests by operation, as they are made."""
    counts: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def hook(model: Any, **_: Any) -> None:
        with lock:
            counts[model.name] += 1

    client.meta.events.register("before-call.sqs", hook)
    return counts


def _summary(outcomes: list[Outcome], gator: Any, out: Any) -> None:
    counts = collections.Counter(o.label for o in outcomes)
    print(f"\nran {len(outcomes)} times: {dict(counts)}", file=out)
    for outcome in outcomes:
        if outcome.action is Action.RETRY and outcome.task is not None:
            print(
                f"  retried  {outcome.task.callable_name} "
                f"attempt {outcome.attempt}: {outcome.error}",
                file=out,
            )
    dlq = gator.backend.dlq_backend()
    for message in dlq.receive(max_messages=10, wait_seconds=1):
        print(
            f"  in DLQ   {message.attributes.get('alligator-error')} "
            f"(attempts {message.attributes.get('alligator-attempts')})",
            file=out,
        )
