"""The signing key and the unsubscribe token: who may be unsubscribed, provably, without a database.

The token names the list and the address and carries an HMAC-SHA256 over both with the key from
NEWSLETTER_SECRET, so the endpoint knows whom to suppress and nobody can forge one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import re
import string

from newsletter.errors import ConfigError
from newsletter.store.addresses import address_key

SECRET_ENV = "NEWSLETTER_SECRET"
# Used only by the outbox, and said so: links signed with it are for looking at, not for sending.
DEV_SECRET = b"newsletter-development-key: NOT SECRET, outbox only"
MIN_SECRET_LENGTH = 16  # a retired key (NEWSLETTER_SECRET_PREVIOUS) keeps the old, shorter rule
MIN_SECRET_BITS = 256  # 32 random bytes, as secrets.token_urlsafe(32) makes
MAKE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
# The character classes a secret draws from, and how many characters each holds.
_CLASSES = (
    (frozenset(string.ascii_lowercase), 26),
    (frozenset(string.ascii_uppercase), 26),
    (frozenset(string.digits), 10),
    (frozenset(string.punctuation), 32),
)
_RUN = re.compile(r"(.)\1{5}")  # one character six times in a row


def signing_secret(dev_ok: bool) -> tuple[bytes, bool]:
    """The key that signs unsubscribe links, and whether it is the development key.

    Real mail needs NEWSLETTER_SECRET: a link signed with a published key would let anyone
    unsubscribe anyone. The outbox (dev_ok) may fall back to a clearly labelled development key.
    """
    value = os.environ.get(SECRET_ENV, "")
    if value:
        problem = secret_problem(value) or strength_problem(value)
        if problem:
            raise ConfigError(f"{SECRET_ENV} {problem}")
        return value.encode("utf-8"), False
    if dev_ok:
        return DEV_SECRET, True
    raise ConfigError(
        f"{SECRET_ENV} is not set: it signs the unsubscribe links and real mail cannot go without it; "
        f"set it to a long random value, e.g. export {SECRET_ENV}=$({MAKE_SECRET})"
    )


MAX_SECRET_LENGTH = 4096


def secret_problem(value: str) -> str | None:
    """What is wrong with a secret taken from the environment, never quoting it; None if usable."""
    if not value.strip():
        return "is blank; set it to a long random value"
    if any("\udc80" <= c <= "\udcff" for c in value):  # bytes the environment could not decode
        return "holds bytes that are not UTF-8 text; use letters, digits and punctuation"
    if any(c.isspace() or not c.isprintable() for c in value):
        return "holds spaces or control characters; use letters, digits and punctuation"
    if len(value) > MAX_SECRET_LENGTH:
        return f"is longer than {MAX_SECRET_LENGTH} characters; is it the right value?"
    return None


class InvalidToken(ValueError):
    """An unsubscribe token that is malformed or not signed with our key."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _token_mac(secret: bytes, list_id: str, key: str) -> bytes:
    # The NUL separator keeps ("a.b", "c@d") and ("a.bc", "@d") from signing the same bytes.
    return hmac.new(
        secret, b"unsubscribe\0" + list_id.encode() + b"\0" + key.encode(), hashlib.sha256
    ).digest()


def make_token(secret: bytes, list_id: str, email: str) -> str:
    """A URL-safe token naming the list and the (casefolded) address, signed with HMAC-SHA256."""
    key = address_key(email)
    payload = _b64(f"{list_id}\0{key}".encode())
    return f"{payload}.{_b64(_token_mac(secret, list_id, key))}"


def verify_token(secret: bytes, token: str) -> tuple[str, str]:
    """(list_id, email) from a token; InvalidToken if it is malformed or forged."""
    payload, dot, mac = token.partition(".")
    if not dot or not payload or not mac or len(token) > 2000:
        raise InvalidToken("malformed token")
    try:
        list_id, nul, key = _unb64(payload).decode("utf-8").partition("\0")
        given = _unb64(mac)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidToken("malformed token") from None
    if not nul or not list_id or not key:
        raise InvalidToken("malformed token")
    if not hmac.compare_digest(given, _token_mac(secret, list_id, key)):
        raise InvalidToken("the token's signature does not match")
    return list_id, key


def entropy_bits(value: str) -> float:
    """An upper estimate of a secret's entropy: its length times log2 of the classes it draws from."""
    pool = sum(size for chars, size in _CLASSES if not chars.isdisjoint(value))
    pool += 128 if not value.isascii() else 0
    return len(value) * math.log2(pool) if pool > 1 else 0.0


def strength_problem(value: str) -> str | None:
    """Why a signing key is too weak to sign links anyone could forge otherwise (never quoting it)."""
    repeated = len(set(value)) < 8 or value in (value + value)[1:-1] or _RUN.search(value)
    if repeated:
        return f"repeats characters, so it is easy to guess; make a random one with: {MAKE_SECRET}"
    bits = entropy_bits(value)
    if bits < MIN_SECRET_BITS:
        return (
            f"is too weak (at most {bits:.0f} bits of entropy; it needs {MIN_SECRET_BITS}, 32 random bytes); "
            f"make one with: {MAKE_SECRET}"
        )
    return None
