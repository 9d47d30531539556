"""Where the message factory's renderings come from: the issue rendered per variant, or one made by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from newsletter.compose.reader import Variant, edition_for
from newsletter.store.config import Settings
from newsletter.store.models import Issue, Summary
from newsletter.store.topics import Taxonomy


class RenderedParts(Protocol):
    """What the factory needs of a rendered issue (`render.RenderedIssue` and `Rendered` have it)."""

    @property
    def issue_id(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def summary_ids(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Rendered:
    """A rendering made by hand: a test's or a benchmark's bodies, still holding the personal tokens."""

    issue_id: str
    subject: str
    html: str
    text: str
    summary_ids: tuple[str, ...] = ()


class Rendering(Protocol):
    """Where a factory's renderings come from: the edition a reader's topics pick, and each render."""

    @property
    def issue_id(self) -> str: ...
    def variant_for(self, topics: tuple[str, ...], large_text: bool) -> Variant: ...
    def render(self, variant: Variant) -> RenderedParts: ...


@dataclass(frozen=True)
class IssueRendering:
    """Renders an issue through `newsletter.render`, per edition its readers' topics pick."""

    settings: Settings
    issue: Issue
    summaries: dict[str, Summary]
    taxonomy: Taxonomy

    @property
    def issue_id(self) -> str:
        return self.issue.id

    def variant_for(self, topics: tuple[str, ...], large_text: bool) -> Variant:
        return edition_for(topics, self.issue, self.summaries, self.taxonomy, large_text)

    def render(self, variant: Variant) -> RenderedParts:
        from newsletter import render  # rendering pulls in MJML; only load it when needed

        return render.render_issue(self.settings, self.issue, self.summaries, variant)


@dataclass(frozen=True)
class FixedRendering:
    """One rendering already made: every recipient gets the same summaries."""

    rendered: RenderedParts

    @property
    def issue_id(self) -> str:
        return self.rendered.issue_id

    def variant_for(self, topics: tuple[str, ...], large_text: bool) -> Variant:
        return Variant(large_text=large_text)

    def render(self, variant: Variant) -> RenderedParts:
        return self.rendered
