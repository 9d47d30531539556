"""The issues page: drafts, scheduled, sending and sent issues; "New issue" drafts the next one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, Response, redirect, url_for

from newsletter.bounces.health import Health
from newsletter.errors import NewsletterError
from newsletter.store import issues
from newsletter.store.approval import Approval, approval_of
from newsletter.store.models import Issue
from newsletter.web.desk.context import desk
from newsletter.web.desk.pages import page, say

blueprint = Blueprint("issues", __name__)


@dataclass(frozen=True)
class Row:
    issue: Issue
    state: str  # draft, scheduled, sending, sent, paused...
    send_at: datetime | None  # in the newsletter's time zone
    approval: Approval
    counts: dict[str, int]
    health: Health | None


def _rows() -> list[Row]:
    from newsletter.delivery.status import issue_status

    d = desk()
    settings = d.settings
    runs = {s.run.issue_id: s for s in issue_status(settings, failures_shown=0)}
    rows = []
    for issue in issues.list_issues(d.workspace):
        status = runs.get(issue.id)
        if status is not None:
            state = {"finished": "sent", "running": "sending"}.get(
                str(status.run.state), str(status.run.state)
            )
        else:
            state = "scheduled" if issue.send_at else "draft"
        when = issue.send_at.astimezone(settings.tz) if issue.send_at else None
        counts = {str(k): v for k, v in status.counts.items() if v} if status else {}
        rows.append(
            Row(
                issue,
                state,
                when,
                approval_of(d.workspace, issue.id),
                counts,
                status.health if status else None,
            )
        )
    return sorted(rows, key=lambda r: r.issue.id, reverse=True)


@blueprint.get("/")
def index() -> Response:
    try:
        rows, problem = _rows(), ""
    except NewsletterError as exc:  # a broken file: say which, and still offer the rest of the desk
        rows, problem = [], exc.message
    return page("issues.html", rows=rows, problem=problem, tz=desk().settings.timezone)


@blueprint.post("/issues/new")
def new_issue() -> Response:
    from newsletter.compose.draft import draft_issue
    from newsletter.delivery.history import sent_record

    d = desk()
    settings = d.settings
    draft = draft_issue(settings, today=d.clock().astimezone(settings.tz).date(), sent=sent_record(settings))
    count = sum(len(s.items) for s in draft.sections)
    parts = len(draft.sections)
    left = f" {len(draft.left_out)} left out (see the comments in the file)." if draft.left_out else ""
    say(f"Drafted {draft.issue_id} with {count} summaries in {parts} sections.{left}")
    return redirect(url_for("editor.edit", issue_id=draft.issue_id), 303)  # type: ignore[return-value]
