"""Where a goal's time goes: profiles behind bench/README.md's explanations.

    python bench/profiles.py worker [--concurrency 8] [--latency-ms 20] [--tasks 5000]
                                   [--pool threads|processes] [--job noop|spin] [--gil]
    python bench/profiles.py startup [--latency-ms 20]
    python bench/profiles.py lambda

``worker``: one alligator worker drains a backlog on the benchmarks'
endpoint while py-spy (``pip install --group bench``) samples it, attached
from its first receive to its last delete (``--subprocesses`` for a
process pool). Prints the top entries by own time and by inclusive time
(each function counted once per sample), over the samples of every
thread or, with ``--gil``, only those holding the GIL (the CPU the
process spends). ``--idle`` keeps samples of waiting threads too (where
threads wait).

``startup``: cProfile of ``python -m alligator worker`` from its first
line to its exit after one task (``--max-tasks 1``, one task queued), by
cumulative time, and ``python -X importtime``'s slowest imports.

``lambda``: cProfile of ``handle`` on the 10-record event (``_lambda.py``).
"""

from __future__ import annotations

import argparse
import collections
import io
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import _harness
import _peers
import goals

PYTHON = sys.executable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("worker", "startup", "lambda"))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--pool", choices=("threads", "processes"), default="threads")
    parser.add_argument("--job", choices=("noop", "spin"), default="noop")
    parser.add_argument("--queues", type=int, default=1)
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    parser.add_argument("--idle", action="store_true", help="keep idle threads' samples")
    parser.add_argument("--blocking", action="store_true", help="pause the worker per sample")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--output", type=Path, help="keep the raw profile here")
    parser.add_argument(
        "--ref", help="profile the worker as of this commit (goals.export_tree), e.g. d8fb6e9"
    )
    parser.add_argument(
        "--variant", choices=("text", "json", "off"), default="text", help="lambda: logging"
    )
    args = parser.parse_args(argv)
    with _harness.Endpoint() as endpoint:
        if args.what == "worker":
            return profile_worker(endpoint, args)
        if args.what == "startup":
            return profile_startup(endpoint, args)
        return profile_lambda(endpoint, args)


# -- a draining worker under py-spy --------------------------------------------------


