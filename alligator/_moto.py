"""moto's server on loopback, for ``alligator local-sqs``, ``alligator
demo`` and the test plugin: SQS (and S3, DynamoDB, EventBridge Scheduler...)
with no AWS account.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .exceptions import ConfigurationError

#: Dummy credentials and region for moto, set only where none are set.
DUMMY_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
#: What to install for moto's server: the extra for local development and
#: tests. (With alligator 2 installed, pip adds the extra's packages; it does
#: not replace alligator with the 1.0 package of the same name.)
INSTALL_HINT = "pip install 'alligator[test]'"


def start_moto(port: int = 0, host: str = "127.0.0.1") -> tuple[Any, str]:
    """Start moto's threaded server; returns ``(server, endpoint URL)``.

    Port 0 lets the OS pick a free port, with no window for another process
    to take it between choosing and binding.

    Raises:
        ConfigurationError: moto is not installed, the port is out of range,
            or it cannot be bound (busy, or not allowed).
    """
    if not 0 <= port <= 65535:
        raise ConfigurationError(f"port must be 0-65535, not {port}")
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise ConfigurationError(
            f"the embedded SQS endpoint needs moto's server, which the extra "
            f"alligator[test] brings: {INSTALL_HINT}"
        ) from exc
    # moto's server logs every request through werkzeug.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _check_bindable(host, port)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound = server.get_host_and_port()
    return server, f"http://{bound_host}:{bound}"


def _check_bindable(host: str, port: int) -> None:
    """Fail with one line now, rather than hang in moto's thread later."""
    if port == 0:
        return
    import socket

    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


@contextmanager
def dummy_credentials() -> Iterator[dict[str, str]]:
    """Set moto's dummy credentials where none are set, and remove exactly
    those again afterwards; yields what was set."""
    added = {key: value for key, value in DUMMY_AWS_ENVIRONMENT.items() if not os.environ.get(key)}
    os.environ.update(added)
    try:
        yield added
    finally:
        for key in added:
            os.environ.pop(key, None)
