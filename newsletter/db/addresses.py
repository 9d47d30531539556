"""Email addresses and names as the database keeps them: validated, normalised, compared, hashed.

`normalise_address` gives exactly email-validator's verdict (the same quick path as
newsletter/subscribers.py, which can import it from here once the lead integrates this package).
"""

from __future__ import annotations

import functools
import hashlib
import re

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9.-]+\Z")
_NAME_UNSAFE = re.compile(r"[<>@\x00-\x1f\x7f]")
NAME_MAX = 200


def normalise_address(raw: str) -> str:
    """The address as we store and send to it; raises ValueError with a reason if it is not valid."""
    value = raw.strip()
    if "\r" in value or "\n" in value:
        raise ValueError("the address contains a line break")
    return _plain_address(value) or _validated_address(value)


def _validated_address(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid email address: {exc}") from None
    return result.ascii_email or result.normalized


def _plain_address(value: str) -> str | None:
    """The common case, normalised as email-validator would, or None to ask email-validator itself.

    email-validator spends most of its time on the domain (IDNA rules), the same for every reader
    at one domain, so its verdict on each domain is cached; a dot-atom local part needs only its
    regex, role names and length limits, repeated here with its own constants.
    """
    local, at, domain = value.partition("@")
    if not at or not DOT_ATOM_TEXT.match(local) or not _PLAIN_DOMAIN.match(domain):
        return None
    forms = _domain_forms(domain)
    if forms is None:
        return None
    unicode_domain, ascii_domain = forms
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        local = local.lower()
    for address in (value, f"{local}@{unicode_domain}", f"{local}@{ascii_domain}"):
        if len(address.encode("utf-8")) > EMAIL_MAX_LENGTH:
            return None
    return f"{local}@{ascii_domain}"


@functools.lru_cache(maxsize=4096)
def _domain_forms(domain: str) -> tuple[str, str] | None:
    try:
        result = validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return result.domain, result.ascii_domain


def address_key(email: str) -> str:
    """Addresses compare case-insensitively (in practice no mail system treats case as distinct)."""
    return email.strip().casefold()


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


def split_name(full: str) -> tuple[str, str]:
    """A one-field name as (first, last): "Erin Nurse" and "Nurse, Erin" both greet Erin.

    Without a comma the first word greets and the rest is kept as the last name, not guessed at.
    """
    full = " ".join(full.split())
    if full.count(",") == 1:
        last, _, first = full.partition(",")
        if first.strip() and last.strip():
            return first.strip(), last.strip()
    first, _, last = full.partition(" ")
    return first, last


def display_name(first: str, last: str) -> str:
    return " ".join(part for part in (first, last) if part)
