"""Fixtures for the integration tests: real worker subprocesses on moto's
SQS server over HTTP, with a counting (and optionally faulty) proxy between.

moto runs in the pytest process (``sqs_endpoint``, from the plugin); each
worker is ``python -m alligator worker DSN`` in its own process, so a
SIGKILL, a SIGTERM or a crash happens the way it does on ECS.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from alligator.sqs import _batches
from alligator.testing import make_queue
from tests.processes import start_worker
from tests.sqs_proxy import SQSProxy, _Handler, with_endpoint

#: Queue attribute names for the three counts a test looks at.
COUNT_NAMES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@pytest.fixture(autouse=True)
def _entry_retries_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process backends re-send failed batch entries without sleeping.
    monkeypatch.setattr(_batches, "ENTRY_RETRY_SECONDS", 0)


# -- queues ------------------------------------------------------------------


@dataclass
class Queue:
    """A fresh queue with its DLQ (``make_queue``), and ways to inspect both."""

    dsn: str
    url: str
    dlq_url: str
    client: Any

    def counts(self) -> dict[str, int]:
        """``visible``, ``in_flight`` and ``delayed`` messages, from SQS."""
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=list(COUNT_NAMES)
        )["Attributes"]
        values = [int(attributes.get(name, 0)) for name in COUNT_NAMES]
        return dict(zip(("visible", "in_flight", "delayed"), values, strict=True))

    def empty(self) -> bool:
        """Nothing visible, in flight or delayed."""
        return not any(self.counts().values())

    def dlq_depth(self) -> int:
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.dlq_url, AttributeNames=list(COUNT_NAMES)
        )["Attributes"]
        return sum(int(attributes.get(name, 0)) for name in COUNT_NAMES)

    def dlq_messages(self) -> list[dict[str, Any]]:
        """Every message in the DLQ, each as ``{"body": ..., "attributes":
        {name: string}}``. Reading hides them for a minute: call it once."""
        found: list[dict[str, Any]] = []
        while True:
            batch = self.client.receive_message(
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=60,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                attributes = _batches.decode_attributes(message.get("MessageAttributes", {}))
                found.append({"body": message["Body"], "attributes": attributes})

    def send_raw(self, body: str, **params: Any) -> str:
        """Put a body on the queue as some other producer would."""
        return self.client.send_message(QueueUrl=self.url, MessageBody=body, **params)["MessageId"]


@pytest.fixture
def new_queue(sqs_endpoint: str, aws: Any) -> Callable[..., Queue]:
    """Make a fresh queue: ``new_queue(fifo=False, visibility_timeout=2, ...)``;
    keyword options are appended to its DSN."""

    def make(*, fifo: bool = False, **options: Any) -> Queue:
        dsn = make_queue(sqs_endpoint, fifo=fifo)
        for key, value in options.items():
            dsn += f"&{key}={value}"
        name = dsn.split("?", 1)[0].rsplit("/", 1)[-1]
        dlq_name = name.removesuffix(".fifo") + "-dlq" + (".fifo" if fifo else "")
        url = aws.get_queue_url(QueueName=name)["QueueUrl"]
        dlq_url = aws.get_queue_url(QueueName=dlq_name)["QueueUrl"]
        return Queue(dsn=dsn, url=url, dlq_url=dlq_url, client=aws)

    return make


@pytest.fixture
def queue(new_queue: Callable[..., Queue]) -> Queue:
    """A fresh standard queue with its DLQ; ``wait_time=1``."""
    return new_queue()


# -- worker processes ----------------------------------------------------------


class WorkerProcess:
    """``alligator worker`` in a subprocess, logging JSON lines.

    Its output is read by threads as it comes: a worker logs a line per
    task, and a full pipe would block it mid-test.
    """

    def __init__(self, dsn: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.process: subprocess.Popen = start_worker(dsn, "--log-format", "json", *args, env=env)
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._lock:
                self._lines.append(line.rstrip("\n"))

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def records(self) -> list[dict[str, Any]]:
        """The JSON log records (other lines are skipped)."""
        found = []
        for line in self.lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                found.append(record)
        return found

    def outcomes(self, label: str | None = None) -> list[dict[str, Any]]:
        """The per-task outcome records, optionally only one ``outcome``."""
        found = [record for record in self.records() if "outcome" in record]
        return [r for r in found if label is None or r["outcome"] == label]

    def consuming(self) -> bool:
        """It started its threads (it logged "consuming")."""
        return any("consuming" in record.get("message", "") for record in self.records())

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 40.0) -> int:
        """Its exit code; killed (and the test failed) after ``timeout``."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"worker did not exit within {timeout} s:\n{self.log}") from None
        for reader in self._readers:
            reader.join(5)
        return code

    def stop(self) -> int:
        """SIGTERM, then its exit code."""
        if self.process.poll() is None:
            self.send_signal(signal.SIGTERM)
        return self.wait()