def profile_worker(endpoint: _harness.Endpoint, args: argparse.Namespace) -> int:
    py_spy = shutil.which("py-spy") or str(Path(PYTHON).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy is not installed: pip install --group bench", file=sys.stderr)
        return 2
    job = goals.Job("spin", (goals.spin_iterations(),)) if args.job == "spin" else goals.Job()
    names = [f"bench-{uuid.uuid4().hex[:10]}-{n}" for n in range(args.queues)]
    urls = [endpoint.client.create_queue(QueueName=name)["QueueUrl"] for name in names]
    produce = goals.produce_alligator(job)
    for name, url in zip(names, urls, strict=True):
        produce(endpoint, name, url, args.tasks // len(names))
    dsns = [_peers.alligator_dsn(endpoint.url, name) for name in names]
    argv = [PYTHON, "-m", "alligator", "worker", *dsns, "--concurrency", str(args.concurrency)]
    argv += ["--pool", args.pool, "--import-allow", "bench_tasks"]  # (last: 1.0 takes several)
    if args.pool == "threads":
        argv.remove("--pool")  # (the pre-redesign CLI has no --pool)
        argv.remove("threads")
    launch = _harness.Launch(argv)
    if args.ref:
        tree = goals.export_tree(args.ref)
        assert tree is not None, f"cannot export {args.ref}"
        goals.compile_trees(tree)
        launch = _harness.Launch(argv, cwd=tree, python_path=(str(tree),))
    endpoint.reset(latency_ms=args.latency_ms, target=args.tasks // len(names) * len(names))
    worker = _harness.spawn(launch)
    output = args.output or Path(tempfile.mkdtemp(prefix="bench-profile-")) / "profile.txt"
    spy = None
    try:
        while endpoint.stats()["since_first_receive"] is None:
            time.sleep(0.005)
        command = [py_spy, "record", "--pid", str(worker.pid), "--format", "raw"]
        command += ["--rate", str(args.rate), "--output", str(output), "--threads"]
        # Non-blocking sampling does not slow the worker down, but misses
        # samples; --blocking pauses it for each sample (exact shares).
        command += [] if args.blocking else ["--nonblocking"]
        command += ["--gil"] if args.gil else []
        command += ["--idle"] if args.idle else []
        command += ["--subprocesses"] if args.pool == "processes" else []
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        endpoint.wait()
        stats = endpoint.stats()
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        _harness.kill(worker)
        for url in urls:
            endpoint.delete_queue(url)
    print(
        f"alligator{'@' + args.ref if args.ref else ''} worker --pool {args.pool} "
        f"--concurrency {args.concurrency}, "
        f"{args.queues} queue(s), {args.tasks} {args.job} tasks at {args.latency_ms:g} ms: "
        f"drained in {stats['drain_seconds']:.2f} s; samples "
        f"{'holding the GIL' if args.gil else 'of every thread'}"
        f"{', idle included' if args.idle else ''} ({output})\n"
    )
    raw = output.read_text() if output.exists() else ""
    print(summarize(raw, args.top) if raw else "no samples: the drain ended before py-spy attached")
    return 0


_FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def summarize(raw: str, top: int) -> str:
    """py-spy's collapsed stacks as two tables: own time, inclusive time."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    states: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        where = ""
        while frames and frames[0].startswith(("process ", "thread (")):
            if frames[0].startswith("process ") and "multiprocessing" in frames[0]:
                where = "child: "  # a process pool's child (or its fork server)
            frames = frames[1:]
        frames = [_frame(f) for f in frames]
        if not frames:
            continue
        total += count
        ours = [f for f in frames if _is_ours(f)]
        role = where + (ours[0] if ours else frames[0])
        threads[role] += count
        states[f"{role} > {ours[-1]}" if len(ours) > 1 else role] += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"
    out = []
    for title, counter in (
        ("Threads, by role (the outermost alligator function)", threads),
        ("Threads, by role > the innermost alligator function (what it is doing)", states),
        ("Own time (the function on top of the stack)", own),
        ("Inclusive time (the function anywhere on the stack)", inclusive),
    ):
        rows = [
            [_clip(name), count, f"{100 * count / total:.1f}%"]
            for name, count in counter.most_common(top)
        ]
        body = _harness.table(["function", "samples", "share"], rows)
        out.append(f"{title}, {total} samples\n\n{body}\n")
    return "\n".join(out)


def _clip(name: str, width: int = 110) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _frame(text: str) -> str:
    """``function (path/file.py:12)`` -> ``function (file.py)``."""
    match = _FRAME.match(text.strip())
    if match is None:
        return text.strip()
    path = match["file"]
    short = "/".join(path.split("/")[-2:]) if "alligator" in path else path.rsplit("/", 1)[-1]
    return f"{match['function']} ({short})"


def _is_ours(frame: str) -> bool:
    """A frame in alligator's own code (``_frame`` keeps its package)."""
    return any(f"({package}/" in frame for package in _PACKAGES)


_PACKAGES = ("alligator", "worker", "consume", "sqs", "backends", "cli", "status")


# -- start-up under cProfile ------------------------------------------------------------


def profile_startup(endpoint: _harness.Endpoint, args: argparse.Namespace) -> int:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    url = endpoint.client.create_queue(QueueName=name)["QueueUrl"]
    stamps = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    goals.produce_alligator(goals.Job("stamp", (str(stamps / "stamp"),)))(endpoint, name, url, 1)
    dsn = _peers.alligator_dsn(endpoint.url, name)
    out = args.output or stamps / "startup.prof"
    worker = ["-m", "alligator", "worker", dsn, "--max-tasks", "1", "--wait-time", "1"]
    worker += ["--import-allow", "bench_tasks"]
    endpoint.reset(latency_ms=args.latency_ms)
    started = time.monotonic()
    subprocess.run(
        [PYTHON, "-m", "cProfile", "-o", str(out), *worker],
        env=_harness.environment(),
        cwd=_harness.REPO_DIR,
        check=True,
        stderr=subprocess.DEVNULL,
    )
    first = float((stamps / "stamp").read_text()) - started
    counts = endpoint.stats()["counts"]
    text = io.StringIO()
    pstats.Stats(str(out), stream=text).sort_stats("cumulative").print_stats(args.top)
    print(
        f"python -m alligator worker, one task queued, {args.latency_ms:g} ms per request: "
        f"first task {first:.3f} s after start under cProfile; requests {counts}\n"
    )
    print(text.getvalue().split("\n\n", 1)[-1].strip())
    # The same start, without the profiler, for its imports alone.
    endpoint.delete_queue(url)
    imports = subprocess.run(
        [
            PYTHON,
            "-X",
            "importtime",
            "-c",
            "import alligator.cli, alligator.worker, alligator.sqs.backend",
        ],
        env=_harness.environment(),
        cwd=_harness.REPO_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    print("\nSlowest imports (python -X importtime; cumulative µs, top-level packages)\n")
    print(top_imports(imports, args.top))
    shutil.rmtree(stamps, ignore_errors=True)
    return 0


def top_imports(text: str, top: int) -> str:
    rows = []
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        if depth <= 1:
            rows.append([name.strip(), int(parts[1])])
    rows.sort(key=lambda row: -row[1])
    return _harness.table(["module", "cumulative µs"], rows[:top])


# -- the Lambda handler under cProfile -----------------------------------------------------


def profile_lambda(endpoint: _harness.Endpoint, args: argparse.Namespace) -> int:
    script = _harness.BENCH_DIR / "_lambda.py"
    command = [PYTHON, str(script), endpoint.url, "--profile", str(args.top)]
    command += ["--profile-variant", args.variant]
    return subprocess.run(command, env=_harness.environment(), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
