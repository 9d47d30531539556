"""Email addresses and names as the database keeps them: the one address rule (`store.addresses`),
salted hashes for erased people, and first and last names."""

from __future__ import annotations

import hashlib
import re

from newsletter.store.addresses import address_key, normalise_address

__all__ = ["address_hash", "address_key", "check_name", "display_name", "normalise_address"]

_NAME_UNSAFE = re.compile(r"[<>@\x00-\x1f\x7f]")
NAME_MAX = 200


def address_hash(salt: str, email: str) -> str:
    """The salted SHA-256 that stands for an address: on the suppression list it outlives an erasure."""
    return hashlib.sha256(f"{salt}:{address_key(email)}".encode()).hexdigest()


def check_name(name: str, what: str = "name") -> str | None:
    """Why a name cannot go in a To header or a greeting, or None if it can."""
    if "\r" in name or "\n" in name:
        return f"the {what} contains a line break"
    if _NAME_UNSAFE.search(name):
        # `Eve <eve@evil.example>, Bob` as a name would smuggle in a second recipient wherever a
        # name is written naively; such a name is never a person's name.
        return f"the {what} {name!r} contains <, > or @ or a control character"
    if len(name) > NAME_MAX:
        return f"the {what} is longer than {NAME_MAX} characters"
    return None


def display_name(first: str, last: str) -> str:
    return " ".join(part for part in (first, last) if part)
