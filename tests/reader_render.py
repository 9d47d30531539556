"""The email as issue 13 renders it for one reader variant, for the design tests and screenshots.

render.render_issue does not yet pass the new context values (keep in mind, whole-sentence "who
should care", the filtered reader's line, the larger-text flag, a logo, the salutation token). Until
it does, this builds the same context plus those values with newsletter.render.reader_text, so the design
can be tested as readers will get it; `render_issue(...)` itself is tested as-is too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from newsletter import render
from newsletter.render import personal, reader_text
from newsletter.store.config import Settings
from newsletter.store.models import Issue, Summary

# Per-recipient: the proof reader, named the way a raw list field names people.
PROOF_NAME = "Nurse, Erin"


@dataclass(frozen=True)
class Variant:
    """What differs between the renders of one issue (not per recipient)."""

    name: str
    sections: tuple[str, ...] | None = None  # None: the whole issue
    topics: tuple[str, ...] = ()  # what the reader chose, as they named it
    large_text: bool = False
    logo: dict[str, Any] | None = None


def reader_card(card: render.Card, summary: Summary) -> dict[str, Any]:
    """The card with whole sentences: the first of "who should care" and of the considerations."""
    return {
        **asdict(card),
        "who_should_care": reader_text.first_sentences(summary.who_should_care, 0) or None,
        "keep_in_mind": reader_text.first_sentences(summary.considerations, 0) or None,
    }


def render_variant(settings: Settings, issue: Issue, summaries: dict[str, Summary], variant: Variant) -> str:
    """The compiled HTML email of one variant, personalised for the proof reader."""
    views = render.section_views(issue, summaries, variant.sections)
    sections = [
        {"title": v.title, "anchor": v.anchor, "cards": [reader_card(c, summaries[c.id]) for c in v.cards]}
        for v in views
    ]
    shown = sum(len(v.cards) for v in views)
    view_url = f"{settings.archive_url}{issue.id}/"
    context = {
        "settings": settings,
        "issue": issue,
        "date": render.long_date(render.issue_date(issue, settings)),
        "intro": render.paragraphs(issue.intro),
        "sections": sections,
        "view_url": view_url,
        "caution": render.CAUTION,
        "token": {**render.TOKEN, "salutation": "__NL_SALUTATION__"},
        "large_text": variant.large_text,
        "signature": "Maya Chen, editor",
        "filtered_note": reader_text.filtered_line(variant.topics, shown, len(issue.summary_ids)),
        "full_issue_url": view_url,
    }
    if variant.logo:
        context["logo"] = variant.logo
    source = render.environment(settings.workspace).get_template(render.EMAIL_MJML).render(context)
    html = render.compile_mjml(source)
    proof = render.proof_recipient(settings)
    html = personal.personalize_html(html, proof)
    return html.replace("__NL_SALUTATION__", reader_text.greeting(reader_text.first_name(PROOF_NAME)))


def write_variant(folder: Path, settings, issue, summaries, variant: Variant) -> Path:
    path = folder / f"{variant.name}.html"
    path.write_text(render_variant(settings, issue, summaries, variant), encoding="utf-8")
    return path
