"""Turn read pages into summaries, merged with the store so that re-imports update, never duplicate.

The rule for every field: what the page carries replaces the file's value; what it does not carry
(a layout-B title, the published date, the URL, layout-B topics) keeps the editor's value; a
command-line option beats both. A value the importer had to guess is named in `missing_fields`
and the summary is marked `needs_review`, until a page, an option or the editor supplies it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from newsletter.importers.links import same_link
from newsletter.importers.page import Page, RelatedItem
from newsletter.importers.text import id_words, provisional_title, url_slug
from newsletter.store.models import Summary

GUESSABLE = ("title", "published", "url", "topics")


@dataclass(frozen=True)
class PageOptions:
    """What the editor supplied on the command line for a page's own summary."""

    published: date | None = None
    title: str | None = None
    url: str | None = None
    force: bool = False  # let --title replace the title a page carries


@dataclass(frozen=True)
class Plan:
    summaries: tuple[Summary, ...]  # the new state of every summary the pages touch
    warnings: tuple[str, ...]


def teaser_key(published: date, teaser: str) -> tuple[date, str]:
    """A teaser's identity: the same date and blurb on several pages is one summary."""
    return published, " ".join(teaser.split())


def plan_import(
    store: dict[str, Summary],
    pages: Iterable[Page],
    summary_url: str,
    today: date,
    options: PageOptions | None = None,
    links: Mapping[str, str] | None = None,
) -> Plan:
    """The summaries these pages make, merged with `store`; pure, so it can be tested alone.

    `links` maps a page's source to its link from the site's feed (`importers.remembered`), which
    finds the summary the feed made for that page.
    """
    options = options or PageOptions()
    links = links or {}
    pages = sorted(pages, key=lambda p: p.source)  # the same files whatever the order given
    taken = set(store)
    planned: list[Summary] = []
    warnings: list[str] = []
    for page in pages:
        summary = _page_summary(store, page, summary_url, today, options, taken, links.get(page.source))
        taken.add(summary.id)
        planned.append(summary)
    own = {s.id for s in planned}
    groups: dict[tuple[date, str], list[tuple[Page, RelatedItem]]] = {}
    for page in pages:
        for item in page.related:
            groups.setdefault(teaser_key(item.published, item.teaser), []).append((page, item))
    for key, seen in sorted(groups.items()):
        summary, more = _teaser_summary(store, key, seen, summary_url, taken)
        if summary.id in own:  # the feed's teaser of a page imported now: the full page wins
            continue
        taken.add(summary.id)
        planned.append(summary)
        warnings += more
    return Plan(tuple(planned), tuple(warnings))


