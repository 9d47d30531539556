"""Recognise a page's layout and read it with the matching reader (one reader per layout)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from newsletter.errors import PageError
from newsletter.importers.layout_a import LayoutAReader
from newsletter.importers.layout_b import LayoutBReader
from newsletter.importers.page import Page
from newsletter.store.fileio import read_text


class Reader(Protocol):
    layout: str

    @staticmethod
    def detect(text: str) -> bool: ...

    @staticmethod
    def read(text: str, source: str, vocabulary: Iterable[str]) -> Page: ...


# Layout A first: its headings are unmistakable, while B is recognised by what it lacks.
READERS: tuple[type[Reader], ...] = (LayoutAReader, LayoutBReader)


def read_page_text(text: str, source: str, vocabulary: Iterable[str]) -> Page:
    """Read one page's text; a page no reader recognises is a PageError naming `source`."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise PageError(f"{source}: the file is empty; expected a summary page of the site")
    for reader in READERS:
        if reader.detect(text):
            page = reader.read(text, source, vocabulary)
            if not page.takeaway:
                raise PageError(f"{source}: no key takeaway found; is this a summary page of the site?")
            return page
    raise PageError(
        f"{source}: not a summary page of the site: found neither the headings of layout A "
        "('Key Takeaway', 'What They Found', ...) nor the text lines and 'Read More' list of layout B"
    )


def read_page(path: Path, vocabulary: Iterable[str]) -> Page:
    """Read one page file (UTF-8 text copied from the site)."""
    return read_page_text(read_text(path, path, PageError), path.name, vocabulary)
