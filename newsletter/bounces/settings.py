"""The `bounces:` settings in newsletter.yaml: the bounce address, its mailbox, SNS, and the limits.

Their keys are declared and checked with the rest of the file (store/schema.py); this module makes
them the bounce handling's dataclasses. The mailbox password comes from NEWSLETTER_BOUNCE_PASSWORD only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from newsletter.errors import ConfigError
from newsletter.store.config import Settings

PASSWORD_ENV = "NEWSLETTER_BOUNCE_PASSWORD"


@dataclass(frozen=True)
class ImapSettings:
    host: str
    username: str
    port: int = 993
    security: str = "ssl"  # ssl (IMAPS) | starttls: IMAP over TLS either way, never in the clear
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    ca_file: str | None = None  # a private CA's certificate (PEM), relative to the workspace
    timeout: float = 30.0


@dataclass(frozen=True)
class SnsSettings:
    region: str  # certificates and subscription URLs only from sns.<region>.amazonaws.com
    topic_arns: tuple[str, ...] = ()  # when given, messages from other topics are refused
    # Tests only: also accept certificate and subscription URLs on 127.0.0.1 / localhost.
    allow_loopback_for_tests: bool = False


@dataclass(frozen=True)
class BounceSettings:
    address: str  # bounces@example.org: each message's envelope sender is bounces+TOKEN@example.org
    imap: ImapSettings | None = None
    sns: SnsSettings | None = None
    soft_limit: int = 3  # suppress after this many soft bounces ...
    soft_window_issues: int = 5  # ... in different issues among the last this many
    pause_rate: float = 0.05  # a run pauses itself when its hard-bounce rate passes this ...
    pause_min_attempts: int = 200  # ... after at least this many attempts

    @property
    def local_part(self) -> str:
        return self.address.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def imap_password(environ: dict[str, str] | None = None) -> str:
    """The bounce mailbox's password, from the environment only."""
    value = (os.environ if environ is None else environ).get(PASSWORD_ENV, "")
    if not value:
        raise ConfigError(f"{PASSWORD_ENV} is not set: it is the bounce mailbox's password (never in a file)")
    return value


def bounce_settings(settings: Settings) -> BounceSettings | None:
    """The `bounces:` section as the settings' schema validated it (store/schema.py), or None."""
    data = settings.bounces
    if data is None:
        return None
    imap, sns = data["imap"], data["sns"]
    return BounceSettings(
        address=data["address"],
        imap=ImapSettings(**imap) if imap else None,
        sns=SnsSettings(**sns) if sns else None,
        soft_limit=data["soft_limit"],
        soft_window_issues=data["soft_window_issues"],
        pause_rate=data["pause_rate"],
        pause_min_attempts=data["pause_min_attempts"],
    )
