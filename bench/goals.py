"""Issues 12, 13 and 14: the worker's goals, each a ratio of two figures
measured side by side in the same rounds of one run.

    python bench/goals.py [--rounds 5] [--latency-ms 0 20] [--only c8 c1 pools startup lambda]

Five experiments, each at 0 and 20 ms per request (the meter's injected
round trip; 20 ms stands for real SQS), every round running every variant
once, in turn:

- ``c8``: concurrency 8, trivial tasks, a backlog of ``--tasks-c8``:
  alligator's thread pool, its process pool, a two-queue worker (half the
  tasks on each queue), the pre-redesign worker (``alligator-1``) and
  ``raw8``, eight hand-rolled boto3 loops. Drain rates in the steady state
  (between the deletes that pass 20% and 90% of the tasks) and over the
  whole drain; SQS requests per task; worker CPU per task.
- ``c1``: concurrency 1, ``--tasks-c1``: alligator (one and two queues),
  alligator-1, the sequential raw loop, Celery and Dramatiq (the bench
  dependency group), with wall-clock rates from the worker's start.
- ``pools``: ``--pool processes`` against ``--pool threads`` at
  concurrency 2, with CPU-bound tasks (about 20 ms of pure Python each,
  sized on this machine before the run) and with trivial ones.
- ``startup``: from the worker's process start to its first task's run,
  which the task itself stamps (``bench_tasks.stamp``): alligator,
  alligator-1 and the raw loop.
- ``lambda``: ``alligator.sqs.lambda_handler.handle`` called in-process on a
  10-record event built once (``_lambda.py``): CPU microseconds per record
  with one INFO line per record to a null stream, and with logging off.

Every figure the goals are judged on is the median, over rounds, of
per-round ratios. ``--update-readme`` writes the tables and the verdicts
into ``bench/README.md``. What a goal that is not met costs, and where, is
read from a profile: ``bench/profiles.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _harness
import _peers

PYTHON = sys.executable
#: The pre-redesign main (issue 12's "before").
OLD_REF = "d8fb6e9"
EXPERIMENTS = ("c8", "c1", "pools", "startup", "lambda")

#: The goals: (figure key, text, comparison, bound, how it is judged).
#: "20": at 20 ms per request only (the goal says so); "all": at every
#: latency measured, the worst of them.
GOALS: list[tuple[str, str, str, float, str]] = [
    ("c8", "drain at 20 ms, concurrency 8, steady state: alligator / raw8", ">=", 1.0, "20"),
    (
        "c1",
        "drain at 20 ms, concurrency 1, wall clock: alligator / best sequential peer",
        ">=",
        3.0,
        "20",
    ),
    ("startup", "start-up to first task: alligator / raw loop", "<=", 1.2, "all"),
    (
        "cpu",
        "worker CPU per task, trivial task, concurrency 1: alligator / raw loop",
        "<=",
        1.15,
        "all",
    ),
    ("lambda", "Lambda handler per record, one INFO line (µs)", "<=", 20.0, "all"),
    ("cpu_bound", "CPU-bound tasks, processes / threads, concurrency 2", ">=", 1.7, "all"),
    ("trivial", "trivial tasks, processes / threads, same concurrency (2, 8)", ">=", 0.8, "all"),
    (
        "requests_trivial",
        "SQS requests per task with a backlog (20-90% of the drain), trivial tasks (worst)",
        "<=",
        0.21,
        "all",
    ),
    (
        "requests_cpu_bound",
        "SQS requests per task with a backlog (20-90% of the drain), CPU-bound tasks, c2 (worst)",
        "<=",
        0.21,
        "all",
    ),
    (
        "before",
        "drain rate: alligator / alligator-1, concurrency 1 and 8 (worst)",
        ">=",
        1.0,
        "all",
    ),
    (
        "before_requests",
        "requests per task: alligator - alligator-1, concurrency 1 and 8 (worst)",
        "<=",
        0.0,
        "all",
    ),
]


# -- what runs: tasks, producers, workers ----------------------------------------


@dataclass(frozen=True)
class Job:
    """The task every message of a run calls: ``bench_tasks.NAME(*args)``."""

    name: str = "noop"
    args: tuple[Any, ...] = ()


def produce_raw(job: Job) -> Callable[[Any, str, str, int], None]:
    """``SendMessageBatch`` of bodies in alligator's wire shape, which the
    raw loop reads too."""

    def produce(endpoint: Any, name: str, url: str, count: int) -> None:
        for start in range(0, count, 10):
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": json.dumps(
                        {
                            "task_id": uuid.uuid4().hex,
                            "module": "bench_tasks",
                            "callable": job.name,
                            "args": list(job.args) or [start + i],
                        }
                    ),
                }
                for i in range(min(10, count - start))
            ]
            endpoint.client.send_message_batch(QueueUrl=url, Entries=entries)

    return produce


def produce_alligator(job: Job) -> Callable[[Any, str, str, int], None]:
    """``gator.task_many`` (batched), as users enqueue."""

    def produce(endpoint: Any, name: str, url: str, count: int) -> None:
        import bench_tasks

        from alligator import Gator

        function = getattr(bench_tasks, job.name)
        gator = Gator(_peers.alligator_dsn(endpoint.url, name))
        args = job.args
        gator.task_many([(function, args or (index,)) for index in range(count)])
        gator.backend.close()

    return produce


@dataclass(frozen=True)
class Variant:
    """One contender in an experiment: a label, how many queues, how its
    tasks are enqueued and how its worker is launched."""

    name: str
    produce: Callable[[Job], Callable[[Any, str, str, int], None]]
    launch: Callable[[str, list[str], list[str], int], _harness.Launch]
    queues: int = 1


def alligator_launch(
    *extra: str, old: Path | None = None
) -> Callable[[str, list[str], list[str], int], _harness.Launch]:
    """``python -m alligator worker DSN [DSN] --concurrency N ...``, from
    this tree or from ``old`` (the pre-redesign tree, its own cwd first on
    ``sys.path``)."""

    def launch(endpoint_url: str, names: list[str], urls: list[str], c: int) -> _harness.Launch:
        dsns = [_peers.alligator_dsn(endpoint_url, name) for name in names]
        argv = [PYTHON, "-m", "alligator", "worker", *dsns, "--concurrency", str(c), *extra]
        argv += ["--import-allow", "bench_tasks"]  # last: 1.0's takes several values
        process_pool = "processes" in extra
        if old is None:
            return _harness.Launch(argv, rusage=not process_pool)
        return _harness.Launch(argv, cwd=old, python_path=(str(old),), rusage=True)

    return launch


def raw_launch(threads: int | None) -> Callable[[str, list[str], list[str], int], _harness.Launch]:
    def launch(endpoint_url: str, names: list[str], urls: list[str], c: int) -> _harness.Launch:
        count = str(threads or c)
        return _harness.Launch(
            [PYTHON, _peers.RAW, endpoint_url, urls[0], "--threads", count], rusage=True
        )

    return launch


def peer_launch(peer: _peers.Peer) -> Callable[[str, list[str], list[str], int], _harness.Launch]:
    def launch(endpoint_url: str, names: list[str], urls: list[str], c: int) -> _harness.Launch:
        # Not under _rusage.py: Celery takes SIGUSR1 for itself, and
        # Dramatiq's signal.pause() returns on it. Their CPU is from /proc.
        return _harness.Launch(peer.worker(endpoint_url, names[0], urls[0], c))

    return launch


def peer_variant(name: str) -> Variant:
    """Celery or Dramatiq: their own producers (trivial tasks only)."""
    peer = _peers.PEERS[name]
    return Variant(name, lambda job, p=peer: p.produce, peer_launch(peer))


def variants(old: Path | None, base: Path | None = None) -> dict[str, Variant]:
    found = {
        "raw": Variant("raw", produce_raw, raw_launch(None)),
        "raw8": Variant("raw8", produce_raw, raw_launch(8)),
        "alligator": Variant("alligator", produce_alligator, alligator_launch()),
        "alligator-processes": Variant(
            "alligator-processes", produce_alligator, alligator_launch("--pool", "processes")
        ),
        "alligator-2q": Variant("alligator-2q", produce_alligator, alligator_launch(), queues=2),
    }
    if old is not None:
        found["alligator-1"] = Variant("alligator-1", produce_alligator, alligator_launch(old=old))
    if base is not None:
        found["alligator-base"] = Variant(
            "alligator-base", produce_alligator, alligator_launch(old=base)
        )
    for name in ("celery", "celery-poll0", "dramatiq"):
        found[name] = peer_variant(name)
    return found


def queue_names(variant: Variant) -> list[str]:
    run_id = uuid.uuid4().hex[:10]
    if variant.name == "dramatiq":
        return [_peers.PEERS["dramatiq"].queue_name(run_id)]
    return [f"bench-{run_id}-{n}" for n in range(variant.queues)]


def export_tree(ref: str) -> Path | None:
    """The package as of commit ``ref`` (the pre-redesign main, or a base to
    compare a change with), exported from git once (``git archive``: no
    worktree is registered), or None when git or the commit is missing."""
    target = Path(tempfile.gettempdir()) / f"alligator-bench-{ref}"
    if (target / "alligator" / "__init__.py").exists():
        return target
    try:
        archive = subprocess.run(
            ["git", "-C", str(_harness.REPO_DIR), "archive", ref, "alligator"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"{ref} not run: cannot export it ({exc})", file=sys.stderr)
        return None
    staging = Path(tempfile.mkdtemp(prefix=f"alligator-bench-{ref}-"))
    subprocess.run(["tar", "-x", "-C", str(staging)], input=archive, check=True)
    try:
        staging.rename(target)
    except OSError:  # another run exported it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return target


def compile_trees(*trees: Path | None) -> None:
    """Compile alligator's sources (and the old trees') to bytecode first.
    Where ``PYTHONDONTWRITEBYTECODE`` is set (this machine sets it), an
    editable install would otherwise compile every alligator module at
    every start, which an installed package never does (pip compiles at
    install): about 170 ms of start-up that is not the worker's."""
    import compileall

    for tree in (_harness.REPO_DIR, *trees):
        if tree is not None:
            compileall.compile_dir(str(tree / "alligator"), quiet=1)
    compileall.compile_dir(str(_harness.BENCH_DIR), quiet=1, maxlevels=0)


