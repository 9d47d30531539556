"""VERP envelope senders: bounces+TOKEN@domain, a short signed token standing for one recipient of one issue.

A notification sent to the envelope sender names the recipient and the issue even when the
original headers are not quoted. The token fits RFC 5321's 64-octet local part whatever the
address length: it carries two keyed digests, not the address, so it reveals nothing; the
bounce reader finds whom it stands for among the issue's recipients (see `bounces.mapping`).
Lower-case base32 only, because some mail systems change the case of a local part.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from newsletter.store.addresses import address_key

ISSUE_CHARS = 8  # 40 bits: tells the issues apart
RECIPIENT_CHARS = 16  # 80 bits: a guessed token matches nobody
_TOKEN = re.compile(rf"([a-z2-7]{{{ISSUE_CHARS}}})-([a-z2-7]{{{RECIPIENT_CHARS}}})\Z")


@dataclass(frozen=True)
class VerpToken:
    issue_tag: str
    recipient_tag: str


def _digest(secret: bytes, purpose: str, *values: str) -> str:
    # Separate purposes and NUL separators keep one MAC from standing in for another.
    message = "\0".join((f"verp-{purpose}", *values)).encode("utf-8")
    raw = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.b32encode(raw).decode("ascii").lower()


def issue_tag(secret: bytes, issue_id: str) -> str:
    return _digest(secret, "issue", issue_id)[:ISSUE_CHARS]


def recipient_tag(secret: bytes, issue_id: str, email: str) -> str:
    return _digest(secret, "recipient", issue_id, address_key(email))[:RECIPIENT_CHARS]


def bounce_address(bounce_to: str, secret: bytes, issue_id: str, email: str) -> str:
    """The envelope sender for one recipient of one issue: `bounces+tag-tag@example.org`."""
    local, at, domain = bounce_to.rpartition("@")
    if not at or not local or "+" in local:
        raise ValueError(
            f"{bounce_to!r} cannot carry a VERP token; use an address such as bounces@example.org"
        )
    return f"{local}+{issue_tag(secret, issue_id)}-{recipient_tag(secret, issue_id, email)}@{domain}"


def read_bounce_address(bounce_to: str, address: str) -> VerpToken | None:
    """The token in an address made by `bounce_address` for this bounce address, else None."""
    local, _, domain = bounce_to.rpartition("@")
    given = address.strip().strip("<>").lower()
    given_local, at, given_domain = given.rpartition("@")
    base, plus, token = given_local.partition("+")
    if not at or not plus or base != local.lower() or given_domain != domain.lower():
        return None
    found = _TOKEN.match(token)
    return VerpToken(found.group(1), found.group(2)) if found else None


def matches(token: VerpToken, secret: bytes, issue_id: str, email: str) -> bool:
    """Whether the token stands for this recipient of this issue (compared in constant time)."""
    return hmac.compare_digest(token.issue_tag, issue_tag(secret, issue_id)) and hmac.compare_digest(
        token.recipient_tag, recipient_tag(secret, issue_id, email)
    )


def find_in(text: str, bounce_to: str) -> list[VerpToken]:
    """Every token on this bounce address in a header value or a body (a notification may quote several)."""
    local, _, domain = bounce_to.rpartition("@")
    pattern = re.compile(
        rf"{re.escape(local)}\+([a-z2-7]{{{ISSUE_CHARS}}})-([a-z2-7]{{{RECIPIENT_CHARS}}})@{re.escape(domain)}",
        re.IGNORECASE,
    )
    seen: dict[tuple[str, str], None] = {}
    for found in pattern.finditer(text):
        seen[(found.group(1).lower(), found.group(2).lower())] = None
    return [VerpToken(*pair) for pair in seen]
