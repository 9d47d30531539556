"""Decisions on matched notifications: suppress a hard bounce or a complaint, count a soft bounce.

Each decision is one event in the person's log carrying the evidence (status code, diagnostic,
notification id, how it was matched). The notification id makes it idempotent: a notice seen
again records nothing new, but the suppression it calls for is still made sure of, so a crash
between the two steps heals on the next run.

A report dated before the reader's latest opt-in is recorded and never acted on: it is about an
address the person has since proved is theirs again (a late or replayed report must not undo that).
The date is the provider's event time when it gives one, else when the reported message was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, Engine, func, select

from newsletter.bounces.classify import Kind, meaning
from newsletter.bounces.mapping import Match
from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.engine import writing
from newsletter.db.rows import subscriber_id
from newsletter.db.schema import EventKind
from newsletter.db.suppression import mark_bounced, mark_complained

EVIDENCE_KINDS = {
    Kind.HARD: EventKind.BOUNCED,
    Kind.SOFT: EventKind.SOFT_BOUNCED,
    Kind.COMPLAINT: EventKind.COMPLAINED,
}


class Outcome(StrEnum):
    SUPPRESSED = "suppressed"
    COUNTED = "counted"
    ALREADY = "already recorded"
    BEFORE_OPT_IN = "not acted on"


@dataclass(frozen=True)
class Limits:
    soft_limit: int = 3  # soft bounces in different issues ...
    soft_window_issues: int = 5  # ... among the last this many issues


@dataclass(frozen=True)
class Decision:
    notification_id: str
    issue_id: str
    email: str
    kind: Kind
    status: str
    diagnostic: str
    via: str
    outcome: Outcome
    note: str  # what was decided, in words (also in the event log)


def decide(
    engine: Engine,
    match: Match,
    notification_id: str,
    source: str,
    limits: Limits,
    reported_at: datetime | None = None,
) -> Decision:
    """Record one matched failure and act on it; the same notification twice counts once.

    `reported_at` is when the provider says it happened; without it, when the message was sent.
    """
    failure = match.failure
    with writing(engine) as connection:
        seen = _already(connection, match.email, notification_id)
        moment = reported_at or _sent_at(connection, match)
        opted_in = _latest_opt_in(connection, match.email)
        stale = moment is not None and opted_in is not None and moment < opted_in
        soft_issues = 0
        if failure.kind == Kind.SOFT and not stale:
            issues = _soft_issues(connection, match.email, limits)
            if not seen:
                issues |= _recent({match.issue_id}, connection, limits)
            soft_issues = len(issues)
        suppress = not stale and (failure.kind != Kind.SOFT or soft_issues >= limits.soft_limit)
        note = _note(failure.kind, suppress, soft_issues, limits) if not stale else STALE_NOTE
        if not seen:
            events.record(
                connection,
                subscriber_id(connection, match.email),
                match.email,
                EVIDENCE_KINDS[failure.kind],
                source,
                _evidence(match, notification_id, note),
            )
    # The suppression runs after the evidence is committed, and again on a repeat (a no-op then).
    reason = f"{failure.kind} bounce {failure.status} in issue {match.issue_id}: {failure.diagnostic[:200]}"
    if suppress and failure.kind == Kind.COMPLAINT:
        mark_complained(engine, match.email, f"complaint ({failure.status}), issue {match.issue_id}", source)
    elif suppress:
        mark_bounced(engine, match.email, reason, source)
    outcome = Outcome.SUPPRESSED if suppress else Outcome.BEFORE_OPT_IN if stale else Outcome.COUNTED
    return Decision(
        notification_id, match.issue_id, match.email, failure.kind, failure.status, failure.diagnostic,
        match.via, Outcome.ALREADY if seen else outcome, note,
    )  # fmt: skip


STALE_NOTE = "not acted on: dated before the reader's latest opt-in"


def _sent_at(connection: Connection, match: Match) -> datetime | None:
    return connection.execute(
        select(t.recipients.c.sent_at).where(
            t.recipients.c.issue_id == match.issue_id, t.recipients.c.email == match.email
        )
    ).scalar()


def _latest_opt_in(connection: Connection, email: str) -> datetime | None:
    """When the address last subscribed (signed up, confirmed, or came back after leaving)."""
    return connection.execute(
        select(func.max(t.events.c.at)).where(
            t.events.c.email_hash == events.hash_of(connection, email),
            t.events.c.kind.in_([EventKind.SUBSCRIBED.value, EventKind.CONFIRMED.value]),
        )
    ).scalar()


def _note(kind: Kind, suppress: bool, soft_issues: int, limits: Limits) -> str:
    window = f"the last {limits.soft_window_issues} issues"
    if kind != Kind.SOFT:
        return f"suppressed at once ({'complaint' if kind == Kind.COMPLAINT else 'hard bounce'})"
    if suppress:
        return f"suppressed: soft bounces in {soft_issues} of {window}"
    return f"counted: soft bounces in {soft_issues} of {window} (suppressed at {limits.soft_limit})"


def _evidence(match: Match, notification_id: str, note: str) -> dict[str, str]:
    failure = match.failure
    return {
        "notification": notification_id,
        "issue": match.issue_id,
        "class": failure.kind.value,
        "status": failure.status,
        "meaning": meaning(failure.status) if failure.kind != Kind.COMPLAINT else "a complaint",
        "diagnostic": failure.diagnostic[:500],
        "reported_address": failure.email,
        "matched_by": match.via,
        "decision": note,
    }


def _already(connection: Connection, email: str, notification_id: str) -> bool:
    digest = events.hash_of(connection, email)
    found = connection.execute(
        select(t.events.c.id)
        .where(
            t.events.c.email_hash == digest,
            t.events.c.kind.in_([k.value for k in EVIDENCE_KINDS.values()]),
            t.events.c.detail["notification"].as_string() == notification_id,
        )
        .limit(1)
    ).first()
    return found is not None


def _recent_issues(connection: Connection, limits: Limits) -> list[str]:
    query = select(t.runs.c.issue_id).order_by(t.runs.c.started_at.desc()).limit(limits.soft_window_issues)
    return list(connection.execute(query).scalars())


def _recent(issues: set[str], connection: Connection, limits: Limits) -> set[str]:
    """Those of the issues among the last M (a late report about an old issue counts for nothing)."""
    return issues & set(_recent_issues(connection, limits))


def _soft_issues(connection: Connection, email: str, limits: Limits) -> set[str]:
    """The issues among the last M in which this address soft-bounced (several in one issue count once)."""
    issue = t.events.c.detail["issue"].as_string()
    rows = connection.execute(
        select(issue)
        .where(
            t.events.c.email_hash == events.hash_of(connection, email),
            t.events.c.kind == EventKind.SOFT_BOUNCED.value,
            t.events.c.detail["decision"].as_string() != STALE_NOTE,
        )
        .distinct()
    ).scalars()
    return _recent({str(r) for r in rows}, connection, limits)