def available(name: str) -> bool:
    """Celery and Dramatiq run only where the bench group is installed."""
    import importlib.util

    module = {"celery": "celery", "celery-poll0": "celery", "dramatiq": "dramatiq_sqs"}.get(name)
    return module is None or importlib.util.find_spec(module) is not None


# -- running an experiment --------------------------------------------------------


def run_rounds(
    endpoint: _harness.Endpoint,
    args: argparse.Namespace,
    label: str,
    chosen: Sequence[Variant],
    *,
    tasks: int | dict[str, int],
    latency: float,
    concurrency: int,
    job: Job = Job(),
) -> dict[str, list[_harness.Run]]:
    """``args.rounds`` interleaved rounds of every variant; the runs."""
    runs: dict[str, list[_harness.Run]] = {v.name: [] for v in chosen}
    by_name = {v.name: v for v in chosen}
    for number, name in _harness.interleave(list(by_name), args.rounds):
        variant = by_name[name]
        count = tasks if isinstance(tasks, int) else tasks[name]
        log_path = (
            args.logs / f"{label}-{name}-c{concurrency}-{latency:g}ms-{number}.log"
            if args.logs
            else None
        )
        run = _harness.measure_queues(
            endpoint,
            name,
            queue_names=queue_names(variant),
            produce=variant.produce(job),
            launch=lambda names, urls, v=variant: v.launch(endpoint.url, names, urls, concurrency),
            tasks=count,
            latency_ms=latency,
            enqueue_latency_ms=0.0,
            cap_seconds=args.cap_seconds,
            log_path=log_path,
        )
        runs[name].append(run)
        if run.error:
            result = f"n/a ({run.error})"
        else:
            steady = run.steady_rate()
            result = (
                f"drain {run.drain_rate:,.0f}/s, steady {_num(steady)}/s, "
                f"{run.drain_requests_per_task() or 0:.3f} req/task, "
                f"CPU {run.cpu_ms_per_task()[0] or 0:.3f} ms/task"
            )
        print(
            f"{label} {latency:g} ms c={concurrency} round {number + 1} {name:20s} {result}",
            file=sys.stderr,
            flush=True,
        )
    return runs


