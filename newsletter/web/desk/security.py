"""Who may use the desk and how a change is asked for: sign-in, CSRF tokens, the Host check, headers.

Three ways in, one at a time:
- local (the default): the desk listens on 127.0.0.1 and takes requests only for a loopback Host
  (a web page elsewhere cannot reach it through DNS rebinding); the editor is this machine's user;
- a shared token (NEWSLETTER_DESK_TOKEN): each editor signs in once with their name and the token;
- a reverse proxy's header (NEWSLETTER_DESK_USER_HEADER=X-Remote-User): the site's login in front
  of the desk names the editor; the desk must then be reachable only through that proxy.
Every change is a POST carrying the session's CSRF token; pages are never framed by other sites.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, redirect, request, session, url_for

from newsletter.web.desk.context import desk

CSRF_FIELD = "csrf"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
OPEN_ENDPOINTS = {"auth.sign_in", "assets.asset"}
UPLOAD_ENDPOINTS = {"imports.run"}  # may carry a file up to MAX_UPLOAD; every other form, MAX_BODY

# Scripts and styles only from the desk itself; forms post only here; frames only the desk's own
# preview; nobody frames the desk.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'; connect-src 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def csrf_token() -> str:
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return str(session[CSRF_FIELD])


def editor() -> str:
    """The name of the editor making this request."""
    return str(g.get("editor", ""))


def _same_origin() -> bool:
    # A browser sends "null" in some cases (a sandboxed frame, some referrer policies): the CSRF
    # token alone decides then; a named other origin is refused outright.
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return True
    return urlsplit(origin).netloc == request.host


def _check() -> Response | None:
    access = desk().access
    if not access.token and not access.user_header:
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        if host not in LOOPBACK_HOSTS:
            abort(
                403,
                "the desk answers only on 127.0.0.1 unless NEWSLETTER_DESK_TOKEN or a proxy header is set",
            )
        g.editor = access.local_user
    elif access.user_header:
        name = request.headers.get(access.user_header, "").strip()
        if not name:
            abort(401, f"no {access.user_header} header: reach the desk through the site's login")
        g.editor = name[:100]
    else:
        g.editor = str(session.get("editor", ""))
        if not g.editor and request.endpoint not in OPEN_ENDPOINTS:
            return redirect(url_for("auth.sign_in", next=request.full_path), 303)  # type: ignore[return-value]
    if request.endpoint in UPLOAD_ENDPOINTS:
        from newsletter.web.desk import MAX_UPLOAD

        request.max_content_length = MAX_UPLOAD
    if request.method == "POST" and request.endpoint != "auth.sign_in":
        sent = request.form.get(CSRF_FIELD, "")
        if not _same_origin() or not sent or not hmac.compare_digest(sent, session.get(CSRF_FIELD, "")):
            abort(400, "the form is out of date or came from another site; reload the page and try again")
    return None


def _headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def install(app: Flask) -> None:
    app.before_request(_check)
    app.after_request(_headers)
