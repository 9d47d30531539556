"""Load `newsletter.yaml` into `Settings`: the one loader, on the one schema (store/schema.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from newsletter.errors import ConfigError, problems
from newsletter.store import schema
from newsletter.store import validate as v
from newsletter.store.branding import Logo
from newsletter.store.fileio import load_yaml
from newsletter.store.workspace import SETTINGS_FILE


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
    database_timeout: float = 30.0  # seconds a database call of a send may take before it stops
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
    # `import.ignore_categories`: feed categories that are not topics; None: the importer's generic ones.
    ignore_categories: tuple[str, ...] | None = None
    # `import.allow_private_hosts`: the site is on an intranet; fetches may reach private addresses.
    allow_private_hosts: bool = False
    logo: Logo | None = None  # the masthead's image (store/branding.py); None: the name in type
    signature: str = ""  # who signs the editor's note; "" lets the template say "The editors"
    # The state database's URL (or a SQLite path); None: the embedded SQLite file. Never a password:
    # that comes from NEWSLETTER_DATABASE_PASSWORD (or the whole URL from NEWSLETTER_DATABASE_URL).
    database: str | None = None
    # `bounces:` and `service:` as the schema validated them (None where a key was not given); the
    # bounce handling and the service make their own settings from these (bounce_settings(),
    # service_settings()), adding the defaults that depend on the rest of the file.
    bounces: dict[str, Any] | None = None
    service: dict[str, Any] = field(default_factory=dict)
    # `schedule.require_approval`: send only an issue approved as it is now (store/approval.py);
    # `send` then needs --force --reason for an unapproved one.
    require_approval: bool = False
    # `editions.name_topics_in_inbox`: a topic edition's subject and preheader may name the reader's
    # topics (health data on a lock screen); off, they say "your topics".
    name_topics_in_inbox: bool = False
    reading_grade_target: float = 8.0  # `check.reading_grade_target`: NIH's grade for patient material

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def service_base_url(self) -> str:
        """The subscriber service's public URL, ending in "/": `service.base_url`, else the folder the
        preferences links point into (where the service is mounted)."""
        given = self.service.get("base_url")
        if given:
            return given if given.endswith("/") else given + "/"
        return self.preferences_url.partition("?")[0].rsplit("/", 1)[0] + "/"

    @property
    def privacy_url(self) -> str:
        """The service's privacy page, linked from every email's footer."""
        return self.service_base_url + "privacy"

    def path(self, relative: str | Path) -> Path:
        return self.workspace / relative


def load_settings(workspace: Path) -> Settings:
    """Load and validate newsletter.yaml in `workspace` (store/schema.py); every problem is reported together.

    The one loader of the file: every command and the service read their settings here, the
    `bounces:` and `service:` sections included.
    """
    path = workspace / SETTINGS_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: not found; a workspace needs a {SETTINGS_FILE}")
    doc = load_yaml(path, SETTINGS_FILE)
    values, found = schema.check(doc)
    p = v.Problems(doc)
    p.items = found
    _joined_rules(values, p)
    if p:
        raise ConfigError(problems(SETTINGS_FILE, sorted(p.items, key=_line)))
    site_url = values["site_url"]
    smtp, delivery, dkim, logo = values["smtp"], values["delivery"], values["dkim"], values["logo"]
    return Settings(
        workspace=workspace,
        name=values["name"],
        site_url=site_url,
        summary_url=values["summary_url"],
        sender=Sender(values["sender"]["name"], values["sender"]["email"]),
        postal_address=values["postal_address"],
        list_id=values["list_id"],
        unsubscribe_url=values["unsubscribe"]["url"],
        unsubscribe_mailto=values["unsubscribe"]["mailto"],
        preferences_url=values["preferences_url"],
        archive_url=values["archive_url"] or f"{site_url.rstrip('/')}/newsletter/",
        reply_to=values["reply_to"],
        timezone=values["timezone"],
        language=values["language"],
        provider=values["provider"],
        outbox=values["outbox"],
        smtp=SmtpSettings(**smtp),
        delivery=DeliverySettings(**delivery),
        dkim=DkimSettings(**dkim) if dkim else None,
        http_api=values["http_api"],
        feed_url=values["feed_url"],
        ignore_categories=values["import"]["ignore_categories"],
        allow_private_hosts=values["import"]["allow_private_hosts"],
        logo=Logo(**logo) if logo else None,
        signature=values["signature"],
        database=values["database"],
        bounces=values["bounces"],
        service=values["service"],
        require_approval=values["schedule"]["require_approval"],
        name_topics_in_inbox=values["editions"]["name_topics_in_inbox"],
        reading_grade_target=values["check"]["reading_grade_target"],
    )


# A VERP address is local+token@domain: the local part must leave room for the token (RFC 5321: 64).
MAX_BOUNCE_LOCAL = 36


def _joined_rules(values: dict[str, Any], p: v.Problems) -> None:
    """The rules that join several keys (each key alone is checked by the schema); skipped where one of
    the keys was already refused."""
    bounces = values.get("bounces")
    if not bounces:
        return
    local = str(bounces.get("address", "")).rpartition("@")[0]
    if "+" in local:
        p.add(("bounces", "address"), "expected an address without '+', such as bounces@example.org")
    elif len(local) > MAX_BOUNCE_LOCAL:
        p.add(("bounces", "address"), f"the part before @ must be at most {MAX_BOUNCE_LOCAL} characters")
    limit, window = bounces.get("soft_limit"), bounces.get("soft_window_issues")
    if limit is not None and window is not None and window < limit:
        p.add(("bounces", "soft_window_issues"), "must be at least soft_limit (N bounces in M issues)")
    imap = bounces.get("imap")
    if imap:
        if imap.get("folder") is not None and imap.get("folder") == imap.get("processed_folder"):
            p.add(
                ("bounces", "imap", "processed_folder"),
                "must differ from folder, or every message would be read again",
            )
        if imap.get("port") is None and "security" in imap:
            imap["port"] = 993 if imap["security"] == "ssl" else 143


def _line(problem: str) -> int:
    """The line a problem names (`newsletter.yaml:12: ...`), 0 if none: problems are listed in order."""
    parts = problem.split(":", 2)
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