def drain_table(title: str, runs: dict[str, list[_harness.Run]]) -> str:
    """Medians per variant."""
    rows = []
    for name, results in runs.items():
        ok = [r for r in results if r.error is None]
        if not ok:
            reason = results[0].error if results else "not run"
            rows.append([name, f"n/a ({reason})", *["n/a"] * 7])
            continue
        capped = sum(r.capped for r in ok)
        per_task = _drain_per_task(ok)
        rows.append(
            [
                name,
                ok[0].tasks,
                _harness.median(r.steady_rate() for r in ok),
                _harness.cell(_harness.median(r.drain_rate for r in ok))
                + (f" (capped {capped}/{len(ok)})" if capped else ""),
                _harness.median(r.wall_rate for r in ok),
                f"{sum(per_task.values()):.3f}",
                _harness.per_task_text(per_task),
                _ms(_harness.median(r.cpu_ms_per_task()[0] for r in ok)),
                _harness.median(
                    r.worker_cpu / r.drain_seconds for r in ok if r.drain_seconds and r.worker_cpu
                ),
            ]
        )
    headers = [
        "variant",
        "tasks",
        "steady tasks/s",
        "drain tasks/s",
        "wall tasks/s",
        "requests/task",
        "by action (drain)",
        "worker CPU ms/task",
        "worker cores",
    ]
    return f"{title}\n\n{_harness.table(headers, rows)}\n"


