"""The service under waitress: a production WSGI server with read timeouts and room for bursts.

waitress reads requests in its event loop and hands only complete ones to its threads, so a client
that never finishes its headers holds a socket, not a thread, until `read_timeout` closes it. The
listen backlog and connection limit are sized for a burst of one-click unsubscribes (a provider
may send a thousand at once after a send); the wsgiref endpoint this replaces had a backlog of 5.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import waitress
from flask import Flask

from newsletter.bounces.sns import MAX_BODY as MAX_SNS_BODY
from newsletter.errors import NewsletterError
from newsletter.web.service.settings import ServiceSettings

log = logging.getLogger("newsletter.service")

BACKLOG = 2048  # connections the kernel queues before waitress accepts them
CONNECTIONS = 4000  # open connections at once (idle and slow ones included); poll() has no 1024 limit
MAX_HEADERS = 16 * 1024  # bytes of request line and headers


class ServeError(NewsletterError):
    """The service cannot listen where asked."""


def make_server(app: Flask, host: str, port: int, service: ServiceSettings) -> Any:
    """A waitress server for `app` (port 0 picks a free one: see `.effective_port`), not yet running."""
    proxy: dict[str, Any] = {}
    if service.trusted_proxy:
        proxy = {
            "trusted_proxy": service.trusted_proxy,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
            "clear_untrusted_proxy_headers": True,
        }
    try:
        return waitress.create_server(
            app,
            host=host,
            port=port,
            threads=service.threads,
            channel_timeout=service.read_timeout,
            cleanup_interval=max(1, min(5, service.read_timeout)),  # how often idle sockets are looked at
            connection_limit=CONNECTIONS,
            backlog=BACKLOG,
            asyncore_use_poll=True,
            # The largest body any route takes: an SNS message. Forms keep their own 64 KB limit (Flask's).
            max_request_body_size=MAX_SNS_BODY,
            max_request_header_size=MAX_HEADERS,
            expose_tracebacks=False,
            ident="newsletter",
            url_prefix=service.url_prefix,
            **proxy,
        )
    except OSError as exc:
        raise ServeError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); try another --port"
        ) from None
    except ValueError:  # waitress' word for a host that does not resolve
        raise ServeError(
            f"cannot listen on {host}:{port}: this machine cannot resolve {host!r}; give --host an IP "
            "address of this machine (127.0.0.1, 0.0.0.0) or a name it resolves"
        ) from None


class Running:
    """A server running in a background thread (tests and benchmarks); `stop()` ends it."""

    def __init__(self, server: Any):
        self.server = server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="service-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}/"

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.server.asyncore.loop(timeout=0.2, map=self.server._map, use_poll=True, count=1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for channel in list(self.server._map.values()):
            channel.close()
        self.server.task_dispatcher.shutdown()


def serve_forever(server: Any) -> None:
    """Serve until Ctrl-C or SIGTERM; requests in flight finish first."""
    try:
        server.run()
    finally:
        server.task_dispatcher.shutdown()
        server.close()
