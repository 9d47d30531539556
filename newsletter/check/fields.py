"""What an editor may have left in a field by mistake: control characters and placeholder text."""

from __future__ import annotations

import re
import unicodedata

# The C0 controls' short names, as the ASCII table gives them; tab and line feed are allowed.
_C0 = (
    "NUL",
    "SOH",
    "STX",
    "ETX",
    "EOT",
    "ENQ",
    "ACK",
    "BEL",
    "BS",
    "HT",
    "LF",
    "VT",
    "FF",
    "CR",
    "SO",
    "SI",
    "DLE",
    "DC1",
    "DC2",
    "DC3",
    "DC4",
    "NAK",
    "SYN",
    "ETB",
    "CAN",
    "EM",
    "SUB",
    "ESC",
    "FS",
    "GS",
    "RS",
    "US",
)
_ALLOWED = {"\t", "\n"}
# Words an editor writes while drafting; upper case only, so "todo" in prose is not flagged.
_PLACEHOLDER = re.compile(r"\b(TODO|TBD|XXX|FIXME)\b|\blorem ipsum\b", re.IGNORECASE)
_UPPER_ONLY = {"todo", "tbd", "xxx", "fixme"}


def control_characters(value: str) -> list[str]:
    """The names of the control characters in a text (NUL, ESC, U+0085 ...), each once, in order."""
    names: dict[str, None] = {}
    for char in value:
        if char in _ALLOWED or unicodedata.category(char) != "Cc":
            continue
        code = ord(char)
        names[_C0[code] if code < 32 else "DEL" if code == 127 else f"U+{code:04X}"] = None
    return list(names)


def placeholders(value: str) -> list[str]:
    """Placeholder words in a text (TODO, TBD, XXX, FIXME, lorem ipsum), each once, as written."""
    found: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(value):
        word = match.group(0)
        if word.casefold() in _UPPER_ONLY and not word.isupper():
            continue
        found[word] = None
    return list(found)
