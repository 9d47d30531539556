"""A small threaded HTTP server for a WSGI app, run until Ctrl-C: the preview and the unsubscribe endpoint.

Both are standard-library `wsgiref` servers: one thread per request (a slow render or a file lock
never blocks the next request), and no access log, because the unsubscribe URL's query string
holds the subscriber's token and logs travel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from newsletter.errors import NewsletterError

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict, Callable[..., Any]], Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a request in flight never keeps the process alive after Ctrl-C


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        log.debug("%s %s", self.command, self.path.split("?")[0])  # never the query string


def make_wsgi_server(app: WsgiApp, host: str, port: int, error: type[NewsletterError]) -> WSGIServer:
    """A threaded server for `app` (port 0 picks a free port: see server.server_port).

    A port that is taken or not allowed is the user's to fix: it raises `error`, one line.
    """
    try:
        return make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    except OSError as exc:
        raise error(f"cannot listen on {host}:{port} ({exc.strerror or exc}); try another --port") from None


def serve_until_interrupted(server: WSGIServer) -> None:
    """Serve until Ctrl-C, then close the listening socket."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
