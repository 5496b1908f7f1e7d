"""Who may see the dashboard, and which requests may change a queue.

The rules, checked on every request (see ``Guard.check``):

1. **Host.** On a loopback address the ``Host`` header must name loopback
   (``127.0.0.1``, ``localhost``, ``[::1]`` or the bound address) with the
   dashboard's port: a page on another site whose name was rebound to
   127.0.0.1 (DNS rebinding) is refused before it reads anything.
2. **Token.** With ``ALLIGATOR_DASHBOARD_TOKEN`` set (required on any host
   but loopback), every request carries it: as a session cookie, which
   the login link ``/?token=TOKEN`` sets, or in an ``Authorization:
   Bearer TOKEN`` (or ``X-Alligator-Token``) header. Compared in constant
   time.
3. **Cross-site requests.** Every action is a POST of JSON that must come
   from the dashboard's own origin (``Origin``, else ``Referer``, naming
   the ``Host`` it was sent to) and carry the CSRF token of its session
   (``X-CSRF-Token``): an HMAC of the session id under a secret made at
   start-up, so a token is good for its own session only.

Sessions are signed cookies (``id.issued.mac``), HttpOnly and
SameSite=Strict, good for ``SESSION_SECONDS`` and for this process only:
after a restart the page asks to be reloaded (or logged in again).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..exceptions import ConfigurationError

log = logging.getLogger("alligator")

#: A token shorter than this is taken with a warning: it guards queues on a network.
MIN_TOKEN_LENGTH = 16
#: Seconds a session (and so its CSRF token) stays good.
SESSION_SECONDS = 12 * 3600
#: The header the page sends its CSRF token in.
CSRF_HEADER = "X-CSRF-Token"
#: Headers a script may send the dashboard token in.
TOKEN_HEADER = "X-Alligator-Token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def _with_port(host: str) -> str:
    """``host:port``; browsers leave out port 80."""
    if ":" not in host or host.endswith("]"):
        return f"{host}:80"
    return host


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1`` or ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(host: str, token: str | None) -> None:
    """Refuse to start without a token off loopback (and warn of a short one).

    Raises:
        ConfigurationError: ``host`` is not loopback and there is no token.
    """
    if token is None:
        if not is_loopback(host):
            raise ConfigurationError(
                f"the dashboard listens on {host}, beyond this machine: set "
                "ALLIGATOR_DASHBOARD_TOKEN to a secret of 16 characters or more"
            )
        return
    if len(token) < MIN_TOKEN_LENGTH:
        log.warning(
            "ALLIGATOR_DASHBOARD_TOKEN is shorter than %d characters, which a network "
            "can guess; make one with: python -c 'import secrets; print(secrets.token_urlsafe())'",
            MIN_TOKEN_LENGTH,
        )


@dataclass(frozen=True)
class Verdict:
    """What ``Guard.check`` decided: ``status`` 0 lets the request through;
    otherwise the HTTP status and the one-line reason to answer with."""

    status: int = 0
    reason: str = ""
    #: A fresh session to set as the cookie (a login, or a first visit).
    new_session: str | None = None
    #: The session id the request is in (fresh or from its cookie).
    session_id: str | None = None
    #: Redirect here (the login link, minus its token).
    redirect: str | None = None


@dataclass(frozen=True)
class Request:
    """The parts of a request the checks read (framework-free, to test)."""

    method: str
    path: str
    host: str
    headers: Mapping[str, str]
    cookie: str | None
    query_token: str | None
    page: bool  # an HTML page (may start a session), not the API


class Guard:
    """The checks above, for one running dashboard.

    Args:
        host: the address it listens on.
        token: ``ALLIGATOR_DASHBOARD_TOKEN``, or ``None``.
    """

    def __init__(self, host: str, token: str | None) -> None:
        check_token(host, token)
        self.host = host
        self.token = token
        self.port = 0  # set once the server is bound
        self._secret = secrets.token_bytes(32)

    @property
    def cookie_name(self) -> str:
        """Per port: browsers share cookies across the ports of one host."""
        return f"alligator_dashboard_{self.port}"

    def check(self, request: Request) -> Verdict:
        """Decide one request; see the module docstring for the rules."""
        if not self._host_allowed(request.host):
            return Verdict(400, "unexpected Host header: open the dashboard by its own address")
        session = self._session(request.cookie)
        if self.token is not None and request.query_token is not None and request.method == "GET":
            if not self._token_ok(request.query_token):
                return Verdict(401, "wrong token")
            minted = self._new_session()
            return Verdict(302, new_session=minted, session_id=minted, redirect=request.path)
        if self.token is not None and session is None and not self._header_token_ok(request):
            return Verdict(401, "this dashboard needs its token: open its login link /?token=…")
        fresh: str | None = None
        if session is None and request.page:
            fresh = session = self._new_session()
        if request.method not in ("GET", "HEAD"):
            refused = self._cross_site(request, session)
            if refused:
                return Verdict(403, refused)
        return Verdict(new_session=fresh, session_id=session)

    def csrf_token(self, session_id: str) -> str:
        """The CSRF token of a session."""
        return self._mac(f"csrf|{session_id}")

    def _cross_site(self, request: Request, session: str | None) -> str | None:
        """Why a state-changing request is refused, or ``None``."""
        origin = request.headers.get("Origin") or request.headers.get("Referer")
        if not origin:
            return "refused: no Origin or Referer header"
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != request.host.lower():
            return "refused: the request comes from another site"
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return "refused: actions are JSON requests"
        sent = request.headers.get(CSRF_HEADER, "")
        if session is None or not hmac.compare_digest(
            sent.encode("utf-8", "replace"), self.csrf_token(session).encode()
        ):
            return "refused: missing or stale CSRF token: reload the page"
        return None

    def _host_allowed(self, host: str) -> bool:
        if not is_loopback(self.host):
            return True  # reachable by any name; the token guards it
        allowed = {f"{name}:{self.port}" for name in LOOPBACK_NAMES}
        bound = f"[{self.host}]" if ":" in self.host else self.host
        allowed.add(f"{bound.lower()}:{self.port}")
        return _with_port(host.lower()) in allowed

    def _token_ok(self, candidate: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self.token.encode())

    def _header_token_ok(self, request: Request) -> bool:
        value = request.headers.get("Authorization", "")
        if value[:7].lower() == "bearer ":
            return self._token_ok(value[7:].strip())
        header = request.headers.get(TOKEN_HEADER)
        return header is not None and self._token_ok(header)

    def _new_session(self) -> str:
        """A signed cookie value: ``id.issued.mac``."""
        payload = f"{secrets.token_urlsafe(18)}.{int(time.time())}"
        return f"{payload}.{self._mac(payload)}"

    def _session(self, cookie: str | None) -> str | None:
        """The session a cookie names if this process signed it and it is
        still good; the whole cookie value serves as its id."""
        if not cookie or cookie.count(".") != 2:
            return None
        payload, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac.encode("utf-8", "replace"), self._mac(payload).encode()):
            return None
        issued = payload.rpartition(".")[2]
        if not issued.isdigit() or time.time() - int(issued) > SESSION_SECONDS:
            return None
        return cookie

    def _mac(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()
