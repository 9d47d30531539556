"""Message headers: refusing injected line breaks, addresses with safe names, folding and encoding."""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.policy import SMTP
from typing import Any

from newsletter.errors import DeliveryError
from newsletter.store.addresses import check_display_name

# A display name that needs neither quoting nor encoding: atoms separated by single spaces.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def check_header(name: str, value: str) -> str:
    """Refuse a header value with CR or LF, whoever supplied it: it would start a new header."""
    if "\r" in value or "\n" in value:
        raise DeliveryError(f"refusing the {name} header: its value contains a line break ({value[:60]!r})")
    return value


def fold(name: str, value: Any) -> bytes:
    """One header, folded and RFC 2047-encoded as the email package does with policy=SMTP."""
    return SMTP.header_factory(name, value).fold(policy=SMTP).encode("ascii")


def address(name: str, email: str, role: str) -> Address:
    """An address for the `role` header (From, To, Reply-To); DeliveryError if it cannot go in one."""
    check_header(role, name)
    check_header(role, email)
    bad = check_display_name(name)
    if bad:
        raise DeliveryError(f"refusing the {role} header for {email}: {bad}")
    return Address(display_name=name, addr_spec=email)


def to_header(name: str, email: str) -> bytes:
    """The To header line; the common plain name is written directly (the email package is slow)."""
    address(name, email, "To")
    if not name:
        return f"To: {email}\r\n".encode("ascii")
    if len(name) < 60 and _PLAIN_NAME.fullmatch(name):
        return f"To: {name} <{email}>\r\n".encode("ascii")
    return fold("To", [Address(display_name=name, addr_spec=email)])
