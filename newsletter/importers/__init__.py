"""Import the site's summary pages (`newsletter import PAGE...`) into the summary store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from newsletter.errors import PageError, problems
from newsletter.importers.feed import FeedEntry
from newsletter.importers.feedimport import drop_renamed, ignored_categories, pinned_ids, renamed_line
from newsletter.importers.feedmerge import match_entry, plan_feed, unknown_topics_line, without_categories
from newsletter.importers.fetch import FetchPolicy
from newsletter.importers.merge import PageOptions, plan_import
from newsletter.importers.page import Page
from newsletter.importers.readers import read_page, read_page_text
from newsletter.importers.remembered import recall
from newsletter.importers.sources import read_source
from newsletter.store import validate as v
from newsletter.store.config import Settings, load_settings
from newsletter.store.content import SUMMARIES_DIR, load_summaries, summary_to_yaml, write_summary
from newsletter.store.fileio import locked
from newsletter.store.models import Summary
from newsletter.store.topics import load_taxonomy

__all__ = ["ImportReport", "Page", "PageOptions", "import_pages", "read_page", "read_page_text"]


@dataclass(frozen=True)
class Written:
    path: str  # relative to the workspace, e.g. summaries/2026-05-01-cd29-marks-blood-b-cells.yaml
    summary: Summary
    action: str  # created | updated | unchanged


@dataclass(frozen=True)
class ImportReport:
    pages: tuple[Page, ...]
    written: tuple[Written, ...]
    warnings: tuple[str, ...]
    unknown_topics: tuple[str, ...] = ()  # tags kept that topics.yaml does not list: one line, once
    renamed: tuple[tuple[str, str], ...] = ()  # (old id, new id): the feed gave the title a page lacked

    def count(self, action: str) -> int:
        return sum(1 for w in self.written if w.action == action)

    def lines(self) -> list[str]:
        """What the import did, one line per summary file, then the warnings and the totals."""
        out = []
        for item in self.written:
            kind = "teaser" if item.summary.is_teaser else "full"
            fields = ", ".join(item.summary.missing_fields) or "flagged by hand"
            review = f"; needs review: {fields}" if item.summary.needs_review else ""
            out.append(f"{item.action:<9}  {item.path}  ({kind}{review})")
        out += [renamed_line(before, after) for before, after in self.renamed]
        out += [f"warning: {warning}" for warning in self.warnings]
        out += [f"note: {line}" for line in unknown_topics_line(self.unknown_topics)]
        full = sum(1 for w in self.written if not w.summary.is_teaser)
        out.append(
            f"{len(self.pages)} pages: {full} full summaries, {len(self.written) - full} teasers; "
            f"{self.count('created')} created, {self.count('updated')} updated, "
            f"{self.count('unchanged')} unchanged; {len(self.warnings)} warnings"
        )
        return out


def check_options(pages: Sequence[Path | str], options: PageOptions) -> None:
    """--title and --url describe one page; both must be usable as they are."""
    wrong: list[str] = []
    if (options.title is not None or options.url is not None) and len(pages) != 1:
        wrong.append("--title and --url describe one page: import that page on its own")
    if options.title is not None and (not v.text(options.title) or not v.single_line(options.title)):
        wrong.append("--title: expected the summary's title, on one line")
    if options.url is not None and not v.https_url(options.url):
        wrong.append(f"--url: expected an absolute https URL, got {options.url!r}")
    if wrong:
        raise PageError(problems("import", wrong))


def import_pages(
    workspace: Path,
    pages: Sequence[Path | str],
    options: PageOptions | None = None,
    today: date | None = None,
    fetch_policy: FetchPolicy | None = None,
) -> ImportReport:
    """Read every page (text, .html or https URL), then write their summaries.

    If any page cannot be read, nothing is written.
    """
    options = options or PageOptions()
    settings = load_settings(workspace)
    fetch_policy = fetch_policy or FetchPolicy(allow_private_hosts=settings.allow_private_hosts)
    check_options(pages, options)
    vocabulary = load_taxonomy(workspace).vocabulary
    read: dict[str, Page] = {}
    errors: list[str] = []
    for path in pages:
        try:
            page = read_source(path, vocabulary, fetch_policy)
        except PageError as exc:
            errors.append(exc.message)
            continue
        if page.source in read:
            errors.append(f"{path}: a second page named {page.source}; page file names must be unique")
        read[page.source] = page
    for page in read.values():
        if options.title and page.title and options.title != page.title and not options.force:
            errors.append(
                f"{page.source}: the page has its own title {page.title!r}; drop --title to keep it, "
                "or add --force to replace it"
            )
    if errors:
        raise PageError(problems("nothing imported", errors))
    # One import at a time: two that map pages to the same id must not overwrite each other.
    with locked(workspace / ".newsletter" / "import.lock"):
        return _write_pages(workspace, settings, read, options, today)


def _write_pages(
    workspace: Path, settings: Settings, read: dict[str, Page], options: PageOptions, today: date | None
) -> ImportReport:
    store = load_summaries(workspace)
    today = today or datetime.now(settings.tz).date()
    vocabulary = load_taxonomy(workspace).vocabulary
    # The feed's entries seen before (importers.remembered) complete these pages as if the feed came after.
    entries = without_categories(recall(workspace), ignored_categories(settings))
    links = feed_links(store, read.values(), entries, settings.summary_url, today, options)
    plan = plan_import(store, read.values(), settings.summary_url, today, options, links)
    current = {**store, **{s.id: s for s in plan.summaries}}
    touched = [s.id for s in plan.summaries]
    ours = [e for e in entries if (m := match_entry(current, e)) is not None and m.id in touched]
    completed = plan_feed(current, ours, vocabulary, pinned_ids(workspace, current))
    for before, after in completed.renamed.items():
        current.pop(before)
        touched[touched.index(before)] = after
    current.update((s.id, s) for s in completed.summaries)
    written = []
    for summary in (current[i] for i in touched):
        old = store.get(summary.id)
        path = f"{SUMMARIES_DIR}/{summary.id}.yaml"
        if old is not None and summary_to_yaml(old) == summary_to_yaml(summary):
            action = "unchanged"
        else:
            write_summary(workspace, summary)
            action = "updated" if old is not None else "created"
        written.append(Written(path, summary, action))
    drop_renamed(workspace, completed.renamed)
    warnings = [w for page in read.values() for w in page.warnings] + [*plan.warnings, *completed.problems]
    unmatched = [e for e in entries if match_entry(current, e) is None]
    warnings += untitled((current[i] for i in touched), unmatched, bool(entries))
    unknown = [t for page in read.values() for t in page.unknown_topics] + list(completed.unknown_topics)
    return ImportReport(
        tuple(read.values()),
        tuple(written),
        tuple(warnings),
        tuple(unknown),
        tuple(completed.renamed.items()),
    )


def untitled(summaries: Iterable[Summary], unmatched: Sequence[FeedEntry], any_feed: bool) -> list[str]:
    """Full summaries still without a title (no feed entry matched their text): the command that completes
    each, and the feed's entries still without a page, to take the values from."""
    found = []
    for s in summaries:
        if s.is_teaser or "title" not in s.missing_fields:
            continue
        page = s.sources[0] if s.sources else "PAGE"
        complete = f'`newsletter import {page} --title "TITLE" --url URL --published YYYY-MM-DD`'
        if any_feed:
            found.append(f"{page}: no title, and no feed entry matches its text; complete it with {complete}")
        else:
            found.append(
                f"{page}: no title; import the site's feed (`newsletter import --feed FEED`), "
                f"which completes it, or give them: {complete}"
            )
    if found and unmatched:
        shown = "; ".join(f"{e.title!r} ({e.published}, {e.link})" for e in unmatched[:8])
        found.append(f"the feed's entries without a page yet: {shown}")
    return found


def feed_links(
    store: dict[str, Summary],
    pages: Iterable[Page],
    entries: Sequence[FeedEntry],
    summary_url: str,
    today: date,
    options: PageOptions,
) -> dict[str, str]:
    """Page source -> the link of the feed entry about it: by link, title or takeaway text (`match_entry`)."""
    links = {}
    for page in pages:
        alone = plan_import(store, [page], summary_url, today, options).summaries[0]
        entry = next((e for e in entries if e.link and match_entry({alone.id: alone}, e)), None)
        if entry is not None and entry.link is not None:
            links[page.source] = entry.link
    return links
