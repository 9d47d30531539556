"""What the delivery ledger says earlier runs sent: the record `new-issue`, `check` and the archive use."""

from __future__ import annotations

from datetime import datetime

from newsletter.compose.select import SentRecord
from newsletter.delivery.ledger import open_ledger
from newsletter.delivery.records import RecipientState
from newsletter.store.config import Settings


def sent_record(settings: Settings) -> SentRecord:
    """What the delivery ledger says was sent; an empty record when nothing was ever sent."""
    with open_ledger(settings) as book:
        runs = book.runs()
        # "Reached someone" as the ledger's carried_summaries counts it: sent, or maybe sent (unknown).
        reached = (RecipientState.SENT, RecipientState.UNKNOWN)
        sent = {
            run.issue_id: datetime.fromisoformat(run.started_at)
            for run in runs
            if any(book.counts(run.issue_id)[state] for state in reached)
        }
        return SentRecord(frozenset(r.issue_id for r in runs), sent, frozenset(book.carried_summaries()))


def carried_summaries(settings: Settings) -> set[str]:
    """Summaries already sent in some issue (for `new-issue`'s "already sent" rule)."""
    with open_ledger(settings) as book:
        return book.carried_summaries()
