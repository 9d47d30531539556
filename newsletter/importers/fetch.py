"""Fetch one page or feed over https with hard limits: time, size, redirects, content type, public hosts.

The importer fetches what a page or a feed links to, so a link must not reach into the network
the tool runs in (SSRF): every URL, each redirect hop included, is refused when its host is or
resolves to a loopback, private, link-local, shared, multicast or otherwise reserved address,
and the address actually connected to is checked again (a name may resolve differently the
second time). An intranet site needs `allow_private_hosts`. The whole fetch has a deadline that
holds while waiting for bytes: a watchdog shuts the connection when it passes, so a server that
trickles a byte every few seconds (each read within the read timeout) is cut off at the deadline.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from newsletter import __version__
from newsletter.errors import NewsletterError

USER_AGENT = f"newsletter/{__version__} (summary importer; +https://pypi.org/project/newsletter/)"
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/xml",
    "text/xml",
)
_CHUNK = 64 * 1024


class FetchError(NewsletterError):
    """A URL could not be fetched within the limits, or is not one the importer follows."""


@dataclass(frozen=True)
class FetchPolicy:
    """The limits of one fetch; the defaults suit the site's pages and feed."""

    timeout: float = 15.0  # seconds to connect, and between two reads
    deadline: float = 60.0  # seconds for the whole fetch, redirects included
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = USER_AGENT
    # An intranet site: hosts on loopback, private or reserved addresses may be fetched.
    allow_private_hosts: bool = False
    # Tests only: fetch every https URL from this loopback http origin (path and query kept),
    # as curl's --connect-to does, so a test site can serve the real site's links. The hosts the
    # URLs name are still checked, though not looked up in DNS (tests run offline).
    test_origin: str | None = None

    def __post_init__(self) -> None:
        if self.test_origin is not None and not _is_loopback_origin(self.test_origin):
            raise ValueError(f"test_origin must be an http origin on loopback, got {self.test_origin!r}")


@dataclass(frozen=True)
class Fetched:
    url: str  # the final URL, after redirects
    content_type: str  # the media type alone, lowercase, e.g. text/html
    body: bytes
    charset: str | None = None  # as the Content-Type header names it


def link_problem(url: str) -> str | None:
    """Why the importer will not follow `url` (only absolute https links), or None if it will."""
    parts = urlsplit(url.strip())
    if parts.scheme == "https" and parts.netloc:
        return None
    if parts.scheme in ("http", "https"):
        what = "a plain http link" if parts.scheme == "http" else "an https link without a host"
        return f"{url!r} is {what}; only https links are imported"
    shown = url if len(url) <= 60 else url[:57] + "..."
    scheme = f"a {parts.scheme}: link" if parts.scheme else "not an absolute link"
    return f"{shown!r} is {scheme}; only https links are imported"


