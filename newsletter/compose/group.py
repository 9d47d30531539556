"""Grouping summaries into an issue's sections by the topic taxonomy (topics.yaml).

The rule, simple to explain and stable: a summary goes to the first section of topics.yaml that
lists any of its tags (tags compared regardless of case); one with no listed tag goes to the last,
catch-all section ("More research"). Inside a section, newest first, then by id.
"""

from __future__ import annotations

from collections.abc import Iterable

from newsletter.store.content import newest_first
from newsletter.store.models import Summary
from newsletter.store.topics import Taxonomy


def section_title(summary: Summary, taxonomy: Taxonomy) -> str:
    """The title of the one section this summary belongs to."""
    tags = {tag.casefold() for tag in summary.topics}
    for section in taxonomy.sections:
        if any(tag.casefold() in tags for tag in section.tags):
            return section.title
    return taxonomy.more_research


def group_summaries(
    summaries: Iterable[Summary], taxonomy: Taxonomy
) -> tuple[tuple[str, tuple[Summary, ...]], ...]:
    """(section title, summaries) in taxonomy order, the catch-all last; empty sections left out."""
    buckets: dict[str, list[Summary]] = {s.title: [] for s in taxonomy.sections}
    buckets.setdefault(taxonomy.more_research, [])
    for summary in summaries:
        buckets[section_title(summary, taxonomy)].append(summary)
    return tuple((title, newest_first(items)) for title, items in buckets.items() if items)
