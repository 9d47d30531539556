"""The query shapes that keep `status` quick at any size: the database counts, Python never walks rows.

Statements are counted with SQLAlchemy's `before_cursor_execute` hook, on SQLite and PostgreSQL:
`status` of an issue is a handful of statements, the health of N issues one statement, and the
health query reaches the reports through their index (the expression must match it exactly).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from delivery_helpers import move_files_in
from sqlalchemy import Engine, event, insert, text

from newsletter.bounces.health import _health_query, issues_health
from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.engine import writing
from newsletter.db.schema import EventKind, RecipientState
from newsletter.db.state import forget, open_state
from newsletter.delivery.status import issue_status
from newsletter.store.config import load_settings

R = RecipientState
STATES = [R.SENT] * 7 + [R.FAILED_PERMANENT, R.FAILED_TRANSIENT, R.SKIPPED]


# A sending worker's lease, which the ledger takes even to read (PostgreSQL): not `status`'s own work.
LEASE = ("SELECT pg_try_advisory_lock", "SELECT pg_advisory_unlock", "UPDATE recipients SET claimed_by")


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            seen.append(" ".join(statement.split())[:90])

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def sent_issues(engine: Engine, issues: int, readers: int = 20) -> None:
    """`issues` runs to the same `readers` subscribers, with bounces, complaints and unsubscribes."""
    start = t.now() - timedelta(days=60)
    emails = [f"reader{n}@example.org" for n in range(readers)]
    with writing(engine) as connection:
        people = (
            connection.execute(
                insert(t.subscribers).returning(t.subscribers.c.id, sort_by_parameter_order=True),
                [{"email": e, "email_key": e, "created_at": start, "updated_at": start} for e in emails],
            )
            .scalars()
            .all()
        )
        for n in range(issues):
            issue, at = f"2026-{n + 1:02d}", start + timedelta(days=n)
            connection.execute(
                insert(t.runs).values(
                    issue_id=issue, state="finished", provider="smtp", started_at=at, updated_at=at
                )
            )
            connection.execute(
                insert(t.recipients),
                [
                    {
                        "issue_id": issue,
                        "email": e,
                        "state": STATES[i % len(STATES)].value,
                        "added_at": at,
                        "updated_at": at,
                    }  # fmt: skip
                    for i, e in enumerate(emails)
                ],
            )
            reports = [(0, EventKind.BOUNCED), (1, EventKind.SOFT_BOUNCED), (0, EventKind.SOFT_BOUNCED),
                       (2, EventKind.COMPLAINED), (7, EventKind.BOUNCED),
                       (5, EventKind.SOFT_BOUNCED)]  # fmt: skip
            if n == issues - 1:  # reader 5's mailbox is gone by the last issue: not counted in the others
                reports.append((5, EventKind.BOUNCED))
            events.record_many(
                connection,
                [
                    events.event_row(connection, people[i], emails[i], kind, "test", {"issue": issue}, at)
                    for i, kind in reports
                ],
            )
        events.record(connection, people[3], emails[3], EventKind.UNSUBSCRIBED, "one-click", {}, t.now())


@pytest.fixture
def settings(workspace: Path, db_url: str):
    path = workspace / "newsletter.yaml"
    path.write_text(path.read_text() + f"database: {db_url}\n")
    move_files_in(workspace)
    loaded = load_settings(workspace)
    yield loaded
    forget(loaded)


def test_status_of_one_issue_is_a_handful_of_statements_whatever_the_size(settings):
    engine = open_state(settings)
    sent_issues(engine, 6)

    with statements(engine) as seen:
        [status] = issue_status(settings, "2026-03")

    # The run, its counts (one GROUP BY), its failures and its health: nothing per recipient.
    reads = [s for s in seen if not s.startswith(LEASE)]
    assert len(reads) <= 4, "\n".join(seen)
    assert status.counts[R.SENT] == 14 and status.counts[R.FAILED_PERMANENT] == 2
    health = status.health
    assert health is not None
    # readers 0 and 7 bounced (7 was also refused), 1 and 5 soft-bounced (5 bounced hard only in a later
    # issue), 2 complained, 3 left after the send
    assert (health.sent, health.refused, health.hard_bounces, health.soft_bounces) == (14, 2, 3, 2)
    assert (health.delivered, health.complaints, health.unsubscribes) == (11, 1, 1)


def test_the_health_of_many_issues_is_one_statement(db):
    sent_issues(db, 1)
    with statements(db) as one:
        assert len(issues_health(db)) == 1
    sent_more = 24
    with writing(db) as connection:
        connection.execute(t.recipients.delete())
        connection.execute(t.events.delete())
        connection.execute(t.runs.delete())
        connection.execute(t.subscribers.delete())
    sent_issues(db, sent_more)
    with statements(db) as many:
        assert len(issues_health(db)) == sent_more
    assert len(one) == len(many) == 1


def test_the_health_query_reaches_reports_through_their_index(db):
    sent_issues(db, 2)
    sql = str(_health_query().compile(db, compile_kwargs={"literal_binds": True}))
    with db.connect() as connection:
        if db.dialect.name == "postgresql":
            connection.execute(
                text("SET enable_seqscan = off")
            )  # tiny tables: make the planner show its options
            plan = "\n".join(connection.execute(text(f"EXPLAIN {sql}")).scalars())
        else:
            plan = "\n".join(str(row[-1]) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    assert "ix_events_kind_issue_email_hash" in plan, plan
    if db.dialect.name == "sqlite":  # by kind AND issue: by kind alone it reads every report of the kind
        assert "ix_events_kind_issue_email_hash (kind=? AND <expr>=?)" in plan, plan
        assert "(kind=?)" not in plan, plan
