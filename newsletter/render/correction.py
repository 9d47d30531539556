"""Render a correction: the summary's title, what changed, and its text as it reads now; HTML and text.

Rendered once per text size (a larger-text reader's correction is in larger type); the greeting and
the links stay personal tokens, substituted per message like an issue's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from newsletter.render import CAUTION, TOKEN, card, compile_mjml, render_template
from newsletter.store.config import Settings
from newsletter.store.models import Summary

CORRECTION_MJML, CORRECTION_TEXT = "correction.mjml", "correction.txt"


@dataclass(frozen=True)
class CorrectionDraft:
    """One correction as its run sends it: to whom it is addressed is the ledger's business."""

    run_id: str  # correction-<summary id>-<n>: its run in the ledger
    summary: Summary  # as it is now (the corrected text)
    note: str  # what changed
    day: date
    issues: tuple[tuple[str, str], ...]  # (issue id, title) of the issues that carried the summary

    @property
    def subject(self) -> str:
        return f"Correction: {self.summary.title}"

    @property
    def preheader(self) -> str:
        return f"What changed: {self.note}"


@dataclass(frozen=True)
class RenderedCorrection:
    """The correction's parts, with the personal tokens still in them (`mail.renderings.RenderedParts`)."""

    issue_id: str
    subject: str
    preheader: str
    html: str
    text: str
    summary_ids: tuple[str, ...]
    large_text: bool = False


def shown_summary(summary: Summary) -> dict[str, str | None]:
    """The summary as the correction shows it: every field whole, what they found included."""
    shown = card(summary)
    return {
        "title": shown.title,
        "url": shown.url,
        "takeaway": shown.takeaway,
        "found": " ".join(summary.found.split()) if summary.found else None,
        "who_should_care": shown.who_should_care,
        "keep_in_mind": shown.keep_in_mind,
    }


def render_correction(
    settings: Settings, draft: CorrectionDraft, large_text: bool = False
) -> RenderedCorrection:
    """The correction email for one text size."""
    first = draft.issues[0][0] if draft.issues else ""
    context = {
        "settings": settings,
        "title": draft.subject,
        "preheader": draft.preheader,
        "large_text": large_text,
        "summary": shown_summary(draft.summary),
        "note": draft.note,
        "day": draft.day,
        "issues": [title for _, title in draft.issues] or [settings.name],
        # The issue's archive page shows the correction beside the summary once the archive is built.
        "view_url": f"{settings.archive_url}{first}/" if first else settings.archive_url,
        "caution": CAUTION,
        "token": TOKEN,
    }
    html = compile_mjml(render_template(settings.workspace, CORRECTION_MJML, context))
    text = render_template(settings.workspace, CORRECTION_TEXT, context)
    return RenderedCorrection(
        draft.run_id, draft.subject, draft.preheader, html, text, (draft.summary.id,), large_text
    )
