"""Providers hand finished messages to a mail system: the outbox folder, SMTP, Amazon SES.

`open_provider` takes a provider's name or a URL, so scripts and cron jobs can choose one
without editing settings. Secrets never go in the URL: they come from environment variables, and a
URL that carries some anyway is shown redacted (`redact_url`) in every error.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from newsletter.errors import DeliveryError
from newsletter.providers.base import OutgoingMessage, Provider, SendResult
from newsletter.providers.outbox import OutboxProvider
from newsletter.providers.smtp import COMMAND_TIMEOUT, DATA_TIMEOUT, SmtpProvider, _is_loopback
from newsletter.store.config import Settings
from newsletter.text import redact_url, shown_url

__all__ = [
    "OutgoingMessage",
    "Provider",
    "SendResult",
    "open_provider",
    "FORMS",
    "redact_url",
    "shown_url",
]

PASSWORD_ENV = "NEWSLETTER_SMTP_PASSWORD"
FORMS = (
    "outbox",
    "outbox:PATH",
    "smtp (the smtp settings)",
    "smtp://[user@]host:port[?starttls=no&timeout=S&data_timeout=S]",
    "smtps://[user@]host:port",
    "ses://REGION[?endpoint=URL&timeout=S]",
)
MAX_TIMEOUT = 3600.0  # seconds; longer than any server should take to answer


def _unknown(spec: str, why: str) -> DeliveryError:
    return DeliveryError(f"provider '{shown_url(spec)}': {why}; use one of: {', '.join(FORMS)}")


def _seconds(spec: str, query: dict[str, list[str]], name: str, default: float) -> float:
    """The timeout `name` from a URL's query, in seconds (a number above 0, at most an hour)."""
    if name not in query:
        return default
    try:
        value = float(query[name][-1])
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise _unknown(spec, f"{name} must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}")
    return value


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
            data_timeout=_data_timeout(settings),
        )
    parts = urlsplit(spec)
    if parts.scheme in ("smtp", "smtps"):
        return _smtp_from_url(spec, parts, settings)
    if parts.scheme == "ses":
        return _ses_from_url(spec, parts, settings)
    raise _unknown(spec, "not a provider name or URL this tool knows")


def _data_timeout(settings: Settings) -> float:
    # `smtp.data_timeout` in newsletter.yaml (validated by config); 10 minutes when not set.
    value = getattr(settings.smtp, "data_timeout", None)
    return float(value) if value else DATA_TIMEOUT


def _smtp_from_url(spec: str, parts, settings: Settings) -> SmtpProvider:
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
    unknown = set(query) - {"starttls", "timeout", "data_timeout"}
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
        timeout=_seconds(spec, query, "timeout", COMMAND_TIMEOUT),
        data_timeout=_seconds(spec, query, "data_timeout", _data_timeout(settings)),
    )


def _ses_from_url(spec: str, parts, settings: Settings) -> Provider:
    from newsletter.providers.ses import RESPONSE_TIMEOUT, SesProvider

    region = parts.hostname or ""
    if not region or parts.username or parts.password:
        raise _unknown(spec, "write ses://REGION, e.g. ses://us-east-1 (keys come from AWS_* variables)")
    query = parse_qs(parts.query)
    unknown = set(query) - {"endpoint", "configuration_set", "timeout"}
    if unknown:
        raise _unknown(spec, f"unknown option {', '.join(sorted(unknown))}")
    endpoint = query.get("endpoint", [settings.http_api.get("endpoint")])[-1]
    if endpoint:
        ep = urlsplit(endpoint)
        # Plain http only to this machine (a test server); anything else must be https.
        if not (ep.scheme == "https" or (ep.scheme == "http" and _is_loopback(ep.hostname or ""))):
            raise _unknown(spec, "endpoint must be an https URL (or http on loopback, for tests)")
    config_set = query.get("configuration_set", [settings.http_api.get("configuration_set")])[-1]
    timeout = _seconds(spec, query, "timeout", _settings_timeout(settings.http_api, RESPONSE_TIMEOUT))
    return SesProvider(region, endpoint, config_set, timeout)


def _settings_timeout(http_api: dict, default: float) -> float:
    """`http_api.timeout` from newsletter.yaml: seconds to wait for the API's answer."""
    value = http_api.get("timeout")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_TIMEOUT:
        raise DeliveryError(
            "newsletter.yaml: http_api.timeout: expected seconds, a number above 0 "
            f"and at most {MAX_TIMEOUT:g}"
        )
    return float(value)
