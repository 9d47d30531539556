"""Layout B: no title, no headings; one line per part, then a run-together related list."""

from __future__ import annotations

from collections.abc import Iterable

from newsletter.errors import PageError
from newsletter.importers.page import (
    AI_NOTICE,
    READ_MORE,
    Line,
    Page,
    is_boilerplate,
    nonblank_lines,
    read_related,
)
from newsletter.importers.text import is_site_date, journal_named, restore_sentence_spaces

# The order of the text lines at the top of a layout-B page.
PARTS = ("takeaway", "found", "who_should_care", "considerations")


class LayoutBReader:
    layout = "B"

    @staticmethod
    def detect(text: str) -> bool:
        """Text lines followed by the site's related list or its closing boilerplate."""
        lines = _unglued(nonblank_lines(text))
        top, rest = _split_top(lines)
        return len(top) >= 2 and any(
            line.text == READ_MORE or is_boilerplate(line) or is_site_date(line.text) for line in rest
        )

    @staticmethod
    def read(text: str, source: str, vocabulary: Iterable[str]) -> Page:
        lines = _unglued(nonblank_lines(text))
        top, rest = _split_top(lines)
        warnings: list[str] = []
        if len(top) > len(PARTS):
            raise PageError(
                f"{source}:{top[len(PARTS)].number}: {len(top)} text lines before the related list; "
                "a layout-B page has 4 (takeaway, found, who should care, considerations)"
            )
        if len(top) < len(PARTS):
            missing = ", ".join(PARTS[len(top) :])
            warnings.append(f"{source}: only {len(top)} text lines; read in order, so missing: {missing}")
        fields: dict[str, str | None] = {name: None for name in PARTS}
        fields.update(
            {name: restore_sentence_spaces(line.text) for name, line in zip(PARTS, top, strict=False)}
        )
        listed = [line for line in rest if not line.text.startswith(AI_NOTICE)]
        end = next((i for i, line in enumerate(listed) if is_boilerplate(line)), len(listed))
        related, more = read_related(listed[:end], source)
        journal = journal_named(text)
        if journal is None:
            warnings.append(f"{source}: the closing text names no journal")
        return Page(
            source=source,
            layout="B",
            title=None,
            journal=journal,
            topics=None,
            related=related,
            warnings=tuple(warnings + more),
            takeaway=fields["takeaway"],
            found=fields["found"],
            who_should_care=fields["who_should_care"],
            considerations=fields["considerations"],
        )


def _unglued(lines: list[Line]) -> list[Line]:
    """Split `Read More5/1/2026` and `Read MoreWhether you…` into two lines."""
    out: list[Line] = []
    for line in lines:
        if line.text.startswith(READ_MORE) and line.text != READ_MORE:
            out += [Line(line.number, READ_MORE), Line(line.number, line.text[len(READ_MORE) :].strip())]
        else:
            out.append(line)
    return out


def _split_top(lines: list[Line]) -> tuple[list[Line], list[Line]]:
    """The text lines before the AI notice, the first related date or the boilerplate; and the rest."""
    for i, line in enumerate(lines):
        if line.text.startswith(AI_NOTICE) or is_site_date(line.text) or is_boilerplate(line):
            return lines[:i], lines[i:]
    return lines, []
