"""The benchmarks' SQS endpoint: moto's server behind a counting meter.

Run as its own process (``python bench/_endpoint.py``), so the emulator has
a core and a GIL of its own and never competes with the worker it serves.
It prints ``READY URL`` and serves until its stdin closes (the parent died
or is done).

The meter is a WSGI layer in front of moto's app, not a second HTTP hop: it
counts every request by SQS action (and queue), sleeps ``latency_ms`` before
each one (a round trip to real SQS), and counts deleted messages so it can
say when a drain is over: the drain time is measured here, from the first
``ReceiveMessage`` to the delete that completes the target, the same way for
every peer. Its control paths (``/__bench/...``) are neither counted nor
delayed.

``--stock`` serves moto as ``ThreadedMotoServer`` does; the default patches
moto first (``_moto.speed_up_moto``) and serves it with keep-alive.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

CONTROL_PREFIX = "/__bench/"
#: The endpoint's GIL switch interval (Python's default is 5 ms); see ``serve``.
SWITCH_INTERVAL_SECONDS = 0.0005
DELETE_ACTIONS = ("DeleteMessage", "DeleteMessageBatch")


# -- the meter -------------------------------------------------------------


class Meter:
    """Counts requests by action, injects latency, times drains (WSGI).

    Args:
        app: moto's WSGI application.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.reset(latency_ms=0.0, target=0)

    def reset(self, *, latency_ms: float, target: int) -> None:
        """Forget the counts; delay each request ``latency_ms`` from now on;
        the drain is over once ``target`` messages were deleted."""
        with self.lock:
            self.latency_seconds = latency_ms / 1000
            self.target = target
            self.counts: Counter[str] = Counter()
            self.by_queue: Counter[str] = Counter()
            self.deleted = 0
            self.first_receive: float | None = None
            self.done_at: float | None = None
            self.counts_at_done: dict[str, int] = {}
            #: ``(seconds since the first receive, deleted so far)`` at every
            #: delete: the steady-state rate is read from its middle.
            self.timeline: list[tuple[float, int]] = []
            #: ``(seconds since the first receive, action)`` of every request
            #: from then on: requests per task with a backlog are counted
            #: over the same middle of the drain.
            self.requests: list[tuple[float, str]] = []
            self.done.clear()

    def stats(self, *, timeline: bool = False) -> dict[str, Any]:
        """The counts so far, and the drain time if it is over (with
        ``timeline``, every delete's time and running count too)."""
        with self.lock:
            drain = running = None
            if self.first_receive is not None:
                running = time.monotonic() - self.first_receive
                if self.done_at is not None:
                    drain = self.done_at - self.first_receive
            return {
                "counts": dict(self.counts),
                "by_queue": dict(self.by_queue),
                "deleted": self.deleted,
                "drain_seconds": drain,
                "since_first_receive": running,
                "counts_at_done": self.counts_at_done,
                # CLOCK_MONOTONIC is one clock for every process on the
                # machine: the script reads a worker's start on it too.
                "first_receive_at": self.first_receive,
                "done_at": self.done_at,
                "timeline": list(self.timeline) if timeline else None,
                "requests": list(self.requests) if timeline else None,
            }

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(path[len(CONTROL_PREFIX) :], environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        action, queue, params = _request(environ, body)
        arrived = time.monotonic()
        with self.lock:
            self.counts[action] += 1
            self.by_queue[f"{queue}:{action}"] += 1
            latency = self.latency_seconds
            if action == "ReceiveMessage" and self.first_receive is None:
                self.first_receive = arrived
            if self.first_receive is not None and self.done_at is None:
                self.requests.append((arrived - self.first_receive, action))
        if latency:
            time.sleep(latency)
        status: list[str] = []

        def start(code: str, headers: Any, *rest: Any) -> Any:
            status.append(code)
            return start_response(code, headers, *rest)

        chunks = list(self.app(environ, start))
        if action in DELETE_ACTIONS and status and status[0].startswith("200"):
            self._deleted(_deleted_count(action, params, b"".join(chunks)))
        return chunks

    def _deleted(self, count: int) -> None:
        with self.lock:
            self.deleted += count
            if self.first_receive is not None and self.done_at is None:
                self.timeline.append((time.monotonic() - self.first_receive, self.deleted))
            if self.target and self.done_at is None and self.deleted >= self.target:
                self.done_at = time.monotonic()
                self.counts_at_done = dict(self.counts)
                self.done.set()

    def _control(self, command: str, environ: dict[str, Any], start_response: Any) -> Any:
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if command == "reset":
            self.reset(
                latency_ms=float(query.get("latency_ms", 0)), target=int(query.get("target", 0))
            )
            payload: Any = {"ok": True}
        elif command == "wait":
            payload = {"done": self.done.wait(float(query.get("timeout", 60)))}
        elif command == "stats":
            payload = self.stats(timeline=query.get("timeline") == "1")
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"unknown control command"]
        data = json.dumps(payload).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]


