"""What the delivery ledger says earlier runs sent: the record `new-issue`, `check` and the archive use."""

from __future__ import annotations

from datetime import datetime

from newsletter.compose.select import SentRecord
from newsletter.delivery import ledger
from newsletter.store.config import Settings


def sent_record(settings: Settings) -> SentRecord:
    """What the delivery ledger says was sent; an empty record when nothing was ever sent."""
    path = ledger.ledger_path(settings)
    if not path.is_file():
        return SentRecord()
    with ledger.Ledger(path) as book:
        runs = book.runs()
        # "Reached someone" as the ledger's carried_summaries counts it: sent, or maybe sent (unknown).
        sent = {
            run.issue_id: datetime.fromisoformat(run.started_at)
            for run in runs
            if any(book.counts(run.issue_id)[state] for state in (ledger.SENT, ledger.UNKNOWN))
        }
        return SentRecord(frozenset(r.issue_id for r in runs), sent, frozenset(book.carried_summaries()))
