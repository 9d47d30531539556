"""Draft the next issue file from the summary store: window, sections, suggested lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from newsletter.compose import select
from newsletter.compose.ready import INTRO_TODO, SUBJECT_ADVICE
from newsletter.errors import ContentError
from newsletter.store import content, issues
from newsletter.store.config import Settings
from newsletter.store.content import newest_first
from newsletter.store.fileio import atomic_write, parse_yaml
from newsletter.store.models import Issue
from newsletter.store.topics import load_taxonomy


def carried_before(
    settings: Settings,
    issue_id: str,
    window: select.Window,
    sent: select.SentRecord,
    previous: list[Issue] | None = None,
) -> dict[str, str | None]:
    """Summary id -> the earlier issue that carried it, for `new-issue` and `check` alike.

    `sent` is what the ledger records (`delivery.history.sent_record`); `previous` is every issue in
    the workspace (read when not given); see `select.already_carried`.
    """
    if previous is None:
        previous = issues.list_issues(settings.workspace)
    others = [i for i in previous if i.id != issue_id]
    current = next((i for i in previous if i.id == issue_id), None)
    return select.already_carried(others, window, sent, current)


@dataclass(frozen=True)
class Draft:
    """What `new-issue` wrote."""

    path: Path
    issue_id: str
    window: select.Window
    sections: tuple[select.DraftSection, ...]
    left_out: tuple[select.LeftOut, ...]  # summaries no issue carried that this one does not take, and why


def issue_title(settings: Settings, issue_id: str, window: select.Window) -> str:
    month = select.month_of(issue_id) or select.next_month(window.until)
    return f"{settings.name}, {month:%B %Y}"


def _shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis when too long."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return f"{cut}…"


def suggest_subject(sections: tuple[select.DraftSection, ...]) -> str:
    """The newest full study's title, plus how many more: something for the editor to rewrite."""
    items = [s for section in sections for s in section.items]
    lead = newest_first([s for s in items if not s.is_teaser] or items)[0]
    more = f" + {len(items) - 1} more" if len(items) > 1 else ""
    return _shorten(lead.title, SUBJECT_ADVICE - len(more)) + more


def suggest_preheader(sections: tuple[select.DraftSection, ...]) -> str:
    count = sum(len(section.items) for section in sections)
    topics = ", ".join(section.title.lower() for section in sections)
    noun = "study" if count == 1 else "studies"
    return _shorten(f"{count} new {noun} in plain language: {topics}", 100)


