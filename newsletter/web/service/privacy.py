"""The privacy page, and the consent the signup and preferences pages ask for before keeping topics.

The wording the reader sees is the wording the event log keeps: both come from `topics_consent`,
and a new wording gets a new version (so the log says which words each reader agreed to).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, Response

from newsletter.db.topicsconsent import TopicsConsent
from newsletter.web.service.context import ctx
from newsletter.web.service.http import page

blueprint = Blueprint("privacy", __name__)

TOPICS_CONSENT_VERSION = "topics-1"
_WORDING = (
    "I agree that {name} keeps the topics I choose. Topics can say something about my health "
    "(for example that I live with MS). They are used only to pick the summaries in my emails, "
    "are never shared, and are deleted when I untick this box or erase my data."
)


@dataclass(frozen=True)
class ConsentText:
    """The consent statement as a page shows it (its checkbox is never ticked in advance)."""

    wording: str
    version: str


def topics_consent_text(newsletter: str) -> ConsentText:
    return ConsentText(_WORDING.format(name=newsletter), TOPICS_CONSENT_VERSION)


def topics_consent(newsletter: str, version: str, at: datetime) -> TopicsConsent | None:
    """The consent to log for a reader who ticked the box of `version`; None for a version never shown."""
    if version != TOPICS_CONSENT_VERSION:
        return None
    return TopicsConsent(topics_consent_text(newsletter).wording, version, at)


@blueprint.get("/privacy")
def privacy_page() -> Response:
    c = ctx()
    return page("privacy.html", topics_consent=topics_consent_text(c.settings.name))