def _drain_per_task(runs: Sequence[_harness.Run]) -> dict[str, float]:
    """Drain requests per task by action (no enqueueing), medians."""
    import statistics

    actions = sorted({a for r in runs for a in r.drain_counts})
    return {
        action: statistics.median(r.drain_counts.get(action, 0) / r.drained for r in runs)
        for action in actions
    }


def ratio(
    runs: dict[str, list[_harness.Run]],
    mine: str,
    theirs: str | Sequence[str],
    measure: Callable[[_harness.Run], float | None],
) -> tuple[float | None, str | None]:
    """The median over rounds of ``measure(mine) / measure(theirs)``, where
    ``theirs`` is the best (highest) of several in that round; and its name."""
    names = [theirs] if isinstance(theirs, str) else list(theirs)
    pairs, best_names = [], []
    for number, run in enumerate(runs.get(mine, [])):
        others = [
            (measure(runs[n][number]), n)
            for n in names
            if n in runs and number < len(runs[n]) and runs[n][number].error is None
        ]
        others = [(value, n) for value, n in others if value]
        if run.error is not None or not others:
            continue
        value, best = max(others)
        pairs.append((measure(run), value))
        best_names.append(best)
    best_name = max(set(best_names), key=best_names.count) if best_names else None
    return _harness.median_ratio(pairs), best_name


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _ms(value: float | None) -> str | None:
    return None if value is None else f"{value:.3f}"


# -- the experiments ----------------------------------------------------------------


def experiment_c8(endpoint, args, table_out, figures, found):  # type: ignore[no-untyped-def]
    names = ["raw8", "alligator", "alligator-processes", "alligator-2q", "alligator-1"]
    names += ["alligator-base"]
    chosen = [found[n] for n in names if n in found]
    for latency in args.latency_ms:
        runs = run_rounds(
            endpoint, args, "c8", chosen, tasks=args.tasks_c8, latency=latency, concurrency=8
        )
        title = f"#### Concurrency 8, {latency:g} ms per request"
        _harness.say(table_out, drain_table(title, runs))
        figures["c8", latency] = ratio(runs, "alligator", "raw8", lambda r: r.steady_rate())
        figures["c8_whole", latency] = ratio(runs, "alligator", "raw8", lambda r: r.drain_rate)
        figures["trivial_c8", latency] = ratio(
            runs, "alligator-processes", "alligator", lambda r: r.steady_rate()
        )
        figures["two_queues", latency] = ratio(
            runs, "alligator-2q", "alligator", lambda r: r.drain_rate
        )
        figures["before_c8", latency] = ratio(
            runs, "alligator", "alligator-1", lambda r: r.drain_rate
        )
        figures["base_c8", latency] = ratio(
            runs, "alligator", "alligator-base", lambda r: r.steady_rate()
        )
        _note_requests(figures, runs, latency, "c8")


def experiment_c1(endpoint, args, table_out, figures, found):  # type: ignore[no-untyped-def]
    peers = [n for n in args.peers if available(n)]
    names = ["raw", "alligator", "alligator-2q", "alligator-1", "alligator-base", *peers]
    chosen = [found[n] for n in names if n in found]
    tasks = {v.name: args.tasks_c1 for v in chosen}
    for latency in args.latency_ms:
        runs = run_rounds(endpoint, args, "c1", chosen, tasks=tasks, latency=latency, concurrency=1)
        title = f"#### Concurrency 1, {latency:g} ms per request"
        _harness.say(table_out, drain_table(title, runs))
        if peers:
            figures["c1", latency] = ratio(runs, "alligator", peers, lambda r: r.wall_rate)
            figures["c1_drain", latency] = ratio(runs, "alligator", peers, lambda r: r.drain_rate)
        figures["c1_raw", latency] = ratio(runs, "alligator", "raw", lambda r: r.wall_rate)
        figures["cpu", latency] = _inverse_ratio(runs, "alligator", "raw")
        figures["two_queues_c1", latency] = ratio(
            runs, "alligator-2q", "alligator", lambda r: r.drain_rate
        )
        figures["before_c1", latency] = ratio(
            runs, "alligator", "alligator-1", lambda r: r.drain_rate
        )
        figures["old_cpu", latency] = _inverse_ratio(runs, "alligator-1", "raw")
        figures["base_c1", latency] = ratio(
            runs, "alligator", "alligator-base", lambda r: r.drain_rate
        )
        figures["base_cpu", latency] = _inverse_ratio(runs, "alligator", "alligator-base")
        _note_requests(figures, runs, latency, "c1")
    if not peers:
        _harness.say(
            table_out,
            "Celery and Dramatiq are not installed (`pip install --group bench`): "
            "the concurrency-1 goal has no sequential peer to compare with.\n",
        )


