"""Fetch one page or feed over https with hard limits: time, size, redirects and content type."""

from __future__ import annotations

import time
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import urljoin, urlsplit

import requests

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
    # Tests only: fetch every https URL from this loopback http origin (path and query kept),
    # as curl's --connect-to does, so a test site can serve the real site's links.
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


def fetch(url: str, accept: tuple[str, ...], policy: FetchPolicy | None = None) -> Fetched:
    """GET `url` (https only), following at most `policy.max_redirects` redirects to https URLs.

    The body must be one of the `accept` media types and at most `policy.max_bytes`; reading stops
    at that limit rather than after the whole response has arrived.
    """
    policy = policy or FetchPolicy()
    problem = link_problem(url)
    if problem:
        raise FetchError(problem)
    started = time.monotonic()
    seen = [url]
    with requests.Session() as session:
        # A test origin is on loopback: no proxy from the environment may stand in between.
        session.trust_env = policy.test_origin is None
        while True:
            response = _get(session, url, accept, policy)
            with response:
                if not response.is_redirect:
                    return _body(response, url, accept, policy, started)
                target = urljoin(url, response.headers.get("location", ""))
            problem = link_problem(target)
            if problem:
                raise FetchError(f"{seen[0]}: redirected to {problem}")
            if target in seen:
                loop = " -> ".join([*seen[seen.index(target) :], target])
                raise FetchError(f"{seen[0]}: redirect loop ({loop})")
            if len(seen) > policy.max_redirects:
                raise FetchError(f"{seen[0]}: more than {policy.max_redirects} redirects; check the link")
            seen.append(target)
            url = target


def _get(
    session: requests.Session, url: str, accept: tuple[str, ...], policy: FetchPolicy
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
        raise FetchError(f"{url}: no answer within {policy.timeout:g} s; try again later") from None
    except requests.RequestException as exc:
        raise FetchError(f"{url}: cannot fetch ({_reason(exc)})") from None


def _body(
    response: requests.Response, url: str, accept: tuple[str, ...], policy: FetchPolicy, started: float
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
            # The read timeout bounds each read; a server that trickles bytes meets the deadline.
            if time.monotonic() - started > policy.deadline:
                raise FetchError(f"{url}: not finished within {policy.deadline:g} s; stopped reading")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise FetchError(f"{url}: the download broke off ({_reason(exc)})") from None
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
