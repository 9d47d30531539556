"""Merge feed entries into the summaries: fill what pages lack (title, link, date, topics), never guess.

An entry finds its summary by link, then by title, then by its text: the summary's takeaway, or
the teaser the site cut from it.
It fills only the fields the importer had to guess (`missing_fields`) or that are empty, so an
editor's own value always stays; a difference is reported instead. A matched summary's review
flag clears once nothing is missing, unless the editor set it by hand.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from newsletter.importers.feed import FeedEntry
from newsletter.importers.links import same_link
from newsletter.importers.merge import unique_id
from newsletter.importers.text import id_words
from newsletter.store.models import Summary

TEASER_LENGTH = 100  # the site lists a summary under "You May Also Like" by its first 100 characters
_MIN_TEASER_MATCH = 40  # a shorter teaser says too little to identify a summary by


# Categories a site puts on every post: they say nothing of a study's topic (`import.ignore_categories`).
GENERIC_CATEGORIES = ("Research", "MS research", "News", "Blog", "Articles", "Uncategorized")


@dataclass(frozen=True)
class FeedPlan:
    summaries: tuple[Summary, ...]  # the new state of every summary an entry touched
    problems: tuple[str, ...]  # entries not imported, or imported with something still missing
    waiting: tuple[FeedEntry, ...] = ()  # dated entries with nothing to show until their page comes
    renamed: Mapping[str, str] = field(default_factory=dict)  # old id -> new: a guessed title replaced
    unknown_topics: tuple[str, ...] = ()  # the entries' categories that topics.yaml does not list


def unknown_topics_line(topics: Iterable[str]) -> list[str]:
    """One line for every tag an import kept that topics.yaml does not list, with what to do (or none)."""
    shown = sorted({t.casefold(): t for t in topics}.values(), key=str.casefold)
    if not shown:
        return []
    return [
        f"{len(shown)} {'tag is' if len(shown) == 1 else 'tags are'} not in topics.yaml, so "
        f"{'it places' if len(shown) == 1 else 'they place'} no summary in a section: {', '.join(shown)}. "
        "Fix: add each to a section's tags in topics.yaml (or to its closing `tags:` list), or to "
        "import.ignore_categories in newsletter.yaml if it is not a topic"
    ]


def without_categories(entries: Iterable[FeedEntry], ignored: Iterable[str]) -> list[FeedEntry]:
    """The entries with the site's generic categories removed: they are neither topics nor evidence."""
    drop = {c.casefold() for c in ignored}
    return [replace(e, topics=tuple(t for t in e.topics if t.casefold() not in drop)) for e in entries]


def plan_feed(
    store: dict[str, Summary],
    entries: Iterable[FeedEntry],
    vocabulary: Iterable[str],
    pinned: Collection[str] = (),
) -> FeedPlan:
    """The summaries these entries create or complete, merged with `store`; pure.

    A summary whose title was guessed takes the id the entry's title gives (the id a page with its
    title would have had), so pages and feed give the same files in either order; not one an issue
    already names (`pinned`).
    """
    renamed: dict[str, str] = {}
    known = {t.casefold() for t in vocabulary}
    current = dict(store)
    claimed: dict[str, FeedEntry] = {}
    problems: list[str] = []
    touched: list[str] = []
    waiting: list[FeedEntry] = []
    unknown: list[str] = []
    for entry in entries:
        existing = match_entry(current, entry)
        if existing is not None and existing.id in claimed:
            first = claimed[existing.id].name
            problems.append(f"{entry.name}: same summary as {first} ({existing.id}); skipped")
            continue
        if existing is None:
            summary, why = _new_summary(entry, set(current))
            if summary is None and why == NO_TEXT:
                waiting.append(entry)  # remembered (importers.remembered); its page completes it
                continue
            if summary is None:
                problems.append(f"{entry.name}: not imported: {why}")
                continue
        else:
            said: list[str] = []
            summary = completed(existing, entry, said)
            new_id = _title_id(existing, summary, set(current), pinned)
            if new_id is not None:
                del current[existing.id]
                touched = [i for i in touched if i != existing.id]
                renamed[existing.id] = new_id
                summary = replace(summary, id=new_id)
                said = [p.replace(f"/{existing.id}.yaml", f"/{new_id}.yaml") for p in said]
            problems += said
        claimed[summary.id] = entry
        current[summary.id] = summary
        touched.append(summary.id)
        unknown += [t for t in summary.topics if t in entry.topics and t.casefold() not in known]
    return FeedPlan(
        tuple(current[i] for i in touched), tuple(problems), tuple(waiting), renamed, tuple(unknown)
    )