def _inverse_ratio(runs, mine, theirs):  # type: ignore[no-untyped-def]
    """CPU per task, mine / theirs (lower is better)."""
    return ratio(runs, mine, theirs, lambda r: r.cpu_ms_per_task()[0])


def _note_requests(figures, runs, latency, label):  # type: ignore[no-untyped-def]
    """Requests per task (medians): with a backlog (the steady window) for
    the goal, every alligator variant's, the worst; over the whole drain
    (start-up calls and the dry tail included) beside it, and alligator-1's
    next to alligator's."""
    medians = {
        name: _harness.median(r.drain_requests_per_task() for r in results if r.error is None)
        for name, results in runs.items()
    }
    steady = {
        name: _harness.median(r.steady_requests_per_task() for r in results if r.error is None)
        for name, results in runs.items()
    }
    for name, value in medians.items():
        if value is None:
            continue
        figures[f"requests:{name}:{label}", latency] = (value, None)
        if name.startswith("alligator") and name not in ("alligator-1", "alligator-base"):
            figures.setdefault(("requests_whole_all", latency), []).append(
                (value, f"{name} {label}")
            )
            if steady.get(name) is not None:
                figures.setdefault(("requests_trivial_all", latency), []).append(
                    (steady[name], f"{name} {label}")
                )
    mine, old = medians.get("alligator"), medians.get("alligator-1")
    if mine is not None and old is not None:
        figures.setdefault(("before_requests_all", latency), []).append((mine - old, label))


def spin_iterations(target_ms: float = 20.0) -> int:
    """``bench_tasks.spin`` iterations for ``target_ms`` of CPU here."""
    import statistics

    import bench_tasks

    trial = 200_000
    samples = []
    for _ in range(5):
        started = time.process_time()
        bench_tasks.spin(trial)
        samples.append(time.process_time() - started)
    return int(trial * target_ms / 1000 / statistics.median(samples))


def experiment_pools(endpoint, args, table_out, figures, found):  # type: ignore[no-untyped-def]
    iterations = spin_iterations()
    threads = Variant("threads", produce_alligator, alligator_launch("--pool", "threads"))
    processes = Variant("processes", produce_alligator, alligator_launch("--pool", "processes"))
    for latency in args.latency_ms:
        for kind, job, tasks in (
            ("CPU-bound", Job("spin", (iterations,)), args.tasks_cpu),
            ("trivial", Job(), args.tasks_trivial),
        ):
            runs = run_rounds(
                endpoint,
                args,
                f"pools-{kind}",
                [threads, processes],
                tasks=tasks,
                latency=latency,
                concurrency=2,
                job=job,
            )
            task = (
                f"`spin({iterations:,})`, about 20 ms of CPU each"
                if kind == "CPU-bound"
                else "`noop`"
            )
            title = f"#### {kind} tasks ({task}), concurrency 2, {latency:g} ms per request"
            _harness.say(table_out, drain_table(title, runs))
            key = "cpu_bound" if kind == "CPU-bound" else "trivial_c2"
            figures[key, latency] = ratio(runs, "processes", "threads", lambda r: r.steady_rate())
            bucket = "requests_cpu_bound_all" if kind == "CPU-bound" else "requests_trivial_all"
            for name, results in runs.items():
                ok = [r for r in results if r.error is None]
                value = _harness.median(r.steady_requests_per_task() for r in ok)
                if value is not None:
                    figures.setdefault((bucket, latency), []).append((value, f"{name} c2"))
                whole = _harness.median(r.drain_requests_per_task() for r in ok)
                if whole is not None:
                    figures.setdefault(("requests_whole_all", latency), []).append(
                        (whole, f"{name} c2 {kind}")
                    )