def _q(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar: safe for any title.
    return json.dumps(value, ensure_ascii=False)


def draft_text(
    title: str,
    subject: str,
    preheader: str,
    window: select.Window,
    send_at: datetime | None,
    sections: tuple[select.DraftSection, ...],
    skipped: Sequence[select.LeftOut] = (),
) -> str:
    """The YAML of a new issue, with comments that tell the editor what was chosen and why."""
    lines = [
        "# Drafted by `newsletter new-issue`. Edit by hand: rewrite the subject and preheader,",
        "# replace the intro's TODO, reorder or remove items. `newsletter build` checks it.",
        f"title: {_q(title)}",
        f"subject: {_q(subject)}  # suggested; at most {SUBJECT_ADVICE} characters show on phones",
        f"preheader: {_q(preheader)}  # suggested",
        f"window: {{since: {window.since.isoformat()}, until: {window.until.isoformat()}}}",
    ]
    if send_at is not None:
        lines.append(f"send_at: {send_at.isoformat()}")
    lines += ["intro: |", f"  {INTRO_TODO}", "sections:"]
    for section in sections:
        lines.append(f"  - title: {_q(section.title)}")
        if section.teasers_only:
            lines.append("    # Teasers only: no full summary in this window fills this section.")
        lines.append("    items:")
        for summary in section.items:
            kind = "teaser, " if summary.is_teaser else ""
            lines.append(f"      - {summary.id}  # {kind}{summary.published}: {_comment(summary.title)}")
        if section.teasers_left_out:
            lines.append("    # Teasers left out because full summaries fill this section (add by hand):")
            lines += [f"    #   {s.id}  # {_comment(s.title)}" for s in section.teasers_left_out]
    if skipped:
        lines.append("# Left out (add an id to a section's items to take it anyway):")
        lines += [f"#   {item.summary.id}  # {item.summary.published}: {item.reason}" for item in skipped]
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    return " ".join(text.split())[:90]


def draft_issue(
    settings: Settings,
    issue_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    send_at: datetime | None = None,
    force: bool = False,
    today: date | None = None,
    sent: select.SentRecord | None = None,
) -> Draft:
    """Draft `issues/<id>.yaml` from the summary store; never overwrites unless `force`.

    Without an id: the issue after the newest one that was sent or scheduled, named for the month
    of its send date (or today) and covering everything published since that issue's window. With a
    monthly id the window also starts after that issue, so nothing published in between is missed.
    """
    workspace = settings.workspace
    sent = sent or select.SentRecord()
    if send_at is not None and send_at.tzinfo is None:
        send_at = send_at.replace(tzinfo=settings.tz)
    send_date = send_at.astimezone(settings.tz).date() if send_at else None
    cutoff = send_date or today or datetime.now(settings.tz).date()
    previous = issues.list_issues(workspace)
    window: select.Window | None
    if issue_id is None:
        issue_id, window = select.next_issue(previous, sent, cutoff)
    elif not content.ID_PATTERN.match(issue_id):
        raise ContentError(
            f"{issue_id!r}: an issue id uses lowercase letters, digits and hyphens, e.g. 2026-06"
        )
    else:
        window = select.window_for(issue_id, previous, sent)
    others = [i for i in previous if i.id != issue_id]
    if window is None:
        # Not monthly: from after the last issue that went out to the send date (or today).
        last = select.gone_out(others, sent)
        if last is None:
            if since is None or until is None:
                raise ContentError(
                    f"{issue_id!r} is not a monthly id (YYYY-MM): give both --since and --until"
                )
            window = select.Window(since, until)
        else:
            start = last.until + timedelta(days=1)
            window = select.Window(start, max(start, cutoff))
    window = select.Window(since or window.since, until or window.until)
    if window.since > window.until:
        raise ContentError(f"--since {window.since} is after --until {window.until}")

    path = issues.issue_path(workspace, issue_id)
    shown = path.relative_to(workspace)
    if path.exists() and not force:
        raise ContentError(f"{shown} already exists; edit it, or pass --force to draft it again")

    carried = carried_before(settings, issue_id, window, sent, previous)
    store = content.load_summaries(workspace).values()
    in_window = select.eligible_summaries(store, window, send_date, set())
    eligible = [s for s in in_window if s.id not in carried]
    skipped = select.left_out(store, window, send_date, carried, others)
    if not eligible:
        raise ContentError(_nothing_to_draft(issue_id, window, bool(in_window), skipped))
    sections = select.draft_sections(eligible, load_taxonomy(workspace))
    text = draft_text(
        issue_title(settings, issue_id, window),
        suggest_subject(sections),
        suggest_preheader(sections),
        window,
        send_at,
        sections,
        skipped,
    )
    # The draft must load as a valid issue; a failure here is a bug, not the editor's mistake.
    _, found = issues.issue_problems(parse_yaml(text, shown), issue_id)
    assert not found, found
    atomic_write(path, text)
    return Draft(path, issue_id, window, sections, tuple(skipped))


def _nothing_to_draft(
    issue_id: str, window: select.Window, any_in_window: bool, skipped: list[select.LeftOut]
) -> str:
    where = f"no summaries to draft {issue_id} from: none published {window.since}..{window.until}"
    if any_in_window:
        where += " that an earlier issue did not carry"
    outside = [item.summary for item in skipped if item.summary.published not in window]
    if not outside:
        return f"{where}; earlier issues carried every other summary: import new ones first"
    first, last = min(s.published for s in outside), max(s.published for s in outside)
    return (
        f"{where}; {len(outside)} no issue carried were published {first}..{last}: "
        f"try --since {first} --until {last}"
    )
