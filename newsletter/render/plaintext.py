"""Plain text as the text part shows it: paragraphs, wrapping at 78 columns, underlined headings."""

from __future__ import annotations

import re
import textwrap

TEXT_WIDTH = 78  # RFC 5322's advice; a terminal mail client shows 80 columns


def paragraphs(text: str) -> list[str]:
    """Paragraphs separated by blank lines, each with its whitespace collapsed."""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def wrap(text: str, indent: str = "", first: str | None = None, width: int = TEXT_WIDTH) -> str:
    """Plain-text paragraphs wrapped to `width` (`first` indents the first line, if given).

    Words longer than a line are broken, so no line ever exceeds the width.
    """
    wrapper = textwrap.TextWrapper(
        width=width,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_on_hyphens=False,
    )
    return "\n\n".join(wrapper.fill(p) for p in paragraphs(text))


def underline(text: str, char: str = "=") -> str:
    """A heading wrapped to the text width and underlined as long as its longest line."""
    lines = textwrap.wrap(" ".join(text.split()), TEXT_WIDTH, break_on_hyphens=False)
    return "\n".join(lines) + "\n" + char * max(len(line) for line in lines)