def experiment_startup(endpoint, args, table_out, figures, found):  # type: ignore[no-untyped-def]
    names = ["raw", "alligator", "alligator-1", "alligator-base"]
    chosen = [found[n] for n in names if n in found]
    stamps = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    rows = []
    try:
        for latency in args.latency_ms:
            results: dict[str, list[tuple[float | None, dict[str, int]]]] = {
                v.name: [] for v in chosen
            }
            for number, name in _harness.interleave([v.name for v in chosen], args.startup_rounds):
                variant = next(v for v in chosen if v.name == name)
                stamp = stamps / f"{name}-{latency:g}-{number}"
                run = _harness.measure_queues(
                    endpoint,
                    name,
                    queue_names=queue_names(variant),
                    produce=variant.produce(Job("stamp", (str(stamp),))),
                    launch=lambda ns, us, v=variant: v.launch(endpoint.url, ns, us, 1),
                    tasks=1,
                    latency_ms=latency,
                    enqueue_latency_ms=0.0,
                    cap_seconds=60,
                )
                seconds = None
                if run.error is None and stamp.exists() and run.spawned_at is not None:
                    seconds = float(stamp.read_text()) - run.spawned_at
                results[name].append((seconds, run.drain_counts))
                print(
                    f"startup {latency:g} ms round {number + 1} {name:12s} "
                    f"{_num(None if seconds is None else seconds * 1000)} ms",
                    file=sys.stderr,
                    flush=True,
                )
            for name, samples in results.items():
                counts = samples[0][1] if samples else {}
                calls = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()) if n)
                rows.append(
                    [
                        f"{latency:g} ms",
                        name,
                        _ms(_harness.median(s for s, _ in samples)),
                        calls or "n/a",
                    ]
                )
            pairs = zip(results["alligator"], results["raw"], strict=True)
            figures["startup", latency] = (
                _harness.median_ratio((a[0], r[0]) for a, r in pairs),
                "raw",
            )
            for name, key, other in (
                ("alligator-1", "old_startup", "raw"),
                ("alligator", "base_startup", "alligator-base"),
            ):
                if name in results and other in results:
                    pairs = zip(results[name], results[other], strict=True)
                    figures[key, latency] = (
                        _harness.median_ratio((a[0], r[0]) for a, r in pairs),
                        other,
                    )
    finally:
        shutil.rmtree(stamps, ignore_errors=True)
    headers = ["latency", "worker", "start to first task, s (median)", "requests until done"]
    title = (
        f"#### Start-up: process start to the first task's run ({args.startup_rounds} "
        "interleaved rounds, one task queued)"
    )
    _harness.say(table_out, f"{title}\n\n{_harness.table(headers, rows)}\n")


def experiment_lambda(endpoint, args, table_out, figures, found):  # type: ignore[no-untyped-def]
    """``_lambda.py`` in a process of its own; with ``--base``, also as of
    the base commit, the two taking turns ``--lambda-rounds`` times."""
    trees: dict[str, tuple[str, ...]] = {"": ()}
    base = found.get("alligator-base")
    if base is not None:
        base_dir = base.launch(endpoint.url, ["x"], ["x"], 1).cwd
        trees["base: "] = (str(base_dir),)
    rounds = args.lambda_rounds if base is not None else 1
    samples: dict[str, list[float]] = {}
    requests: dict[str, int] = {}
    report: dict[str, Any] = {}
    for _ in range(rounds):
        for prefix, path in trees.items():
            argv = [PYTHON, str(_harness.BENCH_DIR / "_lambda.py"), endpoint.url]
            argv += ["--invocations", str(args.lambda_invocations)]
            argv += ["--repeats", str(args.lambda_repeats)]
            env = _harness.environment()
            if path:
                env["PYTHONPATH"] = os.pathsep.join([*path, env["PYTHONPATH"]])
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                check=False,
                cwd=path[0] if path else None,
            )
            if result.returncode != 0:
                _harness.say(
                    table_out, f"Lambda benchmark failed:\n\n```\n{result.stderr[-2000:]}\n```\n"
                )
                return
            report = json.loads(result.stdout)
            for row in report["rows"]:
                if prefix and row["name"].startswith("bare"):
                    continue
                name = prefix + row["name"]
                samples.setdefault(name, []).append(row["us_per_record"])
                requests[name] = requests.get(name, 0) + row["sqs_requests"]
    medians = {name: _harness.median(values) for name, values in samples.items()}
    rows = [[name, f"{medians[name]:.1f}", requests[name]] for name in samples]
    headers = ["handler, one 10-record event", "CPU µs per record (median)", "SQS requests"]
    title = (
        f"#### Lambda handler, in-process ({report['invocations']} invocations of 10 "
        f"records, {report['repeats']} interleaved repeats"
        + (f", {rounds} processes each, taking turns" if rounds > 1 else "")
        + ")"
    )
    _harness.say(table_out, f"{title}\n\n{_harness.table(headers, rows)}\n")
    figures["lambda", None] = (medians.get("alligator, text line to a null stream"), None)
    figures["lambda_off", None] = (medians.get("alligator, logging off"), None)
    figures["lambda_bare", None] = (
        medians.get("bare handler (json.loads, call, one log line)"),
        None,
    )


