"""What the delivery ledger holds: recipient and run states, and the rows it hands out (from the state
database, `newsletter.db`, under the names the delivery stage has always used)."""

from __future__ import annotations

from newsletter.db.ledger_types import (
    NOT_SENT,
    TO_SEND,
    Counts,
    Failure,
    NewRecipient,
    RecipientRow,
    Run,
)
from newsletter.db.schema import RecipientState, RunState

__all__ = [
    "NOT_SENT",
    "TO_SEND",
    "Counts",
    "Failure",
    "NewRecipient",
    "RecipientRow",
    "RecipientState",
    "Run",
    "RunState",
    "empty_counts",
]


def empty_counts() -> Counts:
    return dict.fromkeys(RecipientState, 0)
