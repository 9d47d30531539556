"""Scheduled sends: which issues are due now, and `send-due`, safe to run every few minutes from cron.

An issue's `send_at` makes it due. A due issue is sent (or its partial run resumed) once; one due
longer ago than `max_late` is refused rather than fired hours late by a server that was down. Two
overlapping `send-due` runs never both send: the second finds the scheduler lock held and stops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from newsletter.db.locks import LockedError, scheduler_lock
from newsletter.db.state import open_state
from newsletter.delivery.ledger import open_ledger
from newsletter.delivery.plan import SendRequest
from newsletter.delivery.records import TO_SEND, Run, RunState
from newsletter.delivery.reporting import Reporter
from newsletter.delivery.send import NotReady, open_send
from newsletter.errors import ExitStatus, NewsletterError
from newsletter.store import issues
from newsletter.store.config import Settings


class Action(StrEnum):
    """What the scheduler does with one issue now."""

    SEND = "send"  # due, never started
    RESUME = "resume"  # due, a run was started and did not finish
    NOT_DUE = "not due"
    TOO_LATE = "too late"
    FINISHED = "finished"
    HELD = "held"  # stopped by an operator: a person resumes it
    UNSCHEDULED = "unscheduled"
    NOT_READY = "not ready"  # the send gate refused it


_DURATION = re.compile(r"(\d+)\s*([dhms])")
MAX_DURATION = timedelta(days=3650)  # ten years: anything longer is a typo
_UNIT = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """`24h`, `90m`, `2d`, `1h30m`, `45s` as a timedelta; ValueError says what is accepted."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not cleaned or _DURATION.sub("", cleaned).strip():
        raise ValueError(f"{text!r} is not a duration; use a number and a unit: 90m, 24h, 2d or 1h30m")
    try:
        total = sum((timedelta(**{_UNIT[unit]: int(n)}) for n, unit in parts), timedelta())
    except OverflowError:
        total = MAX_DURATION * 2  # beyond any timedelta: refused just below
    if total > MAX_DURATION:
        raise ValueError(f"{text!r} is too long; at most {MAX_DURATION.days}d")
    return total


def describe(delta: timedelta) -> str:
    """A duration as a person says it: 2d 3h, 5h 10m, 12m."""
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


@dataclass(frozen=True)
class Decision:
    issue_id: str
    action: Action
    reason: str


def decide(
    issue_id: str,
    send_at: datetime | None,
    now: datetime,
    max_late: timedelta,
    run: Run | None,
    left_to_send: int,
) -> Decision:
    """What the scheduler does with one issue now. Pure: the clock and the ledger are passed in.

    `left_to_send` is the run's pending and failed_transient recipients (0 without a run).
    """
    if send_at is None:
        return Decision(issue_id, Action.UNSCHEDULED, "no send_at")
    if run is not None and run.state == RunState.FINISHED:
        return Decision(issue_id, Action.FINISHED, "already sent")
    if send_at > now:
        return Decision(
            issue_id, Action.NOT_DUE, f"due at {send_at.isoformat()}, in {describe(send_at - now)}"
        )
    if run is not None:
        if run.state == RunState.INTERRUPTED:
            return Decision(
                issue_id, Action.HELD, f"stopped by an operator; resume it with `newsletter send {issue_id}`"
            )
        if run.state == RunState.INCOMPLETE and not left_to_send:
            return Decision(
                issue_id,
                Action.HELD,
                f"only failed or unknown recipients are left; see `newsletter status {issue_id}`",
            )
        # A started run is resumed however late: half the list without the issue is worse.
        return Decision(
            issue_id, Action.RESUME, f"resuming the {run.state} run ({left_to_send} left to send)"
        )
    late = now - send_at
    if late > max_late:
        return Decision(
            issue_id,
            Action.TOO_LATE,
            f"was due at {send_at.isoformat()}, {describe(late)} ago, more than the {describe(max_late)} "
            f"allowed; send it by hand with `newsletter send {issue_id}`, or allow it with --max-late",
        )
    return Decision(issue_id, Action.SEND, f"due at {send_at.isoformat()}")


def localize(moment: datetime, settings: Settings) -> datetime:
    """A time without an offset is in the newsletter's time zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=settings.tz)


@dataclass(frozen=True)
class DueResult:
    issue_id: str
    action: Action
    reason: str
    exit_code: int  # an ExitStatus: OK for nothing to do or all sent; REFUSED makes cron mail the operator


@dataclass(frozen=True)
class DueReport:
    results: tuple[DueResult, ...]
    locked_out: str = ""  # another send-due holds the scheduler lock

    @property
    def exit_code(self) -> int:
        return max((r.exit_code for r in self.results), default=0)


def _decisions(settings: Settings, now: datetime, max_late: timedelta) -> list[Decision]:
    decisions = []
    with open_ledger(settings) as ledger:
        for issue in issues.list_issues(settings.workspace):
            run = ledger.run(issue.id)
            left = sum(ledger.counts(issue.id)[s] for s in TO_SEND)
            send_at = localize(issue.send_at, settings) if issue.send_at else None
            decisions.append(decide(issue.id, send_at, now, max_late, run, left))
    return decisions


def _send(settings: Settings, decision: Decision, reporter: Reporter) -> DueResult:
    """Check, plan and send (or resume) one due issue, as `newsletter send ISSUE --yes` would."""
    issue_id = decision.issue_id
    try:
        with open_send(settings, SendRequest(issue_id), reporter) as sending:
            reporter.note(f"{issue_id}: {decision.reason}: sending")
            reporter.plan(sending.plan)
            outcome = sending.run(reporter)
    except NotReady as exc:
        reporter.note(f"{issue_id}: not sent: not ready: {exc.message}")
        return DueResult(issue_id, Action.NOT_READY, exc.message, ExitStatus.REFUSED)
    except NewsletterError as exc:
        reporter.note(f"{issue_id}: not sent: {exc.message}")
        return DueResult(issue_id, decision.action, exc.message, ExitStatus.REFUSED)
    reporter.outcome(outcome)
    return DueResult(issue_id, decision.action, outcome.note or decision.reason, outcome.exit_code)


def send_due(settings: Settings, now: datetime, max_late: timedelta, reporter: Reporter) -> DueReport:
    """Send every due, unfinished issue that passes the send gate; report each decision.

    A run stopped by a signal (a service manager stopping `send-due`) ends this pass: the next one
    resumes it.
    """
    now = localize(now, settings)
    lock = scheduler_lock(open_state(settings))
    try:
        lock.acquire()
    except LockedError as exc:
        reporter.note(f"send-due: another send-due is running ({exc.holder}); this one does nothing")
        return DueReport((), locked_out=exc.message)
    try:
        results: list[DueResult] = []
        for d in _decisions(settings, now, max_late):
            if d.action in (Action.UNSCHEDULED, Action.FINISHED, Action.NOT_DUE):
                results.append(DueResult(d.issue_id, d.action, d.reason, ExitStatus.OK))
                if d.action == Action.NOT_DUE:
                    reporter.note(f"{d.issue_id}: not due yet ({d.reason})")
                continue
            if d.action in (Action.TOO_LATE, Action.HELD):
                reporter.note(f"{d.issue_id}: not sent: {d.reason}")
                results.append(DueResult(d.issue_id, d.action, d.reason, ExitStatus.REFUSED))
                continue
            results.append(_send(settings, d, reporter))
            if results[-1].exit_code == ExitStatus.INTERRUPTED:
                break
        return DueReport(tuple(results))
    finally:
        lock.release()
