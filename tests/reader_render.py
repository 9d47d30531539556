"""The email as one reader's edition gets it, rendered by `render.render_issue` and personalised, as a file.

For the design tests (tests/test_email_design.py) and the screenshots: each variant is one edition
(the summaries a reader's topics pick, the text size), found as a send finds it
(`compose.reader.edition_for`), personalised for a proof reader whose list names them "Nurse, Erin".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from newsletter import render
from newsletter.compose.reader import edition_for
from newsletter.render import personal
from newsletter.store.branding import Logo
from newsletter.store.config import Settings
from newsletter.store.models import Issue, Summary
from newsletter.store.topics import load_taxonomy

# Per-recipient: the proof reader, named the way a raw list field names people.
PROOF_NAME = "Nurse, Erin"


@dataclass(frozen=True)
class Variant:
    """One reader's edition of an issue and how it is drawn."""

    name: str
    topics: tuple[str, ...] = ()  # what the reader chose, as they named them; () the whole issue
    large_text: bool = False
    logo: Logo | None = None


def render_variant(settings: Settings, issue: Issue, summaries: dict[str, Summary], variant: Variant) -> str:
    """The compiled HTML email of one edition, personalised for the proof reader."""
    if variant.logo is not None:
        settings = replace(settings, logo=variant.logo)
    taxonomy = load_taxonomy(settings.workspace)
    edition = edition_for(variant.topics, issue, summaries, taxonomy, variant.large_text)
    rendered = render.render_issue(settings, issue, summaries, edition)
    reader = replace(render.proof_recipient(settings), name=PROOF_NAME, topics=variant.topics)
    return personal.personalize_html(rendered.html, reader)


def write_variant(folder: Path, settings, issue, summaries, variant: Variant) -> Path:
    path = folder / f"{variant.name}.html"
    path.write_text(render_variant(settings, issue, summaries, variant), encoding="utf-8")
    return path