@pytest.fixture
def workers() -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers: ``workers(dsn, "--concurrency", "4")``. Any still
    running when the test ends is killed, so a failing test leaks none."""
    started: list[WorkerProcess] = []

    def start(dsn: str, *args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        worker = WorkerProcess(dsn, *args, env=env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


@pytest.fixture
def in_thread() -> Iterator[Callable[[Any], threading.Thread]]:
    """Run an in-process ``Worker.run_forever()`` in a thread (so it installs
    no signal handlers in pytest): ``thread = in_thread(worker)``. Every
    worker still running at the end is stopped and joined."""
    started: list[tuple[Any, threading.Thread]] = []

    def start(worker: Any) -> threading.Thread:
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        started.append((worker, thread))
        return thread

    yield start
    for worker, thread in started:
        worker.stop()
        thread.join(30)


# -- the proxy -----------------------------------------------------------------


class _RecordingHandler(_Handler):
    """Also remembers its connection and whether a request is in flight on
    it (so the proxy can cut it), and the parameters of every
    ReceiveMessage it forwards."""

    def setup(self) -> None:
        super().setup()
        self.proxy._connections[self.connection] = None

    def finish(self) -> None:
        self.proxy._connections.pop(self.connection, None)
        super().finish()

    def _forward(self, body: bytes) -> None:
        action = str(self.headers.get("X-Amz-Target", "")).rsplit(".", 1)[-1]
        if action == "ReceiveMessage":
            self.proxy._record_receive(body)
        self.proxy._connections[self.connection] = action
        try:
            super()._forward(body)
        finally:
            self.proxy._connections[self.connection] = None


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A connection cut by ``Proxy.stop`` breaks its handler's pipe: that
        # is the point, not news.
        return None


class Proxy(SQSProxy):
    """``SQSProxy`` that can go down and come back on the same port: a stop
    cuts every open connection (``cut`` counts those with a request in
    flight) and, while down, the port refuses connections (counted in
    ``refused``). It also records each forwarded ReceiveMessage's
    parameters and time.
    """

    def __init__(self, upstream: str, **options: Any) -> None:
        super().__init__(upstream, **options)
        self.port = 0
        self.receives: list[tuple[float, dict[str, Any]]] = []
        self.cut = 0
        self.refused = 0
        self._connections: dict[socket.socket, str | None] = {}  # -> action in flight
        self._refuser: threading.Thread | None = None
        self._down = threading.Event()

    @property
    def in_flight(self) -> list[str]:
        """The actions of the requests being forwarded right now."""
        return [action for action in self._connections.copy().values() if action]

    def start(self) -> Proxy:
        """Listen (again) on the port chosen the first time."""
        self._stop_refusing()
        handler = type("Handler", (_RecordingHandler,), {"proxy": self})
        self._server = _QuietServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go down: stop listening, cut every open connection, and refuse
        (with a reset) whatever connects until ``start``."""
        if self._server is None:
            return
        super().stop()
        open_now = self._connections.copy()
        self.cut += sum(1 for action in open_now.values() if action)
        for connection in open_now:
            with contextlib.suppress(OSError):  # already closed
                connection.shutdown(socket.SHUT_RDWR)
        self._start_refusing()

    def _start_refusing(self) -> None:
        # A closed port refuses connections by itself, but then nothing
        # counts the attempts: this listener resets each one and counts it.
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.05)
        self._down.set()

        def refuse() -> None:
            with listener:
                while self._down.is_set():
                    try:
                        connection, _ = listener.accept()
                    except TimeoutError:
                        continue
                    connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    connection.close()
                    self.refused += 1

        self._refuser = threading.Thread(target=refuse, daemon=True)
        self._refuser.start()

    def _stop_refusing(self) -> None:
        self._down.clear()
        if self._refuser is not None:
            self._refuser.join(5)
            self._refuser = None

    def dsn(self, dsn: str) -> str:
        """``dsn`` pointed at this proxy."""
        return with_endpoint(dsn, self.url)

    def _record_receive(self, body: bytes) -> None:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        with self._lock:
            self.receives.append((time.monotonic(), params))

    @property
    def requests(self) -> int:
        """All requests seen, faulted ones included."""
        with self._lock:
            return sum(self.counts.values())


@pytest.fixture
def proxy(sqs_endpoint: str) -> Iterator[Proxy]:
    """A fault-free proxy in front of moto, counting requests by action."""
    proxy = Proxy(sqs_endpoint).start()
    yield proxy
    proxy.stop()
