"""Find the workspace and load `newsletter.yaml`, reporting every problem at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newsletter.errors import ConfigError, problems
from newsletter.store import validate as v
from newsletter.store.branding import Logo, parse_logo, parse_signature
from newsletter.store.workspace import SETTINGS_FILE
from newsletter.store.yamlcache import load_cached


@dataclass(frozen=True)
class Sender:
    """Who the newsletter comes from: the From header's name and address."""

    name: str
    email: str

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


@dataclass(frozen=True)
class SmtpSettings:
    """How the SMTP provider reaches its server (`smtp:`)."""

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"  # starttls | ssl | none
    username: str | None = None  # the password comes from NEWSLETTER_SMTP_PASSWORD
    # Seconds to wait for the reply to the final "." of DATA: RFC 5321 4.5.3.2.6 says 10 minutes.
    # A message handed over and never answered is `unknown`, never retried on its own.
    data_timeout: float = 600.0


@dataclass(frozen=True)
class DeliverySettings:
    """How fast and how often a send tries (`delivery:`)."""

    rate: float = 10.0  # messages per second
    concurrency: int = 1
    max_attempts: int = 5
    ledger: str = ".newsletter/ledger.sqlite3"


@dataclass(frozen=True)
class DkimSettings:
    """The DKIM key messages are signed with (`dkim:`)."""

    selector: str
    domain: str
    key_file: str


@dataclass(frozen=True)
class Settings:
    """Everything in newsletter.yaml, validated; paths are relative to `workspace`."""

    workspace: Path
    name: str
    site_url: str
    summary_url: str  # pattern with {slug}
    sender: Sender
    postal_address: str
    list_id: str
    unsubscribe_url: str  # pattern with {token}
    unsubscribe_mailto: str | None
    preferences_url: str  # pattern with {token}
    archive_url: str  # base URL of the web versions ("view in browser")
    reply_to: str | None = None
    timezone: str = "UTC"
    language: str = "en"
    provider: str = "outbox"
    outbox: str = "outbox"
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    dkim: DkimSettings | None = None
    http_api: dict = field(default_factory=dict)
    feed_url: str | None = None  # the site's RSS/Atom/JSON feed, for `newsletter import --feed`
    logo: Logo | None = None  # the masthead's image (store/branding.py); None: the name in type
    signature: str = ""  # who signs the editor's note; "" lets the template say "The editors"
    # The state database's URL (or a SQLite path); None: the embedded SQLite file. Never a password:
    # that comes from NEWSLETTER_DATABASE_PASSWORD (or the whole URL from NEWSLETTER_DATABASE_URL).
    database: str | None = None
    # `editions.name_topics_in_inbox`: a topic edition's subject and preheader may name the reader's
    # topics (health data on a lock screen); off, they say "your topics".
    name_topics_in_inbox: bool = False
    reading_grade_target: float = 8.0  # `check.reading_grade_target`: NIH's grade for patient material

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def path(self, relative: str | Path) -> Path:
        return self.workspace / relative


_TOP = {
    "name",
    "site_url",
    "summary_url",
    "sender",
    "reply_to",
    "postal_address",
    "timezone",
    "language",
    "provider",
    "outbox",
    "list_id",
    "unsubscribe",
    "preferences_url",
    "archive_url",
    "smtp",
    "delivery",
    "dkim",
    "http_api",
    "feed_url",
    "logo",
    "signature",
    "database",
    "bounces",  # read by newsletter.bounces.settings (VERP address, mailbox, SNS, limits)
    "editions",
    "check",
}


