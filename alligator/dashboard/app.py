"""The dashboard's routes, on Flask (the ``alligator[dashboard]`` extra).

One HTML page and its static assets; everything else is JSON the page
polls (``GET``) or posts (actions). The page puts every value into the
document as text (``textContent``), never as markup, and the
Content-Security-Policy allows scripts from this server only, so a
message crafted as ``<script>`` stays a string on the screen.

Routes:
    ``GET /``                            the page
    ``GET /api/stats``                   every queue's figures
    ``GET /api/queues/N/dlq``            queue N's dead-lettered messages
    ``POST /api/queues/N/redrive``       ``{"message_id": ID}`` or ``{"all": true}``
    ``POST /api/queues/N/delete``        the same
    ``GET /api/task?id=TASK_ID``         a task's state from the status store
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from .._text import printable
from ..exceptions import ConfigurationError
from .data import Dashboard
from .security import CSRF_HEADER, Guard, Request

log = logging.getLogger("alligator.dashboard")

#: Seconds between the page's refreshes.
POLL_SECONDS = 3.0
#: Larger request bodies are refused: actions are a few bytes of JSON.
MAX_BODY_BYTES = 16 * 1024
#: The longest message id accepted (SQS's are 36 characters).
MAX_ID_LENGTH = 200

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class BadRequest(Exception):
    """A malformed action: answered 400 with the reason."""


def create_app(dashboard: Dashboard, guard: Guard, *, poll_seconds: float = POLL_SECONDS) -> Flask:
    """The Flask app serving ``dashboard``, every request checked by ``guard``.

    Example:
        >>> app = create_app(Dashboard(["sqlite:///var/q.db"]), Guard("127.0.0.1", None))
    """
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    _add_guard(app, guard)
    _add_errors(app)

    @app.get("/")
    def page() -> str:
        return render_template(
            "index.html",
            csrf=guard.csrf_token(g.verdict.session_id),
            csrf_header=CSRF_HEADER,
            poll_seconds=poll_seconds,
        )

    @app.get("/api/stats")
    def stats() -> Response:
        return jsonify(dashboard.stats())

    @app.get("/api/queues/<int:index>/dlq")
    def dead(index: int) -> Response:
        return jsonify(dashboard.queue(index).dead())

    @app.post("/api/queues/<int:index>/redrive")
    def redrive(index: int) -> tuple[Response, int]:
        message_id, body = _target()
        include_poison = body.get("include_poison", False)
        if not isinstance(include_poison, bool):
            raise BadRequest("include_poison must be true or false")
        answer = dashboard.queue(index).redrive(message_id, include_poison=include_poison)
        return jsonify(answer), 200 if answer["done"] else 404

    @app.post("/api/queues/<int:index>/delete")
    def delete(index: int) -> tuple[Response, int]:
        message_id, _ = _target()
        answer = dashboard.queue(index).delete(message_id)
        return jsonify(answer), 200 if answer["done"] else 404

    @app.get("/api/task")
    def task() -> tuple[Response, int]:
        task_id = request.args.get("id", "").strip()
        if not task_id:
            raise BadRequest("give a task id: /api/task?id=TASK_ID")
        state = dashboard.task(task_id)
        if state is None:
            return jsonify(error=f"no task '{printable(task_id)}' in the status store"), 404
        return jsonify(task=state), 200

    return app


def _target() -> tuple[str | None, dict[str, Any]]:
    """``(message_id, body)`` of an action: one message, or ``None`` for all."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest('send a JSON object: {"message_id": ID} or {"all": true}')
    message_id, every = body.get("message_id"), body.get("all")
    if every is True and message_id is None:
        return None, body
    if every is None and isinstance(message_id, str) and 0 < len(message_id) <= MAX_ID_LENGTH:
        return message_id, body
    raise BadRequest('name one message ("message_id": ID) or all of them ("all": true)')


def _add_guard(app: Flask, guard: Guard) -> None:
    @app.before_request
    def check() -> Response | None:
        verdict = guard.check(
            Request(
                method=request.method,
                path=request.path,
                host=request.headers.get("Host", ""),
                headers=request.headers,  # type: ignore[arg-type]
                cookie=request.cookies.get(guard.cookie_name),
                query_token=request.args.get("token"),
                page=request.path == "/",
            )
        )
        g.verdict = verdict
        if verdict.redirect is not None:
            # The login link, minus its token: out of the address bar and
            # the history once the cookie is set.
            return redirect(verdict.redirect, 303)  # type: ignore[return-value]
        if verdict.status:
            return _error(verdict.reason, verdict.status)
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.update(HEADERS)
        verdict = g.get("verdict")
        if verdict is not None and verdict.new_session is not None:
            response.set_cookie(
                guard.cookie_name,
                verdict.new_session,
                httponly=True,
                samesite="Strict",
                path="/",
            )
        return response


def _add_errors(app: Flask) -> None:
    @app.errorhandler(BadRequest)
    def bad(exc: BadRequest) -> Response:
        return _error(str(exc), 400)

    @app.errorhandler(LookupError)
    def missing(exc: LookupError) -> Response:
        return _error(str(exc).strip("'\""), 404)

    @app.errorhandler(ConfigurationError)
    def unavailable(exc: ConfigurationError) -> Response:
        return _error(str(exc), 409)

    @app.errorhandler(HTTPException)
    def http(exc: HTTPException) -> Response:
        return _error(exc.description or exc.name, exc.code or 500)

    @app.errorhandler(Exception)
    def failed(exc: Exception) -> Response:
        log.exception("dashboard request failed")
        return _error(f"{type(exc).__name__}: {exc}", 500)


def _error(reason: str, status: int) -> Response:
    """JSON for the API; plain text for the page (a refused login link)."""
    reason = printable(reason)
    if request.path.startswith("/api/"):
        response = jsonify(error=reason)
    else:
        response = Response(reason + "\n", mimetype="text/plain")
    response.status_code = status
    return response
