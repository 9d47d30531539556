"""The subscriber service's settings: newsletter.yaml's `service:` (its keys checked by store/schema.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from newsletter.db.rows import DEFAULT_LIST
from newsletter.store.config import Settings


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
    read_timeout: int = 30  # seconds a connection may stay silent, or take to send one whole request
    connections_per_client: int = 500  # connections one client address may hold (not the trusted proxy)
    mail_wait_limit: int = 15  # minutes an email may wait for the provider before /health fails
    mail_attempts: int = 5  # tries for a confirmation or welcome email before it is given up


def origin_of(url: str) -> str:
    """`https://Example.org:443/x` -> `https://example.org`: how redirect targets are compared."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{(parts.hostname or '').lower()}{port}"


def service_settings(settings: Settings) -> ServiceSettings:
    """The `service:` settings as the settings' schema validated them, with the defaults filled in."""
    given = {key: value for key, value in settings.service.items() if value is not None}
    if "allowed_origins" in given:
        given["allowed_origins"] = tuple(dict.fromkeys(origin_of(o) for o in given["allowed_origins"]))
    if "url_prefix" in given:
        given["url_prefix"] = given["url_prefix"].rstrip("/")
    if "list" in given:
        given["list_name"] = given.pop("list")
    given["base_url"] = settings.service_base_url
    defaults = {"allowed_origins": (origin_of(settings.site_url),)}
    return ServiceSettings(**{**defaults, **given})
