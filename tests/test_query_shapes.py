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
        # reader 4 leaves between the third issue and the fourth, reader 3 after the last
        left = start + timedelta(days=2, hours=12)
        events.record(connection, people[4], emails[4], EventKind.UNSUBSCRIBED, "one-click", {}, left)
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
    # issue), 2 complained, 4 left before the next issue (3 left after a later one: that one's figure)
    assert (health.sent, health.refused, health.hard_bounces, health.soft_bounces) == (14, 2, 3, 2)
    assert (health.delivered, health.complaints, health.unsubscribes) == (11, 1, 1)
    unsubscribes = {s.run.issue_id: s.health.unsubscribes for s in issue_status(settings) if s.health}
    assert unsubscribes == {
        "2026-01": 0,
        "2026-02": 0,
        "2026-03": 1,
        "2026-04": 0,
        "2026-05": 0,
        "2026-06": 1,
    }


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
    sql = str(_health_query(["2026-01"]).compile(db, compile_kwargs={"literal_binds": True}))
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


def test_a_finished_run_keeps_its_counts_and_a_resumed_one_counts_again(db):
    from newsletter.delivery.ledger import Ledger
    from newsletter.delivery.records import NewRecipient

    ledger = Ledger(db)
    emails = [f"reader{n}@example.org" for n in range(4)]
    ledger.start_run("2026-06", "smtp", [], [NewRecipient(e) for e in emails])
    for email in emails[:3]:
        ledger.mark_sent("2026-06", email, f"<{email}>", None)
    ledger.mark_failed("2026-06", emails[3], R.FAILED_PERMANENT.value, "550 no such user")
    ledger.set_run_state("2026-06", "finished")
    with writing(db) as connection:  # the ledger's rows go: only what was kept can still say the counts
        connection.execute(t.recipients.delete())

    with statements(db) as seen:
        counts = ledger.counts_of(["2026-06"])["2026-06"]
    assert (counts[R.SENT], counts[R.FAILED_PERMANENT], counts[R.PENDING]) == (3, 1, 0)
    assert len(seen) == 1

    ledger.reopen_run("2026-06", "smtp")  # a resumed run's rows may change again: counted live
    assert not any(ledger.counts("2026-06").values())


def test_the_failures_of_many_issues_are_one_statement_in_the_order_they_were_added(db):
    from newsletter.delivery.ledger import Ledger

    sent_issues(db, 3)
    ledger = Ledger(db)
    with statements(db) as seen:
        failures = ledger.failures_of(["2026-01", "2026-02", "2026-03"], limit=2)
    assert len(seen) == 1
    # readers 7, 8 and 9 of each issue failed or were skipped; the first two of each are shown
    assert {issue: [(f.email, f.state) for f in found] for issue, found in failures.items()} == {
        issue: [("reader7@example.org", R.FAILED_PERMANENT), ("reader8@example.org", R.FAILED_TRANSIENT)]
        for issue in ("2026-01", "2026-02", "2026-03")
    }
    assert [f.email for f in ledger.failures("2026-01")] == [
        f"reader{n}@example.org" for n in (7, 8, 9, 17, 18, 19)
    ]


def test_the_editions_of_the_audience_are_one_group_by_that_agrees_with_the_stream(db):
    from collections import Counter

    from newsletter.db.audience import audience_editions, iter_audience
    from newsletter.db.schema import Status
    from newsletter.db.subscribers import add_subscriber
    from newsletter.db.suppression import unsubscribe

    people = {
        "ana@example.org": ["MRI", "Caregivers"],
        "ben@example.org": ["Caregivers", "MRI"],  # the same topics in another order: another edition
        "cy@example.org": ["MRI", "Caregivers"],  # in larger text, below
        "dee@example.org": [],
        "eve@example.org": ["MRI"],  # unsubscribes, below
        "fay@example.org": ["MRI", "Caregivers"],
    }
    for email, topics in people.items():
        add_subscriber(db, email, topics=topics)
    add_subscriber(db, "gil@example.org", topics=["Gut"], status=Status.PENDING)
    unsubscribe(db, "eve@example.org", "one-click")
    with writing(db) as connection:
        connection.execute(
            t.subscribers.update().where(t.subscribers.c.email == "cy@example.org").values(large_text=True)
        )

    with statements(db) as seen:
        editions = audience_editions(db)

    assert len(seen) == 1
    assert editions == {
        (("MRI", "Caregivers"), False): 2,
        (("Caregivers", "MRI"), False): 1,
        (("MRI", "Caregivers"), True): 1,
        ((), False): 1,
    }
    assert editions == Counter((m.topics, m.large_text) for m in iter_audience(db))


