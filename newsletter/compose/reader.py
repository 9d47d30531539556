"""What one reader gets of an issue: who they are to the email, and the sections their topics pick."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from newsletter.store.models import Issue, Summary
from newsletter.store.topics import Taxonomy


class ReaderLike(Protocol):
    """What the message factory reads of a recipient.

    A CSV `Subscriber`, the database's `Member` and the ledger's `RecipientRow` all have it, and so
    does `Reader`.
    """

    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def topics(self) -> Sequence[str]: ...
    @property
    def first_name(self) -> str: ...
    @property
    def large_text(self) -> bool: ...


@dataclass(frozen=True)
class Reader:
    """One recipient as the email sees them (a test send, a proof, or any store's row mapped)."""

    email: str
    name: str = ""  # the list's name field, shown in To; the greeting prefers first_name
    topics: tuple[str, ...] = ()  # preferences; empty means the whole issue
    first_name: str = ""  # "" lets the greeting find it in `name` ("Nurse, Erin" -> Erin)
    large_text: bool = False  # the larger-text edition


def reader_of(who: ReaderLike) -> Reader:
    """Any recipient as a Reader."""
    return Reader(who.email, who.name, tuple(who.topics), who.first_name, bool(who.large_text))


@dataclass(frozen=True)
class Variant:
    """What one rendering of an issue is for: its sections (None: all of them) and the text size.

    An issue is rendered once per variant its readers need, never once per reader.
    """

    sections: tuple[str, ...] | None = None
    large_text: bool = False


def sections_for(
    subscriber_topics: Iterable[str],
    issue: Issue,
    summaries: dict[str, Summary],
    taxonomy: Taxonomy,
) -> tuple[str, ...] | None:
    """The issue's section titles a subscriber gets, in the issue's order; None means all of them.

    A preference names a section title or a tag. A section matches a tag when the taxonomy lists
    the tag under that section or a summary in the section carries it. When nothing matches, the
    subscriber gets the whole issue rather than an empty email.
    """
    wanted = {t.casefold() for t in subscriber_topics}
    if not wanted:
        return None
    section_tags = {s.title.casefold(): {t.casefold() for t in s.tags} for s in taxonomy.sections}
    chosen: list[str] = []
    for section in issue.sections:
        tags = set(section_tags.get(section.title.casefold(), set()))
        for item in section.items:
            summary = summaries.get(item)
            if summary is not None:
                tags.update(t.casefold() for t in summary.topics)
        if section.title.casefold() in wanted or tags & wanted:
            chosen.append(section.title)
    if not chosen or len(chosen) == len(issue.sections):
        return None
    return tuple(chosen)
