"""Issue 7: alligator against Celery, Dramatiq and the raw boto3 loop, on
one machine, one embedded endpoint, the same task count, interleaved.

    python bench/peers.py [--tasks 500] [--rounds 3] [--latency-ms 0 20] [--concurrency 1 8]
    python bench/peers.py --idle [--idle-seconds 60]
    python bench/peers.py --ceiling [--tasks 500]

For every latency (0 ms, and 20 ms injected per request: a round trip to
real SQS) and every concurrency (1 and 8), each round runs every peer once,
in turn: a fresh queue, ``--tasks`` enqueued by the peer's own producer
(enqueue tasks/s, client side), then one fresh worker process of the peer
drains it (drain tasks/s, timed by the meter from the first receive to the
last delete). SQS requests per task are counted by action at the endpoint,
enqueue and drain together. Medians over rounds are reported; the raw loop
(the same shape every consumer reduces to) doubles as the emulator's ceiling.

``--idle`` starts every peer's worker on an empty queue, all at once, and
counts their requests over ``--idle-seconds``. ``--ceiling`` measures the
raw loop on moto as it ships and as patched (see ``_endpoint.py``).
``--update-readme`` writes the tables into ``bench/README.md``.

How each peer is configured, and why, is in ``_peers.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

import _harness
import _peers

#: Issue 7's targets.
MIN_SPEEDUP_AT_20_MS = 3.0
MAX_REQUESTS_PER_TASK = 0.31
MAX_IDLE_REQUESTS_PER_MINUTE = 3.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500, help="tasks per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per cell")
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--peers", nargs="+", default=list(_peers.PEERS), choices=_peers.PEERS)
    parser.add_argument(
        "--cap-seconds",
        type=float,
        default=60.0,
        help="a drain still running this long after its first receive is measured so far",
    )
    parser.add_argument("--idle", action="store_true", help="measure idle workers instead")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--ceiling", action="store_true", help="raw loop on stock vs patched moto")
    parser.add_argument("--stock", action="store_true", help="serve moto unpatched")
    parser.add_argument("--logs", type=Path, help="keep each worker's output in this directory")
    parser.add_argument("--update-readme", action="store_true", help="write bench/README.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    if args.idle:
        text = idle(args)
        section = "idle"
    elif args.ceiling:
        text = ceiling(args)
        section = "ceiling"
    else:
        text = throughput(args)
        section = "peers"
    if args.update_readme:
        command = "python bench/peers.py " + " ".join(sys.argv[1:] if argv is None else argv)
        _harness.update_readme(section, command.replace(" --update-readme", ""), text)
    return 0


# -- throughput --------------------------------------------------------------


def throughput(args: argparse.Namespace) -> str:
    """Every cell (latency x concurrency), interleaved rounds; the tables."""
    out: list[str] = []
    with _harness.Endpoint(stock=args.stock) as endpoint:
        _harness.say(out, header(args))
        cells: dict[tuple[float, int], dict[str, list[_harness.Run]]] = {}
        for latency in args.latency_ms:
            for concurrency in args.concurrency:
                cells[latency, concurrency] = run_cell(endpoint, args, latency, concurrency)
                _harness.say(out, cell_table(latency, concurrency, cells[latency, concurrency]))
    _harness.say(out, verdicts(cells))
    return "\n".join(out)


def run_cell(
    endpoint: _harness.Endpoint, args: argparse.Namespace, latency: float, concurrency: int
) -> dict[str, list[_harness.Run]]:
    runs: dict[str, list[_harness.Run]] = {name: [] for name in args.peers}
    for number, name in _harness.interleave(args.peers, args.rounds):
        run = _harness.measure(
            endpoint,
            _peers.PEERS[name],
            tasks=args.tasks,
            latency_ms=latency,
            concurrency=concurrency,
            cap_seconds=args.cap_seconds,
            log_dir=args.logs,
        )
        runs[name].append(run)
        if run.error:
            result = f"n/a ({run.error})"
        else:
            capped = f" (capped: {run.drained} in {run.drain_seconds:.0f} s)" if run.capped else ""
            result = f"enqueue {run.enqueue_rate:,.0f}/s, drain {run.drain_rate:,.0f}/s{capped}"
        print(
            f"{latency:g} ms c={concurrency} round {number + 1} {name:12s} {result}",
            file=sys.stderr,
            flush=True,
        )
    return runs


def cell_table(latency: float, concurrency: int, runs: dict[str, list[_harness.Run]]) -> str:
    raw = _harness.median(r.drain_rate for r in runs.get("raw", []))
    rows = []
    for name, results in runs.items():
        ok = [r for r in results if r.error is None]
        if not ok:
            reason = results[0].error if results else "not run"
            rows.append([name, f"n/a ({reason})", "n/a", "n/a", "n/a", "n/a", "n/a"])
            continue
        drain = _harness.median(r.drain_rate for r in ok)
        per_task = _harness.median_per_task(ok)
        capped = sum(r.capped for r in ok)
        drain_text = _harness.cell(drain) + (f" (capped {capped}/{len(ok)})" if capped else "")
        rows.append(
            [
                name,
                _harness.median(r.enqueue_rate for r in ok),
                drain_text,
                None if raw is None or drain is None else drain / raw,
                sum(per_task.values()),
                _harness.per_task_text(per_task),
                _harness.median(r.cpu_ms_per_task()[0] for r in ok),
            ]
        )
    headers = [
        "peer",
        "enqueue tasks/s",
        "drain tasks/s",
        "drain / raw",
        "requests/task",
        "by action (enqueue + drain)",
        "worker CPU ms/task",
    ]
    title = f"### {latency:g} ms per request, concurrency {concurrency}"
    return f"{title}\n\n{_harness.table(headers, rows)}\n"


def verdicts(cells: dict[tuple[float, int], dict[str, list[_harness.Run]]]) -> str:
    """The targets, checked against the medians."""
    lines = ["### Targets", ""]
    for (latency, concurrency), runs in cells.items():
        rates = {
            name: _harness.median(r.drain_rate for r in results if r.error is None)
            for name, results in runs.items()
        }
        mine = rates.get("alligator")
        peers = {n: r for n, r in rates.items() if n not in ("alligator", "raw", "raw8") and r}
        if latency == 20 and mine and peers:
            best = max(peers, key=lambda n: peers[n])
            speedup = mine / peers[best]
            verdict = "ok" if round(speedup, 1) >= MIN_SPEEDUP_AT_20_MS else "MISSED"
            lines.append(
                f"- 20 ms, concurrency {concurrency}: alligator {mine:,.0f} tasks/s = "
                f"{speedup:.1f}x the best peer ({best}, {peers[best]:,.0f}); target >= "
                f"{MIN_SPEEDUP_AT_20_MS:g}x: {verdict}"
            )
        alligator_runs = [r for r in runs.get("alligator", []) if r.error is None]
        if alligator_runs:
            requests = sum(_harness.median_per_task(alligator_runs).values())
            verdict = "ok" if round(requests, 3) <= MAX_REQUESTS_PER_TASK else "MISSED"
            lines.append(
                f"- {latency:g} ms, concurrency {concurrency}: alligator {requests:.3f} SQS "
                f"requests per task; target <= {MAX_REQUESTS_PER_TASK}: {verdict}"
            )
    best_20 = {
        name: max(
            (
                _harness.median(r.drain_rate for r in runs[name] if r.error is None) or 0.0
                for (latency, _), runs in cells.items()
                if latency == 20 and name in runs
            ),
            default=0.0,
        )
        for name in {n for runs in cells.values() for n in runs}
    }
    mine = best_20.pop("alligator", 0.0)
    best_20.pop("raw", None)
    best_20.pop("raw8", None)
    if mine and any(best_20.values()):
        best = max(best_20, key=lambda n: best_20[n])
        lines.append(
            f"- 20 ms, each at its best concurrency: alligator {mine:,.0f} tasks/s = "
            f"{mine / best_20[best]:.1f}x the best peer ({best}, {best_20[best]:,.0f})"
        )
    return "\n".join(lines) + "\n"


# -- idle ----------------------------------------------------------------------


def idle(args: argparse.Namespace) -> str:
    """Every peer's worker on its own empty queue, all at once; requests
    (and worker CPU) over ``--idle-seconds`` of steady idling."""
    out: list[str] = []
    with _harness.Endpoint(stock=args.stock) as endpoint:
        _harness.say(
            out,
            f"Each peer's worker (concurrency 1, its own long-poll settings) on its own "
            f"empty queue, all at once; requests counted over {args.idle_seconds:g} s, "
            f"after 15 s of start-up; {_harness.machine_note()}\n",
        )
        started = []
        for name in args.peers:
            peer = _peers.PEERS[name]
            queue_name = peer.queue_name(uuid.uuid4().hex[:10])
            url = endpoint.client.create_queue(QueueName=queue_name)["QueueUrl"]
            log_path = args.logs / f"{name}-idle.log" if args.logs else None
            argv = peer.worker(endpoint.url, queue_name, url, 1)
            started.append((name, queue_name, _harness.spawn(argv, log_path=log_path)))
        # Past start-up (imports, queue lookups, the first poll) before counting.
        time.sleep(15)
        endpoint.reset()
        cpu = {name: _harness.cpu_seconds(process.pid) for name, _, process in started}
        time.sleep(args.idle_seconds)
        stats = endpoint.stats()
        rows = []
        for name, queue_name, process in started:
            used = _harness.cpu_seconds(process.pid) - cpu[name]
            alive = process.poll() is None
            _harness.kill(process)
            counts = {
                key.split(":", 1)[1]: n
                for key, n in stats["by_queue"].items()
                if key.split(":", 1)[0] == queue_name
            }
            total = sum(counts.values())
            per_minute = total * 60 / args.idle_seconds
            by_action = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
            rows.append(
                [
                    name if alive else f"{name} (exited)",
                    total,
                    per_minute,
                    by_action or "none",
                    100 * used / args.idle_seconds,
                ]
            )
    headers = [
        "peer",
        f"requests in {args.idle_seconds:g} s",
        "requests/minute",
        "by action",
        "worker CPU %",
    ]
    _harness.say(out, f"### Idle workers\n\n{_harness.table(headers, rows)}\n")
    mine = next((row[2] for row in rows if row[0] == "alligator"), None)
    if mine is not None:
        verdict = "ok" if mine <= MAX_IDLE_REQUESTS_PER_MINUTE else "MISSED"
        _harness.say(
            out,
            f"- idle alligator worker: {mine:.1f} requests/minute; target <= "
            f"{MAX_IDLE_REQUESTS_PER_MINUTE:g}: {verdict}\n",
        )
    return "\n".join(out)


# -- the emulator's ceiling ----------------------------------------------------------


def ceiling(args: argparse.Namespace) -> str:
    """The raw loop on moto as it ships and as patched, interleaved."""
    out: list[str] = []
    raw = _peers.PEERS["raw"]
    rows = []
    with _harness.Endpoint(stock=True) as stock, _harness.Endpoint() as patched:
        _harness.say(
            out,
            f"{args.tasks} tasks per run, {args.rounds} interleaved rounds, medians; "
            f"stock: moto as ThreadedMotoServer serves it; patched: bench/_moto.py and "
            f"a keep-alive server (bench/_endpoint.py); {_harness.machine_note()}\n",
        )
        for concurrency in args.concurrency:
            runs: dict[str, list[_harness.Run]] = {"stock": [], "patched": []}
            for number, name in _harness.interleave(list(runs), args.rounds):
                endpoint = stock if name == "stock" else patched
                run = _harness.measure(
                    endpoint,
                    raw,
                    tasks=args.tasks,
                    latency_ms=0,
                    concurrency=concurrency,
                    cap_seconds=args.cap_seconds,
                )
                runs[name].append(run)
                print(
                    f"ceiling c={concurrency} round {number + 1} {name}: {run.drain_rate}",
                    file=sys.stderr,
                    flush=True,
                )
            for name, results in runs.items():
                rows.append(
                    [
                        f"moto {name}",
                        concurrency,
                        _harness.median(r.enqueue_rate for r in results),
                        _harness.median(r.drain_rate for r in results),
                        _harness.median(r.cpu_ms_per_task()[1] for r in results),
                    ]
                )
    headers = [
        "endpoint",
        "concurrency",
        "enqueue tasks/s",
        "drain tasks/s",
        "moto CPU ms/task",
    ]
    title = f"### The emulator's ceiling: the raw loop, {args.tasks} tasks deep, 0 ms"
    _harness.say(out, f"{title}\n\n{_harness.table(headers, rows)}\n")
    return "\n".join(out)


# -- output ----------------------------------------------------------------------------


def header(args: argparse.Namespace) -> str:
    moto = "stock" if args.stock else "patched (bench/_moto.py, bench/_endpoint.py)"
    return (
        f"{args.tasks} tasks per run, {args.rounds} interleaved rounds, medians; "
        f"moto {moto}; {_harness.machine_note()}\n"
    )


if __name__ == "__main__":
    sys.exit(main())
