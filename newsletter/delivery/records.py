"""What the delivery ledger holds: recipient and run states, and the rows it hands out.

A recipient moves `pending` -> `sending` -> `sent` | `failed_transient` | `failed_permanent` |
`skipped`; a `sending` left behind by a sender that died becomes `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from newsletter.db import schema as t
from newsletter.db.schema import RecipientState, RunState

PENDING, SENDING, SENT = RecipientState.PENDING, RecipientState.SENDING, RecipientState.SENT
FAILED_TRANSIENT, FAILED_PERMANENT = RecipientState.FAILED_TRANSIENT, RecipientState.FAILED_PERMANENT
UNKNOWN, SKIPPED = RecipientState.UNKNOWN, RecipientState.SKIPPED
RECIPIENT_STATES = tuple(RecipientState)
RUNNING, PAUSED, INTERRUPTED = RunState.RUNNING, RunState.PAUSED, RunState.INTERRUPTED
INCOMPLETE, FINISHED = RunState.INCOMPLETE, RunState.FINISHED
RUN_STATES = tuple(RunState)
IN_DOUBT = "the run stopped while this message was with the provider"
TO_SEND = (PENDING, FAILED_TRANSIENT)  # still to send in a run: a resume picks these up
NOT_SENT = (FAILED_TRANSIENT, FAILED_PERMANENT, UNKNOWN, SKIPPED)  # not sent, for a reason worth showing
Counts = dict[RecipientState, int]


def resume_command(run_id: str) -> str:
    """The command that resumes a run: `send` for an issue; `correct` with the same note for a correction."""
    if run_id.startswith(t.CORRECTION_RUN):
        summary_id = run_id.removeprefix(t.CORRECTION_RUN).rpartition("-")[0]
        return f'newsletter correct {summary_id} --note "<the same note>"'
    return f"newsletter send {run_id}"


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


__all__ = ["NOT_SENT", "TO_SEND", "Counts", "Failure", "NewRecipient", "RecipientRow", "RecipientState",
           "Run", "RunState", "empty_counts", "local_time"]  # fmt: skip


def empty_counts() -> Counts:
    return dict.fromkeys(RecipientState, 0)


@dataclass(frozen=True)
class RecipientRow:
    """One recipient of one issue as the ledger holds it (enough to rebuild the message)."""

    rowid: int
    email: str
    list_name: str
    name: str
    topics: tuple[str, ...]
    subscribed_at: str
    state: RecipientState
    attempts: int
    last_error: str
    first_name: str = ""
    large_text: bool = False


@dataclass(frozen=True)
class NewRecipient:
    email: str
    list_name: str = ""
    name: str = ""
    topics: tuple[str, ...] = ()
    subscribed_at: str = ""
    first_name: str = ""
    large_text: bool = False

    def as_row(self, issue_id: str, now: datetime) -> dict[str, Any]:
        return {"issue_id": issue_id, "email": self.email, "list_name": self.list_name, "name": self.name,
                "first_name": self.first_name, "topics": ";".join(self.topics), "large_text": self.large_text,
                "subscribed_at": self.subscribed_at, "added_at": now, "updated_at": now}  # fmt: skip


@dataclass(frozen=True)
class Run:
    """An issue's send run: its state, why it is in it, and the operator's reason if it was forced."""

    issue_id: str
    state: RunState
    provider: str
    note: str
    started_at: str
    updated_at: str
    finished_at: str | None
    forced_reason: str = ""  # `send --force --reason TEXT`: why an issue `check` rejected was sent


@dataclass(frozen=True)
class Failure:
    """A recipient not sent, and the last thing the provider (or the engine) said about it."""

    email: str
    state: RecipientState
    attempts: int
    last_error: str


def stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


r = t.recipients
ROW_COLUMNS = (
    r.c.id,
    r.c.email,
    r.c.list_name,
    r.c.name,
    r.c.topics,
    r.c.subscribed_at,
    r.c.state,
    r.c.attempts,
    r.c.last_error,
    r.c.first_name,
    r.c.large_text,
)


def recipient_row(row: Any) -> RecipientRow:
    """A row of ROW_COLUMNS (SQLAlchemy's Row or the driver's own tuple) as a RecipientRow."""
    rowid, email, list_name, name, topics, subscribed_at, state, attempts, last_error, first_name, large = row
    return RecipientRow(
        rowid,
        email,
        list_name,
        name,
        tuple(x for x in topics.split(";") if x),
        subscribed_at,
        RecipientState(state),
        attempts,
        last_error,
        first_name,
        bool(large),
    )
