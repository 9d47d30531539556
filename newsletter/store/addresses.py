"""Email addresses and display names: the one validity rule, normalisation and comparison."""

from __future__ import annotations

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


# email-validator's constants for ASCII (rfc_constants.py; a test checks they stay equal). Importing
# that module loads all of email-validator and compiles its Unicode patterns: ~20 ms.
_ATEXT = r"a-zA-Z0-9_!#\$%&\'\*\+\-/=\?\^`\{\|\}~"
DOT_ATOM_TEXT = re.compile("[" + _ATEXT + "]+(?:\\.[" + _ATEXT + r"]+)*\Z")
CASE_INSENSITIVE_MAILBOX_NAMES = frozenset(
    ("info", "marketing", "sales", "support", "abuse", "noc", "security", "postmaster", "hostmaster")
    + ("usenet", "news", "webmaster", "www", "uucp", "ftp")
)  # RFC 2142
EMAIL_MAX_LENGTH = 254
DOMAIN_MAX_LENGTH = 253
DNS_LABEL_LENGTH_LIMIT = 63
# email-validator's SPECIAL_USE_DOMAIN_NAMES: refused as a domain or as its last label.
SPECIAL_USE_DOMAIN_NAMES = frozenset(("arpa", "invalid", "local", "localhost", "onion", "test"))

_ASCII_DOMAIN = re.compile(r"[A-Za-z0-9.-]+\Z")
_HOSTNAME_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\Z")


def plain_address(value: str) -> str | None:
    """The common case, normalised as email-validator would, or None to ask email-validator itself.

    The common case is an ASCII dot-atom local part at a plain ASCII domain (no Punycode), which
    email-validator checks with a few regexes, the RFC 2142 role names, label and length limits
    and its list of special-use domains: repeated here, so reading a list or the settings need not
    load it. Anything else (quotes, Unicode, Punycode, anything it would refuse) goes to
    email-validator whole, so verdicts and messages are exactly its own (a property test checks).
    """
    local, at, domain = value.partition("@")
    if not at or not DOT_ATOM_TEXT.match(local) or not _ASCII_DOMAIN.match(domain):
        return None
    if len(value) > EMAIL_MAX_LENGTH:  # ASCII: characters are bytes, and normalising keeps lengths
        return None
    ascii_domain = plain_domain(domain)
    if ascii_domain is None:
        return None
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        local = local.lower()
    return f"{local}@{ascii_domain}"


def plain_domain(domain: str) -> str | None:
    """An ASCII domain as email-validator normalises it (lower case), or None if it is not plain.

    None means email-validator must decide: it would refuse the domain, or it holds Punycode
    (`xn--`), whose IDNA rules are email-validator's job.
    """
    ascii_domain = domain.lower()
    labels = ascii_domain.split(".")
    if (
        len(ascii_domain) > DOMAIN_MAX_LENGTH
        or len(labels) < 2  # a deliverable domain has a period
        or not ascii_domain[-1].isalpha()  # every top-level domain ends with a letter
        or labels[-1] in SPECIAL_USE_DOMAIN_NAMES
    ):
        return None
    for label in labels:
        # `ab--` starts a reserved (R-LDH) label, `xn--` a Punycode one: both are left to email-validator.
        if len(label) > DNS_LABEL_LENGTH_LIMIT or label[2:4] == "--" or not _HOSTNAME_LABEL.match(label):
            return None
    return ascii_domain


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
