"""Which summaries an issue carries: its window, what earlier issues already carried, and teasers."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from newsletter.group import group_summaries
from newsletter.models import Issue, Summary
from newsletter.topics import Taxonomy

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


def next_issue(previous: Iterable[Issue], today: date) -> tuple[str, Window]:
    """The id and window of the next monthly issue.

    After an earlier issue: from the day after its window ended to the end of that month, in the
    issue of the following month. The first issue covers the previous calendar month.
    """
    latest = max(previous, key=lambda issue: (issue.until, issue.id), default=None)
    since = _previous_month_start(today) if latest is None else latest.until + timedelta(days=1)
    issue_month = next_month(since)
    return f"{issue_month:%Y-%m}", Window(since, _month_end(since))


def window_for(issue_id: str, previous: Iterable[Issue]) -> Window | None:
    """The default window of a monthly issue id: the month before it, starting after earlier issues."""
    month = month_of(issue_id)
    if month is None:
        return None
    until = month - timedelta(days=1)
    since = until.replace(day=1)
    for issue in previous:
        if since <= issue.until < until:
            since = issue.until + timedelta(days=1)
    return Window(since, until)


def already_carried(previous: Iterable[Issue], window: Window) -> set[str]:
    """Summary ids that earlier issues carried.

    Until the delivery ledger says what was really sent, an issue file whose window ended before
    this window starts counts as sent, so its items are not offered again.
    """
    return {item for issue in previous if issue.until < window.since for item in issue.summary_ids}


def eligible_summaries(
    summaries: Iterable[Summary], window: Window, send_date: date | None, carried: set[str]
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
