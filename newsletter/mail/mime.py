"""Quoted-printable bodies encoded once per rendering, with each recipient's values dropped in.

Each recipient's message is made by substituting their values into the rendered bodies,
quoted-printable encoding them with `binascii` (C speed), instead of re-encoding 30 KB of HTML
per message with the `email` package.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field

from newsletter.mail.dotstuff import ends_lines, stuffed
from newsletter.render import personal

MAX_LINE = 76  # octets of an encoded line, soft break included (RFC 2045 6.7)
_ATOM = re.compile(rb"=[0-9A-F]{2}|.", re.DOTALL)  # what a line may not be broken inside


def qp(text: str) -> bytes:
    """Quoted-printable UTF-8 with CRLF line ends, every line <= 76 octets."""
    return _within_limit(binascii.b2a_qp(text.encode("utf-8"), istext=True)).replace(b"\n", b"\r\n")


def _within_limit(encoded: bytes) -> bytes:
    """Break again the lines binascii leaves too long: it encodes the whitespace that ends a line
    (=20, =09) after deciding where to break, so a long line ending in a space comes out 77 or 78
    octets long (as the email package's encoder does too)."""
    lines = encoded.split(b"\n")
    if all(len(line) <= MAX_LINE for line in lines):
        return encoded
    return b"\n".join(_rewrapped(line) if len(line) > MAX_LINE else line for line in lines)


def _rewrapped(line: bytes) -> bytes:
    """One encoded line as several of at most 76 octets, joined by soft breaks, escapes kept whole."""
    soft = line.endswith(b"=")  # a literal "=" is always escaped, so a final one is a soft break
    pieces: list[bytes] = []
    current = b""
    for atom in _ATOM.findall(line[:-1] if soft else line):
        if len(current) + len(atom) > MAX_LINE - 1:  # room for the soft break's "="
            pieces.append(current + b"=")
            current = b""
        current += atom
    pieces.append(current + (b"=" if soft else b""))
    return b"\n".join(pieces)


def _body_text(body: str) -> str:
    """Line ends as LF (encoded as CRLF later), and a final line break, as the email package does."""
    data = body.replace("\r\n", "\n").replace("\r", "\n")
    return data if data.endswith("\n") else data + "\n"


_TOKEN = re.compile("|".join(re.escape(token) for token in personal.TOKENS))
_SOFT_BREAK = b"=\r\n"  # invisible once decoded: lets each piece start a fresh encoded line


def _soft_close(encoded: bytes) -> bytes:
    """End an encoded piece with a soft line break, keeping every line within 76 octets."""
    start = encoded.rfind(b"\n") + 1
    last = encoded[start:]
    if len(last) < MAX_LINE:
        return encoded + _SOFT_BREAK
    # Break the full last line at 75, but never inside an =XX escape.
    cut = 75
    if last[cut - 1 : cut] == b"=":
        cut -= 1
    elif last[cut - 2 : cut - 1] == b"=":
        cut -= 2
    return encoded[:start] + last[:cut] + _SOFT_BREAK + last[cut:] + _SOFT_BREAK


@dataclass(frozen=True)
class QpTemplate:
    """A body quoted-printable encoded once, with gaps where the personal tokens go.

    Each static piece is encoded on its own and closed with a soft line break, so a recipient's
    values can be encoded and dropped in without re-encoding 30 KB of HTML per message. The
    result decodes to exactly the personalised body.

    Every piece, static or a value, ends a line (a soft break, or the body's last line break), so
    each starts a line whatever precedes it: the static pieces are dot-stuffed once here, for SMTP's
    DATA, and each value on its own as it is filled in (see `mail.dotstuff`).
    """

    pieces: tuple[bytes | str, ...]  # encoded static bytes, or a token
    # Each static piece as (encoded, encoded and dot-stuffed), or a token; and the tokens it holds.
    slots: tuple[tuple[bytes, bytes] | str, ...] = field(init=False, repr=False, compare=False)
    tokens: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        static = [piece for piece in self.pieces if isinstance(piece, bytes)]
        if not ends_lines(*static):
            raise ValueError("a quoted-printable template piece does not end a line")
        slots = tuple((p, stuffed(p)) if isinstance(p, bytes) else p for p in self.pieces)
        object.__setattr__(self, "slots", slots)
        object.__setattr__(self, "tokens", frozenset(p for p in self.pieces if isinstance(p, str)))

    @classmethod
    def of(cls, body: str) -> QpTemplate:
        data = _body_text(body)
        pieces: list[bytes | str] = []
        position = 0
        for match in _TOKEN.finditer(data):
            if match.start() > position:
                pieces.append(_soft_close(qp(data[position : match.start()])))
            pieces.append(match.group())
            position = match.end()
        pieces.append(qp(data[position:]))  # never empty: the body ends with a line break
        return cls(tuple(pieces))

    def fill(self, values: dict[str, str]) -> bytes:
        """The encoded body with `values` (token -> text) in the gaps."""
        return b"".join(self.fill_pieces(values)[0])

    def fill_pieces(self, values: dict[str, str]) -> tuple[list[bytes], list[bytes]]:
        """The encoded body's pieces with `values` in the gaps: as they are, and dot-stuffed."""
        encoded = {}
        for token in self.tokens:
            if values[token]:
                value = _soft_close(qp(values[token]))
                encoded[token] = (value, stuffed(value))
        plain, dotted = [], []
        for slot in self.slots:
            if isinstance(slot, tuple):
                plain.append(slot[0])
                dotted.append(slot[1])
            elif slot in encoded:
                plain.append(encoded[slot][0])
                dotted.append(encoded[slot][1])
        return plain, dotted


def encoded_size(body: str) -> int:
    """Octets of a body as transmitted: quoted-printable with CRLF line ends, as the messages carry it."""
    return sum(len(piece) for piece in QpTemplate.of(body).pieces if isinstance(piece, bytes))
