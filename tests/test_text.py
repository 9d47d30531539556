"""The one rule for showing outside text on a terminal or in a log (newsletter.text.printable)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.text import printable


@pytest.mark.parametrize(
    ("text", "one_line", "several_lines"),
    [
        ("Zoë <zoe@example.org> – 5.1.1", "Zoë <zoe@example.org> – 5.1.1", "Zoë <zoe@example.org> – 5.1.1"),
        ("250-first\r\n250 second", "250-first 250 second", "250-first\n250 second"),
        ("a\nb", "a b", "a\nb"),
        ("over\rwrite", "over write", "over\\rwrite"),  # a lone CR would overwrite the line shown
        ("tab\there", "tab here", "tab here"),
        ("\x1b]0;pwned\x07\x1b[31mred", "\\x1b]0;pwned\\x07\\x1b[31mred", "\\x1b]0;pwned\\x07\\x1b[31mred"),
        ("nul\x00del\x7fcsi\x9b", "nul\\x00del\\x7fcsi\\x9b", "nul\\x00del\\x7fcsi\\x9b"),
        ("right-to-left \u202eexe.txt", "right-to-left \\u202eexe.txt", "right-to-left \\u202eexe.txt"),
        ("isolate\u2066x\u2069", "isolate\\u2066x\\u2069", "isolate\\u2066x\\u2069"),
        ("line\u2028separator\u2029", "line\\u2028separator\\u2029", "line\\u2028separator\\u2029"),
        (
            "zero\u200bwidth\u200dj\ufeff",
            "zero\\u200bwidth\\u200dj\\ufeff",
            "zero\\u200bwidth\\u200dj\\ufeff",
        ),
        (b"bytes \xff\x1b", "bytes \ufffd\\x1b", "bytes \ufffd\\x1b"),
    ],
)
def test_verdicts(text, one_line, several_lines):
    assert printable(text) == one_line
    assert printable(text, lines=True) == several_lines


def test_a_limit_cuts_and_says_so():
    assert printable("x" * 600, limit=500) == "x" * 500 + "..."
    assert printable("é" * 600, limit=10) == "é" * 10 + "..."
    assert printable("short", limit=500) == "short"


_SHOWN_RAW = {"Cc", "Cf", "Zl", "Zp", "Cs"}


@given(st.text(), st.booleans())
def test_nothing_a_terminal_obeys_gets_through(text, lines):
    shown = printable(text, lines=lines)
    allowed = {"\n"} if lines else set()
    assert all(unicodedata.category(c) not in _SHOWN_RAW or c in allowed for c in shown)
    if not lines:
        assert "\n" not in shown
