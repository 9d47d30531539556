"""Who received a summary, by the ledger: the readers a correction goes to.

A reader received the summary when an issue run that carried it (`issue_summaries`) has their row
as `sent`, or as `unknown` (the message was with the provider when a run stopped: they may have
got it, and a correction they did not need costs less than a wrong caution they keep), and the
edition their row was sent in (recomputed from the issue's file and the topics and text size the
row holds) carried it. Readers who left since (unsubscribed, bounced, complained, suppressed,
erased) are left out; a paused reader is not: a correction is about what they already have.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from newsletter.compose.reader import edition_for
from newsletter.db import schema as t
from newsletter.db.addresses import address_key
from newsletter.db.engine import reading
from newsletter.db.rows import suppression_of
from newsletter.db.schema import OPTED_OUT, RecipientState, Status
from newsletter.delivery.records import NewRecipient
from newsletter.errors import NewsletterError
from newsletter.store import issues
from newsletter.store.models import Issue, Summary
from newsletter.store.topics import Taxonomy

RECEIVED = (RecipientState.SENT.value, RecipientState.UNKNOWN.value)
NOT_IN_EDITION, LEFT, SUPPRESSED = "not in their edition", "unsubscribed since", "suppressed or erased since"


@dataclass(frozen=True)
class Receivers:
    """The readers a correction goes to, and the counts of those left out, by reason."""

    recipients: tuple[NewRecipient, ...]
    issues: tuple[tuple[str, str], ...]  # (issue id, title) of the issue runs that carried the summary
    left_out: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what the editor should know (an issue file gone: its whole audience)


def issue_runs_with(connection: Connection, summary_id: str) -> list[str]:
    """The runs that carried the summary, oldest first (a correction's own run carries none)."""
    s, runs = t.issue_summaries, t.runs
    return list(
        connection.execute(
            select(s.c.issue_id)
            .join(runs, runs.c.issue_id == s.c.issue_id)
            .where(s.c.summary_id == summary_id)
            .order_by(runs.c.started_at, runs.c.issue_id)
        ).scalars()
    )


def _issue_file(workspace: Path, issue_id: str) -> tuple[Issue, dict[str, Summary]] | None:
    try:
        return issues.load_issue_content(workspace, issue_id)
    except NewsletterError:
        return None


def _still_here(connection: Connection, emails: Iterable[str]) -> dict[str, str]:
    """Address key -> "" for a reader still subscribed somewhere, else the reason they are left out."""
    wanted = {address_key(e): e for e in emails}
    status: dict[str, set[str]] = {key: set() for key in wanted}
    keys = list(wanted)
    for start in range(0, len(keys), 500):
        rows = connection.execute(
            select(t.subscribers.c.email_key, t.memberships.c.status)
            .join(t.memberships, t.memberships.c.subscriber_id == t.subscribers.c.id)
            .where(t.subscribers.c.email_key.in_(keys[start : start + 500]))
        )
        for key, state in rows:
            status[key].add(state)
    verdict = {}
    for key, email in wanted.items():
        if "@" not in email or suppression_of(connection, email) is not None:  # erased: a hash is left
            verdict[key] = SUPPRESSED
        elif status[key] & {s.value for s in OPTED_OUT} or Status.SUBSCRIBED.value not in status[key]:
            verdict[key] = LEFT  # an opt-out anywhere wins; no subscribed membership left at all
        else:
            verdict[key] = ""
    return verdict


def who_received(engine: Engine, workspace: Path, summary_id: str, taxonomy: Taxonomy) -> Receivers:
    """Everyone the ledger says received `summary_id` in any issue or edition and who is still here."""
    r = t.recipients
    left: Counter[str] = Counter()
    notes: list[str] = []
    carried: list[tuple[str, str]] = []
    chosen: dict[str, NewRecipient] = {}
    missed: set[str] = set()  # readers whose edition of some issue did not carry it
    with reading(engine) as connection:
        for issue_id in issue_runs_with(connection, summary_id):
            loaded = _issue_file(workspace, issue_id)
            if loaded is None:
                notes.append(
                    f"issues/{issue_id}.yaml does not load: everyone its run reached is counted as having "
                    "got the summary (their edition cannot be recomputed)"
                )
            carried.append((issue_id, loaded[0].title if loaded else issue_id))
            rows = connection.execute(
                select(
                    r.c.email,
                    r.c.list_name,
                    r.c.name,
                    r.c.first_name,
                    r.c.topics,
                    r.c.large_text,
                    r.c.subscribed_at,
                )
                .where(r.c.issue_id == issue_id, r.c.state.in_(RECEIVED))
                .order_by(r.c.id)
            )
            for row in rows:
                topics = tuple(x for x in row.topics.split(";") if x)
                key = address_key(row.email)
                if loaded is not None:
                    issue, summaries = loaded
                    edition = edition_for(topics, issue, summaries, taxonomy, bool(row.large_text))
                    if edition.items is not None and summary_id not in edition.items:
                        missed.add(key)
                        continue
                if key not in chosen:
                    # The correction names no topics: the new row keeps none (they are health data).
                    chosen[key] = NewRecipient(
                        row.email,
                        row.list_name,
                        row.name,
                        (),
                        row.subscribed_at,
                        row.first_name,
                        bool(row.large_text),
                    )
        verdict = _still_here(connection, [p.email for p in chosen.values()])
    left[NOT_IN_EDITION] = len(missed - set(chosen))
    kept = []
    for key, person in chosen.items():
        if verdict[key]:
            left[verdict[key]] += 1
        else:
            kept.append(person)
    return Receivers(tuple(kept), tuple(carried), dict(left), tuple(notes))
