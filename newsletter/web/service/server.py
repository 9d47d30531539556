"""The service under waitress: a production WSGI server with read timeouts and room for bursts.

waitress reads requests in its event loop and hands only complete ones to its threads, so a client
that never finishes its headers holds a socket, not a thread. Four limits keep slow clients from
holding the server: a connection silent for `read_timeout` is closed (waitress' channel_timeout);
a request must arrive whole within `read_timeout` of its first byte, however steadily it trickles
(a header line every 10 s keeps a connection busy, not alive); one client address holds at most
`connections_per_client` connections (not the trusted proxy, through which everyone comes); and at
the connection limit the connections that have waited longest for a whole request are closed to
make room (attackers from many addresses, each under the cap, would otherwise fill it: measured in
bench/bench_slow_clients.py).
The listen backlog and connection limit are sized for a burst of one-click unsubscribes (a
provider may send a thousand at once after a send), within the process's file-descriptor limit;
at that limit, accepting pauses a moment with one log line instead of a traceback per attempt.
"""

from __future__ import annotations

import errno
import heapq
import logging
import resource
import select
import threading
import time
from collections import Counter
from typing import Any

from flask import Flask
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from newsletter.bounces.sns import MAX_BODY as MAX_SNS_BODY
from newsletter.errors import NewsletterError
from newsletter.web.service.settings import ServiceSettings

log = logging.getLogger("newsletter.service")

BACKLOG = 2048  # connections the kernel queues before waitress accepts them
# Open connections at once (idle and slow ones included). Each pass of the event loop walks them all,
# so a larger limit slows every request under attack (4,000: a quarter of 1,000 unsubscribes late
# under load in bench_slow_clients.py); a burst beyond it waits in the backlog while room is made.
CONNECTIONS = 1024
MAX_HEADERS = 16 * 1024  # bytes of request line and headers
FD_RESERVE = 128  # descriptors kept for the database, the mail server, templates and logs
ACCEPT_BATCH = 256  # connections accepted per pass of the event loop
EVICT_BATCH = 256  # connections closed at once to make room at the connection limit
EVICT_GRACE_S = 1.0  # a connection younger than this is never closed to make room


class _Channel(HTTPChannel):
    """waitress' connection, remembering when the request it is reading began to arrive."""

    request_began: float | None = None
    client: str | None = None  # the address counted against the per-client cap

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_began = time.time()
        done = bool(super().received(data))
        if self.request is None:  # every request in `data` arrived whole
            self.request_began = None
        return done

    def del_channel(self, map: Any = None) -> None:  # noqa: A002 - wasyncore's name
        if self.client is not None and isinstance(self.server, _Server):
            self.server.released(self.client)
            self.client = None
        super().del_channel(map)


