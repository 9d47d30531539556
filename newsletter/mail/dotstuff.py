"""Dot-stuffing (RFC 5321 4.5.2) piece by piece, so a message's constant pieces are stuffed once.

In SMTP's DATA a line holding only "." ends the message, so every line that starts with "." is sent
with a second one, which the server takes off. A line starts at the message's start and after every
LF (as smtplib's `(?m)^\\.` has it). A piece of a message can therefore only gain a line-initial dot
at its own start (when the bytes before it end a line) or after its own LFs: each piece can be
stuffed on its own, the constant ones once per issue, and the stuffed pieces joined.
`providers.smtp.dot_stuffed` does the same to a whole message at once; the tests prove they agree.
"""

from __future__ import annotations

END = b".\r\n"  # after the message's last line break: the end of DATA


def stuffed(piece: bytes, at_line_start: bool = True) -> bytes:
    """`piece` in its DATA form: each "." that starts a line doubled.

    `at_line_start`: the bytes before the piece end with LF (or there are none), so a "." the piece
    begins with starts a line. A piece with nothing to double comes back as the same object.
    """
    out = piece.replace(b"\n.", b"\n..")
    return b"." + out if at_line_start and out[:1] == b"." else out


def ends_lines(*pieces: bytes) -> bool:
    """Whether every piece ends with a line break: then the next piece starts a line, whatever it is."""
    return all(piece.endswith(b"\n") for piece in pieces)
