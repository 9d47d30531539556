"""The delivery ledger in the state database: runs, marks, the one writer, and claims for several senders."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from delivery_helpers import ISSUE_ID, state, write_issue, write_readers

from newsletter.db import locks
from newsletter.delivery import claims
from newsletter.delivery import ledger as lg
from newsletter.delivery import records as rec
from newsletter.errors import DeliveryError


@pytest.fixture
def ledger(db):
    with lg.Ledger(db) as opened:
        yield opened


def people(*emails: str) -> list[rec.NewRecipient]:
    return [
        rec.NewRecipient(e, "members", e.split("@")[0].title(), ("Microglia",), first_name="F")
        for e in emails
    ]


def test_a_new_run_holds_every_recipient_pending_with_what_is_needed_to_rebuild_the_message(ledger):
    added = ledger.start_run("2026-06", "outbox", ["a-summary"], people("ann@example.org", "bo@example.org"))

    assert added == 2
    rows = ledger.to_send("2026-06")
    assert [r.email for r in rows] == ["ann@example.org", "bo@example.org"]
    assert rows[0].name == "Ann" and rows[0].topics == ("Microglia",) and rows[0].list_name == "members"
    assert rows[0].first_name == "F"
    assert ledger.run("2026-06").state == rec.RUNNING
    assert ledger.counts("2026-06")[rec.PENDING] == 2


def test_a_run_is_created_once_and_reopening_it_keeps_its_recipients_and_their_state(ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    ledger.mark_sending("2026-06", "ann@example.org")
    ledger.mark_sent("2026-06", "ann@example.org", "<m1@example.org>", None)
    ledger.set_run_state("2026-06", rec.INTERRUPTED, "stopped")

    with pytest.raises(DeliveryError, match="issue 2026-06 already has a send run; it can only be resumed"):
        ledger.start_run("2026-06", "outbox", [], people("cy@example.org"))
    assert ledger.start_or_join_run("2026-06", "outbox", [], people("cy@example.org")) == (0, False)
    ledger.reopen_run("2026-06", "smtp")

    assert [r.email for r in ledger.to_send("2026-06")] == ["bo@example.org"]
    assert ledger.counts("2026-06")[rec.SENT] == 1
    run = ledger.run("2026-06")
    assert run.state == rec.RUNNING and run.provider == "smtp" and run.finished_at is None
    ledger.set_run_state("2026-06", rec.FINISHED)
    assert ledger.run("2026-06").finished_at is not None and len(ledger.runs()) == 1


def test_a_stream_that_fails_part_way_leaves_no_run(ledger):
    def audience():
        yield from people("ann@example.org", "bo@example.org")
        raise DeliveryError("the database went away")

    with pytest.raises(DeliveryError, match="went away"):
        ledger.start_run("2026-06", "outbox", ["a-summary"], audience())

    assert ledger.run("2026-06") is None and ledger.counts("2026-06")[rec.PENDING] == 0


def test_sending_left_by_a_dead_sender_becomes_unknown_and_is_resent_only_when_asked(db, ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org", "cy@example.org"))
    # A sender that is gone (its liveness lock is free) left ann in flight and bo to retry.
    assert claims.claim(db, "2026-06", "dead").email == "ann@example.org"
    assert claims.claim(db, "2026-06", "dead").email == "bo@example.org"
    ledger.mark_failed("2026-06", "bo@example.org", rec.FAILED_TRANSIENT, "451 try later", sender="dead")
    with claims.sender(db) as me:
        assert claims.claim(db, "2026-06", me).email == "cy@example.org"  # bo stays with its sender
        assert claims.recover(db, "2026-06", me) == 1
        assert claims.claim(db, "2026-06", me).email == "bo@example.org"  # freed once its sender is gone
    assert ledger.unknown("2026-06") == ["ann@example.org"]
    assert ledger.failures("2026-06")[0].last_error == rec.IN_DOUBT

    assert ledger.requeue_unknown("2026-06") == 1
    assert [r.email for r in ledger.to_send("2026-06")] == ["ann@example.org"]


def test_one_sender_per_run_turns_every_sending_row_unknown_at_its_start(ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    ledger.mark_sending("2026-06", "ann@example.org")

    assert ledger.doubt_all("2026-06") == 1
    assert ledger.unknown("2026-06") == ["ann@example.org"]
    assert [r.email for r in ledger.to_send("2026-06")] == ["bo@example.org"]


def test_a_live_senders_sending_rows_are_left_alone(db, ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org"))
    with claims.sender(db) as other, claims.sender(db) as me:
        row = claims.claim(db, "2026-06", other)
        assert row is not None and row.state == rec.SENDING

        assert claims.recover(db, "2026-06", me) == 0
        assert claims.others_at_work(db, "2026-06", me)
        assert ledger.counts("2026-06")[rec.SENDING] == 1
        ledger.mark_sent("2026-06", row.email, "<m@example.org>", "p-1")
    assert ledger.counts("2026-06")[rec.SENT] == 1


def test_two_senders_never_claim_one_recipient(db, ledger):
    ledger.start_run("2026-06", "outbox", [], people(*(f"r{n}@example.org" for n in range(40))))
    taken: dict[str, list[str]] = {"a": [], "b": []}

    def take(name: str) -> None:
        while (row := claims.claim(db, "2026-06", name)) is not None:
            taken[name].append(row.email)

    threads = [threading.Thread(target=take, args=(name,)) for name in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken["a"] + taken["b"]) == sorted(f"r{n}@example.org" for n in range(40))
    assert ledger.counts("2026-06")[rec.SENDING] == 40


def test_the_writer_commits_sending_before_it_returns_and_outcomes_many_to_a_transaction(db, ledger):
    from sqlalchemy import event, text

    from newsletter.db.engine import writing
    from newsletter.delivery import writer as w

    emails = [f"r{n}@example.org" for n in range(60)]
    ledger.start_run("2026-06", "outbox", [], people(*emails))
    rows = ledger.to_send("2026-06")
    commits: list[int] = []

    def count(connection) -> None:
        commits.append(1)

    event.listen(db, "commit", count)
    writer = w.Writer(db).start()
    assert writer.sending(w.sending_mark(rows[0], ledger.salt, None))
    assert ledger.counts("2026-06")[rec.SENDING] == 1  # committed before `sending` returned

    # While another writer holds the database, the outcomes queue up; then they go together.
    with writing(db) as blocker:
        if db.dialect.name == "postgresql":
            blocker.execute(text("LOCK TABLE recipients IN EXCLUSIVE MODE"))
        else:
            blocker.execute(text("UPDATE recipients SET attempts = attempts WHERE id = 0"))
        commits.clear()
        for row in rows[:50]:
            writer.later(w.sent_mark(row.rowid, f"<{row.email}>", None))
    assert writer.close() is None
    event.remove(db, "commit", count)
    assert ledger.counts("2026-06")[rec.SENT] == 50
    assert len(commits) <= 3, commits  # the blocker's own, then one or two batches


def test_a_suppressed_address_is_not_marked_sending(db, ledger):
    from newsletter.db import suppression
    from newsletter.delivery import writer as w

    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    suppression.suppress(db, "bo@example.org", "unsubscribed during the run", "test")
    ann, bo = ledger.to_send("2026-06")
    writer = w.Writer(db).start()
    assert writer.sending(w.sending_mark(ann, ledger.salt, None))
    assert not writer.sending(w.sending_mark(bo, ledger.salt, None))
    writer.close()
    assert ledger.counts("2026-06")[rec.SENDING] == 1 and ledger.counts("2026-06")[rec.PENDING] == 1


def test_transient_failures_are_sent_again_and_permanent_ones_are_not(ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    ledger.mark_failed("2026-06", "ann@example.org", rec.FAILED_TRANSIENT, "451 try later")
    ledger.mark_failed("2026-06", "bo@example.org", rec.FAILED_PERMANENT, "550 no such user")

    assert [r.email for r in ledger.to_send("2026-06")] == ["ann@example.org"]
    assert [(f.email, f.state, f.last_error) for f in ledger.failures("2026-06")] == [
        ("ann@example.org", rec.FAILED_TRANSIENT, "451 try later"),
        ("bo@example.org", rec.FAILED_PERMANENT, "550 no such user"),
    ]
    assert ledger.count_known("2026-06", ["ann@example.org", "nobody@example.org", "bo@example.org"]) == 2


def test_carried_summaries_are_those_of_issues_that_reached_someone(db, ledger):
    ledger.start_run("2026-05", "outbox", ["sent-one"], people("ann@example.org"))
    ledger.mark_sending("2026-05", "ann@example.org")
    ledger.mark_sent("2026-05", "ann@example.org", "<m@example.org>", None)
    ledger.start_run("2026-06", "outbox", ["never-sent"], people("ann@example.org"))

    assert lg.carried_summaries(db) == {"sent-one"}


def test_a_second_holder_of_an_issue_lock_is_refused_naming_the_holder(db):
    expected = (
        rf"a send of issue 2026-06 is already running \(pid {os.getpid()}"
        if db.dialect.name == "sqlite"
        else rf"a send of issue 2026-06 is already running \(newsletter pid {os.getpid()}"
    )
    with locks.issue_lock(db, "2026-06"), pytest.raises(locks.LockedError, match=expected):
        locks.issue_lock(db, "2026-06").acquire()
    # Senders sharing a run keep an exclusive taker out.
    with (
        locks.issue_lock(db, "2026-06", shared=True),
        locks.issue_lock(db, "2026-06", shared=True),
        pytest.raises(locks.LockedError),
    ):
        locks.issue_lock(db, "2026-06").acquire()
    with locks.issue_lock(db, "2026-06"):
        pass  # released on exit, so it can be taken again


def test_a_lock_held_by_a_killed_process_is_free_at_once(db):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from newsletter.db.engine import database_url, open_engine;"
            "from newsletter.db.locks import issue_lock;"
            f"url = {db.url.render_as_string(False)!r};"
            "issue_lock(open_engine(database_url(Path('.'), url, {})), '2026-06')"
            ".acquire(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(locks.LockedError, match=f"pid {holder.pid}"):
            locks.issue_lock(db, "2026-06").acquire()
    finally:
        holder.kill()
        holder.wait()
    # The kernel (SQLite's flock) or the server (an advisory lock) let go with the process.
    for _ in range(100):
        try:
            with locks.issue_lock(db, "2026-06"):
                break
        except locks.LockedError:  # PostgreSQL notices the closed socket within moments
            time.sleep(0.05)
    else:
        pytest.fail("the killed holder's lock was never released")


def test_an_issue_named_like_a_command_never_takes_that_commands_lock(db):
    # Each kind of lock is its own namespace: an issue whose id is `send-due` (or `fetch`) is sent
    # while the scheduler and the bounce fetcher hold theirs, and keeps them out of nothing.
    with locks.scheduler_lock(db), locks.bounce_fetcher_lock(db):
        with (
            locks.issue_lock(db, "send-due"),
            locks.issue_lock(db, "fetch"),
            pytest.raises(locks.LockedError, match="a send of issue send-due is already running"),
        ):
            locks.issue_lock(db, "send-due").acquire()
        with pytest.raises(locks.LockedError, match="send-due is already running"):
            locks.scheduler_lock(db).acquire()


@contextlib.contextmanager
def unwritable(folder: Path):
    """`folder` made so this process cannot create anything in it: read-only for a user, immutable for
    root (whom permissions do not stop), as a lock folder made by root is for the user who sends."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    else:
        folder.chmod(0o500)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


@pytest.mark.parametrize(
    ("command", "refused"), [(["send", ISSUE_ID, "--yes"], True), (["send-due"], True), (["status"], False)]
)
def test_an_unwritable_lock_folder_is_one_line_naming_it_and_the_fix(workspace, command, refused):
    write_issue(workspace)
    write_readers(workspace, 3)
    with lg.Ledger(state(workspace)) as ledger:  # a run the last send left running: status probes its lock
        ledger.start_run(ISSUE_ID, "outbox", [], [rec.NewRecipient("reader0000@example.org")])
    env = {**os.environ, "NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"}
    provider = ["--provider", "outbox"] if command[0] == "send" else []
    with unwritable(workspace / ".newsletter" / "locks"):
        done = subprocess.run(
            [sys.executable, "-m", "newsletter", "-w", str(workspace), *command, *provider],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    if not refused:  # status only reads: a lock file that was never made is held by nobody
        assert done.returncode == 0, output
        return
    assert done.returncode != 0, output
    lines = [line for line in output.splitlines() if "lock folder" in line]
    assert len(lines) == 1, output
    assert f"{workspace}/.newsletter/locks/" in lines[0] and "writable" in lines[0], output