def address_problem(address: IPv4Address | IPv6Address) -> str | None:
    """Why an address is not on the public internet (loopback, private...), or None if it is."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for kind, flag in (  # the narrow kinds first: Python counts most special ranges as private too
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("an unspecified", address.is_unspecified),
        ("a multicast", address.is_multicast),
        ("a reserved", address.is_reserved),
        ("a private", address.is_private),
    ):
        if flag:
            return f"{kind} address ({address})"
    return None if address.is_global else f"a reserved address ({address})"


def host_problem(host: str, resolve: bool = True) -> str | None:
    """Why the importer will not fetch from `host` (it is, or resolves to, a non-public address)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return f"{host} is a loopback name"
    try:
        literal = address_problem(ip_address(name))
    except ValueError:
        pass
    else:
        return f"{host} is {literal}" if literal else None
    if not resolve:
        return None
    try:
        found = {info[4][0] for info in socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        return None  # the fetch itself says the name does not resolve
    for address in sorted(found):
        problem = address_problem(ip_address(str(address).partition("%")[0]))
        if problem:
            return f"{host} resolves to {problem}"
    return None


def fetch(url: str, accept: tuple[str, ...], policy: FetchPolicy | None = None) -> Fetched:
    """GET `url` (https only), following at most `policy.max_redirects` redirects to https URLs.

    The body must be one of the `accept` media types and at most `policy.max_bytes`; reading stops
    at that limit rather than after the whole response has arrived. Hosts must be public (see the
    module's docstring) unless `policy.allow_private_hosts`.
    """
    policy = policy or FetchPolicy()
    problem = link_problem(url) or _private(url, policy)
    if problem:
        raise FetchError(problem)
    seen = [url]
    with _Watchdog(policy.deadline) as watchdog, _session(policy, watchdog) as session:
        while True:
            response = _get(session, url, accept, policy, watchdog)
            with response:
                if not response.is_redirect:
                    return _body(response, url, accept, policy, watchdog)
                target = urljoin(url, response.headers.get("location", ""))
            problem = link_problem(target) or _private(target, policy)
            if problem:
                raise FetchError(f"{seen[0]}: redirected to {problem}")
            if target in seen:
                loop = " -> ".join([*seen[seen.index(target) :], target])
                raise FetchError(f"{seen[0]}: redirect loop ({loop})")
            if len(seen) > policy.max_redirects:
                raise FetchError(f"{seen[0]}: more than {policy.max_redirects} redirects; check the link")
            seen.append(target)
            url = target


def _private(url: str, policy: FetchPolicy) -> str | None:
    if policy.allow_private_hosts:
        return None
    host = urlsplit(url).hostname or ""
    problem = host_problem(host, resolve=policy.test_origin is None)
    if problem is None:
        return None
    return (
        f"{url}: {problem}; the importer fetches only public web addresses "
        "(an intranet site: set import.allow_private_hosts: true in newsletter.yaml)"
    )


class _Watchdog:
    """Shuts the fetch's connections when its deadline passes, whatever a read is waiting for."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self._lock = threading.Lock()
        self._connections: list[HTTPConnection] = []
        self._timer = threading.Timer(deadline, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._timer.cancel()
            self._connections.clear()

    def watch(self, connection: HTTPConnection) -> None:
        with self._lock:
            if self.expired:
                raise OSError("the fetch's deadline has passed")
            self._connections.append(connection)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for connection in self._connections:
                sock = connection.sock
                if sock is not None:  # the plain socket's shutdown: TLS's would drop its state under a reader
                    with suppress(OSError):
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _guarded(base: type[HTTPConnection], watchdog: _Watchdog, check_peer: bool) -> type[HTTPConnection]:
    """`base` that checks the address it connected to and hands itself to the watchdog."""

    def _new_conn(self: HTTPConnection) -> socket.socket:
        sock = base._new_conn(self)
        if check_peer:
            problem = address_problem(ip_address(sock.getpeername()[0].partition("%")[0]))
            if problem:
                sock.close()
                raise OSError(f"{self.host} connected to {problem}; only public web addresses are fetched")
        return sock

    def connect(self: HTTPConnection) -> None:
        watchdog.watch(self)
        base.connect(self)

    return type(f"Guarded{base.__name__}", (base,), {"_new_conn": _new_conn, "connect": connect})


@contextmanager
def _session(policy: FetchPolicy, watchdog: _Watchdog) -> Iterator[requests.Session]:
    check_peer = not policy.allow_private_hosts and policy.test_origin is None
    pools: dict[str, Any] = {}
    for scheme, pool, connection in (
        ("http", HTTPConnectionPool, HTTPConnection),
        ("https", HTTPSConnectionPool, HTTPSConnection),
    ):
        guarded = _guarded(connection, watchdog, check_peer)
        pools[scheme] = type(f"Guarded{pool.__name__}", (pool,), {"ConnectionCls": guarded})
    adapter = HTTPAdapter()
    adapter.poolmanager.pool_classes_by_scheme = pools
    with requests.Session() as session:
        # A test origin is on loopback: no proxy from the environment may stand in between.
        session.trust_env = policy.test_origin is None
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        yield session


def _get(
    session: requests.Session, url: str, accept: tuple[str, ...], policy: FetchPolicy, watchdog: _Watchdog
) -> requests.Response:
    headers = {"User-Agent": policy.user_agent, "Accept": ", ".join(accept) + ", */*;q=0.1"}
    try:
        return session.get(
            _physical(url, policy),
            headers=headers,
            timeout=policy.timeout,
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout:
        _check_deadline(url, watchdog)
        raise FetchError(f"{url}: no answer within {policy.timeout:g} s; try again later") from None
    except requests.RequestException as exc:
        _check_deadline(url, watchdog)
        raise FetchError(f"{url}: cannot fetch ({_reason(exc)})") from None


def _check_deadline(url: str, watchdog: _Watchdog) -> None:
    if watchdog.expired:
        raise FetchError(f"{url}: not finished within {watchdog.deadline:g} s; stopped") from None


def _body(
    response: requests.Response, url: str, accept: tuple[str, ...], policy: FetchPolicy, watchdog: _Watchdog
) -> Fetched:
    if response.status_code != 200:
        raise FetchError(f"{url}: the server answered {response.status_code} {response.reason}")
    media, _, params = response.headers.get("content-type", "").partition(";")
    media = media.strip().lower()
    pairs = (param.partition("=") for param in params.split(";"))
    charset = next((v.strip().strip('"') for k, _, v in pairs if k.strip().lower() == "charset"), None)
    if media not in accept:
        raise FetchError(f"{url}: got content type {media or 'none'!r}; expected {' or '.join(accept)}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchError(f"{url}: {_size(int(declared))} is over the {_size(policy.max_bytes)} limit")
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > policy.max_bytes:
                raise FetchError(f"{url}: more than the {_size(policy.max_bytes)} limit; stopped reading")
            chunks.append(chunk)
    except requests.RequestException as exc:
        _check_deadline(url, watchdog)
        raise FetchError(f"{url}: the download broke off ({_reason(exc)})") from None
    _check_deadline(url, watchdog)  # shut mid-read, the body may merely look complete
    return Fetched(url, media, b"".join(chunks), charset or None)


def _physical(url: str, policy: FetchPolicy) -> str:
    """Where `url` is really fetched from: itself, or the test origin with the same path."""
    if policy.test_origin is None:
        return url
    parts = urlsplit(url)
    return policy.test_origin.rstrip("/") + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _is_loopback_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):.0f} MB" if count >= 1024 * 1024 else f"{count} bytes"


def _reason(exc: requests.RequestException) -> str:
    """The innermost cause of a requests error, which names what went wrong (refused, DNS, TLS)."""
    cause: BaseException = exc
    for _ in range(10):  # exception chains are short; the bound only guards against a cycle
        inner = cause.__cause__ or (cause.args[0] if cause.args else None)
        if not isinstance(inner, BaseException):
            break
        cause = inner
    text = str(cause).strip() or type(cause).__name__
    return text.splitlines()[0][:200]