# -- the verdicts ---------------------------------------------------------------------


def verdicts(figures: dict[Any, Any], latencies: Sequence[float]) -> str:
    """One line per goal: the figure at each latency, the goal, met or not."""

    def value(key: str, latency: float | None) -> float | None:
        got = figures.get((key, latency))
        return got[0] if got else None

    def shown(key: str, fmt: str = "{:.2f}x") -> str:
        return "; ".join(
            f"{lat:g} ms: {_f(value(key, lat), fmt)}" for lat in latencies if (key, lat) in figures
        )

    def judge(got: float | None, op: str, bound: float) -> str:
        if got is None:
            return "n/a"
        met = round(got, 2) >= bound if op == ">=" else round(got, 3) <= bound
        return "met" if met else "**not met**"

    def worst(values: Sequence[float | None], op: str) -> float | None:
        present = [v for v in values if v is not None]
        if not present:
            return None
        return min(present) if op == ">=" else max(present)

    def worst_of_list(key: str) -> tuple[str, float | None]:
        parts, values = [], []
        for lat in latencies:
            entries = figures.get((key, lat), [])
            if entries:
                got, name = max(entries)
                parts.append(f"{lat:g} ms: {got:.3f} ({name})")
                values.append(got)
        return "; ".join(parts) or "n/a", max(values, default=None)

    judged_at = [20.0] if 20.0 in latencies else list(latencies)
    rows = []
    for key, text, op, bound, how in GOALS:
        at = judged_at if how == "20" else list(latencies)
        goal = f"{op} {bound:g}" + (
            "" if key.startswith(("requests", "lambda", "before_r")) else "x"
        )
        if key == "lambda":
            got = value("lambda", None)
            off, bare = value("lambda_off", None), value("lambda_bare", None)
            figure = (
                f"{_f(got, '{:.1f}')} µs (logging off: {_f(off, '{:.1f}')} µs; a bare "
                f"handler, json.loads + call + one log line: {_f(bare, '{:.1f}')} µs)"
            )
            rows.append([text, goal, figure, judge(got, op, bound)])
            continue
        if key in ("requests_trivial", "requests_cpu_bound"):
            figure, got = worst_of_list(f"{key}_all")
            rows.append([text, goal, figure, judge(got, op, bound)])
            continue
        if key == "before_requests":
            parts, values = [], []
            for lat in latencies:
                for diff, label in figures.get(("before_requests_all", lat), []):
                    parts.append(f"{lat:g} ms {label}: {diff:+.3f}")
                    values.append(diff)
            got = max(values, default=None)
            rows.append([text, goal, "; ".join(parts) or "n/a", judge(got, op, bound)])
            continue
        if key == "trivial":
            figure = f"c2 {shown('trivial_c2')}; c8 {shown('trivial_c8')}"
            got = worst([value(k, lat) for k in ("trivial_c2", "trivial_c8") for lat in at], op)
        elif key == "before":
            figure = f"c1 {shown('before_c1')}; c8 {shown('before_c8')}"
            got = worst([value(k, lat) for k in ("before_c1", "before_c8") for lat in at], op)
        else:
            figure = shown(key)
            got = worst([value(key, lat) for lat in at], op)
        if key == "c1":
            best = figures.get(("c1", 20.0)) or figures.get(("c1", latencies[-1]))
            if best and best[1]:
                figure += f" (best peer: {best[1]})"
            if not figure:
                figure = "n/a: Celery and Dramatiq are not installed (pip install --group bench)"
        rows.append([text, goal, figure, judge(got, op, bound)])
    headers = ["figure", "goal", "measured (medians of per-round ratios)", "verdict"]
    lines = [_harness.table(headers, rows), "", "Two queues next to one (issue 14, no goal):", ""]
    for label in ("c1", "c8"):
        key = "two_queues" if label == "c8" else "two_queues_c1"
        one = [value(f"requests:alligator:{label}", lat) for lat in latencies]
        two = [value(f"requests:alligator-2q:{label}", lat) for lat in latencies]
        requests = "; ".join(
            f"{lat:g} ms: {_f(a, '{:.3f}')} vs {_f(b, '{:.3f}')}"
            for lat, a, b in zip(latencies, two, one, strict=True)
        )
        concurrency = label[1:]
        lines.append(
            f"- concurrency {concurrency}: drain rate, two queues / one: {shown(key)}; "
            f"requests per task, two queues vs one: {requests}"
        )
    lines += ["", "Context (no goal):", ""]
    context = [
        ("c8_whole", "concurrency 8, whole drain (ramp-up included): alligator / raw8"),
        ("c1_drain", "concurrency 1, drain window only: alligator / best sequential peer"),
        ("c1_raw", "concurrency 1, wall clock: alligator / the sequential raw loop"),
        ("old_startup", "start-up: alligator-1 / raw loop"),
        ("old_cpu", "worker CPU per task, concurrency 1: alligator-1 / raw loop"),
        ("base_c8", "concurrency 8, steady state: alligator / alligator-base"),
        ("base_c1", "concurrency 1, drain rate: alligator / alligator-base"),
        ("base_cpu", "worker CPU per task, concurrency 1: alligator / alligator-base"),
        ("base_startup", "start-up: alligator / alligator-base"),
    ]
    for key, text in context:
        if any(value(key, lat) is not None for lat in latencies):
            lines.append(f"- {text}: {shown(key)}")
    whole, _ = worst_of_list("requests_whole_all")
    if whole != "n/a":
        lines.append(
            "- SQS requests per task over whole drains (start-up calls and the receives "
            f"that come back short as the queue runs dry included), worst: {whole}"
        )
    return "\n".join(lines) + "\n"


