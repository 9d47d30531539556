"""What one reader gets of an issue: the sections their topic preferences pick."""

from __future__ import annotations

from collections.abc import Iterable

from newsletter.store.models import Issue, Summary
from newsletter.store.topics import Taxonomy


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
