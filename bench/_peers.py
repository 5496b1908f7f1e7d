"""The contenders: how each one enqueues, and how its worker is started.

Each peer is configured as its own documentation recommends:

- ``raw``: the loop every SQS consumer reduces to, in boto3 with nothing
  else: ``ReceiveMessage`` (10, long poll 20 s), run each task,
  ``DeleteMessageBatch``; ``SendMessageBatch`` to enqueue. ``concurrency``
  N runs N such loops in threads. It is also the emulator's ceiling.
  ``raw8`` is eight such loops whatever the concurrency (``_raw.py``).
- ``alligator``: ``alligator worker DSN --concurrency N`` (the CLI as users
  run it, defaults: ``wait_time=20``, ``batch_size=10``, one log line per
  task); enqueue with ``gator.task_many`` (batched).
- ``celery``: ``celery[sqs]``, broker ``sqs://``, ``predefined_queues``
  (no queue discovery), transport defaults otherwise (``wait_time_seconds``
  10, ``polling_interval`` 1 s, prefetch multiplier 4);
  ``--without-gossip --without-mingle --without-heartbeat`` (SQS carries no
  broadcast); ``--pool=solo`` at concurrency 1, ``--pool=threads -c N``
  above. ``celery-poll0`` is the same with ``polling_interval=0``, which
  kombu's docs give for relying on long polling alone. Enqueue with
  ``task.delay()``.
- ``dramatiq``: ``dramatiq_sqs.SQSBroker(endpoint_url=...)`` with its
  default middleware; one process, ``dramatiq.Worker(broker,
  worker_threads=N)`` (what ``dramatiq --processes 1 --threads N`` runs);
  enqueue with ``actor.send()``.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import _harness

#: The queue dramatiq_sqs consumes is NAMESPACE_QUEUE; ours is "default".
DRAMATIQ_QUEUE = "default"
PYTHON = sys.executable
WORKER = str(_harness.BENCH_DIR / "_worker.py")
RAW = str(_harness.BENCH_DIR / "_raw.py")


@dataclass(frozen=True)
class Peer:
    """One contender.

    ``queue_name(run_id)`` names its fresh queue; ``produce(endpoint, name,
    url, tasks)`` enqueues; ``worker(endpoint_url, name, url, concurrency)``
    is the argv of its worker process.
    """

    name: str
    queue_name: Callable[[str], str]
    produce: Callable[[Any, str, str, int], None]
    worker: Callable[[str, str, str, int], list[str]]


def raw_body(index: int) -> str:
    """The raw loop's message: the same JSON shape alligator sends."""
    return json.dumps(
        {"task_id": uuid.uuid4().hex, "module": "bench_tasks", "callable": "noop", "args": [index]}
    )


def produce_raw(endpoint: Any, name: str, url: str, tasks: int) -> None:
    client = endpoint.client
    for start in range(0, tasks, 10):
        entries = [
            {"Id": str(i), "MessageBody": raw_body(start + i)}
            for i in range(min(10, tasks - start))
        ]
        client.send_message_batch(QueueUrl=url, Entries=entries)


def alligator_dsn(endpoint_url: str, name: str) -> str:
    return f"sqs://{_harness.REGION}/{name}?endpoint_url={endpoint_url}"


def produce_alligator(endpoint: Any, name: str, url: str, tasks: int) -> None:
    from bench_tasks import noop

    from alligator import Gator

    gator = Gator(alligator_dsn(endpoint.url, name))
    gator.task_many([(noop, (index,)) for index in range(tasks)])
    gator.backend.close()


def worker_alligator(endpoint_url: str, name: str, url: str, concurrency: int) -> list[str]:
    dsn = alligator_dsn(endpoint_url, name)
    return [PYTHON, "-m", "alligator", "worker", dsn, "--concurrency", str(concurrency)] + [
        "--import-allow",
        "bench_tasks",
    ]


