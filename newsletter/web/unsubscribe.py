"""The one-click unsubscribe endpoint: a small WSGI application a site can mount, and a server.

`POST` with the body `List-Unsubscribe=One-Click` (RFC 8058) and a valid token suppresses the
address and answers 200, without a redirect. `GET` only shows a page with a button that posts:
link scanners open every link in a message, so a `GET` alone must never unsubscribe anyone. A
malformed or forged token, or one for another list, gets 400 and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote
from wsgiref.simple_server import WSGIServer

from sqlalchemy import Engine

from newsletter.db.engine import DatabaseError
from newsletter.db.state import open_state
from newsletter.db.suppression import unsubscribe
from newsletter.errors import DeliveryError, NewsletterError
from newsletter.mail.tokens import InvalidToken, signing_secret, verify_token
from newsletter.store.config import Settings, load_settings
from newsletter.web.localhttp import make_wsgi_server, serve_until_interrupted
from newsletter.web.pages import render_page

MAX_BODY = 4096  # a one-click body is 26 bytes; refuse anything large without reading it
ONE_CLICK = "List-Unsubscribe=One-Click"
log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class Problem(StrEnum):
    """Why a request is refused; templates/pages/unsubscribe_error.html words each."""

    INVALID_LINK = "invalid_link"
    BAD_REQUEST = "bad_request"
    WRONG_FORM = "wrong_form"
    NOT_ALLOWED = "not_allowed"


class UnsubscribeApp:
    """WSGI app: the token comes in the query string (`?token=...`), as in the List-Unsubscribe URL."""

    def __init__(
        self,
        workspace: Path,
        secret: bytes,
        list_id: str,
        newsletter_name: str = "the newsletter",
        engine: Engine | None = None,
    ):
        self.workspace = workspace
        self._secret = secret
        self.list_id = list_id
        self.newsletter_name = newsletter_name
        self._engine = engine  # the workspace's state database, opened on the first unsubscribe

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = open_state(load_settings(self.workspace))
        return self._engine

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        token = (parse_qs(environ.get("QUERY_STRING", "")).get("token") or [""])[0]
        if method not in ("GET", "HEAD", "POST"):
            return self._refuse(
                start_response, "405 Method Not Allowed", Problem.NOT_ALLOWED, [("Allow", "GET, POST")]
            )
        email = self._check(token)
        if email is None:
            return self._refuse(start_response, "400 Bad Request", Problem.INVALID_LINK)
        if method == "POST":
            return self._post(environ, start_response, token, email)
        action = "?token=" + quote(token, safe="")
        return self._respond(start_response, "200 OK", "unsubscribe.html", email=email, action=action)

    def _check(self, token: str) -> str | None:
        """The address a token is for, or None if it is malformed, forged, or for another list."""
        try:
            list_id, email = verify_token(self._secret, token)
        except InvalidToken:
            return None
        return email if list_id == self.list_id else None

    def _post(self, environ: dict, start_response: StartResponse, token: str, email: str) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            return self._refuse(start_response, "400 Bad Request", Problem.BAD_REQUEST)
        body = environ["wsgi.input"].read(length).decode("utf-8", "replace")
        fields = parse_qs(body)
        if fields.get("List-Unsubscribe") != ["One-Click"]:
            return self._refuse(start_response, "400 Bad Request", Problem.WRONG_FORM)
        try:
            unsubscribe(self.engine, email, "one-click unsubscribe")
        except DatabaseError as exc:
            # Nothing changed; the mail client (or the reader) may try again. Never the address in logs.
            log.error("could not record an unsubscribe: %s", exc.message)
            body = b"503 Service Unavailable: please try again in a few minutes\n"
            headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
            start_response("503 Service Unavailable", [*headers, ("Retry-After", "60")])
            return [body]
        log.info("unsubscribed one address")  # never the address or the token: logs travel
        return self._respond(start_response, "200 OK", "unsubscribed.html", email=email)

    def _refuse(
        self, start_response: StartResponse, status: str, problem: Problem, extra: list | None = None
    ) -> Iterable[bytes]:
        return self._respond(start_response, status, "unsubscribe_error.html", extra, problem=problem)

    def _respond(
        self,
        start_response: StartResponse,
        status: str,
        page: str,
        extra: list | None = None,
        **context: object,
    ) -> Iterable[bytes]:
        """`page` from templates/pages/, or one plain line if a workspace's override of it is broken."""
        try:
            body = render_page(
                self.workspace,
                page,
                lang="en",
                newsletter=self.newsletter_name,
                one_click=ONE_CLICK,
                **context,
            ).encode()
            content_type = "text/html; charset=utf-8"
        except NewsletterError as exc:
            log.error("the page template failed: %s", exc.message)  # the unsubscribe itself stands
            body, content_type = f"{status}\n".encode(), "text/plain; charset=utf-8"
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),  # the token must not leak to other sites
            *(extra or []),
        ]
        start_response(status, headers)
        return [body]


def make_unsubscribe_server(app: UnsubscribeApp, host: str = "127.0.0.1", port: int = 8025) -> WSGIServer:
    """A threaded HTTP server for the app (port 0 picks a free port: see server.server_port)."""
    return make_wsgi_server(app, host, port, DeliveryError)


def serve(settings: Settings, host: str, port: int, dev_key: bool, announce: Callable[[str], None]) -> None:
    """Run the endpoint until interrupted; `announce` receives the one line saying where it listens."""
    secret, is_dev = signing_secret(dev_ok=dev_key)
    app = UnsubscribeApp(settings.workspace, secret, settings.list_id, settings.name, open_state(settings))
    server = make_unsubscribe_server(app, host, port)
    note = " with the DEVELOPMENT key (links in real mail will not verify)" if is_dev else ""
    announce(f"Unsubscribe endpoint on http://{host}:{server.server_port}/?token=...{note}; Ctrl-C stops it")
    serve_until_interrupted(server)
