"""How one invocation of the engine ended: the run's state, its counts, and the exit code it means;
and how a sender records that end in the ledger."""

from __future__ import annotations

import time
from dataclasses import dataclass

from newsletter.delivery.ledger import Ledger, LedgerError
from newsletter.delivery.records import TO_SEND, Counts, Failure, RecipientState, RunState
from newsletter.errors import ExitStatus

R = RecipientState
OPERATOR_STOP = "stopped by the operator after the messages in flight"  # as signals.stop_reason says


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


def record_end(
    ledger: Ledger,
    issue_id: str,
    halt: tuple[RunState, str] | None,
    stopped: bool,
    sent_now: int,
    started: float,
    others: bool = False,
) -> RunOutcome:
    """Record how the run ended: `halt` is the first reason a stop was asked for, `stopped` whether
    anything stopped the sending early. While `others` (senders on other machines) still work the
    run, it is left `running` for the last of them to record."""
    try:
        counts = ledger.counts(issue_id)
    except LedgerError:
        counts = dict.fromkeys(RecipientState, 0)
    if others and halt is None and not stopped:
        # Other processes still send this run: the last one to finish records how it ended.
        return RunOutcome(
            issue_id,
            RunState.RUNNING,
            "other senders are still working this run; `newsletter status` shows how it ends",
            sent_now,
            counts,
            time.monotonic() - started,
        )
    if halt is not None:
        state, note = halt
    elif stopped:
        state, note = RunState.INTERRUPTED, OPERATOR_STOP
    elif any(counts[s] for s in (*TO_SEND, R.SENDING, R.UNKNOWN)):
        state, note = RunState.INCOMPLETE, "some recipients failed or are unknown; see `newsletter status`"
    else:
        state, note = RunState.FINISHED, ""
    try:
        ledger.set_run_state(issue_id, state, note)
    except LedgerError as exc:
        # The ledger still says `running`; `status` shows a run without a live sender as stopped.
        state = RunState.PAUSED
        note = f"{note} (not recorded in the ledger: {exc.message})" if note else exc.message
    return RunOutcome(issue_id, state, note, sent_now, counts, time.monotonic() - started)
