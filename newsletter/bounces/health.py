"""An issue's health after the send: bounces, complaints and unsubscribes against the services' thresholds.

The thresholds are the published ones: Amazon SES reviews an account at a 5 % bounce rate or a
0.1 % complaint rate and may pause it at 10 % or 0.5 %; Gmail asks for a spam rate under 0.1 % and
never 0.3 %. Rates are over the attempts: the messages the provider accepted plus the addresses it
refused as unknown during the send (so a rate never passes 100 %). `bounce_pause` is the rule a run
applies to itself while sending.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, func, select

from newsletter.db import schema as t
from newsletter.db.engine import reading
from newsletter.db.schema import EventKind, RecipientState, ReportIssue

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
    unverified: int = 0  # reports that arrived after this send and proved nothing (bounces/unverified.py)

    @property
    def attempts(self) -> int:
        return self.sent + self.refused

    def rate(self, count: int) -> float:
        return count / self.attempts if self.attempts else 0.0


def issue_health(engine: Engine, issue_id: str) -> Health | None:
    """The figures for one issue's run, or None if it was never sent."""
    return issues_health(engine, [issue_id]).get(issue_id)


def issues_health(engine: Engine, issue_ids: Iterable[str] | None = None) -> dict[str, Health]:
    """The figures of the chosen issues' runs (every run when None), in one query whatever their number.

    The database counts: recipients by state through the ledger's (issue, state) index, reports about
    an issue through the index on (kind, issue, hash) of the events. A person's events reach the
    issue's recipients through their subscriber row (events.subscriber_id -> subscribers.email =
    recipients.email), so no address is hashed or brought into Python.
    """
    query = _health_query()
    if issue_ids is not None:
        query = query.where(t.runs.c.issue_id.in_(list(issue_ids)))
    with reading(engine) as connection:
        rows = connection.execute(query).all()
    found = {}
    for row in rows:
        figures = Health(
            issue_id=row.issue_id,
            sent_at=row.started_at,
            sent=row.sent,
            delivered=row.sent - row.sent_reported,
            hard_bounces=row.bounced + row.refused - row.bounced_refused,
            soft_bounces=row.soft,
            complaints=row.complaints,
            unsubscribes=row.unsubscribes,
            warnings=(),
            refused=row.refused,
            unverified=row.unverified,
        )
        found[row.issue_id] = replace(figures, warnings=health_warnings(figures))
    return found


def _health_query() -> Select[Any]:
    """One row per run: the counts its Health is made of, each a correlated subquery on an index."""
    run, r, s = t.runs, t.recipients, t.subscribers

    def in_state(state: RecipientState) -> Any:
        return (
            select(func.count())
            .select_from(r)
            .where(r.c.issue_id == run.c.issue_id, r.c.state == state.value)
            .scalar_subquery()
        )

    def reports(*kinds: EventKind) -> Any:
        e = t.events.alias()
        # `|| ""` takes the column's text affinity off the comparison: SQLite would otherwise not use the
        # expression index (its values carry no affinity) and scan every report of the kind.
        about = ReportIssue(e.c.detail) == run.c.issue_id.concat("")
        return e, about & e.c.kind.in_([k.value for k in kinds])

    def people(e: Any, where: Any, *states: RecipientState) -> Any:
        """How many of the people with events `e` matching `where` are recipients of the run in `states`."""
        return (
            select(func.count(e.c.email_hash.distinct()))
            .select_from(e.join(s, s.c.id == e.c.subscriber_id))
            .join(r, (r.c.issue_id == run.c.issue_id) & (r.c.email == s.c.email))
            .where(where, r.c.state.in_([x.value for x in states]))
            .scalar_subquery()
        )

    def distinct(e: Any, where: Any) -> Any:
        return select(func.count(e.c.email_hash.distinct())).where(where).scalar_subquery()

    hard, hard_about = reports(EventKind.BOUNCED)
    soft, soft_about = reports(EventKind.SOFT_BOUNCED)
    also_hard, also_hard_about = reports(EventKind.BOUNCED)
    refused_recipient = (
        select(r.c.id)
        .join(s, s.c.email == r.c.email)
        .where(
            s.c.id == soft.c.subscriber_id,
            r.c.issue_id == run.c.issue_id,
            r.c.state == R.FAILED_PERMANENT.value,
        )
        .correlate(run, soft)  # two levels down: SQLAlchemy correlates only the enclosing query itself
        .exists()
    )
    soft_only = (
        soft_about
        & ~(
            select(also_hard.c.id)
            .where(also_hard_about, also_hard.c.email_hash == soft.c.email_hash)
            .correlate(run, soft)
            .exists()
        )
        & ~refused_recipient
    )
    complained, complained_about = reports(EventKind.COMPLAINED)
    failed, failed_about = reports(EventKind.BOUNCED, EventKind.SOFT_BOUNCED)
    _unverified, unverified_about = reports(EventKind.UNVERIFIED_REPORT)
    left = t.events.alias()
    left_since = (left.c.kind == EventKind.UNSUBSCRIBED.value) & (left.c.at >= run.c.started_at)
    return select(
        run.c.issue_id,
        run.c.started_at,
        in_state(R.SENT).label("sent"),
        in_state(R.FAILED_PERMANENT).label("refused"),
        distinct(hard, hard_about).label("bounced"),
        people(hard, hard_about, R.FAILED_PERMANENT).label("bounced_refused"),
        distinct(soft, soft_only).label("soft"),
        distinct(complained, complained_about).label("complaints"),
        select(func.count()).where(unverified_about).scalar_subquery().label("unverified"),
        people(failed, failed_about, R.SENT).label("sent_reported"),
        people(left, left_since, *R).label("unsubscribes"),
    )


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
