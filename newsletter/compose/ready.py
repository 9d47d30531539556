"""The one "ready to send" rule: what an issue must be before it is built or sent."""

from __future__ import annotations

from newsletter.errors import RenderError
from newsletter.store.models import Issue

INTRO_TODO = "TODO: write a short note from the editor. `newsletter build` refuses an issue with this line."
SUBJECT_ADVICE = 60  # characters a phone's inbox shows of a subject


def intro_unfinished(issue: Issue) -> bool:
    """The intro still holds the TODO line that `new-issue` writes."""
    return INTRO_TODO in issue.intro


def require_finished_intro(issue: Issue, advice: str) -> None:
    """Refuse an issue whose intro is still the TODO; `advice` says what to do meanwhile."""
    if intro_unfinished(issue):
        raise RenderError(
            f"issues/{issue.id}.yaml: intro: still the TODO from new-issue; write a short note from "
            f"the editor {advice}"
        )
