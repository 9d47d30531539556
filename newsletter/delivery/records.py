"""What the delivery ledger holds: recipient and run states, and the rows it hands out (from the state
database, `newsletter.db`, under the names the delivery stage has always used)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

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


def local_time(stamp: str, tz: tzinfo | None) -> str:
    """A ledger's UTC stamp in the newsletter's time zone, to the second: `2026-06-02 09:05:03 EDT`."""
    if tz is None:
        return stamp
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


__all__ = [
    "local_time",
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
