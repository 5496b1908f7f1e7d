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

``--stock`` serves moto as it ships; the default speeds it up first (see
``speed_up_moto``), only in this process.
"""

from __future__ import annotations

import argparse
import copy
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
DELETE_ACTIONS = ("DeleteMessage", "DeleteMessageBatch")


# -- making moto fast enough not to be what is measured --------------------


class _NoTracking(list):
    """moto's ``BaseModel`` keeps every instance ever made (for its reset);
    a benchmark makes hundreds of thousands of messages and never resets."""

    def append(self, item: Any) -> None:
        return None


def speed_up_moto() -> list[str]:
    """Patch moto's SQS model where its cost grows with queue depth.

    Only in this process, and without changing what any request returns:

    1. ``Queue.attributes`` built every attribute, including the three
       ``ApproximateNumberOf*`` counts (each a scan of every message, reading
       the clock per message), on every ``SendMessage`` entry (for one
       ``ContentBasedDeduplication`` lookup) and three times per received
       message (a retention check). The counts are now computed only while
       an HTTP ``GetQueueAttributes`` is being answered, once per request,
       and the other attributes come from a precomputed name map.
    2. ``Queue.messages`` (the visible, undelayed ones) read the clock twice
       per message; it now reads it once per call.
    3. ``receive_message`` deep-copied every received message (body, all
       its old receipt handles); a shallow copy is enough, because the only
       field changed on the copy (``message_attributes``) is replaced, not
       mutated.
    4. ``Queue.delete_message`` scanned every message twice per receipt
       handle (a batch of 10: 20 scans); it now looks the handle up in an
       index, rebuilt only when a handle is not in it.
    5. Messages are no longer kept forever by moto's instance tracker.

    And two costs that do not grow with depth but dominated once the rest
    was gone:

    6. Every request listed moto's package directory and stat-ed each
       entry, twice (``list_of_moto_modules``, to route by host); the list
       is now read once.
    7. A receipt handle was 185 calls to ``random.choice``; it is now one
       ``random.choices`` call (the same 185 lowercase letters).

    Returns:
        One line per patch, for the report.
    """
    import random
    import string

    from moto import backends
    from moto.core.utils import camelcase_to_underscores, unix_time_millis
    from moto.sqs import models, responses
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    queue_class = models.Queue
    counting = threading.local()
    names = {
        name: camelcase_to_underscores(name)
        for name in (
            *queue_class.BASE_ATTRIBUTES,
            *queue_class.FIFO_ATTRIBUTES,
            *queue_class.KMS_ATTRIBUTES,
        )
    }
    approximate = {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    }

    def counts(queue: Any) -> dict[str, int]:
        now = unix_time_millis()
        visible = delayed = hidden = 0
        for message in queue._messages:
            is_visible = now > message.visible_at
            is_delayed = now < message.delayed_until
            hidden += not is_visible
            delayed += is_delayed
            visible += is_visible and not is_delayed
        return {
            "ApproximateNumberOfMessages": visible,
            "ApproximateNumberOfMessagesDelayed": delayed,
            "ApproximateNumberOfMessagesNotVisible": hidden,
        }

    def attributes(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = {}
        wanted = getattr(counting, "queues", None)
        for attribute in queue_class.BASE_ATTRIBUTES:
            if attribute in approximate:
                if wanted is not None:
                    if id(self) not in wanted:
                        wanted[id(self)] = counts(self)
                    result[attribute] = wanted[id(self)][attribute]
                continue
            result[attribute] = getattr(self, names[attribute])
        if self.fifo_queue:
            for attribute in queue_class.FIFO_ATTRIBUTES:
                result[attribute] = getattr(self, names[attribute])
        if self.kms_master_key_id:
            for attribute in queue_class.KMS_ATTRIBUTES:
                result[attribute] = getattr(self, names[attribute])
        if self.policy:
            result["Policy"] = self.policy
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy)
        for key, value in result.items():
            if isinstance(value, bool):
                result[key] = str(value).lower()
        return result

    original_get_attributes = responses.SQSResponse.get_queue_attributes

    def get_queue_attributes(self: Any) -> Any:
        counting.queues = {}
        try:
            return original_get_attributes(self)
        finally:
            counting.queues = None

    def messages(self: Any) -> list[Any]:
        now = unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def fast_copy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, models.Message):
            clone = object.__new__(models.Message)
            clone.__dict__.update(value.__dict__)
            return clone
        return copy.deepcopy(value, memo)

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: SQS accepts that
        index = self.__dict__.setdefault("_bench_receipts", {})
        message = index.get(receipt_handle)
        if message is None or not _remove(self._messages, message):
            index.clear()
            for candidate in self._messages:
                for handle in candidate.all_receipt_handles:
                    index[handle] = candidate
            message = index.get(receipt_handle)
            if message is None or not _remove(self._messages, message):
                raise ReceiptHandleIsInvalid()
        self.pending_messages.discard(message)
        for handle in message.all_receipt_handles:
            self.deleted_messages.add(handle)
            index.pop(handle, None)

    def receipt_handle() -> str:
        return "".join(random.choices(string.ascii_lowercase, k=185))

    modules = tuple(backends.list_of_moto_modules())
    queue_class.attributes = property(attributes)
    queue_class.messages = property(messages)
    queue_class.delete_message = delete_message
    responses.SQSResponse.get_queue_attributes = get_queue_attributes
    models.deepcopy = fast_copy
    models.Message.instances_tracked = _NoTracking()
    backends.list_of_moto_modules = lambda: modules
    models.generate_receipt_handle = receipt_handle
    return [
        "Queue.attributes: ApproximateNumberOf* counted only for GetQueueAttributes",
        "Queue.messages: one clock read per call, not two per message",
        "receive_message: shallow copy of each received message, not deepcopy",
        "Queue.delete_message: receipt-handle index, not two scans per handle",
        "Message.instances_tracked: not kept",
        "list_of_moto_modules: read once, not per request",
        "generate_receipt_handle: one random.choices call, not 185 random.choice",
    ]


def _remove(messages: list[Any], message: Any) -> bool:
    """Remove ``message`` from the queue's list (``Message`` has no
    ``__eq__``, so this is by identity, in C)."""
    try:
        messages.remove(message)
    except ValueError:
        return False
    return True


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
            self.done.clear()

    def stats(self) -> dict[str, Any]:
        """The counts so far, and the drain time if it is over."""
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
            payload = self.stats()
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
    serve until stdin closes."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    patches = [] if stock else speed_up_moto()
    meter = Meter(DomainDispatcherApplication(create_backend_app))
    handler = type("Handler", (_Gateway,), {"app": meter})
    server = _Server(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, bound = server.server_address[:2]
    for line in patches:
        print(f"PATCH {line}", flush=True)
    print(f"READY http://{host}:{bound}", flush=True)
    sys.stdin.read()  # returns when the parent closes our stdin, or dies
    server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stock", action="store_true", help="moto as it ships, unpatched")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    serve(stock=args.stock, port=args.port)


if __name__ == "__main__":
    main()
