"""Serving the dashboard: werkzeug's threaded WSGI server, bound to one
address, with no line logged per request.

Example:
    >>> server = DashboardServer(Dashboard(["sqlite:///var/q.db"]), host="127.0.0.1", port=0)
    >>> server.start()          # in a thread; server.url says where
    >>> server.stop()
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from ..exceptions import ConfigurationError
from .app import POLL_SECONDS, create_app
from .data import Dashboard
from .security import Guard

log = logging.getLogger("alligator.dashboard")


class _QuietHandler(WSGIRequestHandler):
    """No access log: a page polling every few seconds would flood the
    terminal. Errors still go to the ``alligator.dashboard`` logger."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            log.warning(message, *args)


class DashboardServer:
    """The dashboard on ``host:port`` (port 0: any free one).

    Args:
        dashboard: what to show.
        host, port: where to listen.
        token: ``ALLIGATOR_DASHBOARD_TOKEN``; required off loopback.
        poll_seconds: how often the page refreshes.

    Raises:
        ConfigurationError: no token off loopback, a short token, or the
            address cannot be listened on (in use, not this machine's).
    """

    def __init__(
        self,
        dashboard: Dashboard,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.dashboard = dashboard
        self.guard = Guard(host, token)
        self.app = create_app(dashboard, self.guard, poll_seconds=poll_seconds)
        # Bound here, not by werkzeug, which prints a paragraph and exits
        # when the port is taken: this way it is one line and exit 2.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            listener = socket.create_server((host, port), family=family)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConfigurationError(f"cannot listen on {host}:{port}: {reason}") from None
        with listener:
            self._server = make_server(
                host,
                port,
                self.app,
                threaded=True,
                request_handler=_QuietHandler,
                fd=listener.fileno(),
            )
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self.guard.port = self.port = int(self._server.port)
        self.host = host
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def serve_forever(self) -> None:
        """Serve until ``stop()`` (from another thread)."""
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="alligator-dashboard", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the queues."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self.dashboard.close()