def worker_raw(endpoint_url: str, name: str, url: str, concurrency: int) -> list[str]:
    return [PYTHON, RAW, endpoint_url, url, "--threads", str(concurrency)]


def worker_raw8(endpoint_url: str, name: str, url: str, concurrency: int) -> list[str]:
    """Eight independent loops, whatever the concurrency asked for: the
    hand-rolled baseline a worker at concurrency 8 is held against."""
    return [PYTHON, RAW, endpoint_url, url, "--threads", "8"]


# -- Celery ----------------------------------------------------------------


def celery_app(endpoint_url: str, name: str, url: str, polling_interval: float) -> Any:
    """A Celery app on the endpoint, its one queue predefined, and the
    ``bench.noop`` task."""
    from celery import Celery

    host = urlsplit(endpoint_url)
    app = Celery("bench", broker=f"sqs://testing:testing@{host.hostname}:{host.port}/")
    app.conf.update(
        broker_transport_options={
            "region": _harness.REGION,
            "predefined_queues": {
                name: {"url": url, "access_key_id": "testing", "secret_access_key": "testing"}
            },
            "polling_interval": polling_interval,
        },
        task_default_queue=name,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    app.task(name="bench.noop")(_celery_noop)
    return app


def _celery_noop(*args: Any, **kwargs: Any) -> None:
    return None


def celery_peer(polling_interval: float, label: str) -> Peer:
    def produce(endpoint: Any, name: str, url: str, tasks: int) -> None:
        app = celery_app(endpoint.url, name, url, polling_interval)
        task = app.tasks["bench.noop"]
        for index in range(tasks):
            task.delay(index)
        app.close()

    def worker(endpoint_url: str, name: str, url: str, concurrency: int) -> list[str]:
        return [PYTHON, WORKER, "celery", endpoint_url, url, "--name", name] + [
            "--concurrency",
            str(concurrency),
            "--polling-interval",
            str(polling_interval),
        ]

    return Peer(label, lambda run_id: f"bench-{run_id}", produce, worker)


# -- Dramatiq --------------------------------------------------------------


def dramatiq_broker(endpoint_url: str, namespace: str) -> tuple[Any, Any]:
    """A dramatiq_sqs broker on the endpoint and the ``noop`` actor."""
    import dramatiq
    from dramatiq_sqs import SQSBroker

    broker = SQSBroker(namespace=namespace, endpoint_url=endpoint_url, region_name=_harness.REGION)
    dramatiq.set_broker(broker)
    actor = dramatiq.actor(
        _dramatiq_noop, actor_name="noop", queue_name=DRAMATIQ_QUEUE, broker=broker
    )
    return broker, actor


def _dramatiq_noop(*args: Any) -> None:
    return None


def produce_dramatiq(endpoint: Any, name: str, url: str, tasks: int) -> None:
    namespace = name.removesuffix(f"_{DRAMATIQ_QUEUE}")
    broker, actor = dramatiq_broker(endpoint.url, namespace)
    for index in range(tasks):
        actor.send(index)
    broker.close()


def worker_dramatiq(endpoint_url: str, name: str, url: str, concurrency: int) -> list[str]:
    namespace = name.removesuffix(f"_{DRAMATIQ_QUEUE}")
    return [PYTHON, WORKER, "dramatiq", endpoint_url, namespace, "--concurrency", str(concurrency)]


def _plain(run_id: str) -> str:
    return f"bench-{run_id}"


PEERS: dict[str, Peer] = {
    "raw": Peer("raw", _plain, produce_raw, worker_raw),
    "raw8": Peer("raw8", _plain, produce_raw, worker_raw8),
    "alligator": Peer("alligator", _plain, produce_alligator, worker_alligator),
    "celery": celery_peer(1.0, "celery"),
    "celery-poll0": celery_peer(0.0, "celery-poll0"),
    "dramatiq": Peer(
        "dramatiq",
        lambda run_id: f"bench-{run_id}_{DRAMATIQ_QUEUE}",
        produce_dramatiq,
        worker_dramatiq,
    ),
}
