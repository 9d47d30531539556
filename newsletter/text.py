"""Outside text made safe to show on a terminal or in a log: the one `printable()`.

Text from outside (a server's reply, a reader's name, a file's value, an error that quotes them)
can carry characters a terminal obeys instead of showing: ESC sequences retitle it or fake coloured
output, a carriage return overwrites the line, bidirectional overrides reorder what is read, and
zero-width or line-separator characters hide text or break a log line where `grep` does not. One
rule for all of them, so no two places disagree:

- every control character (C0 but the line breaks and tab, DEL, C1), every invisible format
  character (bidi overrides and isolates, zero-width spaces and joiners, the BOM), U+2028 and
  U+2029, and lone surrogates are shown as their escape (`\\x1b`, `\\u202e`, `\\u2028`);
- line breaks (CR LF, LF, CR) and tabs: on one line (the default) each run becomes one space, so a
  server's multi-line reply reads as one line and nothing can start a fake line of output; with
  `lines=True` (a message of several lines, such as a list of problems) LF and CR LF stay line
  breaks, a lone CR is escaped and a tab is a space.

A URL shown anywhere goes through `shown_url()`: its credentials replaced by *** (`redact_url`),
however it is written, including the one-slash typos (`smtp:/user:pw@host`) that URL parsers
take for a path.
"""

from __future__ import annotations

import re
import unicodedata

_HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs"))
_ONE_LINE = re.compile(r"[\r\n\t]+")
_TABS = re.compile(r"\t")
_CRLF = re.compile(r"\r\n")


_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object, *, lines: bool = False, limit: int | None = None) -> str:
    """`text` (bytes are read as UTF-8) with what a terminal would obey shown escaped; see the module.

    `limit` cuts the result to that many characters (before escaping) and marks the cut with "...".
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    value = str(text)
    if value.isascii() and value.isprintable():  # the usual case, checked in C
        return value if limit is None or len(value) <= limit else value[:limit] + "..."
    value = _TABS.sub(" ", _CRLF.sub("\n", value)) if lines else _ONE_LINE.sub(" ", value)
    if limit is not None and len(value) > limit:
        value = value[:limit] + "..."
    return "".join(
        _escape(c) if unicodedata.category(c) in _HIDDEN and not (lines and c == "\n") else c for c in value
    )


# A URL's user-info: after `scheme://` (or any number of slashes, typos included), or, with no
# slash, when it holds a colon (`smtp:user:pw@host`); `key: ana@example.org` keeps its address.
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[a-z][a-z0-9+.-]*:)(?:(?P<slashes>/+)(?P<info>[^/?#\s]*)|(?P<colon>[^/?#\s:@]*:[^/?#\s]*))@",
    re.IGNORECASE,
)
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:[\w.-]*?)(?:password|passwd|pass|secret|token|key|signature|sig|auth|credential)"
    r"[\w.-]*=)(?P<value>[^&;#\s]*)",
    re.IGNORECASE,
)
REDACTED = "***"


def _hide_userinfo(m: re.Match[str]) -> str:
    if m["slashes"] is not None:
        return f"{m['scheme']}{m['slashes']}{REDACTED}@" if m["info"] else m[0]
    return f"{m['scheme']}{REDACTED}@"


def redact_url(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by ***.

    The whole user-info part goes (`ses://KEY:SECRET@region` -> `ses://***@region`), since a secret
    pasted as the user name is as secret as a password; so do query values named like secrets.
    """
    return _SECRET_PARAM.sub(lambda m: m["name"] + REDACTED, _URL_USERINFO.sub(_hide_userinfo, text))


def shown_url(url: str) -> str:
    """A URL as it may appear in an error or a repr: credentials redacted, controls escaped."""
    return printable(redact_url(url))
