"""Scheduled sends: which issues are due now, and `send-due`, safe to run every few minutes from cron.

An issue's `send_at` makes it due. A due issue is sent (or its partial run resumed) once; one due
longer ago than `max_late` is refused rather than fired hours late by a server that was down. Two
overlapping `send-due` runs never both send: the second finds the scheduler lock held and stops.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from newsletter.delivery import ledger as lg
from newsletter.errors import ExitStatus, NewsletterError
from newsletter.store.config import Settings

SEND = "send"  # due, never started
RESUME = "resume"  # due, a run was started and did not finish
NOT_DUE = "not due"
TOO_LATE = "too late"
FINISHED = "finished"
HELD = "held"  # stopped by an operator: a person resumes it
UNSCHEDULED = "unscheduled"

_DURATION = re.compile(r"(\d+)\s*([dhms])")
_UNIT = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """`24h`, `90m`, `2d`, `1h30m`, `45s` as a timedelta; ValueError says what is accepted."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not cleaned or _DURATION.sub("", cleaned).strip():
        raise ValueError(f"{text!r} is not a duration; use a number and a unit: 90m, 24h, 2d or 1h30m")
    return sum((timedelta(**{_UNIT[unit]: int(n)}) for n, unit in parts), timedelta())


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
    action: str
    reason: str


def decide(
    issue_id: str,
    send_at: datetime | None,
    now: datetime,
    max_late: timedelta,
    run: lg.Run | None,
    left_to_send: int,
) -> Decision:
    """What the scheduler does with one issue now. Pure: the clock and the ledger are passed in.

    `left_to_send` is the run's pending and failed_transient recipients (0 without a run).
    """
    if send_at is None:
        return Decision(issue_id, UNSCHEDULED, "no send_at")
    if run is not None and run.state == lg.FINISHED:
        return Decision(issue_id, FINISHED, "already sent")
    if send_at > now:
        return Decision(issue_id, NOT_DUE, f"due at {send_at.isoformat()}, in {describe(send_at - now)}")
    if run is not None:
        if run.state == lg.INTERRUPTED:
            return Decision(
                issue_id, HELD, f"stopped by an operator; resume it with `newsletter send {issue_id}`"
            )
        if run.state == lg.INCOMPLETE and not left_to_send:
            return Decision(
                issue_id,
                HELD,
                f"only failed or unknown recipients are left; see `newsletter status {issue_id}`",
            )
        # A started run is resumed however late: half the list without the issue is worse.
        return Decision(issue_id, RESUME, f"resuming the {run.state} run ({left_to_send} left to send)")
    late = now - send_at
    if late > max_late:
        return Decision(
            issue_id,
            TOO_LATE,
            f"was due at {send_at.isoformat()}, {describe(late)} ago, more than the {describe(max_late)} "
            f"allowed; send it by hand with `newsletter send {issue_id}`, or allow it with --max-late",
        )
    return Decision(issue_id, SEND, f"due at {send_at.isoformat()}")


def localize(moment: datetime, settings: Settings) -> datetime:
    """A time without an offset is in the newsletter's time zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=settings.tz)


@dataclass(frozen=True)
class DueResult:
    issue_id: str
    action: str
    reason: str
    exit_code: int  # an ExitStatus: OK for nothing to do or all sent; REFUSED makes cron mail the operator


@dataclass(frozen=True)
class DueReport:
    results: tuple[DueResult, ...]
    locked_out: str = ""  # another send-due holds the scheduler lock

    @property
    def exit_code(self) -> int:
        return max((r.exit_code for r in self.results), default=0)


def _build(settings: Settings) -> Callable[[str], None]:
    """The readiness check: `newsletter build` must succeed (it also refuses the intro TODO)."""
    from newsletter import render

    return lambda issue_id: render.build_issue(settings, issue_id) and None


def _send(settings: Settings, echo: Callable[[str], None]) -> Callable[[str], int]:
    from newsletter import delivery

    def send(issue_id: str) -> int:
        request = delivery.SendRequest(issue_id, yes=True)
        progress = delivery.ProgressPrinter(tty=False, every=30)
        outcome = delivery.send_issue(settings, request, echo, lambda _question: True, progress)
        return outcome.exit_code if outcome else 0

    return send


def send_due(
    settings: Settings,
    now: datetime,
    max_late: timedelta,
    echo: Callable[[str], None],
    send: Callable[[str], int] | None = None,
    check: Callable[[str], None] | None = None,
) -> DueReport:
    """Send every due, unfinished issue; report each decision through `echo`.

    `check(issue_id)` raises NewsletterError if the issue is not ready (by default: `build` fails,
    which includes an intro that is still the TODO); `send(issue_id)` sends or resumes it and
    returns its exit code (by default `newsletter send ISSUE --yes`).
    """
    from newsletter.store import issues

    send = send or _send(settings, echo)
    check = check or _build(settings)

    now = localize(now, settings)
    lock = lg.scheduler_lock(settings)
    try:
        lock.acquire()
    except lg.LockedError as exc:
        echo(f"send-due: another send-due is running ({exc.holder}); this one does nothing")
        return DueReport((), locked_out=exc.message)
    try:
        ledger_file = lg.ledger_path(settings)
        results: list[DueResult] = []
        with lg.Ledger(ledger_file) as ledger:
            decisions = []
            for issue in issues.list_issues(settings.workspace):
                run = ledger.run(issue.id)
                counts = ledger.counts(issue.id)
                left = counts[lg.PENDING] + counts[lg.FAILED_TRANSIENT]
                send_at = localize(issue.send_at, settings) if issue.send_at else None
                decisions.append(decide(issue.id, send_at, now, max_late, run, left))
        for d in decisions:
            if d.action in (UNSCHEDULED, FINISHED, NOT_DUE):
                results.append(DueResult(d.issue_id, d.action, d.reason, 0))
                if d.action == NOT_DUE:
                    echo(f"{d.issue_id}: not due yet ({d.reason})")
                continue
            if d.action in (TOO_LATE, HELD):
                echo(f"{d.issue_id}: not sent: {d.reason}")
                results.append(DueResult(d.issue_id, d.action, d.reason, ExitStatus.REFUSED))
                continue
            try:
                check(d.issue_id)
            except NewsletterError as exc:
                echo(f"{d.issue_id}: not sent: not ready: {exc.message}")
                results.append(DueResult(d.issue_id, "not ready", exc.message, ExitStatus.REFUSED))
                continue
            echo(f"{d.issue_id}: {d.reason}: sending")
            try:
                code = send(d.issue_id)
            except NewsletterError as exc:
                echo(f"{d.issue_id}: not sent: {exc.message}")
                results.append(DueResult(d.issue_id, d.action, exc.message, ExitStatus.REFUSED))
                continue
            results.append(DueResult(d.issue_id, d.action, d.reason, code))
        return DueReport(tuple(results))
    finally:
        lock.release()
