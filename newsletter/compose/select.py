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


@dataclass(frozen=True)
class SentRecord:
    """What the delivery ledger knows of earlier sends (`delivery.history.sent_record` reads it)."""

    runs: frozenset[str] = frozenset()  # issues that have a send run
    sent: Mapping[str, datetime] = field(default_factory=dict)  # issue -> run start, if it reached anyone
    summaries: frozenset[str] = frozenset()  # what the sent issues carried, recorded as they were sent


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
    for issue in sorted(previous, key=lambda i: (i.until, i.id)):
        if issue.id in ledger.sent or (issue.id not in ledger.runs and issue.until < window.since):
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
