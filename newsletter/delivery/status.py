"""`newsletter status` as data: each issue's send run, its counts, its failures and its health."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine

from newsletter.bounces.health import BOUNCE_LIMITS, COMPLAINT_LIMITS, Health, issues_health
from newsletter.db.locks import issue_lock
from newsletter.delivery.ledger import open_ledger
from newsletter.delivery.records import NOT_SENT, Counts, Failure, Run, RunState, resume_command
from newsletter.errors import NewsletterError
from newsletter.store.config import Settings

# A run the ledger still calls running although no process holds its lock: the sender died (killed,
# or a fault it could not even record). Shown as stopped, with what to do.
ORPHANED_NOTE = "the sending process ended without recording why; `{command}` resumes it"


@dataclass(frozen=True)
class IssueStatus:
    run: Run
    counts: Counts
    failures: list[Failure]  # the first few, or all (see `issue_status`)
    health: Health | None = None  # bounces, complaints and unsubscribes after the send

    @property
    def not_sent(self) -> int:
        """How many recipients are not sent for a reason worth showing (all of them, not only `failures`)."""
        return sum(self.counts[state] for state in NOT_SENT)

    def as_dict(self) -> dict[str, Any]:
        """The status as plain data, for `status --json`."""
        return {
            "issue": self.run.issue_id,
            "state": self.run.state,
            "note": self.run.note,
            "provider": self.run.provider,
            "started_at": self.run.started_at,
            "updated_at": self.run.updated_at,
            "finished_at": self.run.finished_at,
            "forced_reason": self.run.forced_reason,
            "counts": self.counts,
            "failures": [
                {"email": f.email, "state": f.state, "attempts": f.attempts, "error": f.last_error}
                for f in self.failures
            ],
            "health": health_dict(self.health) if self.health else None,
        }


def health_dict(health: Health) -> dict[str, Any]:
    """An issue's health for scripts: each figure as a count and a rate, with the limits it is held to."""

    def figure(count: int, limits: tuple[tuple[float, str], ...] = ()) -> dict[str, Any]:
        return {
            "count": count,
            "rate": round(health.rate(count), 6),
            "limits": [{"rate": limit, "meaning": meaning} for limit, meaning in limits],
        }

    return {
        "attempts": health.attempts,
        "accepted": health.sent,
        "delivered": figure(health.delivered),
        "hard_bounces": figure(health.hard_bounces, BOUNCE_LIMITS),
        "soft_bounces": figure(health.soft_bounces),
        "complaints": figure(health.complaints, COMPLAINT_LIMITS),
        "unsubscribes": figure(health.unsubscribes),
        "warnings": list(health.warnings),
    }


def _as_seen(engine: Engine, run: Run) -> Run:
    if run.state != RunState.RUNNING or issue_lock(engine, run.issue_id).held_elsewhere():
        return run
    note = ORPHANED_NOTE.format(command=resume_command(run.issue_id))
    return replace(run, state=RunState.STOPPED, note=note)


def issue_status(
    settings: Settings, issue_id: str | None = None, failures_shown: int | None = None
) -> list[IssueStatus]:
    """The send runs in the ledger (one issue's, or all), with counts, failures and health.

    The database does the counting, in one statement per figure however many issues are shown: the
    runs, their counts (one GROUP BY), their failures (the first `failures_shown` of each, all when
    None) and their health.
    """
    with open_ledger(settings) as ledger:
        runs = ledger.runs() if issue_id is None else [r for r in [ledger.run(issue_id)] if r]
        ids = [r.issue_id for r in runs]
        counts = ledger.counts_of(ids) if runs else {}
        failures = ledger.failures_of(ids, failures_shown) if runs else {}
        health = issues_health(ledger.engine, ids, counts) if runs else {}
        found = [
            IssueStatus(
                _as_seen(ledger.engine, r), counts[r.issue_id], failures[r.issue_id], health.get(r.issue_id)
            )
            for r in runs
        ]
    if issue_id is not None and not found:
        raise NewsletterError(f"issue {issue_id} has not been sent yet (no send run); see `newsletter send`")
    return found