def _title_id(existing: Summary, summary: Summary, taken: set[str], pinned: Collection[str]) -> str | None:
    """The id a page's summary takes once the feed gives the title it lacked; None to keep its own."""
    given = "title" in existing.missing_fields and "title" not in summary.missing_fields
    if not given or existing.is_teaser or existing.id in pinned:
        return None
    new_id = unique_id(id_words(summary.title, 6), taken - {existing.id})
    return None if new_id == existing.id else new_id


def match_entry(store: dict[str, Summary], entry: FeedEntry) -> Summary | None:
    """The summary an entry is about: same link, else same title, else the same text (takeaway, teaser)."""
    ordered = sorted(store.values(), key=lambda s: s.id)
    if entry.link:
        found = next((s for s in ordered if same_link(s.url, entry.link)), None)
        if found is not None:
            return found
    if entry.title:
        title = _fold(entry.title)
        found = next((s for s in ordered if _fold(s.title) == title), None)
        if found is not None:
            return found
    if entry.description:
        text = _fold(entry.description)
        return next((s for s in ordered if _tells(s, text, entry.published)), None)
    return None


def _tells(summary: Summary, text: str, published: date | None) -> bool:
    """Whether an entry's text is this summary's takeaway, or begins with its teaser on the same day."""
    if summary.takeaway and _fold(summary.takeaway) == text:
        return True
    same_day = published is None or "published" in summary.missing_fields or published == summary.published
    teaser = summary.teaser or ""
    return len(teaser) >= _MIN_TEASER_MATCH and text.startswith(_fold(teaser)) and same_day


def site_teaser(text: str) -> str:
    """The blurb as the site lists it: the text's first 100 characters."""
    return " ".join(text[:TEASER_LENGTH].split())


NO_TEXT = "it has no description to show; import its page"


def _new_summary(entry: FeedEntry, taken: set[str]) -> tuple[Summary | None, str]:
    """A summary made from the entry alone: a teaser whose page has not been imported yet."""
    if entry.published is None:
        return None, f"{entry.no_date}; give it a date in the feed, or import its page with --published"
    if not entry.title or not entry.link:
        return None, f"it has no {'title' if not entry.title else 'link'}"
    if not entry.description:
        return None, NO_TEXT
    missing = () if entry.topics else ("topics",)
    summary = Summary(
        # Like a page's: the title alone, so a page and its feed entry never name one summary twice.
        id=unique_id(id_words(entry.title, 6), taken),
        title=entry.title,
        url=entry.link,
        published=entry.published,
        topics=entry.topics,
        takeaway=entry.description,
        teaser=site_teaser(entry.description),
        needs_review=bool(missing),
        missing_fields=missing,
    )
    return summary, ""


def completed(existing: Summary, entry: FeedEntry, problems: list[str]) -> Summary:
    """`existing` with the fields it lacks taken from the entry; differences in the rest reported."""
    offered: dict[str, object] = {"title": entry.title, "url": entry.link, "published": entry.published}
    offered["topics"] = entry.topics or None
    lacking = set(existing.missing_fields) | ({"topics"} if not existing.topics else set())
    filled = {name for name in lacking if offered.get(name) is not None}
    for name, value in offered.items():
        differs = value is not None and not _same(name, getattr(existing, name), value)
        if name not in lacking and name != "topics" and differs:
            kept, where = _show(getattr(existing, name)), f"summaries/{existing.id}.yaml"
            problems.append(f"{entry.name}: {where} keeps its {name} {kept}; the feed says {_show(value)}")
    if "published" in existing.missing_fields and entry.published is None:
        problems.append(f"{entry.name}: {entry.no_date}; summaries/{existing.id}.yaml keeps its guessed date")
    # An editor may flag a summary by hand (needs_review without missing fields); keep that flag.
    flagged = existing.needs_review and not existing.missing_fields
    still = tuple(name for name in existing.missing_fields if name not in filled)
    return replace(
        existing,
        title=entry.title if "title" in filled and entry.title else existing.title,
        url=entry.link if "url" in filled and entry.link else existing.url,
        published=entry.published if "published" in filled and entry.published else existing.published,
        topics=entry.topics if "topics" in filled else existing.topics,
        missing_fields=still,
        needs_review=bool(still) or flagged,
    )


def _same(name: str, a: object, b: object) -> bool:
    if name == "url":
        return same_link(str(a), str(b))
    if name == "title":
        return _fold(str(a)) == _fold(str(b))
    return a == b


def _show(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else repr(value)


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()