class _Server(TcpWSGIServer):
    """waitress' TCP server with a deadline on each request, a per-client cap and calm at the fd limit."""

    channel_class = _Channel
    per_client = ServiceSettings.connections_per_client
    exempt: frozenset[str] = frozenset()  # the trusted proxy: every client comes through it
    _paused_until = 0.0
    _evict_logged = 0.0
    _refusing: set[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._clients: Counter[str] = Counter()
        self._refusing = set()
        super().__init__(*args, **kwargs)

    def handle_accept(self) -> None:
        # What the backlog holds, not one connection per pass: a pass walks every open connection,
        # so with thousands open, one at a time leaves a burst of readers queued for many seconds.
        for _ in range(ACCEPT_BATCH):
            if len(self._map) >= self.adj.connection_limit or not self._accept_one():
                return

    def _accept_one(self) -> bool:
        """Accept (or refuse) one waiting connection; False when none waits or accepting must pause."""
        try:
            accepted = self.accept()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                if time.time() >= self._paused_until:
                    log.error("cannot accept connections: %s; pausing for a second", exc.strerror or exc)
                self._paused_until = time.time() + 1.0
            return False  # anything else is one client's aborted connection
        if accepted is None:
            return False
        conn, addr = accepted
        client = addr[0] if isinstance(addr, tuple) else str(addr)
        if client not in self.exempt and self._clients[client] >= self.per_client:
            if client not in self._refusing:
                self._refusing.add(client)
                log.warning("one client holds %d connections: refusing more from it", self.per_client)
            conn.close()
            return True
        try:
            self.set_socket_options(conn)
        except OSError:
            conn.close()
            return True
        self._clients[client] += 1
        channel = self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)
        channel.client = client
        return True

    def released(self, client: str) -> None:
        self._clients[client] -= 1
        if self._clients[client] <= 0:
            del self._clients[client]
            self._refusing.discard(client)

    def readable(self) -> bool:
        now = time.time()
        if now < self._paused_until:  # out of descriptors: let connections close first
            return False
        if self.accepting and len(self._map) >= self.adj.connection_limit and self._someone_waits():
            self._make_room(now)
        return bool(super().readable())

    def _someone_waits(self) -> bool:
        """Whether a connection waits in the listen backlog (the socket polls readable)."""
        return bool(select.select([self.socket], [], [], 0)[0])

    def _make_room(self, now: float) -> None:
        """At the connection limit, close the connections that have waited longest without a whole
        request (attackers from many addresses, each under its cap, can fill the limit with them).
        A reader's request arrives in one packet and is then being served, so it is never chosen."""
        waiting = [
            (began, channel)
            for channel in self.active_channels.values()
            if not channel.requests
            and not channel.will_close
            and (began := getattr(channel, "request_began", None) or channel.creation_time)
            < now - EVICT_GRACE_S
        ]
        chosen = heapq.nsmallest(EVICT_BATCH, waiting, key=lambda pair: pair[0])
        for _, channel in chosen:
            channel.will_close = True  # closed by the loop on its next pass (never while it iterates)
        if chosen and now >= self._evict_logged + 60:
            self._evict_logged = now
            log.warning("at the connection limit: closing the connections that waited longest for a request")

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = now - self.adj.channel_timeout
        for channel in self.active_channels.values():
            began = getattr(channel, "request_began", None)
            if began is not None and began < cutoff and not channel.requests:
                channel.will_close = True  # it has had its time to send one request


def connection_limit(wanted: int = CONNECTIONS) -> int:
    """Connections the process can hold: raises its soft file-descriptor limit as far as allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, soft - FD_RESERVE))


class ServeError(NewsletterError):
    """The service cannot listen where asked."""


def make_server(
    app: Flask,
    host: str,
    port: int,
    service: ServiceSettings,
    per_client: int | None = None,
    connections: int = CONNECTIONS,
) -> Any:
    """A waitress server for `app` (port 0 picks a free one: see `.effective_port`), not yet running.

    `per_client` (default: the setting) and `connections` are smaller in tests."""
    proxy: dict[str, Any] = {}
    if service.trusted_proxy:
        proxy = {
            "trusted_proxy": service.trusted_proxy,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
            "clear_untrusted_proxy_headers": True,
        }
    limit = connection_limit(connections)
    if limit < connections:
        log.warning("the file-descriptor limit allows %d connections at once, not %d", limit, connections)
    try:
        adjustments = Adjustments(
            host=host,
            port=port,
            threads=service.threads,
            channel_timeout=service.read_timeout,
            cleanup_interval=max(1, min(5, service.read_timeout)),  # how often idle sockets are looked at
            connection_limit=limit,
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
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adjustments.threads)
        task_map: dict[int, Any] = {}
        servers = [
            _Server(app, task_map, dispatcher=dispatcher, adj=adjustments, sockinfo=sockinfo)
            for sockinfo in adjustments.listen
        ]
    except OSError as exc:
        raise ServeError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); try another --port"
        ) from None
    except ValueError:  # waitress' word for a host that does not resolve
        raise ServeError(
            f"cannot listen on {host}:{port}: this machine cannot resolve {host!r}; give --host an IP "
            "address of this machine (127.0.0.1, 0.0.0.0) or a name it resolves"
        ) from None
    for server in servers:
        server.per_client = per_client or service.connections_per_client
        server.exempt = frozenset(filter(None, [service.trusted_proxy]))
        if service.trusted_proxy == "*":  # any peer may be the proxy: no address stands for one client
            server.per_client = limit
    if len(servers) == 1:
        return servers[0]
    listening = [(s.effective_host, s.effective_port) for s in servers]
    return MultiSocketServer(task_map, adjustments, listening, dispatcher)


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