def _f(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS))
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per cell")
    parser.add_argument("--startup-rounds", type=int, default=9)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--tasks-c8", type=int, default=2000, help="tasks per run at c8")
    parser.add_argument("--tasks-c1", type=int, default=500, help="tasks per run at c1")
    parser.add_argument("--tasks-cpu", type=int, default=200, help="CPU-bound tasks per run")
    parser.add_argument(
        "--tasks-trivial", type=int, default=1000, help="trivial tasks per run, pools"
    )
    parser.add_argument("--lambda-invocations", type=int, default=300)
    parser.add_argument("--lambda-repeats", type=int, default=7)
    parser.add_argument("--lambda-rounds", type=int, default=3, help="(with --base)")
    parser.add_argument(
        "--peers",
        nargs="*",
        default=["celery", "dramatiq"],
        choices=["celery", "celery-poll0", "dramatiq"],
        help="sequential peers at concurrency 1 (when installed)",
    )
    parser.add_argument("--old-ref", default=OLD_REF, help="the pre-redesign commit")
    parser.add_argument("--no-old", action="store_true", help="skip alligator-1")
    parser.add_argument(
        "--base",
        metavar="REF",
        help="also run alligator as of this commit (alligator-base), to measure a change",
    )
    parser.add_argument("--cap-seconds", type=float, default=60.0)
    parser.add_argument("--logs", type=Path, help="keep each worker's output in this directory")
    parser.add_argument("--update-readme", action="store_true", help="write bench/README.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    old = None if args.no_old else export_tree(args.old_ref)
    base = export_tree(args.base) if args.base else None
    found = variants(old, base)
    compile_trees(old, base)
    out: list[str] = []
    figures: dict[Any, Any] = {}
    started = time.monotonic()
    load = os.getloadavg()
    with _harness.Endpoint() as endpoint:
        _harness.say(
            out,
            f"{args.rounds} interleaved rounds per cell ({args.startup_rounds} for start-up), "
            f"medians; moto patched (bench/_moto.py, bench/_endpoint.py); "
            f"{_harness.machine_note()}; load average at the start "
            f"{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}\n",
        )
        steps = {
            "c8": experiment_c8,
            "c1": experiment_c1,
            "pools": experiment_pools,
            "startup": experiment_startup,
            "lambda": experiment_lambda,
        }
        tables: list[str] = []
        for name in EXPERIMENTS:
            if name in args.only:
                steps[name](endpoint, args, tables, figures, found)
    load = os.getloadavg()
    minutes = (time.monotonic() - started) / 60
    summary = (
        f"### The goals\n\n{verdicts(figures, args.latency_ms)}\n"
        f"The run took {minutes:.1f} minutes; load average at the end "
        f"{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}.\n"
    )
    _harness.say(out, summary)
    out += ["### The measurements", "", *tables]
    if args.update_readme:
        command = "python bench/goals.py " + " ".join(sys.argv[1:] if argv is None else argv)
        _harness.update_readme("goals", command.replace(" --update-readme", ""), "\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