def test_the_audience_counted_in_one_statement_is_the_one_the_send_streams(db):
    from dataclasses import asdict

    from newsletter.db.audience import AudienceTally, iter_audience, tally_audience
    from newsletter.db.schema import Status
    from newsletter.db.subscribers import add_subscriber
    from newsletter.db.suppression import mark_bounced, suppress, unsubscribe

    add_subscriber(db, "ana@example.org", list_name="readers")
    add_subscriber(db, "ana@example.org", list_name="clinicians")
    add_subscriber(db, "ben@example.org", list_name="clinicians")
    add_subscriber(db, "cy@example.org", list_name="readers", status=Status.PENDING)
    add_subscriber(db, "cy@example.org", list_name="clinicians")
    add_subscriber(db, "dee@example.org", list_name="readers")
    add_subscriber(db, "dee@example.org", list_name="clinicians")
    unsubscribe(db, "dee@example.org", "one-click", ["readers"])  # an opt-out anywhere wins
    add_subscriber(db, "eve@example.org", list_name="readers")
    mark_bounced(db, "eve@example.org", "550 no such user")
    add_subscriber(db, "fay@example.org", list_name="clinicians")
    suppress(db, "fay@example.org", "asked by phone")
    with writing(db) as connection:
        connection.execute(
            t.subscribers.update()
            .where(t.subscribers.c.email == "ben@example.org")
            .values(paused_until=t.now() + timedelta(days=30))
        )

    for lists in (None, ["readers"], ["clinicians"], ["clinicians", "readers"]):
        streamed = AudienceTally()
        members = list(iter_audience(db, lists, streamed))
        with statements(db) as seen:
            counted = tally_audience(db, lists)
        assert asdict(counted) == asdict(streamed), lists
        assert counted.recipients == len(members) and len(seen) == 1 + (lists is not None), lists
    assert (counted.unsubscribed, counted.bounced, counted.suppressed, counted.paused) == (1, 1, 1, 1)


def test_the_failures_come_from_the_issue_state_index_even_when_nearly_every_row_is_sent(db):
    """With statistics saying nearly every recipient is `sent`, ordering by id tempted SQLite to walk the
    whole ledger in id order; numbered per issue, the few failed rows come from the (issue, state) index."""
    from newsletter.delivery.ledger import Ledger

    if db.dialect.name != "sqlite":
        pytest.skip("the plan checked is SQLite's (PostgreSQL's planner counts rows itself)")
    sent_issues(db, 24, readers=100)
    with writing(db) as connection:
        connection.execute(
            t.recipients.update().where(t.recipients.c.state != R.FAILED_PERMANENT.value).values(state="sent")
        )
        connection.execute(text("ANALYZE"))
    seen: list[tuple[str, object]] = []

    def note(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        seen.append((statement, parameters))

    event.listen(db, "before_cursor_execute", note)
    try:
        Ledger(db).failures_of(["2026-02"], limit=20)
    finally:
        event.remove(db, "before_cursor_execute", note)
    [(sql, parameters)] = [(s, p) for s, p in seen if "last_error" in s]
    with db.connect() as connection:
        plan = "\n".join(
            str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
        )
    assert "ix_recipients_issue_id_state_id (issue_id=? AND state=?)" in plan, plan
    assert "SCAN recipients" not in plan, plan
