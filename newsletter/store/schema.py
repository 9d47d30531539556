"""Every key of newsletter.yaml, declared once: what it holds, its default, and what to write instead.

`SCHEMA` below is the one definition of the file; `check()` walks a parsed document against it and
returns the values with their defaults filled in, plus every problem at once as
`newsletter.yaml:LINE: key: what is wrong`. The settings' dataclasses (store/config.py, the bounce
and service settings) are built from those values and add only rules that join several keys.

Option descriptors, as MkDocs declares its config, rather than pydantic or msgspec: the file's
problems must be worded for an editor (what is expected, with an example, and for secrets where
they go instead), must carry the line of the key (store/yamltext.py's line map, which a model
library does not know), and must all come out in one pass; a descriptor is a few lines of plain
Python, and the package gains no dependency whose error wording would leak into ours.

One rule per kind of value: a `Number` is finite (`.nan` and `.inf` are refused everywhere), a
`Whole` number is an int (not a bool), a `Secret` key is refused with the variable that holds it.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newsletter.store import validate as v
from newsletter.store.branding import MAX_LOGO_HEIGHT, MAX_LOGO_WIDTH
from newsletter.store.dburl import EXAMPLE as DATABASE_EXAMPLE
from newsletter.store.dburl import url_problem
from newsletter.store.fileio import YamlDocument


class Invalid(Exception):
    """A value does not fit its option; the message says what to write."""


@dataclass(frozen=True)
class Option:
    """One key: `expected` words a valid value for the problem line; `default` fills a missing key."""

    expected: str
    default: Any = None
    required: bool = False

    def parse(self, value: Any) -> Any:
        return value

    def fail(self) -> Invalid:
        return Invalid(f"expected {self.expected}")


@dataclass(frozen=True)
class Text(Option):
    one_line: bool = True
    longest: int | None = None
    check: Callable[[str], object] | None = None  # a further rule on the stripped text (truthy: fine)

    def parse(self, value: Any) -> str:
        if not v.text(value) or (self.one_line and not v.single_line(value.strip())):
            raise self.fail()
        text = value.strip()
        if (self.longest and len(text) > self.longest) or (self.check and not self.check(text)):
            raise self.fail()
        return text


@dataclass(frozen=True)
class Email(Option):
    def parse(self, value: Any) -> str:
        if not v.email_address(value):
            raise self.fail()
        return value


@dataclass(frozen=True)
class HttpsUrl(Option):
    placeholder: str | None = None  # a pattern: the URL must contain {placeholder}
    loopback_http: bool = False  # http on this machine too (a test or a local try-out)

    def parse(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail()
        filled = value.replace("{" + self.placeholder + "}", "x") if self.placeholder else value
        if not (v.https_url(filled) or (self.loopback_http and _loopback_http(filled))):
            raise self.fail()
        if self.placeholder and "{" + self.placeholder + "}" not in value:
            raise Invalid(f"the URL pattern must contain {{{self.placeholder}}}")
        return value


@dataclass(frozen=True)
class Number(Option):
    """A finite number in (low, high], or [low, high] with `low_included`."""

    low: float = 0.0
    high: float = math.inf
    low_included: bool = False

    def parse(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail()
        if value > self.high or value < self.low or (value == self.low and not self.low_included):
            raise self.fail()
        return float(value)


@dataclass(frozen=True)
class Whole(Option):
    low: int = 1
    high: int | None = None

    def parse(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < self.low:
            raise self.fail()
        if self.high is not None and value > self.high:
            raise self.fail()
        return value


@dataclass(frozen=True)
class Flag(Option):
    def parse(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail()
        return value


@dataclass(frozen=True)
class Choice(Option):
    choices: tuple[str, ...] = ()

    def parse(self, value: Any) -> str:
        if value not in self.choices:
            raise self.fail()
        return str(value)


@dataclass(frozen=True)
class TimeZone(Option):
    def parse(self, value: Any) -> str:
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(f"unknown time zone {value!r}; use an IANA name like Europe/London") from None
        return str(value)


@dataclass(frozen=True)
class Day(Option):
    """A date (2026-08-01), as the start of that day in UTC; a date-time keeps its moment."""

    def parse(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        day = value if isinstance(value, date) else v.parse_date(value)
        if day is None:
            raise self.fail()
        return datetime.combine(day, time(0), UTC)


@dataclass(frozen=True)
class IpAddress(Option):
    def parse(self, value: Any) -> str:
        try:
            ipaddress.ip_address(str(value))
        except ValueError:
            raise self.fail() from None
        return str(value)


@dataclass(frozen=True)
class ListOf(Option):
    item: Option = field(default_factory=lambda: Option(""))
    non_empty: bool = False

    def parse(self, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list) or (self.non_empty and not value):
            raise self.fail()
        try:
            return tuple(self.item.parse(each) for each in value)
        except Invalid:
            raise self.fail() from None


@dataclass(frozen=True)
class AnyMapping(Option):
    """A mapping whose keys another module reads (`http_api:`): checked to be a mapping only."""

    def parse(self, value: Any) -> dict:
        if not isinstance(value, dict):
            raise self.fail()
        return value


@dataclass(frozen=True)
class Secret(Option):
    """A key that must not be there: secrets come from an environment variable."""

    variable: str = ""

    def parse(self, value: Any) -> Any:
        raise Invalid(f"secrets never go in files: set {self.variable} instead")


@dataclass(frozen=True)
class Database(Option):
    def parse(self, value: Any) -> str:
        if not v.text(value) or not v.single_line(value):
            raise self.fail()
        problem = url_problem(value)
        if problem:
            raise Invalid(problem)
        return value.strip()


@dataclass(frozen=True)
class Section(Option):
    """A mapping of named options; a missing section is None unless `always` fills its defaults."""

    keys: dict[str, Option] = field(default_factory=dict)
    always: bool = False


def _loopback_http(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d\Z")
_DOTTED = re.compile(r"[^\s]+\.[^\s]+\Z")
_FOLDER = "a folder name on one line, without quotes"

SCHEMA = Section(
    "a mapping of settings (key: value)",
    always=True,
    keys={
        "name": Text("the newsletter's name", required=True),
        "site_url": HttpsUrl("the site's absolute https URL, e.g. https://example.org", required=True),
        "summary_url": HttpsUrl("an https URL pattern containing {slug}", placeholder="slug", required=True),
        "sender": Section(
            "a mapping with name and email",
            required=True,
            keys={
                "name": Text("the name shown in From, on one line", required=True),
                "email": Email("an email address such as news@example.org", required=True),
            },
        ),
        "reply_to": Email("an email address"),
        "postal_address": Text("the sender's postal address (for the footer)", required=True),
        "timezone": TimeZone("an IANA time zone", default="UTC"),
        "language": Text("a language tag such as en", default="en"),
        "signature": Text("who signs the editor's note, on one line, e.g. Maya Chen, editor", default=""),
        "provider": Text(
            "a provider name or URL (outbox, smtp, smtp://host:587, ses://REGION)", default="outbox"
        ),
        "outbox": Text("the outbox folder", default="outbox"),
        "list_id": Text(
            "a dotted name without spaces, such as roundup.example.org", required=True, check=_DOTTED.match
        ),
        "unsubscribe": Section(
            "a mapping with url (containing {token}) and mailto",
            required=True,
            keys={
                "url": HttpsUrl(
                    "an https URL pattern containing {token}", placeholder="token", required=True
                ),
                "mailto": Email("an email address"),
            },
        ),
        "preferences_url": HttpsUrl(
            "an https URL pattern containing {token}", placeholder="token", required=True
        ),
        "archive_url": HttpsUrl("an absolute https URL (default: the site's /newsletter/)"),
        "feed_url": HttpsUrl("the site's feed as an absolute https URL"),
        "import": Section(
            "a mapping with ignore_categories, allow_private_hosts",
            always=True,
            keys={
                # None: the site's generic categories (importers/feedmerge.py); [] ignores none.
                "ignore_categories": ListOf(
                    "a list of category names, e.g. [Research, News]", item=Text("a category name")
                ),
                "allow_private_hosts": Flag(
                    "true or false (true: the site is on an intranet; import may fetch private addresses)",
                    default=False,
                ),
            },
        ),
        "smtp": Section(
            "a mapping with host, port, security, username",
            always=True,
            keys={
                "host": Text("a host name", default="localhost"),
                "port": Whole("a port number between 1 and 65535", default=587, high=65535),
                "security": Choice(
                    "one of: starttls, ssl, none", default="starttls", choices=("starttls", "ssl", "none")
                ),
                "username": Text("a user name (the password goes in NEWSLETTER_SMTP_PASSWORD)"),
                "password": Secret("", variable="NEWSLETTER_SMTP_PASSWORD"),
                # RFC 5321 4.5.3.2.6: a client waits 10 minutes for the reply to the final "." of DATA.
                "data_timeout": Number(
                    "seconds above 0 and at most 3600 (default 600)", default=600.0, high=3600
                ),
            },
        ),
        "delivery": Section(
            "a mapping with rate, concurrency, max_attempts, database_timeout, ledger",
            always=True,
            keys={
                "rate": Number("messages per second, a number above 0", default=10.0),
                "concurrency": Whole("a whole number of connections from 1 to 64", default=1, high=64),
                "max_attempts": Whole("a whole number, 1 or more", default=5),
                # A frozen database server keeps its connections open: no server or TCP timeout fires.
                "database_timeout": Number(
                    "seconds above 0 and at most 3600 (default 30)", default=30.0, high=3600
                ),
                "ledger": Text("a path", default=".newsletter/ledger.sqlite3"),
            },
        ),
        "schedule": Section(
            "a mapping, e.g. {require_approval: true}",
            always=True,
            keys={
                # Off when absent (older workspaces); new ones set it (docs/operator/scheduling.md).
                "require_approval": Flag("true or false", default=False),
            },
        ),
        "editions": Section(
            "a mapping, e.g. {name_topics_in_inbox: false}",
            always=True,
            keys={
                # Topic choices are health data; off, a topic edition's inbox line says "your topics".
                "name_topics_in_inbox": Flag("true or false", default=False),
            },
        ),
        "check": Section(
            "a mapping, e.g. {reading_grade_target: 8}",
            always=True,
            keys={
                # NIH's advice for patient material: grade 8 or below.
                "reading_grade_target": Number(
                    "a school grade from 1 to 20, e.g. 8", default=8.0, low=1.0, high=20.0, low_included=True
                ),
            },
        ),
        "dkim": Section(
            "a mapping with selector, domain, key_file",
            keys={
                "selector": Text("required when dkim is set", required=True),
                "domain": Text("required when dkim is set", required=True),
                "key_file": Text("required when dkim is set", required=True),
            },
        ),
        "http_api": AnyMapping("a mapping", default={}),
        "logo": Section(
            "a mapping with src, alt, width, height and optionally dark_src",
            keys={
                "src": HttpsUrl(
                    "the image's absolute https URL (mail clients load it from there)", required=True
                ),
                "dark_src": HttpsUrl("the dark-mode image's absolute https URL"),
                "alt": Text(
                    "the image's text for screen readers, on one line (e.g. the name)", required=True
                ),
                "width": Whole(
                    f"the displayed width in pixels, a whole number from 1 to {MAX_LOGO_WIDTH}",
                    required=True,
                    high=MAX_LOGO_WIDTH,
                ),
                "height": Whole(
                    f"the displayed height in pixels, a whole number from 1 to {MAX_LOGO_HEIGHT}",
                    required=True,
                    high=MAX_LOGO_HEIGHT,
                ),
            },
        ),
        "database": Database(f"a URL such as {DATABASE_EXAMPLE}, or a file path"),
        "bounces": Section(
            "a mapping with address (and imap, sns, limits)",
            keys={
                "address": Email(
                    "an address without '+', such as bounces@example.org",
                    required=True,
                ),
                "soft_limit": Whole("a whole number, 1 or more", default=3),
                "soft_window_issues": Whole("a whole number, 1 or more", default=5),
                "pause_rate": Number("a fraction between 0 and 1, such as 0.05", default=0.05, high=0.999999),
                "pause_min_attempts": Whole("a whole number, 1 or more", default=200),
                "imap": Section(
                    "a mapping with host, port, username, folder, processed_folder",
                    keys={
                        "host": Text("a non-empty string", required=True),
                        "username": Text("a non-empty string", required=True),
                        "password": Secret("", variable="NEWSLETTER_BOUNCE_PASSWORD"),
                        "security": Choice(
                            "ssl or starttls (the mailbox is read over TLS only)",
                            default="ssl",
                            choices=("ssl", "starttls"),
                        ),
                        "port": Whole("a port number between 1 and 65535", high=65535),
                        "folder": Text(_FOLDER, default="INBOX", check=lambda t: '"' not in t),
                        "processed_folder": Text(_FOLDER, default="Processed", check=lambda t: '"' not in t),
                        "ca_file": Text("the path of a PEM certificate"),
                        "timeout": Number("seconds above 0 and at most 600", default=30.0, high=600),
                    },
                ),
                "sns": Section(
                    "a mapping with region (and topic_arns)",
                    keys={
                        "region": Text("an AWS region such as eu-west-1", required=True, check=_REGION.match),
                        "topic_arns": ListOf(
                            "a list of topic ARNs (arn:aws:sns:REGION:ACCOUNT:NAME)",
                            default=(),
                            item=Text("", check=lambda t: t.startswith("arn:aws")),
                        ),
                        "allow_loopback_for_tests": Flag("true or false (true only in tests)", default=False),
                    },
                ),
            },
        ),
        "service": Section(
            "a mapping of the service's settings",
            always=True,
            keys={
                "base_url": HttpsUrl(
                    "the service's public https URL, e.g. https://example.org/nl/", loopback_http=True
                ),
                "list": Text("a short text on one line", longest=100),
                "allowed_origins": ListOf(
                    "a list of https origins, e.g. [https://example.org]",
                    item=HttpsUrl("", loopback_http=True),
                    non_empty=True,
                ),
                "form_version": Text("a short text on one line", longest=100),
                "frequency": Text("a short text on one line", longest=100),
                "keep_ip": Flag("true or false"),
                "confirm_days": Whole("days, a whole number from 1 to 90", high=90),
                "previous_key_until": Day("a date such as 2026-08-01"),
                "address_limit": Whole("emails per address per hour, a whole number from 1 to 100", high=100),
                "ip_limit": Whole(
                    "signups per client per hour, a whole number from 1 to 100000", high=100_000
                ),
                "trusted_proxy": IpAddress("the proxy's IP address, e.g. 127.0.0.1"),
                "url_prefix": Text(
                    "a path such as /newsletter",
                    check=lambda t: t.startswith("/") and not any(c in t for c in "?# "),
                ),
                "threads": Whole("threads, a whole number from 1 to 64", high=64),
                "read_timeout": Whole("seconds, a whole number from 1 to 600", high=600),
                "connections_per_client": Whole("connections, a whole number from 1 to 100000", high=100_000),
                "mail_wait_limit": Whole("minutes, a whole number from 1 to 1440", high=1440),
                "mail_attempts": Whole("attempts, a whole number from 1 to 20", high=20),
            },
        ),
    },
)


def check(doc: YamlDocument, schema: Section = SCHEMA) -> tuple[dict[str, Any], list[str]]:
    """The document's values against `schema` (defaults filled in) and every problem found."""
    p = v.Problems(doc)
    if not isinstance(doc.data, dict):
        p.add((), f"expected {schema.expected}")
        return {}, p.items
    return _section(schema, doc.data, (), p), p.items


def _section(section: Section, data: dict, where: tuple, p: v.Problems) -> dict[str, Any]:
    v.unknown_keys(p, data, set(section.keys), where)
    values: dict[str, Any] = {}
    for key, option in section.keys.items():
        keys = where + (key,)
        value = data.get(key)
        if value is None:
            if option.required:
                p.add(keys, f"required: {option.expected}")
            elif isinstance(option, Secret):
                continue
            elif isinstance(option, Section):
                values[key] = _section(option, {}, keys, p) if option.always else None
            else:
                values[key] = option.default
            continue
        if isinstance(option, Section):
            if isinstance(value, dict):
                values[key] = _section(option, value, keys, p)
            else:
                p.add(keys, f"expected {option.expected}")
            continue
        try:
            values[key] = option.parse(value)
        except Invalid as problem:
            p.add(keys, str(problem))
    return values
