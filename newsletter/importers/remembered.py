"""The feed entries a workspace has seen, kept so that pages imported later find their dates and links.

A feed often lists a study before (or without) a description; its page, saved or copied, carries
the text but no date or link. Every `import --feed` remembers its entries here, by link, so
`import PAGE` completes a page from its entry whichever came first. The file lives beside the
state database (`.newsletter/`, git-ignored): it is a cache of the site's own feed, not content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from newsletter.importers.feed import FeedEntry
from newsletter.store.fileio import atomic_write

REMEMBERED = Path(".newsletter") / "feed-entries.json"


def _as_json(entry: FeedEntry) -> dict[str, object]:
    return {
        "title": entry.title,
        "link": entry.link,
        "published": entry.published.isoformat() if entry.published else None,
        "topics": list(entry.topics),
        "description": entry.description,
    }


def _from_json(number: int, item: dict) -> FeedEntry | None:
    """An entry as remembered, or None for one this version cannot read (a damaged or hand-edited file)."""
    try:
        published = date.fromisoformat(item["published"]) if item.get("published") else None
        topics = tuple(str(t) for t in item.get("topics") or ())
        text = {name: item.get(name) for name in ("title", "link", "description")}
        if not all(v is None or isinstance(v, str) for v in text.values()) or not text["link"]:
            return None
        return FeedEntry(number, text["title"], text["link"], published, topics, text["description"])
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


def recall(workspace: Path) -> tuple[FeedEntry, ...]:
    """Every remembered entry (none when no feed was imported, or the file cannot be read)."""
    try:
        items = json.loads((workspace / REMEMBERED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()  # a cache: without it a page is imported as it would be before any feed
    if not isinstance(items, list):
        return ()
    entries = (_from_json(n, item) for n, item in enumerate(items, 1) if isinstance(item, dict))
    return tuple(e for e in entries if e is not None)


def remember(workspace: Path, entries: Iterable[FeedEntry]) -> None:
    """Add the entries to what is remembered; a newer feed's entry replaces the one with its link."""
    kept = {e.link: e for e in recall(workspace) if e.link}
    kept.update((e.link, e) for e in entries if e.link)
    items = [_as_json(e) for _, e in sorted(kept.items())]
    (workspace / REMEMBERED).parent.mkdir(exist_ok=True)
    atomic_write(workspace / REMEMBERED, json.dumps(items, ensure_ascii=False, indent=1) + "\n")
