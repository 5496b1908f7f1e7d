"""What both benchmarks share: the endpoint process, fresh queues, worker
subprocesses, interleaved rounds, medians and tables.

Three processes take part in every run: the endpoint (moto behind the
meter, ``_endpoint.py``), this script (it creates queues, enqueues and
reads the meter), and one worker process, started fresh for each run and
killed once the meter says the target was deleted. Every consumer, the raw
boto3 loop included, runs the same way: a subprocess, timed by the meter
from its first ``ReceiveMessage`` to the delete that completes the drain, so
start-up and shutdown are outside the window for all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
REGION = "us-east-1"
#: moto accepts any credentials; set only where none are set.
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
#: Seconds a run may take before it is called stuck.
RUN_TIMEOUT_SECONDS = 600.0


def environment() -> dict[str, str]:
    """The environment for every process: dummy credentials, and ``bench/``
    on the path so workers import the benchmark's tasks."""
    env = dict(os.environ)
    for key, value in DUMMY_AWS.items():
        env.setdefault(key, value)
    paths = [str(BENCH_DIR), str(REPO_DIR), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


os.environ.update({k: v for k, v in DUMMY_AWS.items() if not os.environ.get(k)})


class Endpoint:
    """The endpoint process and its meter's control paths.

    Args:
        stock: serve moto unpatched (to measure what the patches buy).
    """

    def __init__(self, *, stock: bool = False) -> None:
        script = BENCH_DIR / "_endpoint.py"
        argv = [sys.executable, str(script)] + (["--stock"] if stock else [])
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment(),
            text=True,
        )
        self.patches: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("PATCH "):
                self.patches.append(line[6:].strip())
            elif line.startswith("READY "):
                self.url = line.split()[1]
                break
        else:
            raise RuntimeError("the endpoint process did not start")
        self.client = sqs_client(self.url)

    def control(self, command: str, **query: Any) -> Any:
        """Call ``/__bench/COMMAND`` and return its JSON."""
        suffix = "&".join(f"{key}={value}" for key, value in query.items())
        url = f"{self.url}/__bench/{command}?{suffix}"
        with urllib.request.urlopen(url, timeout=RUN_TIMEOUT_SECONDS + 30) as response:
            return json.loads(response.read())

    def reset(self, *, latency_ms: float = 0.0, target: int = 0) -> None:
        """Zero the counts; set the latency and the drain target."""
        self.control("reset", latency_ms=latency_ms, target=target)

    def wait(self, timeout: float = RUN_TIMEOUT_SECONDS) -> bool:
        """Block until the drain target is deleted; False on timeout."""
        return bool(self.control("wait", timeout=timeout)["done"])

    def stats(self, *, timeline: bool = False) -> dict[str, Any]:
        """The meter's counts and drain time (and every delete's time)."""
        return self.control("stats", timeline=int(timeline))

    def delete_queue(self, url: str) -> None:
        """Drop a queue after its run (moto keeps every queue in memory)."""
        self.client.delete_queue(QueueUrl=url)

    def close(self) -> None:
        """Stop the endpoint process."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def sqs_client(url: str) -> Any:
    """A boto3 SQS client on ``url`` (botocore's defaults otherwise)."""
    import boto3

    return boto3.session.Session().client("sqs", region_name=REGION, endpoint_url=url)


# -- one run ---------------------------------------------------------------


@dataclass
class Run:
    """What one run measured: enqueue ``tasks``, then drain them."""

    name: str
    tasks: int
    enqueue_seconds: float = 0.0
    drain_seconds: float | None = None
    drained: int = 0
    capped: bool = False
    enqueue_counts: dict[str, int] = field(default_factory=dict)
    drain_counts: dict[str, int] = field(default_factory=dict)
    worker_cpu: float = 0.0
    endpoint_cpu: float = 0.0
    error: str | None = None
    #: CLOCK_MONOTONIC (one clock for every process here): just before the
    #: worker was started, its first receive, the delete that ended the drain.
    spawned_at: float | None = None
    first_receive_at: float | None = None
    done_at: float | None = None
    #: ``(seconds since the first receive, deleted so far)`` at each delete.
    timeline: list[tuple[float, int]] = field(default_factory=list)
    #: ``(seconds since the first receive, action)`` of each request.
    requests: list[tuple[float, str]] = field(default_factory=list)

    @property
    def enqueue_rate(self) -> float | None:
        """Tasks enqueued per second (client side)."""
        return self.tasks / self.enqueue_seconds if self.enqueue_seconds else None

    @property
    def drain_rate(self) -> float | None:
        """Tasks drained per second (meter side): first receive to the
        delete that completed the drain (or to the cap)."""
        return self.drained / self.drain_seconds if self.drain_seconds else None

    @property
    def wall_rate(self) -> float | None:
        """Tasks per second of wall clock from the worker's start (before
        its imports) to the delete that completed the drain."""
        if self.capped or self.done_at is None or self.spawned_at is None:
            return None
        return self.drained / (self.done_at - self.spawned_at)

    def steady_rate(self, low: float = 0.2, high: float = 0.9) -> float | None:
        """Tasks per second between the deletes that passed ``low`` and
        ``high`` of the run's tasks: the steady state, without the ramp-up
        (the first receives, a pool's children starting) or the tail."""
        window = self._steady_window(low, high)
        if window is None or window[1][0] <= window[0][0]:
            return None
        first, last = window
        return (last[1] - first[1]) / (last[0] - first[0])

    def steady_requests_per_task(self, low: float = 0.2, high: float = 0.9) -> float | None:
        """SQS requests per task between the deletes that passed ``low`` and
        ``high`` of the run's tasks: with a backlog, without the start-up
        calls or the receives that come back short as the queue runs dry."""
        window = self._steady_window(low, high)
        if window is None or window[1][1] <= window[0][1]:
            return None
        first, last = window
        sent = sum(1 for t, _ in self.requests if first[0] < t <= last[0])
        return sent / (last[1] - first[1])

    def _steady_window(
        self, low: float, high: float
    ) -> tuple[tuple[float, int], tuple[float, int]] | None:
        """The deletes that passed ``low`` and ``high`` of the run's tasks
        (``(seconds since the first receive, deleted so far)`` each)."""
        if self.capped:
            return None
        first = next(((t, n) for t, n in self.timeline if n >= low * self.tasks), None)
        last = next(((t, n) for t, n in self.timeline if n >= high * self.tasks), None)
        if first is None or last is None:
            return None
        return first, last

    def drain_requests_per_task(self) -> float | None:
        """SQS requests the worker made per task it drained (start-up calls
        included, enqueueing not)."""
        if not self.drained:
            return None
        return sum(self.drain_counts.values()) / self.drained

    def per_task(self) -> dict[str, float]:
        """SQS requests per task by action: enqueue requests per task
        enqueued plus drain requests per task drained."""
        total: dict[str, float] = {a: n / self.tasks for a, n in self.enqueue_counts.items()}
        for action, count in self.drain_counts.items():
            total[action] = total.get(action, 0.0) + count / max(self.drained, 1)
        return dict(sorted(total.items()))

    def cpu_ms_per_task(self) -> tuple[float | None, float | None]:
        """Worker and endpoint CPU milliseconds per task drained."""
        if not self.drained:
            return None, None
        return 1000 * self.worker_cpu / self.drained, 1000 * self.endpoint_cpu / self.drained


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, all threads (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time so far of a process and every live descendant (a process
    pool's fork server and children), all threads."""
    total, seen, todo = 0.0, set(), [pid]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        total += cpu_seconds(current)
        todo += children_of(current)
    return total


def worker_cpu_seconds(process: subprocess.Popen[bytes], rusage_path: Path | None) -> float:
    """A worker's CPU time so far: exact from ``_rusage.py`` when it runs
    under it, else from ``/proc`` (with its children, in ticks)."""
    if rusage_path is None:
        return tree_cpu_seconds(process.pid)
    seen = len(rusage_path.read_text().splitlines()) if rusage_path.exists() else 0
    process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        lines = rusage_path.read_text().splitlines() if rusage_path.exists() else []
        if len(lines) > seen:
            return float(lines[seen])
        time.sleep(0.002)
    raise RuntimeError("the worker did not report its CPU time (SIGUSR1)")


def children_of(pid: int) -> list[int]:
    """The live children of a process (Linux ``/proc``; none elsewhere)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


@dataclass(frozen=True)
class Launch:
    """How a worker process is started: its argv, and where it runs (the
    pre-redesign worker runs from an old tree: its own working directory
    and ``sys.path``)."""

    argv: list[str]
    cwd: Path = REPO_DIR
    python_path: tuple[str, ...] = ()
    #: Run it under ``_rusage.py``, which reports the process's exact CPU
    #: time on SIGUSR1 (else CPU comes from ``/proc``, its children included,
    #: in 10 ms ticks). ``argv[0]`` must be the Python executable.
    rusage: bool = False


def spawn(
    argv: Sequence[str] | Launch,
    *,
    log_path: Path | None = None,
    rusage_path: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a worker process in a session of its own (so it and its
    children can be killed together); its output goes to ``log_path`` (or
    nowhere)."""
    launch = argv if isinstance(argv, Launch) else Launch(list(argv))
    command = list(launch.argv)
    if launch.rusage and rusage_path is not None:
        command = [command[0], str(BENCH_DIR / "_rusage.py"), str(rusage_path), *command[1:]]
    env = environment()
    if launch.python_path:
        env["PYTHONPATH"] = os.pathsep.join([*launch.python_path, env["PYTHONPATH"]])
    output = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        command,
        cwd=str(launch.cwd),
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill(process: subprocess.Popen[bytes]) -> None:
    """Stop a worker and its children at once: its queue is drained,
    nothing is lost, and a graceful stop would wait for its long poll (up
    to 20 s) to return."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def enqueue(endpoint: Endpoint, run: Run, produce: Callable[[], Any], *, latency_ms: float) -> None:
    """Time ``produce()`` (it enqueues ``run.tasks`` tasks) and count its
    requests."""
    endpoint.reset(latency_ms=latency_ms)
    started = time.perf_counter()
    produce()
    run.enqueue_seconds = time.perf_counter() - started
    run.enqueue_counts = endpoint.stats()["counts"]


def drain(
    endpoint: Endpoint,
    run: Run,
    worker_argv: Sequence[str] | Launch,
    *,
    latency_ms: float,
    cap_seconds: float = RUN_TIMEOUT_SECONDS,
    log_path: Path | None = None,
) -> None:
    """Start a worker on the filled queue; time it until all is deleted.

    A worker still draining ``cap_seconds`` after its first receive is
    measured over those seconds instead (``run.capped``). Both processes'
    CPU time is read over the drain (the worker's from its first receive
    on, so its imports are left out).
    """
    endpoint.reset(latency_ms=latency_ms, target=run.tasks)
    rusage = isinstance(worker_argv, Launch) and worker_argv.rusage
    rusage_path = Path(tempfile.mkdtemp(prefix="bench-cpu-")) / "cpu" if rusage else None
    run.spawned_at = time.monotonic()
    process = spawn(worker_argv, log_path=log_path, rusage_path=rusage_path)
    try:
        stats = endpoint.stats()
        while stats["since_first_receive"] is None:
            if process.poll() is not None:
                run.error = f"worker exited with {process.returncode}"
                return
            time.sleep(0.01)
            stats = endpoint.stats()
        worker_cpu = worker_cpu_seconds(process, rusage_path)
        endpoint_cpu = cpu_seconds(endpoint.process.pid)
        while not endpoint.wait(
            timeout=max(0.0, min(1.0, cap_seconds - stats["since_first_receive"]))
        ):
            stats = endpoint.stats()
            if process.poll() is not None:
                run.error = f"worker exited with {process.returncode}"
                return
            if stats["since_first_receive"] >= cap_seconds:
                run.capped = True
                break
        run.worker_cpu = worker_cpu_seconds(process, rusage_path) - worker_cpu
        run.endpoint_cpu = cpu_seconds(endpoint.process.pid) - endpoint_cpu
    finally:
        kill(process)
        if rusage_path is not None:
            shutil.rmtree(rusage_path.parent, ignore_errors=True)
    if run.capped:
        run.drain_seconds = stats["since_first_receive"]
        run.drained = stats["deleted"]
        run.drain_counts = stats["counts"]
    else:
        stats = endpoint.stats(timeline=True)
        run.drain_seconds = stats["drain_seconds"]
        run.drained = run.tasks
        run.drain_counts = stats["counts_at_done"]
        run.first_receive_at = stats["first_receive_at"]
        run.done_at = stats["done_at"]
        run.timeline = [(t, n) for t, n in stats["timeline"]]
        run.requests = [(t, action) for t, action in stats["requests"] or []]


def measure(
    endpoint: Endpoint,
    peer: Any,
    *,
    tasks: int,
    latency_ms: float,
    concurrency: int,
    cap_seconds: float = RUN_TIMEOUT_SECONDS,
    log_dir: Path | None = None,
) -> Run:
    """One run of one peer: a fresh queue, ``tasks`` enqueued by the peer's
    own producer, then drained by a fresh worker process of the peer.

    A fresh queue per run keeps runs independent: nothing left over from a
    previous run changes the depth moto holds.
    """
    log_path = log_dir / f"{peer.name}-c{concurrency}-{latency_ms:g}ms.log" if log_dir else None
    return measure_queues(
        endpoint,
        peer.name,
        queue_names=[peer.queue_name(uuid.uuid4().hex[:10])],
        produce=peer.produce,
        launch=lambda names, urls: peer.worker(endpoint.url, names[0], urls[0], concurrency),
        tasks=tasks,
        latency_ms=latency_ms,
        cap_seconds=cap_seconds,
        log_path=log_path,
    )


def measure_queues(
    endpoint: Endpoint,
    label: str,
    *,
    queue_names: Sequence[str],
    produce: Callable[[Any, str, str, int], None],
    launch: Callable[[list[str], list[str]], Sequence[str] | Launch],
    tasks: int,
    latency_ms: float,
    enqueue_latency_ms: float | None = None,
    cap_seconds: float = RUN_TIMEOUT_SECONDS,
    log_path: Path | None = None,
) -> Run:
    """One run over one or more fresh queues: ``tasks`` shared out among
    them (the first takes the remainder) and enqueued by ``produce(endpoint,
    name, url, count)``, then one worker process, ``launch(names, urls)``,
    drains them all.

    Args:
        enqueue_latency_ms: the latency while enqueueing (default: the
            drain's); 0 saves time where the enqueue rate is not reported.
    """
    names = list(queue_names)
    urls = [endpoint.client.create_queue(QueueName=name)["QueueUrl"] for name in names]
    shares = [tasks // len(names)] * len(names)
    shares[0] += tasks - sum(shares)
    run = Run(label, tasks)
    try:

        def fill() -> None:
            for name, url, count in zip(names, urls, shares, strict=True):
                produce(endpoint, name, url, count)

        enqueue(
            endpoint,
            run,
            fill,
            latency_ms=latency_ms if enqueue_latency_ms is None else enqueue_latency_ms,
        )
        drain(
            endpoint,
            run,
            launch(names, urls),
            latency_ms=latency_ms,
            cap_seconds=cap_seconds,
            log_path=log_path,
        )
    except Exception as exc:  # a peer that cannot run is reported, not fatal
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        endpoint.reset()
        for url in urls:
            endpoint.delete_queue(url)
    return run


# -- rounds, medians, tables -----------------------------------------------


def interleave(names: Sequence[str], rounds: int) -> list[tuple[int, str]]:
    """``(round, name)`` in the order A, B, C, A, B, C...: each round runs
    every variant once, so drift on a shared machine hits all alike."""
    return [(number, name) for number in range(rounds) for name in names]


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not None (None if there are none)."""
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def median_per_task(runs: Iterable[Run]) -> dict[str, float]:
    """Requests per task by action, the median over runs that finished."""
    finished = [run.per_task() for run in runs if run.error is None]
    actions = sorted({action for per_task in finished for action in per_task})
    return {
        action: statistics.median(per_task.get(action, 0.0) for per_task in finished)
        for action in actions
    }


def median_ratio(pairs: Iterable[tuple[float | None, float | None]]) -> float | None:
    """The median of per-round ratios a/b: each round compares runs made
    side by side, which cancels most of a noisy machine's drift."""
    return median(a / b for a, b in pairs if a is not None and b)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (also readable in a terminal)."""
    cells = [[cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "| " + " | ".join("-" * w for w in widths) + " |",
    ]
    for row in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def cell(value: Any) -> str:
    """A table cell: rates without decimals, ratios with two."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def per_task_text(per_task: dict[str, float]) -> str:
    """``0.100 SendMessageBatch + 0.100 ReceiveMessage ...`` (start-up calls
    such as ``GetQueueUrl`` included, as they were made)."""
    parts = [f"{count:.3f} {action}" for action, count in per_task.items() if count >= 0.0005]
    return " + ".join(parts) if parts else "0"


def machine_note() -> str:
    """One line about where this ran."""
    import platform

    return (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def say(out: list[str], text: str) -> None:
    """Print now (a long run shows progress) and keep it for the README."""
    print(text, flush=True)
    out.append(text)


def update_readme(section: str, command: str, text: str) -> None:
    """Replace the ``<!-- SECTION:begin -->`` ... ``end`` block of
    ``bench/README.md`` with the latest results and the command."""
    path = BENCH_DIR / "README.md"
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    readme = path.read_text()
    if begin not in readme or end not in readme:
        print(f"bench/README.md has no {begin} block; not updated", file=sys.stderr)
        return
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    stamp = time.strftime("%Y-%m-%d")
    body = f"{begin}\nLatest run ({stamp}): `{command.strip()}`\n\n{text.strip()}\n{end}"
    path.write_text(head + body + tail)
