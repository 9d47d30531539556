"""Draft the next issue file from the summary store: window, sections, suggested lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from newsletter.compose import select
from newsletter.compose.ready import INTRO_TODO, SUBJECT_ADVICE
from newsletter.errors import ContentError
from newsletter.store import content, issues
from newsletter.store.config import Settings
from newsletter.store.content import newest_first
from newsletter.store.fileio import atomic_write, parse_yaml
from newsletter.store.models import Issue, Summary
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
    skipped_carried: int  # eligible by date but carried by an earlier issue
    note: str = ""  # what the draft chose that the editor did not ask for


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
    """Draft `issues/<id>.yaml` from the summary store; never overwrites unless `force`."""
    workspace = settings.workspace
    previous = issues.list_issues(workspace)
    default_id, default_window = select.next_issue(previous, today or datetime.now(settings.tz).date())
    proposing = issue_id is None and since is None and until is None  # the editor chose nothing
    if issue_id is None:
        issue_id = default_id
    if not content.ID_PATTERN.match(issue_id):
        raise ContentError(
            f"{issue_id!r}: an issue id uses lowercase letters, digits and hyphens, e.g. 2026-06"
        )
    window = select.window_for(issue_id, [i for i in previous if i.id != issue_id])
    if window is None and issue_id == default_id:
        window = default_window
    if window is None:
        if since is None or until is None:
            raise ContentError(f"{issue_id!r} is not a monthly id (YYYY-MM): give both --since and --until")
        window = select.Window(since, until)
    window = select.Window(since or window.since, until or window.until)
    if window.since > window.until:
        raise ContentError(f"--since {window.since} is after --until {window.until}")
    if send_at is not None and send_at.tzinfo is None:
        send_at = send_at.replace(tzinfo=settings.tz)

    path = issues.issue_path(workspace, issue_id)
    shown = path.relative_to(workspace)
    if path.exists() and not force:
        raise ContentError(f"{shown} already exists; edit it, or pass --force to draft it again")

    carried = carried_before(settings, issue_id, window, sent or select.SentRecord(), previous)
    send_date = send_at.astimezone(settings.tz).date() if send_at else None
    store = content.load_summaries(workspace).values()
    in_window = select.eligible_summaries(store, window, send_date, set())
    eligible = [s for s in in_window if s.id not in carried]
    note = ""
    if not eligible:
        # Nothing dated after the send (or, unscheduled, after today) is proposed.
        cutoff = send_date or today or datetime.now(settings.tz).date()
        unsent = [
            s
            for s in select.eligible_summaries(store, select.Window(date.min, date.max), cutoff, carried)
            # one inside an earlier issue's window was already weighed by its editor and left out
            if not any(s.published in select.Window(i.since, i.until) for i in previous if i.id != issue_id)
        ]
        if not unsent or not proposing:
            raise ContentError(_nothing_to_draft(issue_id, window, bool(in_window), unsent))
        # The month after the last issue is empty: take the window that holds what was never sent.
        window = select.Window(min(s.published for s in unsent), max(s.published for s in unsent))
        eligible = unsent
        in_window = select.eligible_summaries(store, window, send_date, set())
        note = (
            f"the default window was empty; chose {window.since}..{window.until}, which holds every summary "
            "no issue carried yet (give --since/--until to choose another)"
        )
    sections = select.draft_sections(eligible, load_taxonomy(workspace))
    text = draft_text(
        issue_title(settings, issue_id, window),
        suggest_subject(sections),
        suggest_preheader(sections),
        window,
        send_at,
        sections,
    )
    # The draft must load as a valid issue; a failure here is a bug, not the editor's mistake.
    _, found = issues.issue_problems(parse_yaml(text, shown), issue_id)
    assert not found, found
    atomic_write(path, text)
    return Draft(path, issue_id, window, sections, len(in_window) - len(eligible), note)


def _nothing_to_draft(
    issue_id: str, window: select.Window, any_in_window: bool, unsent: list[Summary]
) -> str:
    where = f"no summaries to draft {issue_id} from: none published {window.since}..{window.until}"
    if any_in_window:
        where += " that an earlier issue did not carry"
    if not unsent:
        return f"{where}; earlier issues carried or left out every other summary: import new ones first"
    first, last = min(s.published for s in unsent), max(s.published for s in unsent)
    return (
        f"{where}; {len(unsent)} never sent were published {first}..{last}: "
        f"try --since {first} --until {last}"
    )
