"""The topic taxonomy (`topics.yaml`): an issue's sections, in order, and the tags of each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.errors import ConfigError, problems
from newsletter.store import validate as v
from newsletter.store.fileio import load_yaml

TOPICS_FILE = "topics.yaml"
DEFAULT_MORE_RESEARCH = "More research"


@dataclass(frozen=True)
class TopicSection:
    title: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    sections: tuple[TopicSection, ...]
    more_research: str = DEFAULT_MORE_RESEARCH
    extra_tags: tuple[str, ...] = ()  # tags the site uses that belong to no section

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Every known tag, as written in topics.yaml, without repeats (first spelling wins)."""
        seen: dict[str, str] = {}
        for tag in (*(t for s in self.sections for t in s.tags), *self.extra_tags):
            seen.setdefault(tag.casefold(), tag)
        return tuple(seen.values())


def load_taxonomy(workspace: Path) -> Taxonomy:
    """Load topics.yaml; a workspace without one groups everything under "More research"."""
    path = workspace / TOPICS_FILE
    if not path.is_file():
        return Taxonomy(sections=())
    doc = load_yaml(path, TOPICS_FILE)
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{TOPICS_FILE}: expected a mapping with sections, more_research, tags")
    p = v.Problems(doc)
    v.unknown_keys(p, data, {"sections", "more_research", "tags"})
    sections: list[TopicSection] = []
    raw_sections = data.get("sections") or []
    if not isinstance(raw_sections, list):
        p.add(("sections",), "expected a list of {title, tags}")
        raw_sections = []
    titles: set[str] = set()
    for index, item in enumerate(raw_sections):
        if not isinstance(item, dict):
            p.add(("sections", index), "expected a mapping with title and tags")
            continue
        v.unknown_keys(p, item, {"title", "tags"}, ("sections", index))
        title, tags = item.get("title"), item.get("tags")
        if not v.text(title) or not v.single_line(title):
            p.add(("sections", index, "title"), "required: the section's heading, on one line")
            continue
        if title.casefold() in titles:
            p.add(("sections", index, "title"), f"section {title!r} appears twice")
        titles.add(title.casefold())
        if not isinstance(tags, list) or not tags or not all(v.text(t) for t in tags):
            p.add(("sections", index, "tags"), "expected a non-empty list of tags")
            continue
        sections.append(TopicSection(title.strip(), tuple(t.strip() for t in tags)))
    more = data.get("more_research", DEFAULT_MORE_RESEARCH)
    if not v.text(more):
        p.add(("more_research",), "expected the title of the last, catch-all section")
        more = DEFAULT_MORE_RESEARCH
    extra = data.get("tags") or []
    if not isinstance(extra, list) or not all(v.text(t) for t in extra):
        p.add(("tags",), "expected a list of tags")
        extra = []
    if p:
        raise ConfigError(problems(TOPICS_FILE, p.items))
    return Taxonomy(tuple(sections), more.strip(), tuple(t.strip() for t in extra))
