"""The plan of `newsletter send`: who gets the issue now, who does not and why, and how long it takes.

The plan reconciles: everyone in the chosen lists is either already sent this issue, to send now,
or left out for a reason (suppressed, unsubscribed, bounced, complained, unconfirmed, paused; and in a
resumed run: unknown, failed earlier, or joined after the run started).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from newsletter.db.audience import AudienceTally, iter_audience, tally_audience
from newsletter.delivery.ledger import Ledger
from newsletter.delivery.records import TO_SEND, RecipientState

R = RecipientState
# The audience's reasons to leave someone out, in the order the plan shows them.
AUDIENCE_REASONS = ("suppressed", "unsubscribed", "bounced", "complained", "pending", "paused")


@dataclass(frozen=True)
class SendRequest:
    """What the operator asked of `newsletter send`; None means "from newsletter.yaml"."""

    issue_id: str
    lists: tuple[str, ...] | None = None
    provider: str | None = None
    rate: float | None = None
    concurrency: int | None = None
    resend_unknown: bool = False
    skip_invalid: bool = False  # kept for scripts: the database holds only valid rows
    force_reason: str = ""  # `--force --reason TEXT`: send although `check` finds errors, and say why
    show: bool = False  # `--dry-run --show`: keep the addresses of each part of the plan
    ramp: int = 0  # `--ramp N`: the first N at a tenth of the rate, then the bounce-rate check
    check_bounces_every: int | None = (
        None  # `--check-bounces-every N` (None: every 500 if bounces.imap is set)
    )


@dataclass(frozen=True)
class SendPlan:
    """Who will get the issue now, who will not and why, and how long it should take."""

    issue_id: str
    subject: str
    audience: int  # subscribed, confirmed, not suppressed, not paused, in the chosen lists
    suppressed: int
    unsubscribed: int
    bounced: int
    invalid: int  # always 0 now: rows are checked when they are imported
    duplicates: int  # always 0: one row per address
    already_sent: int  # of the audience (so it respects --list)
    not_included: int  # subscribed after the issue's run started: the recipients were fixed then
    unknown: int  # may have got it: the last run stopped while their message was with the provider
    to_send: int  # what this send will send (a resumed run: its pending rows, whatever the lists)
    provider: str
    rate: float
    concurrency: int
    resuming: bool = False  # the issue has a run already; this continues it
    invalid_rows: tuple[str, ...] = ()
    complained: int = 0
    pending: int = 0  # signed up, not confirmed
    paused: int = 0
    failed_earlier: int = 0  # of the audience: failed permanently or skipped in the run
    in_lists: int = 0  # everyone with a membership in the chosen lists
    to_send_of_lists: int = 0  # the audience's share of to_send
    shown: dict[str, tuple[str, ...]] = field(default_factory=dict)  # --show: addresses per part
    resend_unknown: bool = False
    rate_from: str = ""  # where the rate comes from when the operator gave none (SES: the account's quota)
    ramp: int = 0

    @property
    def seconds(self) -> float:
        """How long sending `to_send` should take at the plan's rate (a warm-up's share at a tenth)."""
        slow = min(self.ramp, self.to_send)
        return (self.to_send - slow) / self.rate + slow * 10 / self.rate

    @property
    def left_out(self) -> dict[str, int]:
        """Everyone in the lists not sent now and not sent before, by reason (zero reasons included)."""
        reasons = {name: getattr(self, name) for name in AUDIENCE_REASONS}
        reasons["unknown"] = self.unknown if self.resuming and not self.resend_unknown else 0
        reasons["failed_earlier"] = self.failed_earlier
        reasons["not_included"] = self.not_included
        return reasons


def make_plan(
    ledger: Ledger,
    issue_id: str,
    subject: str,
    request: SendRequest,
    how: tuple[str, float, int],
    rate_from: str = "",
) -> SendPlan:
    """The plan for one issue, from one pass over the audience and the ledger's counts.

    `how` is what the plan says of the sending: (provider name, messages per second, connections).
    Nothing is held per subscriber (unless --show): a new run's counts are one query the database
    answers; for a resumed run the audience is looked up in the run page by page.
    """
    resuming = ledger.run(issue_id) is not None
    kept: list[str] = []
    if resuming or request.show:
        tally = AudienceTally(left_out={} if request.show else None)
        addresses: Iterator[str] = (m.email for m in iter_audience(ledger.engine, request.lists, tally))
        if request.show:
            addresses = _keeping(addresses, kept)
        states: dict[str | None, int] = (
            ledger.states_of(issue_id, addresses) if resuming else {None: sum(1 for _ in addresses)}
        )
    else:  # a new run's plan is counts only: the database computes them
        tally = tally_audience(ledger.engine, request.lists)
        states = {None: tally.recipients}
    counts = ledger.counts(issue_id)
    of = {state: states.get(state.value, 0) for state in R}
    unknown_all = counts[R.UNKNOWN] + counts[R.SENDING]
    unknown_of = of[R.UNKNOWN] + of[R.SENDING]
    to_send_of = (of[R.PENDING] + of[R.FAILED_TRANSIENT]) if resuming else tally.recipients
    to_send = sum(counts[s] for s in TO_SEND) if resuming else tally.recipients
    if request.resend_unknown:
        to_send, to_send_of = to_send + unknown_all, to_send_of + unknown_of
    left = sum(getattr(tally, name) for name in AUDIENCE_REASONS)
    shown: dict[str, tuple[str, ...]] = {}
    if tally.left_out is not None:
        shown = {name: tuple(tally.left_out.get(name, ())) for name in AUDIENCE_REASONS}
        shown["audience"] = tuple(kept)
    return SendPlan(
        issue_id,
        subject,
        tally.recipients,
        tally.suppressed,
        tally.unsubscribed,
        tally.bounced,
        0,
        0,
        of[R.SENT],
        states.get(None, 0) if resuming else 0,
        unknown_of if resuming else 0,
        to_send,
        *how,
        resuming=resuming,
        complained=tally.complained,
        pending=tally.pending,
        paused=tally.paused,
        failed_earlier=of[R.FAILED_PERMANENT] + of[R.SKIPPED],
        in_lists=tally.recipients + left,
        to_send_of_lists=to_send_of,
        shown=shown,
        resend_unknown=request.resend_unknown,
        rate_from=rate_from,
        ramp=request.ramp,
    )


def _keeping(addresses: Iterator[str], kept: list[str]) -> Iterator[str]:
    for email in addresses:
        kept.append(email)
        yield email
