"""Layout A: a page with its title written twice and headed sections (Key Takeaway, ...)."""

from __future__ import annotations

from collections.abc import Iterable

from newsletter.importers.page import (
    BOILERPLATE_HEADING,
    Line,
    Page,
    is_boilerplate,
    nonblank_lines,
    read_related,
)
from newsletter.importers.tags import split_tags
from newsletter.importers.text import journal_named, restore_sentence_spaces

SECTIONS = {
    "Key Takeaway": "takeaway",
    "What They Found": "found",
    "Who Should Care and Why": "who_should_care",
    "Important Considerations": "considerations",
}
TOPICS = "Article Topics:"
RELATED = "You May Also Like"
LABELS = ("Credibility", "Interest")  # the site's rating widgets; their values are not in the text
_HEADINGS = (*SECTIONS, TOPICS, RELATED, BOILERPLATE_HEADING, *LABELS)


class LayoutAReader:
    layout = "A"

    @staticmethod
    def detect(text: str) -> bool:
        """A page with at least one of the section headings on a line of its own."""
        return any(line.text in SECTIONS for line in nonblank_lines(text))

    @staticmethod
    def read(text: str, source: str, vocabulary: Iterable[str]) -> Page:
        lines = nonblank_lines(text)
        warnings: list[str] = []
        blocks = _blocks(lines)
        title = _title(lines)
        if title is None:
            warnings.append(f"{source}: no title before the first heading")
        fields = {
            name: "\n\n".join(restore_sentence_spaces(line.text) for line in blocks.get(heading, [])) or None
            for heading, name in SECTIONS.items()
        }
        for heading, name in SECTIONS.items():
            if fields[name] is None:
                warnings.append(f"{source}: no '{heading}' section")
        topics: tuple[str, ...] = ()
        unknown: tuple[str, ...] = ()
        for line in blocks.get(TOPICS, []):
            split = split_tags(line.text, vocabulary)
            topics += split.tags
            unknown += split.unknown
        related, more = read_related(blocks.get(RELATED, []), source)
        journal = journal_named(text)
        if journal is None:
            warnings.append(f"{source}: the closing text names no journal")
        return Page(
            source=source,
            layout="A",
            title=title,
            journal=journal,
            # A page without an "Article Topics:" block carries no topics: the file's are kept.
            topics=tuple(dict.fromkeys(topics)) if TOPICS in blocks else None,
            related=related,
            warnings=tuple(warnings + more),
            unknown_topics=unknown,
            **fields,
        )


def _title(lines: list[Line]) -> str | None:
    first = lines[0].text if lines else ""
    return None if first in _HEADINGS else first


def _blocks(lines: list[Line]) -> dict[str, list[Line]]:
    """The lines under each heading, up to the next heading or the closing boilerplate."""
    blocks: dict[str, list[Line]] = {}
    current: str | None = None
    for line in lines:
        if line.text in _HEADINGS:
            current = line.text
            blocks.setdefault(current, [])
        elif is_boilerplate(line):
            current = None
        elif current is not None and current not in LABELS:
            blocks[current].append(line)
    return blocks
