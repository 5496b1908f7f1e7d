"""A proxy in front of an SQS endpoint that refuses chosen requests, for
tests of one precise fault: an access-denied DLQ, one failed heartbeat.

``SQSProxy`` (tests/sqs_proxy.py) fails a random share of requests; this
one asks ``rule(action, params)`` about each request (``params``: the
JSON request, e.g. its ``QueueUrl``) and answers the code it returns, as
SQS's JSON protocol does, without forwarding: the server never sees a
refused request. Everything else is forwarded unchanged.

Example::

    def deny_dlq(action, params):
        if action == "SendMessage" and params.get("QueueUrl", "").endswith("-dlq"):
            return "AccessDenied"
        return None

    with RuleProxy(sqs_endpoint, deny_dlq) as proxy:
        ...  # proxy.url; proxy.refused["SendMessage"]
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from tests.sqs_proxy import SQSProxy, _action, _Handler, with_endpoint

#: HTTP status SQS answers with, per error code (400 otherwise).
STATUS = {"AccessDenied": 403, "InternalError": 500, "ServiceUnavailable": 503}

Rule = Callable[[str, dict[str, Any]], str | None]


class RuleProxy(SQSProxy):
    """Forwards every request but those ``rule`` answers with an error code.

    Attributes:
        refused: how many requests were refused, by action.
        seen: every request forwarded or refused, as ``(action, params)``.
    """

    def __init__(self, upstream: str, rule: Rule) -> None:
        super().__init__(upstream)
        self.rule = rule
        self.refused: Counter[str] = Counter()
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def start(self) -> RuleProxy:
        handler = type("Handler", (_RuleHandler,), {"proxy": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def dsn(self, dsn: str) -> str:
        """``dsn`` pointed at this proxy."""
        return with_endpoint(dsn, self.url)

    def requests(self, action: str) -> list[dict[str, Any]]:
        """The parameters of every ``action`` request seen so far."""
        with self._lock:
            return [params for seen, params in self.seen if seen == action]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a request (a worker stopping mid long
        # poll) breaks its handler's pipe: not news.
        return None


class _RuleHandler(_Handler):
    proxy: RuleProxy

    def _forward(self, body: bytes) -> None:
        action = _action(self.command, self.headers, body)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        params = params if isinstance(params, dict) else {}
        code = self.proxy.rule(action, params)
        with self.proxy._lock:
            self.proxy.seen.append((action, params))
            if code:
                self.proxy.refused[action] += 1
        if code:
            self._reply(STATUS.get(code, 400), code, f"refused by the test proxy: {code}", True)
            return
        super()._forward(body)
