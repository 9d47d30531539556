"""Which summaries an issue carries: its window, what earlier issues already carried, and teasers."""

from __future__ import annotations

import calendar
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from newsletter.compose.group import group_summaries
from newsletter.store.models import Issue, Summary
from newsletter.store.topics import Taxonomy

MONTHLY_ID = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Window:
    """The publication dates an issue covers, both ends included."""

    since: date
    until: date

    def __contains__(self, day: date) -> bool:
        return self.since <= day <= self.until


@dataclass(frozen=True)
class DraftSection:
    """A section as `new-issue` proposes it, with what the editor should know about teasers."""

    title: str
    items: tuple[Summary, ...]
    teasers_only: bool  # no full summary landed here, so the section is filled with teasers
    teasers_left_out: tuple[Summary, ...] = ()  # teasers not used because full summaries fill it


def month_of(issue_id: str) -> date | None:
    """The first day of the month a monthly id such as `2026-06` names, else None."""
    match = MONTHLY_ID.match(issue_id)
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return date(int(match.group(1)), int(match.group(2)), 1)


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def next_month(day: date) -> date:
    return _month_end(day) + timedelta(days=1)


def _previous_month_start(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def gone_out(previous: Iterable[Issue], sent: SentRecord) -> Issue | None:
    """The newest issue that was sent (the ledger says it reached someone) or is scheduled.

    New issues follow it. A draft that was neither sent nor scheduled carried nothing to anyone, so
    what it holds is still due and a new draft after it must not skip it.
    """
    out = [issue for issue in previous if issue.id in sent.sent or issue.send_at is not None]
    return max(out, key=lambda issue: (issue.until, issue.id), default=None)


def _month_of_issue(issue: Issue) -> date:
    """The month an issue went out in: its monthly id, else its send date, else after its window."""
    if month := month_of(issue.id):
        return month
    if issue.send_at is not None:
        return issue.send_at.date().replace(day=1)
    return next_month(issue.until)


def next_issue(previous: Iterable[Issue], sent: SentRecord, cutoff: date) -> tuple[str, Window]:
    """The id and window of the issue after the newest one that went out (see `gone_out`).

    `cutoff` is the new issue's send date (or today): the issue is named for its month and covers
    from the day after the last issue's window to it. The first issue covers the previous calendar
    month up to the cutoff. An id the last issue already holds moves to the month after it.
    """
    last = gone_out(previous, sent)
    month = cutoff.replace(day=1)
    if last is None:
        return f"{month:%Y-%m}", Window(_previous_month_start(cutoff), cutoff)
    since = last.until + timedelta(days=1)
    last_month = _month_of_issue(last)
    if month <= last_month:
        month = next_month(last_month)
    return f"{month:%Y-%m}", Window(since, max(since, cutoff))


def window_for(issue_id: str, previous: Iterable[Issue], sent: SentRecord) -> Window | None:
    """The default window of a monthly issue id: to the end of the month before it.

    It starts the day after the window of the newest issue that went out, however long ago, so
    nothing published since is missed; with none, at the start of the month before (or after an
    earlier issue that ended inside that month).
    """
    month = month_of(issue_id)
    if month is None:
        return None
    until = month - timedelta(days=1)
    others = [issue for issue in previous if issue.id != issue_id]
    last = gone_out(others, sent)
    if last is not None and last.until < until:
        return Window(last.until + timedelta(days=1), until)
    since = until.replace(day=1)
    for issue in others:
        if since <= issue.until < until:
            since = issue.until + timedelta(days=1)
    return Window(since, until)


@dataclass(frozen=True)
class SentRecord:
    """What the delivery ledger knows of earlier sends (`delivery.history.sent_record` reads it)."""

    runs: frozenset[str] = frozenset()  # issues that have a send run
    sent: Mapping[str, datetime] = field(default_factory=dict)  # issue -> run start, if it reached anyone
    summaries: frozenset[str] = frozenset()  # what the sent issues carried, recorded as they were sent


def sent_before(previous: Iterable[Issue], window: Window, ledger: SentRecord) -> list[Issue]:
    """The earlier issues that went out, oldest first (the rule of `already_carried`)."""
    return [
        issue
        for issue in sorted(previous, key=lambda i: (i.until, i.id))
        if issue.id in ledger.sent or (issue.id not in ledger.runs and issue.until < window.since)
    ]


def already_carried(
    previous: Iterable[Issue],
    window: Window,
    ledger: SentRecord | None = None,
    current: Issue | None = None,
) -> dict[str, str | None]:
    """Summary id -> the earlier issue that carried it (None: only the ledger's record names it).

    An issue the ledger shows reached someone was sent; one whose run reached nobody was not. An
    issue the ledger has never seen counts as sent when its window ended before this window starts
    (it went out before the ledger existed, or by other means). The ledger's record of what the sent
    issues carried counts too, so a summary stays "carried" after its issue file is edited or gone;
    only the `current` issue's own send (when there is one) is no reason to call it carried.
    """
    ledger = ledger or SentRecord()
    carried: dict[str, str | None] = {}
    for issue in sent_before(previous, window, ledger):
        for item in issue.summary_ids:
            carried.setdefault(item, issue.id)
    own = set(current.summary_ids) if current is not None and current.id in ledger.sent else set()
    for item in sorted(ledger.summaries - carried.keys() - own):
        carried[item] = None
    return carried


def eligible_summaries(
    summaries: Iterable[Summary], window: Window, send_date: date | None, carried: Collection[str]
) -> list[Summary]:
    """Summaries published inside the window, not after the send date, and not carried before."""
    return [
        s
        for s in summaries
        if s.published in window and (send_date is None or s.published <= send_date) and s.id not in carried
    ]


def draft_sections(eligible: Iterable[Summary], taxonomy: Taxonomy) -> tuple[DraftSection, ...]:
    """Group the eligible summaries; a section gets teasers only when no full summary fills it."""
    chosen = list(eligible)
    full = dict(group_summaries([s for s in chosen if not s.is_teaser], taxonomy))
    teasers = dict(group_summaries([s for s in chosen if s.is_teaser], taxonomy))
    ordered = [title for title, _ in group_summaries(chosen, taxonomy)]
    sections = []
    for title in ordered:
        if title in full:
            sections.append(DraftSection(title, full[title], False, teasers.get(title, ())))
        else:
            sections.append(DraftSection(title, teasers[title], True))
    return tuple(sections)


@dataclass(frozen=True)
class LeftOut:
    """A summary no issue carried that a draft does not take either, and why."""

    summary: Summary
    reason: str


def left_out(
    summaries: Iterable[Summary],
    window: Window,
    send_date: date | None,
    carried: Mapping[str, str | None],
    previous: Iterable[Issue],
) -> list[LeftOut]:
    """Every summary the window or the send date keeps out of a draft, oldest first, with the reason.

    Summaries an earlier issue carried are listed only when they fall inside the window (an editor
    may expect them there); so a summary is never dropped from every issue without a word.
    """
    windows = sorted(previous, key=lambda issue: (issue.until, issue.id))
    found = []
    for s in sorted(summaries, key=lambda s: (s.published, s.id)):
        if s.id in carried:
            if s.published in window:
                by = carried[s.id]
                found.append(LeftOut(s, f"carried by {by}" if by else "already sent (the ledger's record)"))
        elif s.published > window.until:
            found.append(LeftOut(s, f"published after {window.until}: the next issue takes it"))
        elif send_date is not None and s.published > send_date:
            found.append(LeftOut(s, f"published after the send date {send_date}: the next issue takes it"))
        elif s.published < window.since:
            inside = [i.id for i in windows if i.since <= s.published <= i.until]
            where = f"in {inside[-1]}'s window, which left it out" if inside else "before the window"
            found.append(LeftOut(s, f"{where}; --since {s.published} includes it"))
    return found
