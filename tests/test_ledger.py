"""The delivery ledger: recipient states, crash recovery, carried summaries and the per-issue lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.db import ledger as lg
from newsletter.db.engine import DatabaseError, database_url, open_engine
from newsletter.db.locks import LockedError, issue_lock
from newsletter.delivery import history
from newsletter.delivery.records import NewRecipient, RecipientState, RunState
from newsletter.errors import DeliveryError


@pytest.fixture
def ledger(db):
    """The ledger as one sending worker sees it, on SQLite and then on PostgreSQL."""
    with lg.Ledger(db) as opened:
        yield opened


def people(*emails: str) -> list[NewRecipient]:
    return [NewRecipient(email, "members", email.split("@")[0].title(), ("Microglia",)) for email in emails]


def test_a_new_run_holds_every_recipient_pending_with_what_is_needed_to_rebuild_the_message(ledger):
    added = ledger.start_run("2026-06", "outbox", ["a-summary"], people("ann@example.org", "bo@example.org"))

    assert added == 2
    rows = ledger.to_send("2026-06")
    assert [r.email for r in rows] == ["ann@example.org", "bo@example.org"]
    assert rows[0].name == "Ann" and rows[0].topics == ("Microglia",) and rows[0].list_name == "members"
    assert ledger.run("2026-06").state == RunState.RUNNING
    assert ledger.counts("2026-06")[RecipientState.PENDING] == 2


def test_a_run_is_created_once_and_reopening_it_keeps_its_recipients_and_their_state(ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    ledger.mark_sending("2026-06", "ann@example.org")
    ledger.mark_sent("2026-06", "ann@example.org", "<m1@example.org>", None)
    ledger.set_run_state("2026-06", RunState.INTERRUPTED, "stopped")

    with pytest.raises(DeliveryError, match="issue 2026-06 already has a send run; it can only be resumed"):
        ledger.start_run("2026-06", "outbox", [], people("cy@example.org"))
    ledger.reopen_run("2026-06", "smtp")

    assert [r.email for r in ledger.to_send("2026-06")] == ["bo@example.org"]
    assert ledger.counts("2026-06")[RecipientState.SENT] == 1
    assert ledger.run("2026-06").state == RunState.RUNNING and ledger.run("2026-06").provider == "smtp"


def test_a_stream_that_fails_part_way_leaves_no_run(ledger):
    def audience():
        yield from people("ann@example.org", "bo@example.org")
        raise DeliveryError("subscribers/readers.csv:9: not a valid email address")

    with pytest.raises(DeliveryError, match="readers.csv:9"):
        ledger.start_run("2026-06", "outbox", ["a-summary"], audience())

    assert ledger.run("2026-06") is None
    assert ledger.counts("2026-06")[RecipientState.PENDING] == 0


def test_sending_left_by_a_crash_becomes_unknown_and_is_resent_only_when_asked(ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    with lg.Ledger(ledger.engine) as crashed:
        crashed.mark_sending("2026-06", "ann@example.org")  # then the process died (its lease ends)

    assert ledger.recover_unknown("2026-06") == ["ann@example.org"]
    assert [r.email for r in ledger.to_send("2026-06")] == ["bo@example.org"]
    assert ledger.unknown("2026-06") == ["ann@example.org"]

    assert ledger.requeue_unknown("2026-06") == 1
    assert [r.email for r in ledger.to_send("2026-06")] == ["ann@example.org", "bo@example.org"]


def test_transient_failures_are_sent_again_and_permanent_ones_are_not(ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    ledger.mark_failed("2026-06", "ann@example.org", RecipientState.FAILED_TRANSIENT, "451 try later")
    ledger.mark_failed("2026-06", "bo@example.org", RecipientState.FAILED_PERMANENT, "550 no such user")

    assert [r.email for r in ledger.to_send("2026-06")] == ["ann@example.org"]
    failures = ledger.failures("2026-06")
    assert [(f.email, f.state, f.last_error) for f in failures] == [
        ("ann@example.org", RecipientState.FAILED_TRANSIENT, "451 try later"),
        ("bo@example.org", RecipientState.FAILED_PERMANENT, "550 no such user"),
    ]


def test_carried_summaries_are_those_of_issues_that_reached_someone(ledger):
    ledger.start_run("2026-05", "outbox", ["sent-one"], people("ann@example.org"))
    ledger.mark_sending("2026-05", "ann@example.org")
    ledger.mark_sent("2026-05", "ann@example.org", "<m@example.org>", None)
    ledger.start_run("2026-06", "outbox", ["never-sent"], people("ann@example.org"))

    assert ledger.carried_summaries() == {"sent-one"}


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


def test_a_second_holder_of_an_issue_lock_is_refused_with_the_holders_pid(tmp_path):
    engine = sqlite_engine(tmp_path)
    with (
        issue_lock(engine, "2026-06"),
        pytest.raises(LockedError, match=rf"a send of issue 2026-06 is already running \(pid {os.getpid()}"),
    ):
        issue_lock(engine, "2026-06").acquire()
    with issue_lock(engine, "2026-06"):
        pass  # released on exit, so it can be taken again


def test_a_lock_held_by_a_killed_process_is_free_at_once(tmp_path):
    engine = sqlite_engine(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from newsletter.db.engine import database_url, open_engine;"
            "from newsletter.db.locks import issue_lock; from pathlib import Path;"
            f"engine = open_engine(database_url(Path({str(tmp_path)!r}), None, {{}}));"
            "issue_lock(engine, '2026-06').acquire();"
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"pid {holder.pid}"):
            issue_lock(engine, "2026-06").acquire()
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the flock with the process: no stale lock to break, no waiting.
    lock = issue_lock(engine, "2026-06")
    lock.acquire()  # non-blocking: raises LockedError if the lock were still held
    lock.release()


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