def load_settings(workspace: Path) -> Settings:
    """Load and validate newsletter.yaml in `workspace`; every problem is reported together."""
    path = workspace / SETTINGS_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: not found; a workspace needs a {SETTINGS_FILE}")
    doc = load_cached(workspace, path, SETTINGS_FILE)
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{SETTINGS_FILE}: expected a mapping of settings (key: value)")
    p = v.Problems(doc)
    v.unknown_keys(p, data, _TOP)

    def required_text(key: str, what: str = "a non-empty string") -> str:
        value = data.get(key)
        if not v.text(value):
            p.add((key,), f"required: {what}")
            return ""
        return value.strip()

    def url_pattern(keys: tuple, value: object, placeholder: str) -> str:
        if not isinstance(value, str) or not v.https_url(value.replace("{" + placeholder + "}", "x")):
            p.add(keys, f"expected an https URL pattern containing {{{placeholder}}}")
            return ""
        if "{" + placeholder + "}" not in value:
            p.add(keys, f"the URL pattern must contain {{{placeholder}}}")
        return value

    name = required_text("name", "the newsletter's name")
    site_url = data.get("site_url")
    if not v.https_url(site_url):
        p.add(("site_url",), "expected the site's absolute https URL, e.g. https://example.org")
        site_url = ""
    site_url = str(site_url)
    summary_url = url_pattern(("summary_url",), data.get("summary_url"), "slug")
    postal_address = required_text("postal_address", "the sender's postal address (for the footer)")
    list_id = required_text("list_id", "a list id such as roundup.example.org")
    if list_id and (not v.single_line(list_id) or " " in list_id or "." not in list_id):
        p.add(("list_id",), "expected a dotted name without spaces, such as roundup.example.org")

    sender = data.get("sender")
    sender_obj = Sender("", "")
    if not isinstance(sender, dict):
        p.add(("sender",), "required: a mapping with name and email")
    else:
        v.unknown_keys(p, sender, {"name", "email"}, ("sender",))
        if not v.text(sender.get("name")) or not v.single_line(str(sender.get("name"))):
            p.add(("sender", "name"), "required: the name shown in From, on one line")
        if not v.email_address(sender.get("email")):
            p.add(("sender", "email"), "required: an email address such as news@example.org")
        sender_obj = Sender(str(sender.get("name") or "").strip(), str(sender.get("email") or ""))

    reply_to = data.get("reply_to")
    if reply_to is not None and not v.email_address(reply_to):
        p.add(("reply_to",), "expected an email address")

    timezone = data.get("timezone", "UTC")
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        p.add(("timezone",), f"unknown time zone {timezone!r}; use an IANA name like Europe/London")

    unsub = data.get("unsubscribe")
    unsubscribe_url, mailto = "", None
    if not isinstance(unsub, dict):
        p.add(("unsubscribe",), "required: a mapping with url (containing {token}) and mailto")
    else:
        v.unknown_keys(p, unsub, {"url", "mailto"}, ("unsubscribe",))
        unsubscribe_url = url_pattern(("unsubscribe", "url"), unsub.get("url"), "token")
        mailto = unsub.get("mailto")
        if mailto is not None and not v.email_address(mailto):
            p.add(("unsubscribe", "mailto"), "expected an email address")
    preferences_url = url_pattern(("preferences_url",), data.get("preferences_url"), "token")
    archive_url = data.get("archive_url", f"{str(site_url).rstrip('/')}/newsletter/")
    if "archive_url" in data and not v.https_url(archive_url):
        p.add(("archive_url",), "expected an absolute https URL")

    feed_url = data.get("feed_url")
    if feed_url is not None and not v.https_url(feed_url):
        p.add(("feed_url",), "expected the site's feed as an absolute https URL")
        feed_url = None

    for key in ("provider", "outbox", "language"):
        if key in data and not v.text(data[key]):
            p.add((key,), "expected a non-empty string")

    smtp = _smtp(data.get("smtp"), p)
    delivery = _delivery(data.get("delivery"), p)
    dkim = _dkim(data.get("dkim"), p)
    logo = parse_logo(data.get("logo"), p)
    signature = parse_signature(data.get("signature"), p)
    http_api = data.get("http_api", {})
    if not isinstance(http_api, dict):
        p.add(("http_api",), "expected a mapping")
        http_api = {}

    database = data.get("database")
    if database is not None and not (v.text(database) and v.single_line(str(database))):
        p.add(("database",), "expected a URL such as postgresql+psycopg://user@host/db, or a file path")
        database = None

    name_topics, grade_target = _editions_and_check(data, p)
    if p:
        raise ConfigError(problems(SETTINGS_FILE, p.items))
    return Settings(
        workspace=workspace,
        name=name,
        site_url=site_url,
        summary_url=summary_url,
        sender=sender_obj,
        postal_address=postal_address,
        list_id=list_id,
        unsubscribe_url=unsubscribe_url,
        unsubscribe_mailto=mailto,
        preferences_url=preferences_url,
        archive_url=archive_url,
        reply_to=reply_to,
        timezone=str(timezone),
        language=str(data.get("language", "en")),
        provider=str(data.get("provider", "outbox")),
        outbox=str(data.get("outbox", "outbox")),
        smtp=smtp,
        delivery=delivery,
        dkim=dkim,
        http_api=http_api,
        feed_url=feed_url,
        logo=logo,
        signature=signature,
        database=None if database is None else str(database).strip(),
        name_topics_in_inbox=name_topics,
        reading_grade_target=grade_target,
    )


