"""The domain's plain data: summaries, issues and their sections, as frozen dataclasses.

A change is a copy: `dataclasses.replace(summary, title=...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class Correction:
    """A note that a summary was corrected after it was sent (`newsletter correct` writes it)."""

    date: date
    note: str  # what changed, in the editor's words


@dataclass(frozen=True)
class Summary:
    """One research summary from `summaries/<id>.yaml`.

    A full summary has `found` (what the study found); a teaser is only the short blurb the site
    lists under "You May Also Like", with a title and a date.
    """

    id: str
    title: str
    url: str
    published: date
    takeaway: str | None = None
    journal: str | None = None
    topics: tuple[str, ...] = ()
    found: str | None = None
    who_should_care: str | None = None
    considerations: str | None = None
    # The editor's shorter wording of a long field for the email (never the tool's): the email shows
    # it with a link to the whole text, the web page and archive always show the whole field.
    who_should_care_short: str | None = None
    considerations_short: str | None = None
    teaser: str | None = None
    needs_review: bool = False
    missing_fields: tuple[str, ...] = ()  # what the importer had to guess (needs_review)
    sources: tuple[str, ...] = ()  # the site pages this summary was imported from
    corrections: tuple[Correction, ...] = ()  # oldest first; shown on its web pages

    @property
    def is_teaser(self) -> bool:
        return self.found is None


# What an editor writes as a summary's considerations when the site's page has none: the check
# accepts it as acknowledged, and the email shows nothing for it.
NONE_ON_THE_SITE = "none on the site"


def stated_considerations(summary: Summary) -> str | None:
    """The summary's considerations, or None when it has none (or the editor acknowledged none)."""
    text = summary.considerations
    return None if not text or " ".join(text.split()).casefold() == NONE_ON_THE_SITE else text


@dataclass(frozen=True)
class Section:
    """One titled part of an issue and the summaries it carries."""

    title: str
    items: tuple[str, ...]  # summary ids, in order
    # The editor's note about this section: shown, after the issue's intro, only to readers whose
    # edition carries the section (a reader of gut studies is not told about microglia).
    intro: str = ""


@dataclass(frozen=True)
class Issue:
    """One issue from `issues/<id>.yaml`, as the editor assembled it."""

    id: str
    title: str
    subject: str
    preheader: str
    since: date
    until: date
    intro: str
    sections: tuple[Section, ...]
    send_at: datetime | None = None
    # For readers whose topic preferences give them part of the issue; "" lets the tool word them.
    # Placeholders: {topics}, {count}, {total}, {summaries} (store/issues.py VARIANT_PLACEHOLDERS).
    filtered_subject: str = ""
    filtered_preheader: str = ""

    @property
    def summary_ids(self) -> tuple[str, ...]:
        return tuple(item for section in self.sections for item in section.items)
