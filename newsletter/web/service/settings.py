"""The subscriber service's settings: the `service:` mapping of newsletter.yaml, validated all at once."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from newsletter.db.rows import DEFAULT_LIST
from newsletter.errors import ConfigError, problems
from newsletter.store import validate as v
from newsletter.store.config import SETTINGS_FILE, Settings
from newsletter.store.fileio import YamlDocument, load_yaml

KEYS = {
    "base_url",
    "list",
    "allowed_origins",
    "form_version",
    "keep_ip",
    "confirm_days",
    "previous_key_until",
    "frequency",
    "address_limit",
    "ip_limit",
    "trusted_proxy",
    "url_prefix",
    "threads",
    "read_timeout",
    "mail_attempts",
}


@dataclass(frozen=True)
class ServiceSettings:
    """How the service runs; every field has a default, so `service:` may be left out."""

    base_url: str  # the service's public URL, ending in "/": links in emails point under it
    allowed_origins: tuple[str, ...]  # scheme://host[:port] accepted as redirect targets
    list_name: str = DEFAULT_LIST  # the database list a signup joins
    form_version: str = "1"  # the wording of the signup form, recorded with each consent
    keep_ip: bool = False  # record the IP address with a consent (and in the access log)
    confirm_days: int = 7  # how long a confirmation link works
    previous_key_until: datetime | None = None  # NEWSLETTER_SECRET_PREVIOUS verifies until then
    frequency: str = "once a month"  # how often the newsletter comes, as the welcome email says
    address_limit: int = 3  # confirmation emails per address per hour
    ip_limit: int = 30  # signups per client address per hour
    trusted_proxy: str | None = None  # the reverse proxy whose X-Forwarded-For is believed
    url_prefix: str = ""  # the path the proxy mounts the service under, e.g. /newsletter
    threads: int = 8  # request threads (slow clients wait in the server's event loop, not here)
    read_timeout: int = 30  # seconds a connection may stay silent before it is closed
    mail_attempts: int = 5  # tries for a confirmation or welcome email before it is given up


def origin_of(url: str) -> str:
    """`https://Example.org:443/x` -> `https://example.org`: how redirect targets are compared."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{(parts.hostname or '').lower()}{port}"


def _loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _web_url(value: Any) -> bool:
    """https anywhere, or http on this machine (a test or a local try-out)."""
    return isinstance(value, str) and (v.https_url(value) or _loopback_http(value))


def default_base_url(settings: Settings) -> str:
    """The folder the preferences links point into: where the service is mounted."""
    url = settings.preferences_url.partition("?")[0]
    return url.rsplit("/", 1)[0] + "/"


def parse_service_settings(data: object, settings: Settings, doc: YamlDocument) -> ServiceSettings:
    """The `service:` mapping (None when absent) validated; ConfigError lists every problem."""
    p = v.Problems(doc)
    base = ServiceSettings(default_base_url(settings), (origin_of(settings.site_url),))
    if data is None:
        return base
    if not isinstance(data, dict):
        raise ConfigError(f"{SETTINGS_FILE}: service: expected a mapping of the service's settings")
    v.unknown_keys(p, data, KEYS, ("service",))
    found: dict[str, Any] = {}

    def whole(key: str, low: int, high: int, what: str) -> None:
        value = data.get(key)
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            p.add(("service", key), f"expected {what}, a whole number from {low} to {high}")
        else:
            found[key] = value

    base_url = data.get("base_url")
    if base_url is not None:
        if not _web_url(base_url):
            p.add(
                ("service", "base_url"),
                "expected the service's public https URL, e.g. https://example.org/nl/",
            )
        else:
            found["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
    origins = data.get("allowed_origins")
    if origins is not None:
        if not isinstance(origins, list) or not origins or not all(_web_url(o) for o in origins):
            p.add(
                ("service", "allowed_origins"), "expected a list of https origins, e.g. [https://example.org]"
            )
        else:
            found["allowed_origins"] = tuple(dict.fromkeys(origin_of(o) for o in origins))
    for key, attr in (("list", "list_name"), ("form_version", "form_version"), ("frequency", "frequency")):
        value = data.get(key)
        if value is None:
            continue
        if not v.text(value) or not v.single_line(value) or len(value) > 100:
            p.add(("service", key), "expected a short text on one line")
        else:
            found[attr] = value.strip()
    if "keep_ip" in data:
        if not isinstance(data["keep_ip"], bool):
            p.add(("service", "keep_ip"), "expected true or false")
        else:
            found["keep_ip"] = data["keep_ip"]
    whole("confirm_days", 1, 90, "days")
    whole("address_limit", 1, 100, "emails per address per hour")
    whole("ip_limit", 1, 100_000, "signups per client per hour")
    whole("threads", 1, 64, "threads")
    whole("read_timeout", 1, 600, "seconds")
    whole("mail_attempts", 1, 20, "attempts")
    until = data.get("previous_key_until")
    if until is not None:
        moment = _moment(until)
        if moment is None:
            p.add(("service", "previous_key_until"), "expected a date such as 2026-08-01")
        else:
            found["previous_key_until"] = moment
    proxy = data.get("trusted_proxy")
    if proxy is not None:
        if not isinstance(proxy, str) or not _is_ip(proxy):
            p.add(("service", "trusted_proxy"), "expected the proxy's IP address, e.g. 127.0.0.1")
        else:
            found["trusted_proxy"] = proxy
    prefix = data.get("url_prefix")
    if prefix is not None:
        if not isinstance(prefix, str) or not prefix.startswith("/") or any(c in prefix for c in "?# "):
            p.add(("service", "url_prefix"), "expected a path such as /newsletter")
        else:
            found["url_prefix"] = prefix.rstrip("/")
    if p:
        raise ConfigError(problems(SETTINGS_FILE, p.items))
    return ServiceSettings(**{**base.__dict__, **found})


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), UTC)
    if isinstance(value, str):
        return _moment(v.parse_date(value))
    return None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def load_service_settings(workspace: Path, settings: Settings) -> ServiceSettings:
    """The `service:` settings of the workspace's newsletter.yaml (the defaults when it has none)."""
    doc = load_yaml(workspace / SETTINGS_FILE, display=SETTINGS_FILE)
    data = doc.data if isinstance(doc.data, dict) else {}
    return parse_service_settings(data.get("service"), settings, doc)


def configured_database(workspace: Path) -> str | None:
    """`database:` from newsletter.yaml, read raw (until the settings loader knows the key)."""
    data = load_yaml(workspace / SETTINGS_FILE, display=SETTINGS_FILE).data
    value = data.get("database") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value.strip() else None
