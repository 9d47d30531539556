"""The plan of `newsletter send`: who gets the issue now, who does not and why, and how long it takes."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.delivery import audience
from newsletter.delivery.ledger import Ledger
from newsletter.delivery.records import TO_SEND, RecipientState
from newsletter.store.audience import AudienceTally
from newsletter.store.config import Settings


@dataclass(frozen=True)
class SendRequest:
    """What the operator asked of `newsletter send`; None means "from newsletter.yaml"."""

    issue_id: str
    lists: tuple[str, ...] | None = None
    provider: str | None = None
    rate: float | None = None
    concurrency: int | None = None
    resend_unknown: bool = False
    skip_invalid: bool = False
    force_reason: str = ""  # `--force --reason TEXT`: send although `check` finds errors, and say why


@dataclass(frozen=True)
class SendPlan:
    """Who will get the issue now, who will not and why, and how long it should take."""

    issue_id: str
    subject: str
    audience: int  # subscribed, not suppressed, deduplicated, in the chosen lists
    suppressed: int
    unsubscribed: int
    bounced: int
    invalid: int
    duplicates: int
    already_sent: int
    not_included: int  # subscribed after the issue's run started: the recipients were fixed then
    unknown: int  # may have got it: the last run stopped while their message was with the provider
    to_send: int
    provider: str
    rate: float
    concurrency: int
    resuming: bool = False  # the issue has a run already; this continues it
    invalid_rows: tuple[str, ...] = ()  # the first invalid rows left out (--skip-invalid), "file:line: why"

    @property
    def seconds(self) -> float:
        """How long sending `to_send` should take at the plan's rate."""
        return self.to_send / self.rate


def make_plan(
    ledger: Ledger,
    settings: Settings,
    issue_id: str,
    subject: str,
    request: SendRequest,
    how: tuple[str, float, int],
) -> SendPlan:
    """The plan for one issue, from one pass over the lists and the ledger's counts.

    `how` is what the plan says of the sending: (provider name, messages per second, connections).

    Nothing is held per subscriber: for a new run only counts are kept; for an existing one each
    current subscriber is looked up in the run, page by page, to count who joined since it started.
    Invalid rows raise ContentError here unless `--skip-invalid`.
    """
    tally = AudienceTally()
    addresses = audience.emails(settings, request.lists, request.skip_invalid, tally)
    resuming = ledger.run(issue_id) is not None
    in_run = ledger.count_known(issue_id, addresses) if resuming else sum(1 for _ in addresses)
    counts = ledger.counts(issue_id)
    unknown = counts[RecipientState.UNKNOWN] + counts[RecipientState.SENDING]
    to_send = sum(counts[s] for s in TO_SEND) if resuming else tally.recipients
    return SendPlan(
        issue_id,
        subject,
        tally.recipients,
        tally.suppressed,
        tally.unsubscribed,
        tally.bounced,
        tally.invalid,
        tally.duplicates,
        counts[RecipientState.SENT],
        tally.recipients - in_run if resuming else 0,
        unknown,
        to_send + (unknown if request.resend_unknown else 0),
        *how,
        resuming=resuming,
        invalid_rows=tuple(tally.invalid_rows),
    )
