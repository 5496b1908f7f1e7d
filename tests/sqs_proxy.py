"""A fault-injecting HTTP proxy in front of an SQS endpoint, for tests.

It counts requests by SQS action and, on a seeded share of them, fails the
request *before forwarding it*: the server never saw it, so a retried
request can never duplicate a message, and a test may assert exactly-once.

Faults (``fault_kinds``):

- ``"500"``: HTTP 500 ``InternalError`` (botocore retries 5xx).
- ``"throttle"``: HTTP 400 ``RequestThrottled``, as SQS's JSON protocol
  sends it: a ``__type`` plus the ``x-amzn-query-error`` header, which
  botocore turns into the query-compatible code ``RequestThrottled`` (both
  ``RequestThrottled`` and ``ThrottlingException`` are in botocore's list of
  throttling codes for the standard retry mode).
- ``"reset"``: the connection is closed with a TCP reset, no response.

Example::

    with SQSProxy(sqs_endpoint, fault_rate=0.3) as proxy:
        backend = SQSBackend(f"sqs://us-east-1/q?endpoint_url={proxy.url}")
        ...
        assert proxy.counts["SendMessageBatch"] == 3
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FAULT_KINDS = ("500", "throttle", "reset")
#: Hop-by-hop headers, never forwarded.
HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "trailer"}
)


class SQSProxy:
    """The proxy. Use it as a context manager, or ``start()``/``stop()``.

    Args:
        upstream: the real endpoint, e.g. ``http://127.0.0.1:5000``.
        fault_rate: the share of requests to fail, 0-1.
        fault_kinds: which faults to inject, taken in turn.
        seed: the seed of the fault decisions, for repeatable runs.
    """

    def __init__(
        self,
        upstream: str,
        *,
        fault_rate: float = 0.0,
        fault_kinds: tuple[str, ...] = FAULT_KINDS,
        seed: int = 1234,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.counts: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self._forced = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The proxy's endpoint URL."""
        assert self._server is not None, "start() the proxy first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SQSProxy:
        """Listen on a free loopback port, in a daemon thread."""
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail_next(self, count: int) -> None:
        """Fail the next ``count`` requests, whatever ``fault_rate`` says."""
        with self._lock:
            self._forced = count

    def reset(self) -> None:
        """Forget the counts."""
        with self._lock:
            self.counts.clear()
            self.faults.clear()

    def __enter__(self) -> SQSProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _decide(self, action: str) -> str | None:
        """Count the request; return the fault to inject, if any."""
        with self._lock:
            self.counts[action] += 1
            forced = self._forced > 0
            self._forced -= forced
            if self.fault_kinds and (forced or self._random.random() < self.fault_rate):
                # In turn, so that a handful of faults covers every kind.
                turn = sum(self.faults.values()) % len(self.fault_kinds)
                kind = self.fault_kinds[turn]
                self.faults[kind] += 1
                return kind
        return None


class _Handler(BaseHTTPRequestHandler):
    proxy: SQSProxy
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pool expects

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.proxy._decide(_action(self.command, self.headers, body))
        if fault == "reset":
            self._reset()
        elif fault == "500":
            self._reply(500, "InternalError", "We encountered an internal error.")
        elif fault == "throttle":
            self._reply(400, "RequestThrottled", "Rate exceeded", sender=True)
        else:
            self._forward(body)

    def _forward(self, body: bytes) -> None:
        proxy = self.proxy
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        try:
            headers = {
                key: value for key, value in self.headers.items() if key.lower() not in HOP_HEADERS
            }
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _reply(self, status: int, code: str, message: str, sender: bool = False):
        data = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        fault = "Sender" if sender else "Receiver"
        self.send_header("x-amzn-query-error", f"{code};{fault}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send a RST, not a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


def with_endpoint(dsn: str, endpoint: str) -> str:
    """``dsn`` with its ``endpoint_url`` option replaced by ``endpoint``."""
    head, _, query = dsn.partition("?")
    options = [o for o in query.split("&") if o and not o.startswith("endpoint_url=")]
    return f"{head}?{'&'.join([f'endpoint_url={endpoint}', *options])}"


def _action(method: str, headers: object, body: bytes) -> str:
    """The SQS action: ``X-Amz-Target`` (JSON protocol) or the ``Action``
    form field (query protocol); anything else (S3) as ``S3:METHOD``."""
    target = headers.get("X-Amz-Target") if hasattr(headers, "get") else None
    if target:
        return str(target).rsplit(".", 1)[-1]
    if body.startswith(b"Action=") or b"&Action=" in body:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    return f"S3:{method}"
