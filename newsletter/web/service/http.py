"""HTTP around every page: templates, security headers, the access log, error pages, safe redirects.

Every page, error pages included, is a template under templates/service/ that a workspace may
override. The access log says what happened (method, route, status, time, size), never a token
or an address; a failure is a page and one log line, never a traceback page.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path

import jinja2
from flask import Flask, Response, g, redirect, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from newsletter import render
from newsletter.db.engine import DatabaseError
from newsletter.web.service.context import ctx
from newsletter.web.service.mailqueue import QueueFull
from newsletter.web.service.settings import origin_of

access_log = logging.getLogger("newsletter.service.access")
log = logging.getLogger("newsletter.service")

# No scripts at all; styles only inline (the packaged look is inline CSS); forms post only here;
# never framed (clickjacking a one-click button); no base-URI tricks.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the token in a page's URL never travels to another site
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",  # personal pages stay out of shared caches and the back button
    "Cross-Origin-Opener-Policy": "same-origin",
}


class Unavailable(Exception):
    """Something the service depends on is down: 503 with the page saying so."""


def page(name: str, status: int = 200, **context: object) -> Response:
    """`templates/service/<name>` rendered; a broken override is logged and replaced by a plain line."""
    c = ctx()
    values = {
        "lang": c.settings.language,
        "newsletter": c.settings.name,
        "settings": c.settings,
        "signup_url": c.url("signup"),
        "privacy_url": c.url("privacy"),
        "service_url": c.url,  # form actions are absolute: a page shown at another path posts right
        **context,
    }
    try:
        body = render.environment(c.settings.workspace).get_template(f"service/{name}").render(values)
        return Response(body, status, content_type="text/html; charset=utf-8")
    except jinja2.TemplateError as exc:
        log.error("page template service/%s failed: %s", name, getattr(exc, "message", exc))
        return Response(f"{status}\n", status, content_type="text/plain; charset=utf-8")


def client_address() -> str:
    """The client's IP (waitress puts the trusted proxy's X-Forwarded-For here when told to)."""
    return request.remote_addr or "unknown"


def allowed_redirect(url: str) -> bool:
    """Only an absolute URL on one of the configured origins (never //evil, javascript:, or a path)."""
    if not url or any(c in url for c in "\r\n\t\\") or not url.startswith(("https://", "http://")):
        return False
    return origin_of(url) in ctx().service.allowed_origins


def safe_redirect(url: str, fallback: Response) -> Response:
    return redirect(url, 303) if allowed_redirect(url) else fallback  # type: ignore[return-value]


def _started() -> None:
    g.started = time.perf_counter()


def _finished(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
    entry = {
        "method": request.method,
        "route": rule,  # the route's pattern: never the query string, where tokens are
        "status": response.status_code,
        "ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1),
        "bytes": response.calculate_content_length() or 0,
    }
    if ctx().service.keep_ip:
        entry["client"] = client_address()
    access_log.info(json.dumps(entry))
    return response


def _http_error(error: HTTPException) -> Response:
    code = error.code or 500
    if code >= 500:
        log.error("HTTP %d on %s %s", code, request.method, request.path)
    return page("error.html", code, problem=_PROBLEMS.get(code, "bad_request"))


_PROBLEMS = {
    400: "bad_request",
    404: "not_found",
    405: "not_allowed",
    413: "too_large",
    429: "too_many",
}


def _database_down(error: Exception) -> Response:
    text = error.message if isinstance(error, DatabaseError) else f"{type(error).__name__}"
    log.error("database unavailable on %s %s: %s", request.method, request.path, text)
    return page("error.html", 503, problem="unavailable")


def _mail_full(error: QueueFull) -> Response:
    log.error("mail queue refused a message on %s: %s", request.path, error.message)
    return page("error.html", 503, problem="unavailable")


def _unexpected(error: Exception) -> Response:
    """One log line per failed request, never a traceback: an outside fault (out of file descriptors,
    a full disk) is 503; anything else is 500 with the exception's type and the line that raised it."""
    if isinstance(error, HTTPException):
        return _http_error(error)
    if isinstance(error, OSError):
        log.error("%s %s failed: %s", request.method, request.path, error.strerror or type(error).__name__)
        return page("error.html", 503, problem="unavailable")
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    # The exception's type and place, not its text: that may quote an address or a token.
    log.error("%s %s failed: %s%s", request.method, request.path, type(error).__name__, where)
    return page("error.html", 500, problem="broken")


def install(app: Flask) -> None:
    """Headers, the access log and error pages for every response of `app`."""
    app.before_request(_started)
    app.after_request(_finished)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DatabaseError, _database_down)
    app.register_error_handler(SQLAlchemyError, _database_down)
    app.register_error_handler(Unavailable, _database_down)
    app.register_error_handler(QueueFull, _mail_full)
    app.register_error_handler(Exception, _unexpected)
