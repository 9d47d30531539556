"""Providers hand finished messages to a mail system: the outbox folder, SMTP, Amazon SES.

`open_provider` takes a provider's name or a URL, so scripts and cron jobs can choose one
without editing settings. Secrets never go in the URL: they come from environment variables.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from newsletter.errors import DeliveryError
from newsletter.providers.base import OutgoingMessage, Provider, SendResult
from newsletter.providers.outbox import OutboxProvider
from newsletter.providers.smtp import SmtpProvider, _is_loopback
from newsletter.store.config import Settings

__all__ = ["OutgoingMessage", "Provider", "SendResult", "open_provider", "FORMS"]

PASSWORD_ENV = "NEWSLETTER_SMTP_PASSWORD"
FORMS = (
    "outbox",
    "outbox:PATH",
    "smtp (the smtp settings)",
    "smtp://[user@]host:port[?starttls=no]",
    "smtps://[user@]host:port",
    "ses://REGION",
)


def _unknown(spec: str, why: str) -> DeliveryError:
    return DeliveryError(f"provider {spec!r}: {why}; use one of: {', '.join(FORMS)}")


def open_provider(spec: str | None, settings: Settings) -> Provider:
    """The provider named by `spec` (a name or URL), or by settings when spec is None or empty."""
    spec = (spec or settings.provider or "outbox").strip()
    if spec == "outbox":
        return OutboxProvider(settings.path(settings.outbox))
    if spec.startswith("outbox:"):
        folder = spec.partition(":")[2]
        if not folder:
            raise _unknown(spec, "outbox: needs a folder after the colon")
        path = Path(folder).expanduser()
        return OutboxProvider(path if path.is_absolute() else settings.path(path))
    if spec == "smtp":
        smtp = settings.smtp
        return SmtpProvider(
            smtp.host,
            smtp.port,
            smtp.security,
            smtp.username,
            os.environ.get(PASSWORD_ENV) or None,
            require_tls=smtp.security == "starttls",
        )
    parts = urlsplit(spec)
    if parts.scheme in ("smtp", "smtps"):
        return _smtp_from_url(spec, parts)
    if parts.scheme == "ses":
        return _ses_from_url(spec, parts, settings)
    raise _unknown(spec, "not a provider name or URL this tool knows")


def _smtp_from_url(spec: str, parts) -> SmtpProvider:
    if parts.password is not None:
        raise DeliveryError(
            f"provider {parts.scheme}://...: secrets never go in the URL; "
            f"drop the password and set {PASSWORD_ENV}"
        )
    if not parts.hostname:
        raise _unknown(spec, "the URL needs a host")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError:
        raise _unknown(spec, "the port must be a number from 1 to 65535") from None
    query = parse_qs(parts.query)
    unknown = set(query) - {"starttls"}
    if unknown:
        raise _unknown(spec, f"unknown option {', '.join(sorted(unknown))}")
    starttls = query.get("starttls", ["yes"])[-1].lower()
    if starttls not in ("yes", "no"):
        raise _unknown(spec, "starttls must be yes or no")
    security = "ssl" if parts.scheme == "smtps" else "none" if starttls == "no" else "starttls"
    return SmtpProvider(
        parts.hostname,
        port,
        security,
        parts.username or None,
        os.environ.get(PASSWORD_ENV) or None,
    )


def _ses_from_url(spec: str, parts, settings: Settings) -> Provider:
    from newsletter.providers.ses import from_environment

    region = parts.hostname or ""
    if not region or parts.username or parts.password:
        raise _unknown(spec, "write ses://REGION, e.g. ses://us-east-1 (keys come from AWS_* variables)")
    query = parse_qs(parts.query)
    unknown = set(query) - {"endpoint", "configuration_set"}
    if unknown:
        raise _unknown(spec, f"unknown option {', '.join(sorted(unknown))}")
    endpoint = query.get("endpoint", [settings.http_api.get("endpoint")])[-1]
    if endpoint:
        ep = urlsplit(endpoint)
        # Plain http only to this machine (a test server); anything else must be https.
        if not (ep.scheme == "https" or (ep.scheme == "http" and _is_loopback(ep.hostname or ""))):
            raise _unknown(spec, "endpoint must be an https URL (or http on loopback, for tests)")
    config_set = query.get("configuration_set", [settings.http_api.get("configuration_set")])[-1]
    return from_environment(region, endpoint, config_set)
