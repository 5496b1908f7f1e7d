"""``alligator dashboard``: a web page on the queues (``alligator[dashboard]``).

Registered whether or not Flask is installed, so that without it the
command says which extra to install (exit 2) rather than not existing.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import threading
from typing import Any

from .. import _env, _signals
from ._types import natural

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def add_parsers(commands: Any) -> None:
    """Register ``dashboard``."""
    dashboard = commands.add_parser(
        "dashboard",
        help="a web page: depths, dead-lettered tasks, redrive, task states",
        description=(
            "Serve a web page showing each queue's depths with their history, the "
            "dead-letter queue's tasks and reasons (redrive or delete them, after a "
            "confirmation) and task states from the status store. Loopback only by "
            "default; any other --host needs ALLIGATOR_DASHBOARD_TOKEN, which every "
            "request must then carry (open the login link /?token=TOKEN)."
        ),
    )
    dashboard.add_argument("dsn", metavar="DSN", nargs="+", help="queue DSN(s)")
    dashboard.add_argument(
        "--status", metavar="STATUS_DSN", help="status store to look tasks up in (ALLIGATOR_STATUS)"
    )
    dashboard.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    dashboard.add_argument(
        "--port", type=natural, default=DEFAULT_PORT, help="port to listen on (0: any free)"
    )
    dashboard.set_defaults(handler=_dashboard)


def _dashboard(args: argparse.Namespace) -> int:
    from . import UsageError

    if importlib.util.find_spec("flask") is None:
        raise UsageError("alligator dashboard needs Flask: pip install 'alligator[dashboard]'")
    from ..dashboard.data import Dashboard
    from ..dashboard.security import check_token
    from ..dashboard.server import DashboardServer

    token = _env.get(_env.DASHBOARD_TOKEN)
    check_token(args.host, token)  # before any queue is opened: a quick exit 2
    dashboard = Dashboard(args.dsn, status=args.status)
    try:
        server = DashboardServer(dashboard, host=args.host, port=args.port, token=token)
    except BaseException:
        dashboard.close()
        raise
    login = f"{server.url}?token=$ALLIGATOR_DASHBOARD_TOKEN" if token else server.url
    print(f"alligator dashboard on {login}  (Ctrl-C stops)", flush=True)
    _serve_until_signal(server)
    return 0


def _serve_until_signal(server: Any) -> None:
    """Serve in a thread; SIGINT or SIGTERM stops it cleanly (exit 0)."""
    stopped = threading.Event()
    with _signals.handled(lambda *_: stopped.set()):
        server.start()
        try:
            while not stopped.wait(1.0):  # a timeout keeps signals deliverable
                pass
        finally:
            server.stop()
            print("alligator dashboard stopped", file=sys.stderr, flush=True)
