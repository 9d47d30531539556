"""What the delivery ledger holds: recipient and run states, and the rows it hands out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RecipientState(StrEnum):
    """Where one recipient of one issue is; the values are what the ledger file stores."""

    PENDING = "pending"
    SENDING = "sending"  # committed before the hand-over; left behind by a crash it becomes UNKNOWN
    SENT = "sent"
    FAILED_TRANSIENT = "failed_transient"
    FAILED_PERMANENT = "failed_permanent"
    UNKNOWN = "unknown"  # may have got it: resent only when the operator asks
    SKIPPED = "skipped"  # unsubscribed, bounced or suppressed after the run started


class RunState(StrEnum):
    """Where an issue's send run is; the values are what the ledger file stores."""

    RUNNING = "running"
    PAUSED = "paused"  # stopped itself (repeated errors, a fault); `send` or `send-due` resumes it
    STOPPED = "stopped"  # SIGTERM or SIGHUP (a service manager): `send-due` resumes it
    INTERRUPTED = "interrupted"  # an operator's Ctrl-C or `send --hold`: a person resumes it
    INCOMPLETE = "incomplete"  # the pass ended but some recipients failed or are unknown
    FINISHED = "finished"


# Still to send in this run: a resume picks these up.
TO_SEND = (RecipientState.PENDING, RecipientState.FAILED_TRANSIENT)
# Not sent for a reason worth showing the operator.
NOT_SENT = (
    RecipientState.FAILED_TRANSIENT,
    RecipientState.FAILED_PERMANENT,
    RecipientState.UNKNOWN,
    RecipientState.SKIPPED,
)


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


@dataclass(frozen=True)
class NewRecipient:
    """A recipient to add to an issue's run."""

    email: str
    list_name: str = ""
    name: str = ""
    topics: tuple[str, ...] = ()
    subscribed_at: str = ""


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


Counts = dict[RecipientState, int]


def empty_counts() -> Counts:
    return dict.fromkeys(RecipientState, 0)
