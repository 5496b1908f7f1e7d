"""Worker processes for the contenders that have no CLI of our own:
the raw boto3 loop, Celery and Dramatiq. (alligator runs as
``python -m alligator worker``.) Each runs until it is killed.

    python bench/_worker.py raw ENDPOINT QUEUE_URL --concurrency N
    python bench/_worker.py celery ENDPOINT QUEUE_URL --name NAME --concurrency N
    python bench/_worker.py dramatiq ENDPOINT NAMESPACE --concurrency N
"""

from __future__ import annotations

import argparse
import logging
import signal

import _peers
import _raw


def raw(endpoint_url: str, queue_url: str, concurrency: int) -> None:
    """N threads, each: receive 10 (long poll), run them, delete them in
    one batch (``_raw.py``, which the benchmarks start directly)."""
    _raw.serve(endpoint_url, queue_url, concurrency)


def celery(
    endpoint_url: str, queue_url: str, name: str, concurrency: int, polling_interval: float
) -> None:
    """``celery worker`` in this process, configured as ``_peers`` says."""
    app = _peers.celery_app(endpoint_url, name, queue_url, polling_interval)
    pool = (
        ["--pool=solo"] if concurrency == 1 else ["--pool=threads", f"--concurrency={concurrency}"]
    )
    app.worker_main(
        [
            "worker",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            name,
            *pool,
        ]
    )


def dramatiq(endpoint_url: str, namespace: str, concurrency: int) -> None:
    """One Dramatiq worker process with ``concurrency`` threads."""
    import dramatiq as dramatiq_module

    broker, _actor = _peers.dramatiq_broker(endpoint_url, namespace)
    worker = dramatiq_module.Worker(broker, worker_threads=concurrency)
    worker.start()
    signal.pause()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("raw", "celery", "dramatiq"))
    parser.add_argument("endpoint")
    parser.add_argument("queue", help="the queue URL (raw, celery) or namespace (dramatiq)")
    parser.add_argument("--name", help="the queue name (celery)")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--polling-interval", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.kind == "raw":
        raw(args.endpoint, args.queue, args.concurrency)
    elif args.kind == "celery":
        celery(args.endpoint, args.queue, args.name, args.concurrency, args.polling_interval)
    else:
        dramatiq(args.endpoint, args.queue, args.concurrency)


if __name__ == "__main__":
    main()
