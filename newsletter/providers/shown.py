"""What a provider may show: outside text with its control characters escaped, URLs without credentials."""

from __future__ import annotations

import re
import unicodedata

# Control (Cc), format (Cf: bidi overrides, zero-width) and line/paragraph separators: a reply from
# a server can use them to retitle a terminal, fake coloured output or reorder what is shown.
_HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp"))
_WHITESPACE = {"\r\n": " ", "\n": " ", "\r": " ", "\t": " "}
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:[\w.-]*?)(?:password|passwd|pass|secret|token|key|signature|sig|auth|credential)"
    r"[\w.-]*=)(?P<value>[^&;#\s]*)",
    re.IGNORECASE,
)
REDACTED = "***"


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str | bytes, limit: int = 500) -> str:
    """`text` from outside (a server's reply) made safe to print: one line, controls escaped, bounded.

    Line breaks become spaces (a multi-line SMTP reply reads as one line); every other control or
    invisible formatting character is shown as its escape (ESC as `\\x1b`), so it is seen, not obeyed.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if len(text) <= limit and text.isascii() and text.isprintable():  # the usual reply, checked in C
        return text
    for newline, space in _WHITESPACE.items():
        text = text.replace(newline, space)
    if len(text) > limit:
        text = text[:limit] + "..."
    if text.isascii() and text.isprintable():  # nothing (more) to escape
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _HIDDEN else c for c in text)


def redact_url(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by ***.

    The whole user-info part goes (`ses://KEY:SECRET@region` -> `ses://***@region`), since a secret
    pasted as the user name is as secret as a password; so do query values named like secrets.
    """
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@" if m["userinfo"] else m[0], text)
    return _SECRET_PARAM.sub(lambda m: m["name"] + REDACTED, text)


def shown_url(url: str) -> str:
    """A URL as it may appear in an error or a repr: credentials redacted, controls escaped."""
    return printable(redact_url(url))
