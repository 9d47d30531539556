"""The delivery ledger as a workspace uses it: carried summaries, and every fault of its file in one line.

The ledger's own semantics (states, crash recovery, claims, locks) are in test_db_ledger.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.db.engine import DatabaseError, database_url, open_engine
from newsletter.delivery import history
from newsletter.delivery import ledger as lg
from newsletter.delivery.records import NewRecipient, RecipientState


def people(*emails: str) -> list[NewRecipient]:
    return [NewRecipient(email, "members", email.split("@")[0].title(), ("Microglia",)) for email in emails]


def test_carried_summaries_reads_the_ledger_named_in_a_workspaces_settings(workspace):
    from delivery_helpers import workspace_ledger

    from newsletter.store.config import load_settings

    with workspace_ledger(workspace) as ledger:
        ledger.start_run("2026-06", "outbox", ["cd29"], people("ann@example.org"))
        ledger.mark_sent("2026-06", "ann@example.org", "<m@example.org>", None)

    assert history.carried_summaries(load_settings(workspace)) == {"cd29"}


def test_without_a_ledger_nothing_was_carried(workspace):
    from newsletter.store.config import load_settings

    assert history.carried_summaries(load_settings(workspace)) == set()


def sqlite_engine(folder: Path, busy_timeout: float = 30.0):
    from newsletter.db.revisions import upgrade

    engine = open_engine(database_url(folder, None, {}), busy_timeout=busy_timeout)
    upgrade(engine)
    return engine


# -- issue 14: every fault of the database file is one line, and nothing is changed ---------------------


def invoke(workspace: Path, *args: str):
    from factories import invoke

    env = {"NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"}
    return invoke(["-w", str(workspace), *args], env=env)


@pytest.fixture
def ready(workspace: Path) -> Path:
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 3)
    return workspace


def state_file(workspace: Path) -> Path:
    return workspace / ".newsletter" / "state.sqlite3"


def test_a_damaged_ledger_is_one_line_and_left_as_it_was(ready):
    from delivery_helpers import snapshot

    path = state_file(ready)
    path.parent.mkdir()
    path.write_bytes(b"this is not a database\n" * 100)
    before = snapshot(ready)

    for args in (["send", "2026-06", "--yes"], ["status"], ["send-due"]):
        result = invoke(ready, *args)
        assert result.exit_code == 1, result.output
        damaged = "is not a SQLite database or is damaged; restore it from a backup"
        assert result.output.startswith(f"Error: {path} {damaged}") and result.output.count("\n") == 1
    assert snapshot(ready) == before


def test_a_ledger_folder_that_cannot_exist_is_one_line(ready):
    from delivery_helpers import snapshot

    settings_file = ready / "newsletter.yaml"
    (ready / "blocker").write_text("a file where the database's folder should be\n")
    settings_file.write_text(settings_file.read_text() + "database: blocker/state.sqlite3\n")
    before = snapshot(ready)

    result = invoke(ready, "send", "2026-06", "--yes")

    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {ready / 'blocker'}: cannot create the database folder")
    assert len(result.output.splitlines()) == 1 and snapshot(ready) == before


def test_a_ledger_another_process_is_writing_is_one_line_after_the_wait(tmp_path):
    import sqlite3

    with lg.Ledger(sqlite_engine(tmp_path)) as ledger:
        ledger.start_run("2026-06", "outbox", [], people("ann@example.org"))
    impatient = open_engine(database_url(tmp_path, None, {}), busy_timeout=0.1)
    other = sqlite3.connect(tmp_path / ".newsletter" / "state.sqlite3", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with (
            lg.Ledger(impatient) as waiting,
            pytest.raises(DatabaseError, match="is locked by another process .* wait for it to finish"),
        ):
            waiting.mark_sent("2026-06", "ann@example.org", "<m@example.org>", None)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with lg.Ledger(sqlite_engine(tmp_path)) as ledger:
        assert ledger.counts("2026-06")[RecipientState.PENDING] == 1


def run_bound_by_permissions(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    """The command in a process that file permissions bind: as root, without the capabilities that
    override them (root ignores a read-only file; an operator's account does not)."""
    env = {**os.environ, "NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"}
    command = [sys.executable, "-m", "newsletter", "-w", str(workspace), *args]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_ledger_or_folder_is_one_line_and_unchanged(ready, what):
    from delivery_helpers import snapshot, workspace_ledger

    from newsletter.db.state import forget
    from newsletter.store.config import load_settings

    with workspace_ledger(ready) as ledger:
        ledger.start_run("2026-05", "outbox", [], people("ann@example.org"))
    forget(load_settings(ready))  # closed, so SQLite folds its write-ahead log into the file
    path = state_file(ready)
    for extra in path.parent.glob("*"):
        if extra.is_file() and extra != path:
            extra.unlink()
    (path if what == "file" else path.parent).chmod(0o444 if what == "file" else 0o555)
    before = snapshot(ready)

    result = run_bound_by_permissions(ready, "send", "2026-06", "--yes")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: {path}") and len(result.stderr.splitlines()) == 1
    assert "read-only" in result.stderr or "writable" in result.stderr
    assert snapshot(ready) == before


# -- issue 22: the writer holds what it is handed until a sender waits, and keeps each row's order ------


def test_sendings_handed_over_go_in_one_transaction_when_a_sender_waits(db):
    from sqlalchemy import event

    from newsletter.delivery import writer as w

    ledger = lg.Ledger(db)
    ledger.start_run("2026-06", "outbox", [], people(*(f"r{n}@example.org" for n in range(5))))
    rows = ledger.to_send("2026-06")
    commits: list[int] = []
    event.listen(db, "commit", lambda connection: commits.append(1))
    writer = w.Writer(db, quiet=3600, senders=6).start()  # commits only when a sender waits
    marks = [writer.submit(w.sending_mark(row, ledger.salt, None)) for row in rows]

    assert writer.marked(marks[-1])  # the last waits: everything handed over before it is committed
    assert len(commits) == 1
    assert all(mark.done is not None and mark.done.is_set() and mark.marked for mark in marks)
    assert writer.close() is None


def test_once_every_sender_has_a_sending_handed_over_the_writer_commits_without_a_wait(db):
    from sqlalchemy import event

    from newsletter.delivery import writer as w

    ledger = lg.Ledger(db)
    ledger.start_run("2026-06", "outbox", [], people(*(f"r{n}@example.org" for n in range(2))))
    rows = ledger.to_send("2026-06")
    commits: list[int] = []
    event.listen(db, "commit", lambda connection: commits.append(1))
    writer = w.Writer(db, quiet=3600, senders=2).start()
    marks = [writer.submit(w.sending_mark(row, ledger.salt, None)) for row in rows]

    for mark in marks:  # nobody waits: the second sender's `sending` completes the batch
        assert mark.done is not None
        mark.done.wait()
    assert len(commits) == 1
    assert all(mark.marked for mark in marks)
    assert ledger.counts("2026-06")[RecipientState.SENDING] == 2
    assert writer.close() is None


@pytest.mark.parametrize("retried", [False, True])
def test_a_failure_overtaking_its_rows_sending_in_one_batch_leaves_the_row_as_it_ended(db, retried):
    from newsletter.db.engine import writing
    from newsletter.delivery import writer as w

    ledger = lg.Ledger(db)
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org"))
    (ann,) = ledger.to_send("2026-06")
    # The connection dropped before the sender waited for its `sending`; then, maybe, a retry.
    marks = [
        w.sending_mark(ann, ledger.salt, None),
        w.failed_mark(ann.rowid, RecipientState.FAILED_TRANSIENT, "connection lost", None),
    ]
    if retried:
        marks.append(w.sending_mark(ann, ledger.salt, None))

    with writing(db) as connection:
        w.commit_on(connection, marks)

    row = ledger.row("2026-06", "ann@example.org")
    assert row is not None
    assert row.state == (RecipientState.SENDING if retried else RecipientState.FAILED_TRANSIENT)
    assert row.attempts == (2 if retried else 1)


def test_an_address_twice_in_the_audience_joins_the_run_once(db):
    ledger = lg.Ledger(db)
    stream = people(
        "ann@example.org", "bo@example.org", "ann@example.org", *(f"r{n}@example.org" for n in range(1500))
    )

    added = ledger.start_run("2026-06", "outbox", [], iter(stream))

    assert added == 1502
    assert ledger.counts("2026-06")[RecipientState.PENDING] == 1502
    assert [row.email for row in ledger.to_send("2026-06", limit=3)] == [
        "ann@example.org",
        "bo@example.org",
        "r0@example.org",
    ]