def _request(environ: dict[str, Any], body: bytes) -> tuple[str, str, dict[str, Any]]:
    """The action, the queue name and the parameters, for both of SQS's
    protocols: JSON (``X-Amz-Target``) and query (``Action=`` form)."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    params: dict[str, Any] = {}
    if target:
        action = target.rsplit(".", 1)[-1]
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
    else:
        form = parse_qs(body.decode("utf-8", "replace"))
        params = {key: values[-1] for key, values in form.items()}
        action = params.get("Action") or f"HTTP:{environ.get('REQUEST_METHOD')}"
    queue_url = params.get("QueueUrl") or environ.get("PATH_INFO", "")
    queue = str(queue_url).rstrip("/").rsplit("/", 1)[-1]
    return action, queue, params


def _deleted_count(action: str, params: dict[str, Any], response: bytes) -> int:
    """How many messages a successful delete request deleted."""
    if action == "DeleteMessage":
        return 1
    if response.lstrip().startswith(b"{"):
        return len(json.loads(response).get("Successful", []))
    return response.count(b"<DeleteMessageBatchResultEntry>")


# -- a keep-alive WSGI server -------------------------------------------------


class _Gateway(BaseHTTPRequestHandler):
    """A minimal HTTP/1.1 WSGI gateway with keep-alive.

    werkzeug's development server (which ``ThreadedMotoServer`` uses) sends
    ``Connection: close`` on every response, so each request paid for a new
    TCP connection and a new server thread; SQS itself keeps connections
    alive, and so does botocore. This gateway serves any number of
    requests per connection, one thread per connection.
    """

    app: Any
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": self.path,
            "REQUEST_URI": self.path,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        reply: list[Any] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            reply[:] = [status, headers]
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        status, headers = reply
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A worker killed at the end of its run drops its connections.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


# -- the process -----------------------------------------------------------


def serve(*, stock: bool, port: int = 0) -> None:
    """Start moto behind the meter; print ``READY URL`` (and the patches);
    serve until stdin closes.

    ``stock`` serves moto as ``ThreadedMotoServer`` does (werkzeug's
    server, unpatched models, Python's default switch interval), with only
    the meter added: the "before" of the emulator's ceiling.
    """
    from _moto import speed_up_moto
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    patches = [] if stock else speed_up_moto()
    meter = Meter(DomainDispatcherApplication(create_backend_app))
    if stock:
        server: Any = _werkzeug_server(meter, port)
    else:
        # Requests are served in threads that share one GIL. With Python's
        # default 5 ms switch interval, a request whose reply is ready waits
        # up to 5 ms behind another request's CPU work, so concurrent
        # clients slowed each other down far more than SQS ever would.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        handler = type("Handler", (_Gateway,), {"app": meter})
        server = _Server(("127.0.0.1", port), handler)
        patches.append("served with HTTP/1.1 keep-alive, GIL switch interval 0.5 ms")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, bound = server.server_address[:2]
    for line in patches:
        print(f"PATCH {line}", flush=True)
    print(f"READY http://{host}:{bound}", flush=True)
    sys.stdin.read()  # returns when the parent closes our stdin, or dies
    server.shutdown()


def _werkzeug_server(app: Any, port: int) -> Any:
    """werkzeug's threaded server with moto's request handler, exactly as
    ``ThreadedMotoServer`` builds it."""
    import logging

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return make_server("127.0.0.1", port, app, True, request_handler=MotoRequestHandler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stock", action="store_true", help="moto as it ships, unpatched")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    serve(stock=args.stock, port=args.port)


if __name__ == "__main__":
    main()
