"""How one invocation of the engine ended: the run's state, its counts, and the exit code it means."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.delivery.records import Counts, Failure, RecipientState, RunState
from newsletter.errors import ExitStatus

R = RecipientState


@dataclass(frozen=True)
class RunOutcome:
    """How an invocation of the engine ended, with the ledger's counts for the whole run."""

    issue_id: str
    state: RunState
    note: str
    sent_now: int
    counts: Counts
    elapsed: float
    failures: tuple[Failure, ...] = ()  # the first few recipients not sent, for the report

    @property
    def exit_code(self) -> ExitStatus:
        if self.state == RunState.PAUSED:
            return ExitStatus.PAUSED
        if self.state == RunState.RUNNING:  # this process did its share; others finish the run
            return ExitStatus.OK
        if self.state in (RunState.INTERRUPTED, RunState.STOPPED):
            return ExitStatus.INTERRUPTED
        if self.state == RunState.FINISHED and not self.counts[R.FAILED_PERMANENT]:
            return ExitStatus.OK
        return ExitStatus.FAILURES
