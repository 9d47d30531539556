"""The service's signed links: tokens that name their purpose, expire, and survive a change of key.

A token is itsdangerous' timestamped, HMAC-SHA256 signed payload {"p": purpose, "e": address, ...},
in one shape for every link (confirm, preferences, unsubscribe, and the data and erase buttons of
the preferences page): `payload.timestamp.signature`, never compressed. itsdangerous compresses a
longer payload and marks it with a leading dot; links made that way before this change are still
read (the reader undoes it), none are made any more.
The purpose is inside the signed payload, so a preferences link never confirms and a confirm link
never unsubscribes. Keys come from the environment only: NEWSLETTER_SECRET signs; the key it
replaced (NEWSLETTER_SECRET_PREVIOUS) still verifies until `service.previous_key_until`.
The unsubscribe token of `newsletter.mail.tokens` (in every email already sent) is read here too,
with the same keys, and is left exactly as it is.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from itsdangerous import BadData, BadSignature, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.url_safe import URLSafeSerializerMixin

from newsletter.errors import ConfigError
from newsletter.mail import tokens as list_tokens

PREVIOUS_ENV = "NEWSLETTER_SECRET_PREVIOUS"
SALT = "newsletter.service"
# Characters; anything longer is not one of ours. The longest token the forms can make (a 254-octet
# address of 4-byte characters, a 100-character name, every topic) is well under it.
MAX_TOKEN = 8000


class Purpose(StrEnum):
    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"


class TokenProblem(StrEnum):
    """Why a link is refused; the error page words each."""

    MALFORMED = "malformed"  # cut short or mangled
    FORGED = "forged"  # not signed with any key we hold
    EXPIRED = "expired"
    WRONG_PURPOSE = "wrong_purpose"  # a real link, for another page


class TokenError(ValueError):
    def __init__(self, problem: TokenProblem):
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class Keyring:
    """The signing key and the retired ones that still verify (until a moment)."""

    current: bytes
    previous: tuple[bytes, ...] = ()
    previous_until: datetime | None = None
    development: bool = False  # the published development key: links are for looking at only

    def verifying(self, now: datetime) -> list[bytes]:
        """Keys that verify now, oldest first (itsdangerous signs with the last)."""
        retired = self.previous if self.previous_until is None or now < self.previous_until else ()
        return [*retired, self.current]


def keyring_from_environment(previous_until: datetime | None, dev_ok: bool) -> Keyring:
    """The keys from NEWSLETTER_SECRET and NEWSLETTER_SECRET_PREVIOUS (space-separated, may be unset).

    Retired keys without `service.previous_key_until` are refused: a key that verifies forever
    is not retired.
    """
    current, development = list_tokens.signing_secret(dev_ok)
    previous = tuple(k.encode() for k in os.environ.get(PREVIOUS_ENV, "").split())
    if any(len(k) < list_tokens.MIN_SECRET_LENGTH for k in previous):
        raise ConfigError(f"{PREVIOUS_ENV}: a key is shorter than {list_tokens.MIN_SECRET_LENGTH} characters")
    if previous and previous_until is None:
        raise ConfigError(
            f"{PREVIOUS_ENV} is set but newsletter.yaml has no service.previous_key_until: "
            "say until when the retired key may verify links (e.g. 60 days after the change)"
        )
    return Keyring(current, previous, previous_until, development)


class _Uncompressed(URLSafeTimedSerializer):
    """itsdangerous' URL-safe serializer that never compresses, so every token has one shape."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(super(URLSafeSerializerMixin, self).dump_payload(obj))


def _serializer(keys: list[bytes]) -> URLSafeTimedSerializer:
    return _Uncompressed(
        keys, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256, "key_derivation": "hmac"}
    )


def make_token(keyring: Keyring, purpose: Purpose, email: str, **extra: Any) -> str:
    """A URL-safe token for `purpose` naming `email` (and any small extra fields), signed now."""
    return _serializer([keyring.current]).dumps({"p": purpose.value, "e": email, **extra})


@dataclass(frozen=True)
class TokenData:
    purpose: Purpose
    email: str
    issued_at: datetime
    fields: dict[str, Any]


def read_token(
    keyring: Keyring,
    token: str,
    purpose: Purpose,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> TokenData:
    """What a token says, if it is ours, for `purpose`, and not older than `max_age`; else TokenError."""
    now = now or datetime.now(UTC)
    if not token or len(token) > MAX_TOKEN or token.removeprefix(".").count(".") != 2:
        raise TokenError(TokenProblem.MALFORMED)
    try:
        payload, stamp = _serializer(keyring.verifying(now)).loads(token, return_timestamp=True)
    except BadSignature:
        raise TokenError(TokenProblem.FORGED) from None
    except BadData:  # the signature held but the payload does not decode: not one of ours
        raise TokenError(TokenProblem.MALFORMED) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("e"), str):
        raise TokenError(TokenProblem.MALFORMED)
    if payload.get("p") != purpose.value:
        raise TokenError(TokenProblem.WRONG_PURPOSE)
    issued = stamp.astimezone(UTC)
    if max_age is not None and now - issued > max_age:
        raise TokenError(TokenProblem.EXPIRED)
    fields = {k: val for k, val in payload.items() if k not in ("p", "e")}
    return TokenData(purpose, payload["e"], issued, fields)


def read_list_token(keyring: Keyring, token: str, list_id: str, now: datetime | None = None) -> str:
    """The address of an email's unsubscribe token (mail.tokens format) for this list; else TokenError."""
    now = now or datetime.now(UTC)
    for key in reversed(keyring.verifying(now)):
        try:
            found_list, email = list_tokens.verify_token(key, token)
        except list_tokens.InvalidToken as exc:
            if "malformed" in str(exc):
                raise TokenError(TokenProblem.MALFORMED) from None
            continue
        if found_list != list_id:
            raise TokenError(TokenProblem.WRONG_PURPOSE)
        return email
    raise TokenError(TokenProblem.FORGED)


def is_list_token(token: str) -> bool:
    """The emails' unsubscribe format has one dot; the service's tokens have two (three if compressed)."""
    return token.count(".") == 1 and not token.startswith(".")


def reader_of(
    keyring: Keyring, token: str, purpose: Purpose, list_id: str, now: datetime | None = None
) -> str:
    """The address behind a preferences or unsubscribe link, in either token format."""
    if is_list_token(token):
        return read_list_token(keyring, token, list_id, now)
    return read_token(keyring, token, purpose, None, now).email


def age_limit(days: int) -> timedelta:
    return timedelta(days=days)
