"""Read the site's feed (RSS, Atom or JSON Feed) into plain entries: title, link, date, topics, text."""

from __future__ import annotations

import calendar
import json
import re
import xml.sax
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

import feedparser  # type: ignore[import-untyped]
import lxml.etree
import lxml.html

from newsletter.errors import NewsletterError
from newsletter.importers.fetch import FEED_TYPES, FetchError, FetchPolicy, fetch, link_problem
from newsletter.importers.sources import is_link

JSON_FEED_VERSION = "https://jsonfeed.org/version/"
_KINDS = {"rss20": "RSS 2.0", "atom10": "Atom 1.0", "rss10": "RSS 1.0", "atom03": "Atom 0.3"}
_SPACE = re.compile(r"\s+")


class FeedError(NewsletterError):
    """A feed could not be read, or one of its entries cannot be imported as it is."""


@dataclass(frozen=True)
class FeedEntry:
    """One entry of the feed, as plain values; `number` is its 1-based place, for messages."""

    number: int
    title: str | None
    link: str | None
    published: date | None  # in the site's time zone
    topics: tuple[str, ...]
    description: str | None  # plain text
    no_date: str | None = None  # why `published` is None: missing, unreadable, only an update date

    @property
    def name(self) -> str:
        return f"entry {self.number}" + (f" ({self.title!r})" if self.title else "")


@dataclass(frozen=True)
class Feed:
    source: str
    kind: str  # e.g. "RSS 2.0", "Atom 1.0", "JSON Feed 1.1"
    entries: tuple[FeedEntry, ...]


def load_feed(location: str | Path, tz: tzinfo, policy: FetchPolicy | None = None) -> Feed:
    """Read a feed from a file or an https URL; a feed that cannot be used at all is a FeedError."""
    if is_link(location):
        try:
            data = fetch(str(location), FEED_TYPES, policy).body
        except FetchError as exc:
            raise FeedError(exc.message) from None
    else:
        try:
            data = Path(location).read_bytes()
        except FileNotFoundError:
            raise FeedError(f"{location}: file not found; give the feed's file or its https URL") from None
        except OSError as exc:
            raise FeedError(f"{location}: cannot read ({exc.strerror})") from None
    return parse_feed(data, str(location), tz)


def parse_feed(data: bytes, source: str, tz: tzinfo) -> Feed:
    """Entries of an RSS, Atom or JSON Feed document, newest or not, in the feed's own order."""
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return _json_feed(data, source, tz)
    parsed = feedparser.parse(data)  # bytes: a str would be taken for a URL or a file name
    problem = parsed.get("bozo_exception")
    # Without its own XML declaration, feedparser parses the feed behind one line of its own.
    shift = 0 if data.lstrip(b"\xef\xbb\xbf").startswith(b"<?xml") else 1
    if not parsed.version:
        reason = f" ({_describe(problem, shift)})" if problem else ""
        raise FeedError(f"{source}: not an RSS, Atom or JSON feed{reason}")
    if isinstance(problem, xml.sax.SAXException):
        # feedparser reads on past broken XML; a cut-short feed would silently lose entries.
        raise FeedError(f"{source}: broken XML ({_describe(problem, shift)}); fix the feed or fetch it again")
    entries = tuple(_xml_entry(n, e, tz) for n, e in enumerate(parsed.entries, 1))
    return Feed(source, _KINDS.get(parsed.version, parsed.version), entries)


def link_problems(feed: Feed) -> list[str]:
    """Entries whose link the importer will not follow or store (javascript:, http:, relative)."""
    return [
        f"{feed.source}: {entry.name}: link {problem}"
        for entry in feed.entries
        if entry.link is not None and (problem := link_problem(entry.link))
    ]


def _xml_entry(number: int, entry: Any, tz: tzinfo) -> FeedEntry:
    published, no_date = None, None
    if entry.get("published_parsed"):
        # feedparser gives the date as a UTC struct_time; the site's day is the one in its time zone.
        published = datetime.fromtimestamp(calendar.timegm(entry.published_parsed), UTC).astimezone(tz).date()
    elif entry.get("published"):
        no_date = f"its date {entry.published!r} cannot be read"
    elif entry.get("updated"):
        no_date = "it has only an update date, which is not taken for the publication date"
    else:
        no_date = "it has no publication date (pubDate or published)"
    topics = tuple(_clean(t.get("term") or t.get("label")) for t in entry.get("tags", ()))
    return FeedEntry(
        number=number,
        title=_clean(entry.get("title")) or None,
        link=(entry.get("link") or "").strip() or None,
        published=published,
        topics=tuple(t for t in dict.fromkeys(topics) if t),
        description=_plain(entry.get("summary")),
        no_date=no_date,
    )


def _json_feed(data: bytes, source: str, tz: tzinfo) -> Feed:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise FeedError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FeedError(f"{source}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith(JSON_FEED_VERSION):
        raise FeedError(f'{source}: JSON, but not a JSON Feed (no "version": "{JSON_FEED_VERSION}1.1")')
    items = document.get("items")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise FeedError(f'{source}: a JSON Feed\'s "items" must be a list of objects')
    entries = tuple(_json_entry(n, item, tz) for n, item in enumerate(items, 1))
    return Feed(source, f"JSON Feed {version.removeprefix(JSON_FEED_VERSION)}", entries)


def _json_entry(number: int, item: dict, tz: tzinfo) -> FeedEntry:
    published, no_date = None, None
    raw = item.get("date_published")
    if isinstance(raw, str) and raw.strip():
        try:
            stamp = datetime.fromisoformat(raw.strip())
            published = (stamp if stamp.tzinfo else stamp.replace(tzinfo=tz)).astimezone(tz).date()
        except ValueError:
            no_date = f"its date {raw!r} cannot be read (RFC 3339, e.g. 2026-05-06T09:00:00-04:00)"
    elif item.get("date_modified"):
        no_date = "it has only an update date, which is not taken for the publication date"
    else:
        no_date = "it has no publication date (date_published)"
    tags = item.get("tags")
    tags = tags if isinstance(tags, list) else []
    text = item.get("summary") or item.get("content_text")
    return FeedEntry(
        number=number,
        title=_clean(item.get("title")) or None,
        link=_clean(item.get("url")) or None,
        published=published,
        topics=tuple(dict.fromkeys(t for t in (_clean(tag) for tag in tags) if t)),
        description=_clean(text) or _plain(item.get("content_html")),
        no_date=no_date,
    )


def _clean(value: object) -> str:
    return _SPACE.sub(" ", value).strip() if isinstance(value, str) else ""


def _plain(html: object) -> str | None:
    """The text of an HTML description, one line."""
    if not isinstance(html, str) or not html.strip():
        return None
    try:
        text = lxml.html.fragment_fromstring(html, create_parent="div").text_content()
    except (lxml.etree.ParserError, ValueError):
        text = html
    return _clean(text) or None


def _describe(problem: object, shift: int) -> str:
    """An XML error as `line 2, column 3: not well-formed`, without the parser's `<unknown>` name."""
    if isinstance(problem, xml.sax.SAXParseException):
        line = max((problem.getLineNumber() or 1) - shift, 1)
        return f"line {line}, column {problem.getColumnNumber()}: {problem.getMessage()}"
    text = str(problem).strip()
    return text.splitlines()[0] if text else type(problem).__name__
