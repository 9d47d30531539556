"""The domain's plain data: summaries, issues and their sections.

Named tuples, not dataclasses: `dataclasses` imports `inspect` (~6 ms) and each class costs ~0.5 ms
to make, a fifth of the start-up budget of `newsletter summaries list` (issue 16). A change is
`summary._replace(title=...)`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple


class Summary(NamedTuple):
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
    teaser: str | None = None
    needs_review: bool = False
    missing_fields: tuple[str, ...] = ()  # what the importer had to guess (needs_review)
    sources: tuple[str, ...] = ()  # the site pages this summary was imported from

    @property
    def is_teaser(self) -> bool:
        return self.found is None


class Section(NamedTuple):
    """One titled part of an issue and the summaries it carries."""

    title: str
    items: tuple[str, ...]  # summary ids, in order
    # The editor's note about this section: shown, after the issue's intro, only to readers whose
    # edition carries the section (a reader of gut studies is not told about microglia).
    intro: str = ""


class Issue(NamedTuple):
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
