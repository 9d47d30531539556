"""An issue's health after the send: bounces, complaints and unsubscribes against the services' thresholds.

The thresholds are the published ones: Amazon SES reviews an account at a 5 % bounce rate or a
0.1 % complaint rate and may pause it at 10 % or 0.5 %; Gmail asks for a spam rate under 0.1 % and
never 0.3 %. Rates are over the attempts: the messages the provider accepted plus the addresses it
refused as unknown during the send (so a rate never passes 100 %). `bounce_pause` is the rule a run
applies to itself while sending.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.engine import reading
from newsletter.db.schema import EventKind, RecipientState

R = RecipientState
BOUNCE_LIMITS = ((0.05, "SES reviews the account"), (0.10, "SES may pause sending"))
COMPLAINT_LIMITS = (
    (0.001, "SES reviews the account; Gmail asks to stay under it"),
    (0.003, "Gmail's limit never to pass"),
    (0.005, "SES may pause sending"),
)
PAUSE_RATE = 0.05
PAUSE_MIN_ATTEMPTS = 200


@dataclass(frozen=True)
class Health:
    issue_id: str
    sent_at: datetime
    sent: int  # accepted by the provider
    delivered: int  # accepted, with no bounce reported since
    hard_bounces: int  # refused during the send or reported later
    soft_bounces: int
    complaints: int
    unsubscribes: int  # recipients of the issue who unsubscribed since it was sent
    warnings: tuple[str, ...]
    refused: int = 0  # hard bounces refused during the send (never accepted, so not in `sent`)

    @property
    def attempts(self) -> int:
        return self.sent + self.refused

    def rate(self, count: int) -> float:
        return count / self.attempts if self.attempts else 0.0


def issue_health(engine: Engine, issue_id: str) -> Health | None:
    """The figures for one issue's run, or None if it was never sent."""
    with reading(engine) as connection:
        started = connection.execute(
            select(t.runs.c.started_at).where(t.runs.c.issue_id == issue_id)
        ).scalar()
        if started is None:
            return None
        rows = connection.execute(
            select(t.recipients.c.email, t.recipients.c.state).where(t.recipients.c.issue_id == issue_id)
        ).all()
        hashes = {events.hash_of(connection, row.email): row.state for row in rows}
        refused = {h for h, state in hashes.items() if state == R.FAILED_PERMANENT.value}
        hard = _reported(connection, issue_id, EventKind.BOUNCED) | refused
        soft = _reported(connection, issue_id, EventKind.SOFT_BOUNCED) - hard
        complaints = _reported(connection, issue_id, EventKind.COMPLAINED)
        left = connection.execute(
            select(t.events.c.email_hash).where(
                t.events.c.kind == EventKind.UNSUBSCRIBED.value, t.events.c.at >= started
            )
        ).scalars()
        unsubscribes = {h for h in left if h in hashes}
    accepted = {h for h, state in hashes.items() if state == R.SENT.value}
    figures = Health(
        issue_id=issue_id,
        sent_at=started,
        sent=len(accepted),
        delivered=len(accepted - hard - soft),
        hard_bounces=len(hard),
        soft_bounces=len(soft),
        complaints=len(complaints),
        unsubscribes=len(unsubscribes),
        warnings=(),
        refused=len(refused - accepted),
    )
    return replace(figures, warnings=health_warnings(figures))


def health_warnings(health: Health) -> tuple[str, ...]:
    """A line for each threshold an issue's rates pass (the highest passed of each kind)."""
    found = []
    for what, count, limits in (
        ("hard-bounce rate", health.hard_bounces, BOUNCE_LIMITS),
        ("complaint rate", health.complaints, COMPLAINT_LIMITS),
    ):
        rate = health.rate(count)
        passed = [(limit, meaning) for limit, meaning in limits if rate > limit]
        if passed:
            limit, meaning = passed[-1]
            found.append(
                f"warning: the {what} of issue {health.issue_id} is {rate:.2%} "
                f"({count} of {health.attempts}), over {limit:.1%}: {meaning}"
            )
    return tuple(found)


def bounce_pause(attempts: int, hard_bounces: int, threshold: float = PAUSE_RATE,
                 minimum: int = PAUSE_MIN_ATTEMPTS) -> str | None:  # fmt: skip
    """Why a run should pause itself, or None: past `minimum` attempts, a hard-bounce rate over the limit."""
    if attempts < minimum or hard_bounces / attempts <= threshold:
        return None
    return (
        f"paused: {hard_bounces} of {attempts} attempts bounced hard ({hard_bounces / attempts:.1%}, over "
        f"{threshold:.0%}); an old or bought list harms the sender's reputation: clean it, then "
        "`newsletter send` again resumes"
    )


def previous_issue_warnings(engine: Engine, issue_id: str) -> tuple[str, ...]:
    """For `send`: a warning, and what to do, for each limit the issue sent before this one passed
    (its hard-bounce rate over 5 %, its complaint rate over 0.1 %), bounces reported later included."""
    with engine.connect() as connection:
        previous = connection.execute(
            select(t.runs.c.issue_id)
            .where(t.runs.c.issue_id != issue_id)
            .order_by(t.runs.c.started_at.desc())
            .limit(1)
        ).scalar()
    health = issue_health(engine, previous) if previous else None
    if health is None:
        return ()
    found = []
    bounces, complaints = health.rate(health.hard_bounces), health.rate(health.complaints)
    if bounces > BOUNCE_LIMITS[0][0]:
        found.append(
            f"warning: the previous issue ({health.issue_id}) had a hard-bounce rate of {bounces:.2%} "
            f"({health.hard_bounces} of {health.attempts}), over {BOUNCE_LIMITS[0][0]:.0%}; run "
            "`newsletter bounces fetch` so the dead addresses are suppressed, and clean the list"
            " before sending"
        )
    if complaints > COMPLAINT_LIMITS[0][0]:
        found.append(
            f"warning: the previous issue ({health.issue_id}) had a complaint rate of {complaints:.2%} "
            f"({health.complaints} of {health.attempts}), over 0.1 %; make sure every reader asked for it "
            "and the unsubscribe link is easy to find"
        )
    return tuple(found)


def _reported(connection: Connection, issue_id: str, kind: EventKind) -> set[str]:
    """The address hashes with a bounce-mailbox or SES decision of this kind about this issue."""
    return set(
        connection.execute(
            select(t.events.c.email_hash).where(
                t.events.c.kind == kind.value,
                t.events.c.detail["issue"].as_string() == issue_id,
            )
        ).scalars()
    )
