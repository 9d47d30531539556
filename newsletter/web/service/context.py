"""What every request of the service shares: settings, the database, the keys, the mail queue, the limits."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from limits import RateLimitItemPerHour
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Engine

from newsletter.bounces.settings import BounceSettings
from newsletter.store.config import Settings
from newsletter.store.topics import Taxonomy
from newsletter.web.service import forms
from newsletter.web.service.mailqueue import MailQueue
from newsletter.web.service.settings import ServiceSettings
from newsletter.web.service.tokens import Keyring

EXTENSION = "newsletter_service"


class Limits:
    """Per-address and per-client counts over a moving hour (in this process's memory).

    Addresses are counted by a hash, so the limiter never holds a list of who signed up.
    """

    def __init__(self, per_address: int, per_client: int):
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._address = RateLimitItemPerHour(per_address)
        self._client = RateLimitItemPerHour(per_client)

    def client_allowed(self, client: str) -> bool:
        return self._limiter.hit(self._client, "client", client)

    def address_allowed(self, email: str) -> bool:
        digest = hashlib.sha256(email.casefold().encode()).hexdigest()[:32]
        return self._limiter.hit(self._address, "address", digest)


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    service: ServiceSettings
    engine: Engine
    keyring: Keyring
    mail: MailQueue
    taxonomy: Taxonomy
    limits: Limits
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    bounces: BounceSettings | None = None  # `bounces:` in newsletter.yaml: SES events through SNS

    @property
    def mail_wait_limit(self) -> timedelta:
        """A confirmation email waiting longer than this is a broken signup: /health fails."""
        return timedelta(minutes=self.service.mail_wait_limit)

    @property
    def choices(self) -> tuple[str, ...]:
        return forms.topic_choices(self.taxonomy)

    @property
    def vocabulary(self) -> dict[str, str]:
        return forms.vocabulary(self.taxonomy)

    def url(self, path: str) -> str:
        """An absolute public URL of one of the service's pages (for emails)."""
        return self.service.base_url + path.lstrip("/")


def ctx() -> ServiceContext:
    """The service's context inside a request."""
    found: ServiceContext = current_app.extensions[EXTENSION]
    return found