def unique_id(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _resolve(
    existing: Summary | None, name: str, given: object | None, carried: object | None, guess: object
) -> tuple[object, bool]:
    """A field's value and whether it is a guess: option, then page, then the file, then a guess."""
    if given is not None:
        return given, False
    if carried is not None:
        return carried, False
    if existing is not None and name not in existing.missing_fields:
        return getattr(existing, name), False
    return guess, True


def _finish(
    base: Summary,
    existing: Summary | None,
    title: tuple[object, bool],
    published: tuple[object, bool],
    url_given: str | None,
    summary_url: str,
    topics: tuple[str, ...] | None,
    sources: Iterable[str],
    **carried: object,
) -> Summary:
    url = _resolve(existing, "url", url_given, None, summary_url.replace("{slug}", url_slug(str(title[0]))))
    topic_value, _ = _resolve(existing, "topics", None, topics, existing.topics if existing else ())
    missing = [
        name for name, (_, guessed) in (("title", title), ("published", published), ("url", url)) if guessed
    ]
    if not topic_value:
        missing.append("topics")
    missing.sort(key=GUESSABLE.index)
    # An editor may flag a summary by hand (needs_review without missing fields); keep that flag.
    flagged = existing is not None and existing.needs_review and not existing.missing_fields
    assert isinstance(published[0], date)
    return replace(
        base,
        title=str(title[0]),
        published=published[0],
        url=str(url[0]),
        topics=tuple(topic_value),  # type: ignore[arg-type]
        needs_review=bool(missing) or flagged,
        missing_fields=tuple(missing),
        sources=tuple(sorted({*(existing.sources if existing else ()), *sources})),
        corrections=existing.corrections if existing else (),  # the editor's record: no page has it
        **carried,  # type: ignore[arg-type] # the page's text fields: str or None
    )


def _kept(value: str | None, existing: Summary | None, name: str) -> str | None:
    if value is not None or existing is None:
        return value
    kept: str | None = getattr(existing, name)
    return kept


def _page_summary(
    store: dict[str, Summary],
    page: Page,
    summary_url: str,
    today: date,
    options: PageOptions,
    taken: set[str],
    feed_link: str | None = None,
) -> Summary:
    """The page's own summary, found again by its source page.

    Teasers list their pages in `sources` too, but only they have `teaser` text.
    """
    ordered = sorted(store.values(), key=lambda s: s.id)
    existing = next((s for s in ordered if page.source in s.sources and s.teaser is None), None)
    link = page.url or feed_link
    if existing is None and link is not None:
        # An HTML page's canonical link (or its feed entry's) finds the summary the feed or another copy made.
        existing = next((s for s in ordered if same_link(s.url, link)), None)
    title = _resolve(existing, "title", options.title, page.title, provisional_title(page.takeaway or ""))
    # A guessed date stays as first guessed, so re-importing on another day changes nothing.
    published = _resolve(
        existing, "published", options.published, None, existing.published if existing else today
    )
    # The id comes from the title alone, so it is the same whether or not --published was given.
    summary_id = existing.id if existing is not None else unique_id(id_words(str(title[0]), 6), taken)
    base_summary = existing or Summary(id=summary_id, title="", url="", published=today)
    return _finish(
        base_summary,
        existing,
        title,
        published,
        options.url or page.url,
        summary_url,
        page.topics,
        [page.source],
        # What the page says replaces the file's text; a part the page lacks keeps what the editor wrote.
        takeaway=_kept(page.takeaway, existing, "takeaway"),
        found=_kept(page.found, existing, "found"),
        who_should_care=_kept(page.who_should_care, existing, "who_should_care"),
        considerations=_kept(page.considerations, existing, "considerations"),
        journal=_kept(page.journal, existing, "journal"),
        # The page's full text replaces the blurb a feed entry gave a summary before its page came.
        teaser=existing.teaser if existing is not None and not page.found else None,
    )


def _teaser_summary(
    store: dict[str, Summary],
    key: tuple[date, str],
    seen: list[tuple[Page, RelatedItem]],
    summary_url: str,
    taken: set[str],
) -> tuple[Summary, list[str]]:
    """One teaser from every page that lists the same related item."""
    published, blurb = key
    existing = next(
        (
            s
            for s in sorted(store.values(), key=lambda s: s.id)
            if s.teaser is not None and teaser_key(s.published, s.teaser) == key
        ),
        None,
    )
    titles = list(dict.fromkeys(item.title for _, item in seen if item.title))
    warnings = []
    if len(titles) > 1:
        where = ", ".join(f"{page.source}:{item.line}" for page, item in seen if item.title)
        warnings.append(f"{where}: the same related item has different titles; used {titles[0]!r}")
    title = _resolve(existing, "title", None, titles[0] if titles else None, provisional_title(blurb))
    summary_id = existing.id if existing else unique_id(f"{published.isoformat()}-{id_words(blurb)}", taken)
    base = existing or Summary(id=summary_id, title="", url="", published=published)
    summary = _finish(
        base,
        existing,
        title,
        (published, False),
        None,
        summary_url,
        None,
        [page.source for page, _ in seen],
        teaser=blurb,
    )
    return summary, warnings
