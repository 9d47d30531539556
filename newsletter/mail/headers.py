"""Message headers: refusing injected line breaks, addresses with safe names, folding and encoding."""

from __future__ import annotations

import re
from email.utils import formataddr
from typing import TYPE_CHECKING, Any

from newsletter.errors import DeliveryError
from newsletter.store.addresses import check_display_name

if TYPE_CHECKING:  # the email package's header machinery is loaded only for the rare header it folds
    from email.headerregistry import Address

# A display name that needs neither quoting nor encoding: atoms separated by single spaces.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
MAX_LINE = 78  # RFC 5322 2.1.1: longer header lines are folded, by the email package
MAX_ENCODED_WORD = 75  # RFC 2047 2: longer encoded words are split, by the email package


def check_header(name: str, value: str) -> str:
    """Refuse a header value with CR or LF, whoever supplied it: it would start a new header."""
    if "\r" in value or "\n" in value:
        raise DeliveryError(f"refusing the {name} header: its value contains a line break ({value[:60]!r})")
    return value


def fold(name: str, value: Any) -> bytes:
    """One header, folded and RFC 2047-encoded as the email package does with policy=SMTP."""
    from email.policy import SMTP

    return SMTP.header_factory(name, value).fold(policy=SMTP).encode("ascii")


def _checked(name: str, email: str, role: str) -> None:
    check_header(role, name)
    check_header(role, email)
    bad = check_display_name(name)
    if bad:
        raise DeliveryError(f"refusing the {role} header for {email}: {bad}")


def address(name: str, email: str, role: str) -> Address:
    """An address for the `role` header (From, To, Reply-To); DeliveryError if it cannot go in one."""
    from email.headerregistry import Address

    _checked(name, email, role)
    return Address(display_name=name, addr_spec=email)


def _quick_mailbox(name: str, email: str) -> str | None:
    """`name <email>` as one short line needing no folding, or None where the email package must fold.

    A plain name is written as it is; an ASCII one with specials is quoted; any other is one RFC 2047
    encoded word (UTF-8, base64), as `email.utils.formataddr` writes them. Names a parser would read
    differently (runs of spaces outside quotes, text that looks like an encoded word) and anything
    that would need folding or splitting go to the email package.
    """
    if _PLAIN_NAME.fullmatch(name):
        return f"{name} <{email}>"
    if "=?" in name or name != " ".join(name.split()):
        return None
    mailbox = formataddr((name, email))
    if not name.isascii() and mailbox.rindex(" <") > MAX_ENCODED_WORD:
        return None
    return mailbox


def to_header(name: str, email: str) -> bytes:
    """The To header line: written directly when it is one short line (the email package is slow)."""
    _checked(name, email, "To")
    mailbox = _quick_mailbox(name, email) if name else email
    if mailbox is not None and len(mailbox) <= MAX_LINE - len("To: "):
        return f"To: {mailbox}\r\n".encode("ascii")
    return fold("To", [address(name, email, "To")])
