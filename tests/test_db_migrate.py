"""Moving an old workspace's files into the database once, and a whole SQLite database into PostgreSQL."""

from __future__ import annotations

from old_ledger import old_ledger_with_a_run

from newsletter.db import audience, migrate, revisions
from newsletter.db import subscribers as subs
from newsletter.db import suppression as supp
from newsletter.db.engine import database_url, open_engine
from newsletter.delivery import ledger as lg
from newsletter.delivery import records as rec
from newsletter.store.subscriber_files import topic_vocabulary
from newsletter.store.topics import load_taxonomy

# The sample lists (subscribers/readers.csv): who gets an issue. A "Last, First" name is kept as
# first and last name, so the greeting uses the first name ("Hi Erin,").
SAMPLE_AUDIENCE = [
    ("ana.reader@example.com", "Ana Reader", (), "2025-11-03"),
    ("ben.caregiver@example.org", "Ben Caregiver", ("Caregivers", "Treatments and care"), "2026-01-15"),
    ("chloe.lefevre@example.com", "Chloé Lefèvre", (), "2026-02-20"),
    ("dev.patel@example.org", "Dev Patel", (), "2026-03-08"),
    ("erin.nurse@example.com", "Erin Nurse", (), "2026-04-01"),
]


def test_the_sample_workspace_moves_once_and_the_audience_is_the_same(db, workspace):
    old_ledger_with_a_run(workspace, forced_reason="the editor checked by hand")
    vocabulary = topic_vocabulary(load_taxonomy(workspace))

    report = migrate.migrate_workspace(db, workspace, vocabulary)

    print("\n".join(report.lines()))
    members, tally = audience.load_audience(db)
    assert [(m.email, m.name, m.topics, m.subscribed_at) for m in members] == SAMPLE_AUDIENCE
    assert (tally.unsubscribed, tally.suppressed) == (1, 0)  # Frank unsubscribed (and suppressed)
    assert report.suppressed == 2 and report.runs == 1 and report.recipients == 2 and report.summaries == 1
    assert report.lists[0].invalid == [] and report.lists[0].duplicates == []
    assert supp.is_suppressed(db, "gina.gone@example.com")  # on suppressed.csv only, in no list
    with lg.Ledger(db) as ledger:
        assert ledger.counts("2026-05")[rec.SENT] == 1 and ledger.run("2026-05").note == "killed"
        assert ledger.run("2026-05").forced_reason == "the editor checked by hand"
        assert ledger.doubt_all("2026-05") == 1  # the old crash, recovered
        assert ledger.unknown("2026-05") == ["ben.caregiver@example.org"]
    assert lg.carried_summaries(db) == {"cd29"}
    assert migrate.migrate_workspace(db, workspace, vocabulary).already


def test_what_cannot_move_is_reported_with_file_and_line(db, empty_workspace):
    folder = empty_workspace / "subscribers"
    (folder / "readers.csv").write_text(
        "email,name,topics,status,subscribed_at\nok@example.org,Ok,,subscribed,\n"
        "broken@,Bad,,subscribed,\nOK@example.org,Again,,subscribed,\n"
    )
    (folder / "clinicians.csv").write_text(
        "email,name,topics,status,subscribed_at\nok@example.org,Dr Ok,,bounced,\n"
    )

    report = migrate.migrate_workspace(db, empty_workspace)

    lines = report.lines()
    assert f"  {folder / 'readers.csv'}:3: 'broken@' is not a valid email address: " in "\n".join(lines)
    assert any(":4: OK@example.org repeats line 2; kept the first" in line for line in lines)
    assert audience.load_audience(db)[0] == []  # the bounce in one list wins over the other, as before
    assert sorted(audience.list_names(db)) == ["clinicians", "readers"]


def test_a_whole_sqlite_database_copies_into_postgresql(tmp_path, postgres_url, workspace):
    source = open_engine(database_url(tmp_path, None, {}))
    revisions.upgrade(source)
    old_ledger_with_a_run(workspace)
    migrate.migrate_workspace(source, workspace)
    subs.add_subscriber(source, "erased@example.org")
    supp.erase(source, "erased@example.org")
    target = open_engine(database_url(tmp_path, postgres_url, {}))
    revisions.upgrade(target)

    copied = migrate.copy_database(source, target)

    assert copied == migrate.table_counts(source) == migrate.table_counts(target)
    assert audience.load_audience(target)[0] == audience.load_audience(source)[0]
    assert supp.is_suppressed(target, "erased@example.org")  # the salt came along
    subs.add_subscriber(target, "new@example.org")  # the id sequences moved past the copied rows
    import pytest

    from newsletter.db.engine import DatabaseError

    with pytest.raises(DatabaseError, match="already holds data .*; copy into an empty database"):
        migrate.copy_database(source, target)
