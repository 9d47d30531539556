"""A copy of the site on loopback for the import tests: its pages, its feeds, and some bad answers.

Imported by its bare name, like `delivery_helpers`. The fetcher reaches it through
`FetchPolicy(test_origin=...)`, so the feeds keep the site's real https links.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from newsletter.importers.fetch import FetchPolicy

FEEDS = Path(__file__).parent / "feeds"
SITE = "https://msresearch.example.org"
MANIFEST = json.loads((FEEDS / "pages.json").read_text(encoding="utf-8"))
HUGE = 50 * 1024 * 1024

Answer = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class LoopbackSite:
    origin: str
    routes: dict[str, Answer]
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, User-Agent)
    sent: dict[str, int] = field(default_factory=dict)  # bytes written by the streaming answers
    stopping: threading.Event = field(default_factory=threading.Event)  # set when the test ends

    @property
    def policy(self) -> FetchPolicy:
        return FetchPolicy(test_origin=self.origin, timeout=5, deadline=10)

    def serve(self, path: str, body: bytes | str, content_type: str, status: int = 200) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = lambda handler: _reply(handler, status, content_type, data)

    def redirect(self, path: str, location: str) -> None:
        self.routes[path] = lambda handler: _reply(handler, 302, "text/html", b"", {"Location": location})

    def stream(self, path: str, content_type: str, total: int) -> None:
        """An answer of `total` bytes with no Content-Length, written until the reader hangs up."""

        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", content_type)
            handler.end_headers()
            chunk, written = b"x" * 65536, 0
            try:
                while written < total:
                    handler.wfile.write(chunk)
                    written += len(chunk)
            except OSError:
                pass  # the reader stopped at its limit and closed the connection
            self.sent[path] = written

        self.routes[path] = answer

    def trickle(self, path: str, total: int, interval: float, in_headers: bool = False) -> None:
        """An answer written one byte every `interval` seconds (in the headers, or in a body of `total`).

        Each byte comes well within any read timeout; only a deadline on the whole fetch ends it.
        `sent[path]` is the bytes written when the reader hung up (or all of them).
        """

        def answer(handler: BaseHTTPRequestHandler) -> None:
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
            body = b"x" * total
            if in_headers:
                head, body = head + b"X-Slow: " + b"y" * total + b"\r\n", b""
            whole = head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
            slow_from = 0 if in_headers else len(whole) - len(body)
            written = 0
            try:
                handler.wfile.write(whole[:slow_from])
                written = slow_from
                for n in range(slow_from, len(whole)):
                    if self.stopping.wait(interval):
                        break
                    handler.wfile.write(whole[n : n + 1])
                    handler.wfile.flush()
                    written += 1
            except OSError:
                pass  # the reader hung up
            self.sent[path] = written - slow_from
            handler.close_connection = True

        self.routes[path] = answer

    def wait_sent(self, path: str, seconds: float = 5.0) -> int:
        end = time.monotonic() + seconds
        while path not in self.sent and time.monotonic() < end:
            time.sleep(0.02)
        return self.sent[path]


def _reply(
    handler: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes, headers: dict | None = None
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def site_routes(site: LoopbackSite, layout: str | None = None) -> None:
    """The five seed pages (each in the site's own layout, or all in `layout`) and the three feeds."""
    for page in MANIFEST:
        html = (FEEDS / "html" / (layout or page["site_layout"]) / page["file"]).read_bytes()
        site.serve(page["path"], html, "text/html; charset=utf-8")
    site.serve("/feed.xml", (FEEDS / "rss.xml").read_bytes(), "application/rss+xml; charset=utf-8")
    site.serve("/atom.xml", (FEEDS / "atom.xml").read_bytes(), "application/atom+xml")
    site.serve("/feed.json", (FEEDS / "feed.json").read_bytes(), "application/feed+json")


@pytest.fixture(name="site")
def site_fixture() -> Iterator[LoopbackSite]:
    """The site on 127.0.0.1, on a free port, for one test."""
    yield from _serve(None)


@pytest.fixture(name="secure_site")
def secure_site_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackSite]:
    """The same site over HTTPS at https://127.0.0.1:PORT, its test CA trusted by requests."""
    from tls_helpers import make_certificates

    certificates = make_certificates(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.cert, certificates.key)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates.ca))
    yield from _serve(context)


def _serve(tls: ssl.SSLContext | None) -> Iterator[LoopbackSite]:
    routes: dict[str, Answer] = {}
    holder: list[LoopbackSite] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            holder[0].requests.append((self.path, self.headers.get("User-Agent", "")))
            answer = routes.get(self.path.split("?")[0])
            if answer is None:
                _reply(self, 404, "text/html", b"<h1>Not found</h1>")
            else:
                answer(self)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    loopback = LoopbackSite(f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}", routes)
    holder.append(loopback)
    site_routes(loopback)
    yield loopback
    loopback.stopping.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
