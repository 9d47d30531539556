"""What one reader gets of an issue: who they are to the email, and the edition their topics pick."""

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
    """One edition of an issue: what a rendering is for, never one per reader.

    `items`: the summary ids it carries, in the issue's order (None: all of them). `topics`: the
    reader's topics it names, as they wrote them: those that picked an item, or, when none did
    (`unmatched`), all of them, in the one line telling the reader so. `large_text`: the size.
    """

    items: tuple[str, ...] | None = None
    large_text: bool = False
    topics: tuple[str, ...] = ()
    unmatched: bool = False


WHOLE_ISSUE = Variant()


def edition_for(
    subscriber_topics: Iterable[str],
    issue: Issue,
    summaries: dict[str, Summary],
    taxonomy: Taxonomy,
    large_text: bool = False,
) -> Variant:
    """The edition a reader with these topic preferences gets.

    A preference names a section or a tag. A section title picks that section's items and any
    other item tagged with one of the section's tags in topics.yaml; a tag picks only the items
    that carry it, never the rest of their section (a reader of "PML" gets no COVID study). A
    reader whose topics pick nothing gets the whole issue and is told so; one whose topics pick
    everything gets the whole issue without a word.
    """
    chosen = [t for t in dict.fromkeys(" ".join(t.split()) for t in subscriber_topics) if t]
    if not chosen:
        return Variant(large_text=large_text)
    section_tags = {s.title.casefold(): {t.casefold() for t in s.tags} for s in taxonomy.sections}
    # A topic is named as the issue or topics.yaml spells it, so "mri" and "MRI" share an edition.
    spelling = {t.casefold(): t for t in taxonomy.vocabulary}
    titles = [s.title for s in taxonomy.sections] + [s.title for s in issue.sections]
    spelling.update({title.casefold(): title for title in titles})
    chosen = list(dict.fromkeys(spelling.get(t.casefold(), t) for t in chosen))
    picked: dict[str, None] = {}
    named: list[str] = []
    for topic in chosen:
        key = topic.casefold()
        tags = {key} | section_tags.get(key, set())
        hits = [
            item
            for section in issue.sections
            for item in section.items
            if section.title.casefold() == key
            or (item in summaries and tags & {t.casefold() for t in summaries[item].topics})
        ]
        if hits:
            named.append(topic)
            picked.update(dict.fromkeys(hits))
    if not picked:
        return Variant(large_text=large_text, topics=tuple(chosen), unmatched=True)
    items = tuple(item for item in issue.summary_ids if item in picked)
    if len(set(items)) == len(set(issue.summary_ids)):
        return Variant(large_text=large_text)
    return Variant(items, large_text, tuple(named))
