"""Helpers for the dashboard tests: a real server on a free loopback port,
and a small HTTP client that keeps the session cookie and lets a test set
any header (Host, Origin), as a browser on another site would."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from alligator.constants import FAILED
from alligator.dashboard.data import Dashboard
from alligator.dashboard.server import DashboardServer
from tests import tasks

#: The page refreshes this often in tests, so a few samples come quickly.
FAST_POLL_SECONDS = 0.3


@contextlib.contextmanager
def running(
    dsns: list[str],
    *,
    status: str | None = None,
    token: str | None = None,
    poll_seconds: float = FAST_POLL_SECONDS,
) -> Iterator[DashboardServer]:
    """The dashboard serving ``dsns`` on 127.0.0.1, any free port."""
    server = DashboardServer(
        Dashboard(dsns, status=status),
        host="127.0.0.1",
        port=0,
        token=token,
        poll_seconds=poll_seconds,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class Client:
    """One browser-like user: keeps the cookies it was given."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.origin = f"http://{parts.netloc}"
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        cookies: bool = True,
    ) -> Reply:
        sent = {"Accept": "application/json"}
        if cookies and self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = body if isinstance(body, str | bytes) else json.dumps(body)
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return Reply(response.status, response.headers, text)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def open_page(self, path: str = "/") -> Reply:
        """Load the page, as a browser would, and keep its CSRF token."""
        reply = self.get(path, headers={"Accept": "text/html"})
        found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', reply.text)
        if found:
            self.csrf = found.group(1)
        return reply

    def post(self, path: str, body: Any, *, headers: dict[str, str] | None = None) -> Reply:
        """A POST as the page makes it: same origin, with the CSRF token."""
        sent = {"Origin": self.origin}
        if self.csrf is not None:
            sent["X-CSRF-Token"] = self.csrf
        sent.update(headers or {})
        return self.request("POST", path, body=body, headers=sent)


def dead_letter(gator: Any, *messages: str) -> list[str]:
    """One failed task per message, dead-lettered with its reason; their ids."""
    task_ids = [gator.options(retries=0).task(tasks.fail, text).task_id for text in messages]
    for _ in messages:
        assert gator.pop().status == FAILED
    return task_ids
