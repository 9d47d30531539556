"""Email addresses and display names: the one validity rule, normalisation and comparison."""

from __future__ import annotations

import functools
import re

# email-validator is imported where it is used: compiling its patterns costs ~20 ms, which every
# command would otherwise pay at start-up, --help included.


def normalise_address(raw: str) -> str:
    """The address as we store and send to it; raises ValueError with a reason if it is not valid."""
    value = raw.strip()
    if "\r" in value or "\n" in value:
        raise ValueError("the address contains a line break")
    return plain_address(value) or _validated_address(value)


def is_valid_address(value: object) -> bool:
    """Whether a setting's value is an address we could send from or to (the same rule as a list's)."""
    if not isinstance(value, str) or value != value.strip():
        return False
    try:
        normalise_address(value)
    except ValueError:
        return False
    return True


def _validated_address(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid email address: {exc}") from None
    return result.ascii_email or result.normalized


_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9.-]+\Z")


def plain_address(value: str) -> str | None:
    """The common case, normalised as email-validator would, or None to ask email-validator itself.

    email-validator spends most of its time on the domain (IDNA rules), which is the same for every
    reader at gmail.com, so its verdict on each domain is kept. For a dot-atom local part the rest of
    its work is a regex, the RFC 2142 role names and the length limits, repeated here with its own
    constants; anything else (quotes, Unicode, an invalid domain, a length near the limit) goes to
    email-validator whole, so verdicts and messages are exactly its own (a property test checks).
    """
    from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

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
    """email-validator's (Unicode, ASCII) forms of a domain, or None if it refuses the domain."""
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return result.domain, result.ascii_domain


def address_key(email: str) -> str:
    """Addresses compare case-insensitively (in practice no mail system treats case as distinct)."""
    return email.strip().casefold()


_NAME_UNSAFE = re.compile(r"[<>@\x00-\x1f\x7f]")


def check_display_name(name: str) -> str | None:
    """Why a display name cannot go in a To header, or None if it can."""
    if "\r" in name or "\n" in name:
        return "the name contains a line break"
    if _NAME_UNSAFE.search(name):
        # `Eve <eve@evil.example>, Bob` as a name would smuggle in a second recipient
        # wherever a name is written naively; such a name is never a person's name.
        return f"the name {name!r} contains <, > or @ or a control character"
    return None
