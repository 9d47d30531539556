"""An issue's health after the send: bounces, complaints and unsubscribes against the services' thresholds.

The thresholds are the published ones: Amazon SES reviews an account at a 5 % bounce rate or a
0.1 % complaint rate and may pause it at 10 % or 0.5 %; Gmail asks for a spam rate under 0.1 % and
never 0.3 %. Rates are over the attempts: the messages the provider accepted plus the addresses it
refused as unknown during the send (so a rate never passes 100 %). `bounce_pause` is the rule a run
applies to itself while sending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, case, func, select

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
REPORTS = (EventKind.BOUNCED, EventKind.SOFT_BOUNCED, EventKind.COMPLAINED)  # what reports about an issue
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
    unsubscribes: int  # recipients of the issue who unsubscribed after it, before the next issue
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


def issues_health(
    engine: Engine,
    issue_ids: Iterable[str] | None = None,
    counts: Mapping[str, Mapping[RecipientState, int]] | None = None,
) -> dict[str, Health]:
    """The figures of the chosen issues' runs (every run when None), in one query whatever their number.

    `counts` (each issue's recipients per state, as `status` has them already) spares the query
    counting the sent and refused recipients of each run again.

    The database counts: recipients by state through the ledger's (issue, state) index, reports about
    an issue through the index on (kind, issue, hash) of the events. A person's events reach the
    issue's recipients through their subscriber row (events.subscriber_id -> subscribers.email =
    recipients.email), so no address is hashed or brought into Python.
    """
    query = _health_query(None if issue_ids is None else list(issue_ids), counted=counts is None)
    with reading(engine) as connection:
        rows = connection.execute(query).all()
    found = {}
    for row in rows:
        if counts is None:
            sent, refused = row.sent, row.refused
        else:
            held = counts.get(row.issue_id, {})
            sent, refused = held.get(R.SENT, 0), held.get(R.FAILED_PERMANENT, 0)
        figures = Health(
            issue_id=row.issue_id,
            sent_at=row.started_at,
            sent=sent,
            delivered=sent - row.sent_reported,
            hard_bounces=row.bounced + refused - row.bounced_refused,
            soft_bounces=row.soft,
            complaints=row.complaints,
            unsubscribes=row.unsubscribes,
            warnings=(),
            refused=refused,
            unverified=row.unverified,
        )
        found[row.issue_id] = replace(figures, warnings=health_warnings(figures))
    return found


def _health_query(issue_ids: list[str] | None = None, counted: bool = True) -> Select[Any]:
    """One row per run (of `issue_ids`, or all): the counts its Health is made of (the sent and refused
    recipients only when `counted`).

    Each report about an issue (bounce, complaint) is looked up once, with the reported person's state
    in that issue's run, and folded per person and then per issue; each unsubscribe since a run's start
    is looked up in that run's recipients through the (issue, email) index alone.
    """
    run, r, s, e = t.runs, t.recipients, t.subscribers, t.events
    about = ReportIssue(e.c.detail)
    reports = (
        select(about.label("issue_id"), e.c.email_hash, e.c.kind, r.c.state)
        .select_from(e)
        .outerjoin(s, s.c.id == e.c.subscriber_id)
        .outerjoin(r, (r.c.issue_id == about) & (r.c.email == s.c.email))
        .where(e.c.kind.in_([k.value for k in REPORTS]))
    )
    if issue_ids is not None:
        reports = reports.where(about.in_(issue_ids))
    reported = reports.cte("reports")

    def has(condition: Any) -> Any:
        return func.max(case((condition, 1), else_=0))

    person = (
        select(
            reported.c.issue_id,
            has(reported.c.kind == EventKind.BOUNCED.value).label("hard"),
            has(reported.c.kind == EventKind.SOFT_BOUNCED.value).label("soft"),
            has(reported.c.kind == EventKind.COMPLAINED.value).label("complained"),
            has(reported.c.state == R.FAILED_PERMANENT.value).label("refused"),
            has(reported.c.state == R.SENT.value).label("sent"),
        )
        .group_by(reported.c.issue_id, reported.c.email_hash)
        .cte("people")
    )

    def people(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    hard, soft, refused, sent = (
        (person.c.hard == 1),
        (person.c.soft == 1),
        (person.c.refused == 1),
        (person.c.sent == 1),
    )
    figures = (
        select(
            person.c.issue_id,
            people(hard).label("bounced"),
            people(hard & refused).label("bounced_refused"),
            people(soft & ~hard & ~refused).label("soft"),
            people(person.c.complained == 1).label("complaints"),
            people(sent & (hard | soft)).label("sent_reported"),
        )
        .group_by(person.c.issue_id)
        .cte("figures")
    )
    left = (  # everyone who unsubscribed, with when: a few thousand rows, read once
        select(e.c.email_hash, e.c.at, s.c.email)
        .join(s, s.c.id == e.c.subscriber_id)
        .where(e.c.kind == EventKind.UNSUBSCRIBED.value)
        .cte("unsubscribed")
        .prefix_with("MATERIALIZED")
    )
    # An unsubscribe counts for the last issue sent before it, if its recipient received that issue: a
    # run's period lasts until the next run of its kind starts (a correction sent in between does not
    # end an issue's). One (issue, email) index probe per unsubscribe.
    kind = run.c.issue_id.startswith(t.CORRECTION_RUN)
    periods = select(
        run.c.issue_id,
        func.lead(run.c.started_at).over(partition_by=kind, order_by=run.c.started_at).label("until"),
    ).cte("periods")
    recipient = (
        select(r.c.id)
        .where(r.c.issue_id == run.c.issue_id, r.c.email == left.c.email)
        .correlate(run, left)
        .exists()
    )
    unsubscribes = (
        select(func.count(left.c.email_hash.distinct()))
        .where(
            left.c.at >= run.c.started_at,
            (periods.c.until.is_(None)) | (left.c.at < periods.c.until),
            recipient,
        )
        .correlate(run, periods)
        .scalar_subquery()
        .label("unsubscribes")
    )

    def figure(column: Any) -> Any:
        return func.coalesce(column, 0).label(column.name)

    counts = (
        [in_state(R.SENT).label("sent"), in_state(R.FAILED_PERMANENT).label("refused")] if counted else []
    )
    # reports that proved nothing, counted under the issue sent most recently when each arrived; `|| ""`
    # takes the column's text affinity off the comparison, so SQLite uses the expression index
    odd = t.events.alias()
    unverified = (
        select(func.count())
        .where(
            odd.c.kind == EventKind.UNVERIFIED_REPORT.value,
            ReportIssue(odd.c.detail) == run.c.issue_id.concat(""),
        )
        .scalar_subquery()
        .label("unverified")
    )
    query = select(
        run.c.issue_id,
        run.c.started_at,
        *counts,
        *[figure(c) for c in figures.c if c.name != "issue_id"],
        unsubscribes,
        unverified,
    ).select_from(
        run.join(periods, periods.c.issue_id == run.c.issue_id).outerjoin(
            figures, figures.c.issue_id == run.c.issue_id
        )
    )
    return query if issue_ids is None else query.where(run.c.issue_id.in_(issue_ids))


def in_state(state: RecipientState) -> Any:
    """How many recipients of the run in the enclosing query are in `state` (the (issue, state) index)."""
    r = t.recipients
    return (
        select(func.count())
        .select_from(r)
        .where(r.c.issue_id == t.runs.c.issue_id, r.c.state == state.value)
        .scalar_subquery()
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
            .where(t.runs.c.issue_id != issue_id, ~t.runs.c.issue_id.startswith(t.CORRECTION_RUN))
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
