"""Import the site's feed (`newsletter import --feed [--pages]`): read it all, then write the summaries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path

from newsletter.errors import NewsletterError, PageError, problems
from newsletter.importers.feed import Feed, FeedEntry, FeedError, link_problems, load_feed
from newsletter.importers.feedmerge import (
    GENERIC_CATEGORIES,
    match_entry,
    plan_feed,
    unknown_topics_line,
    without_categories,
)
from newsletter.importers.fetch import FetchPolicy
from newsletter.importers.merge import PageOptions, plan_import
from newsletter.importers.page import Page
from newsletter.importers.remembered import remember
from newsletter.importers.sources import read_url
from newsletter.store import issues
from newsletter.store.config import Settings, load_settings
from newsletter.store.content import SUMMARIES_DIR, load_summaries, summary_to_yaml, write_summary
from newsletter.store.fileio import locked
from newsletter.store.models import Summary
from newsletter.store.topics import load_taxonomy


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Change:
    path: str  # relative to the workspace, e.g. summaries/2026-05-06-microglia-affect-ms.yaml
    summary: Summary
    action: Action


@dataclass(frozen=True)
class FeedReport:
    feed: str
    kind: str
    entries: int
    pages: int  # entry pages fetched and imported (--pages)
    changes: tuple[Change, ...]
    problems: tuple[str, ...]  # entries not imported, or imported with something left to review
    waiting: int = 0  # dated entries without text, remembered until their pages are imported
    renamed: tuple[tuple[str, str], ...] = ()  # (old id, new id): a guessed title the feed replaced
    unknown_topics: tuple[str, ...] = ()  # tags kept that topics.yaml does not list

    def having(self, action: Action) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is action)

    @property
    def needs_review(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.summary.needs_review)

    def lines(self) -> list[str]:
        """What the import did: one line per summary file, then the problems and the totals."""
        out = []
        for change in self.changes:
            fields = ", ".join(change.summary.missing_fields) or "flagged by hand"
            review = f"  (needs review: {fields})" if change.summary.needs_review else ""
            out.append(f"{change.action:<9}  {change.path}{review}")
        out += [renamed_line(old, new) for old, new in self.renamed]
        out += [f"warning: {problem}" for problem in self.problems]
        out += [f"note: {line}" for line in unknown_topics_line(self.unknown_topics)]
        if self.waiting:
            out.append(
                f"{self.waiting} entries have no text yet: remembered, so importing their pages "
                "(`newsletter import PAGE...`) completes them with the feed's dates and links"
            )
        pages = f", {self.pages} pages" if self.pages else ""
        out.append(
            f"{self.feed} ({self.kind}): {self.entries} entries{pages}; "
            f"{len(self.having(Action.CREATED))} created, {len(self.having(Action.UPDATED))} updated, "
            f"{len(self.having(Action.UNCHANGED))} unchanged, {len(self.needs_review)} need review; "
            f"{len(self.problems)} warnings"
        )
        return out


def renamed_line(old: str, new: str) -> str:
    return f"renamed    {SUMMARIES_DIR}/{old}.yaml -> {new}.yaml  (the feed gave its title)"


def ignored_categories(settings: Settings) -> tuple[str, ...]:
    """The feed categories that are not topics: `import.ignore_categories`, else the generic ones."""
    return GENERIC_CATEGORIES if settings.ignore_categories is None else settings.ignore_categories


def import_feed(
    workspace: Path,
    location: str | Path,
    pages: bool = False,
    today: date | None = None,
    fetch_policy: FetchPolicy | None = None,
) -> FeedReport:
    """Read the feed (and with `pages`, every dated entry's page), then write the summaries.

    Nothing is written if the feed, any entry's link or any page cannot be used.
    """
    settings = load_settings(workspace)
    fetch_policy = fetch_policy or FetchPolicy(allow_private_hosts=settings.allow_private_hosts)
    vocabulary = load_taxonomy(workspace).vocabulary
    feed = load_feed(location, settings.tz, fetch_policy)
    bad = link_problems(feed)
    if bad:
        raise FeedError(problems("nothing imported", bad))
    entries = without_categories(feed.entries, ignored_categories(settings))
    # One import at a time: two that map entries to the same id must not overwrite each other.
    with locked(workspace / ".newsletter" / "import.lock"):
        store = load_summaries(workspace)
        today = today or datetime.now(settings.tz).date()
        current = dict(store)
        touched: dict[str, None] = {}  # ids in the order first touched
        warnings: list[str] = []
        fetched = _read_pages(feed, vocabulary, fetch_policy) if pages else []
        for entry, page in fetched:
            # A new page takes the entry's date now, so its id starts with it like every other.
            known = match_entry(current, entry) is not None
            options = PageOptions() if known else PageOptions(published=entry.published)
            page_plan = plan_import(current, [page], settings.summary_url, today, options)
            current.update((s.id, s) for s in page_plan.summaries)
            touched.update((s.id, None) for s in page_plan.summaries)
            warnings += [*page.warnings, *page_plan.warnings]
        plan = plan_feed(current, entries, vocabulary, pinned_ids(workspace, current))
        for old in plan.renamed:
            current.pop(old, None)
            touched.pop(old, None)
        current.update((s.id, s) for s in plan.summaries)
        touched.update((s.id, None) for s in plan.summaries)
        before = {new: store.get(old) for old, new in plan.renamed.items()}  # a rename is an update
        changes = tuple(_write(workspace, before.get(i, store.get(i)), current[i]) for i in sorted(touched))
        drop_renamed(workspace, plan.renamed)
        remember(workspace, feed.entries)  # as given: the ignored categories are dropped on use
    return FeedReport(
        feed.source,
        feed.kind,
        len(feed.entries),
        len(fetched),
        changes,
        (*warnings, *plan.problems),
        len(plan.waiting),
        tuple(plan.renamed.items()),
        (*(t for _, page in fetched for t in page.unknown_topics), *plan.unknown_topics),
    )


def pinned_ids(workspace: Path, store: Mapping[str, Summary]) -> set[str]:
    """Summary ids an issue names, which a rename must not break (all of them if an issue is unreadable)."""
    try:
        return {sid for issue in issues.list_issues(workspace) for sid in issue.summary_ids}
    except NewsletterError:
        return set(store)


def drop_renamed(workspace: Path, renamed: Mapping[str, str]) -> None:
    """Remove the files of summaries that took the id their feed entry's title gives."""
    for old in renamed:
        (workspace / SUMMARIES_DIR / f"{old}.yaml").unlink(missing_ok=True)


def _read_pages(
    feed: Feed, vocabulary: Iterable[str], policy: FetchPolicy | None
) -> list[tuple[FeedEntry, Page]]:
    """Each dated entry's page; if any cannot be fetched or read, nothing is imported."""
    read: list[tuple[FeedEntry, Page]] = []
    errors: list[str] = []
    for entry in feed.entries:
        if entry.link is None or entry.published is None:
            continue  # reported by the merge: an undated entry is not guessed a date
        try:
            read.append((entry, read_url(entry.link, vocabulary, policy)))
        except PageError as exc:
            errors.append(f"{entry.name}: {exc.message}")
    if errors:
        raise FeedError(problems("nothing imported", errors))
    return read


def _write(workspace: Path, old: Summary | None, new: Summary) -> Change:
    path = f"{SUMMARIES_DIR}/{new.id}.yaml"
    if old is not None and summary_to_yaml(old) == summary_to_yaml(new):
        return Change(path, new, Action.UNCHANGED)
    write_summary(workspace, new)
    return Change(path, new, Action.CREATED if old is None else Action.UPDATED)