def _editions_and_check(data: dict, p: v.Problems) -> tuple[bool, float]:
    """`editions: {name_topics_in_inbox}` and `check: {reading_grade_target}`."""
    name_topics, target = False, 8.0
    for key, known in (("editions", {"name_topics_in_inbox"}), ("check", {"reading_grade_target"})):
        section = data.get(key, {})
        if not isinstance(section, dict):
            p.add((key,), f"expected a mapping with {', '.join(sorted(known))}")
            continue
        v.unknown_keys(p, section, known, (key,))
    editions, check = data.get("editions"), data.get("check")
    if isinstance(editions, dict) and "name_topics_in_inbox" in editions:
        name_topics = editions["name_topics_in_inbox"]
        if not isinstance(name_topics, bool):
            p.add(("editions", "name_topics_in_inbox"), "expected true or false")
            name_topics = False
    if isinstance(check, dict) and "reading_grade_target" in check:
        target = check["reading_grade_target"]
        if isinstance(target, bool) or not isinstance(target, int | float) or not 1 <= target <= 20:
            p.add(("check", "reading_grade_target"), "expected a school grade from 1 to 20, e.g. 8")
            target = 8.0
    return name_topics, float(target)


def _smtp(data: object, p: v.Problems) -> SmtpSettings:
    if data is None:
        return SmtpSettings()
    if not isinstance(data, dict):
        p.add(("smtp",), "expected a mapping with host, port, security, username")
        return SmtpSettings()
    # "password" is known only to be refused below with a clearer message.
    known = {"host", "port", "security", "username", "password", "data_timeout"}
    v.unknown_keys(p, data, known, ("smtp",))
    default = SmtpSettings()
    host = data.get("host", default.host)
    port = data.get("port", default.port)
    security = data.get("security", default.security)
    username = data.get("username")
    if not v.text(host):
        p.add(("smtp", "host"), "expected a host name")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        p.add(("smtp", "port"), "expected a port number between 1 and 65535")
    if security not in ("starttls", "ssl", "none"):
        p.add(("smtp", "security"), "expected one of: starttls, ssl, none")
    if username is not None and not v.text(username):
        p.add(("smtp", "username"), "expected a user name (the password goes in NEWSLETTER_SMTP_PASSWORD)")
    if "password" in data:
        p.add(("smtp", "password"), "secrets never go in files: set NEWSLETTER_SMTP_PASSWORD instead")
    data_timeout = data.get("data_timeout", default.data_timeout)
    if (
        isinstance(data_timeout, bool)
        or not isinstance(data_timeout, int | float)
        or not 0 < data_timeout <= 3600
    ):
        p.add(("smtp", "data_timeout"), "expected seconds above 0 and at most 3600 (default 600)")
        data_timeout = default.data_timeout
    port = port if isinstance(port, int) else 587
    return SmtpSettings(str(host), port, str(security), username, float(data_timeout))


def _delivery(data: object, p: v.Problems) -> DeliverySettings:
    if data is None:
        return DeliverySettings()
    if not isinstance(data, dict):
        p.add(("delivery",), "expected a mapping with rate, concurrency, max_attempts, ledger")
        return DeliverySettings()
    v.unknown_keys(p, data, {"rate", "concurrency", "max_attempts", "ledger"}, ("delivery",))
    d = DeliverySettings()
    rate = data.get("rate", d.rate)
    concurrency = data.get("concurrency", d.concurrency)
    attempts = data.get("max_attempts", d.max_attempts)
    ledger = data.get("ledger", d.ledger)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
        p.add(("delivery", "rate"), "expected messages per second, a number above 0")
        rate = d.rate
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 1 <= concurrency <= 64:
        p.add(("delivery", "concurrency"), "expected a whole number of connections from 1 to 64")
        concurrency = d.concurrency
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        p.add(("delivery", "max_attempts"), "expected a whole number, 1 or more")
        attempts = d.max_attempts
    if not v.text(ledger):
        p.add(("delivery", "ledger"), "expected a path")
        ledger = d.ledger
    return DeliverySettings(float(rate), concurrency, attempts, str(ledger))


def _dkim(data: object, p: v.Problems) -> DkimSettings | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        p.add(("dkim",), "expected a mapping with selector, domain, key_file")
        return None
    v.unknown_keys(p, data, {"selector", "domain", "key_file"}, ("dkim",))
    for key in ("selector", "domain", "key_file"):
        if not v.text(data.get(key)):
            p.add(("dkim", key), "required when dkim is set")
    return DkimSettings(str(data.get("selector")), str(data.get("domain")), str(data.get("key_file")))
