"""What a site page says, whatever its layout, and the parts both layouts share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from newsletter.errors import PageError
from newsletter.importers.text import is_site_date, parse_site_date

READ_MORE = "Read More"
AI_NOTICE = "AI-generated summary"
# The closing boilerplate every page ends with; its first paragraph names the journal.
BOILERPLATE_HEADING = "Understanding MS Research"
BOILERPLATE_START = "Whether you"


@dataclass(frozen=True)
class Line:
    """One non-blank line of a page and its 1-based line number, for error messages."""

    number: int
    text: str


@dataclass(frozen=True)
class RelatedItem:
    """One entry of the page's "You May Also Like" list: a teaser of another summary."""

    published: date
    teaser: str  # the blurb, as the site cuts it (at 100 characters)
    title: str | None  # layout A names it; layout B does not
    line: int


@dataclass(frozen=True)
class Page:
    """Everything the importer could read from one page."""

    source: str  # the page's file name: how a re-import finds its summary again
    layout: str  # "A" or "B"
    title: str | None
    takeaway: str | None
    found: str | None
    who_should_care: str | None
    considerations: str | None
    journal: str | None
    topics: tuple[str, ...] | None  # None: the layout carries no topics at all
    related: tuple[RelatedItem, ...]
    warnings: tuple[str, ...] = ()
    url: str | None = None  # the page's own https link (an HTML page's canonical link), when known
    unknown_topics: tuple[str, ...] = ()  # tags not in topics.yaml: reported once per import


def nonblank_lines(text: str) -> list[Line]:
    return [Line(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def is_boilerplate(line: Line) -> bool:
    return (
        line.text == BOILERPLATE_HEADING
        or line.text.startswith(BOILERPLATE_START)
        or "respected medical journals like" in line.text
    )


def read_related(lines: list[Line], where: str) -> tuple[tuple[RelatedItem, ...], list[str]]:
    """Read "You May Also Like" entries: [title, title again,] date, blurb, `Read More`.

    Returns the items and warnings (text that belongs to no complete entry).
    """
    items: list[RelatedItem] = []
    warnings: list[str] = []
    group: list[Line] = []
    for line in lines:
        if line.text != READ_MORE:
            group.append(line)
            continue
        items.append(_related_item(group, line, where))
        group = []
    if group:
        warnings.append(
            f"{where}:{group[0].number}: text after the last 'Read More' of the related list was ignored"
        )
    return tuple(items), warnings


def _related_item(group: list[Line], read_more: Line, where: str) -> RelatedItem:
    dates = [i for i, line in enumerate(group) if is_site_date(line.text)]
    if not dates:
        raise PageError(
            f"{where}:{read_more.number}: a related item without a date (M/D/YYYY) before 'Read More'"
        )
    at = dates[0]
    titles = list(dict.fromkeys(line.text for line in group[:at]))  # the site writes it twice
    blurb = " ".join(line.text for line in group[at + 1 :])
    if not blurb:
        raise PageError(f"{where}:{group[at].number}: a related item without its blurb after the date")
    if len(titles) > 1:
        raise PageError(
            f"{where}:{group[0].number}: a related item with {len(titles)} different titles; "
            "expected the title (written twice), the date, the blurb"
        )
    published = parse_site_date(group[at].text, f"{where}:{group[at].number}")
    return RelatedItem(published, blurb, titles[0] if titles else None, group[at].number)
