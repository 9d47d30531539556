"""`newsletter status` as data: each issue's send run, its counts and its failures."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from newsletter.delivery.ledger import open_ledger
from newsletter.delivery.locks import issue_lock
from newsletter.delivery.records import Counts, Failure, Run, RunState
from newsletter.errors import NewsletterError
from newsletter.store.config import Settings

# A run the ledger still calls running although no process holds its lock: the sender died (killed,
# or a fault it could not even record). Shown as stopped, with what to do.
ORPHANED_NOTE = "the sending process ended without recording why; `newsletter send {issue}` resumes it"


@dataclass(frozen=True)
class IssueStatus:
    run: Run
    counts: Counts
    failures: list[Failure]

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
        }


def _as_seen(settings: Settings, run: Run) -> Run:
    if run.state != RunState.RUNNING or issue_lock(settings, run.issue_id).held_elsewhere():
        return run
    return replace(run, state=RunState.STOPPED, note=ORPHANED_NOTE.format(issue=run.issue_id))


def issue_status(settings: Settings, issue_id: str | None = None) -> list[IssueStatus]:
    """The send runs in the ledger (one issue's, or all), with counts and failures."""
    with open_ledger(settings) as ledger:
        runs = ledger.runs() if issue_id is None else [r for r in [ledger.run(issue_id)] if r]
        found = [
            IssueStatus(_as_seen(settings, r), ledger.counts(r.issue_id), ledger.failures(r.issue_id))
            for r in runs
        ]
    if issue_id is not None and not found:
        raise NewsletterError(f"issue {issue_id} has not been sent yet (no send run); see `newsletter send`")
    return found
