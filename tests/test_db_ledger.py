"""The delivery ledger in the state database: the old ledger's semantics, plus several workers per run."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from newsletter.db import ledger as lg
from newsletter.db import locks
from newsletter.errors import DeliveryError


@pytest.fixture
def ledger(db):
    with lg.Ledger(db) as opened:
        yield opened


def people(*emails: str) -> list[lg.NewRecipient]:
    return [
        lg.NewRecipient(e, "members", e.split("@")[0].title(), ("Microglia",), first_name="F") for e in emails
    ]


def test_a_new_run_holds_every_recipient_pending_with_what_is_needed_to_rebuild_the_message(ledger):
    added = ledger.start_run("2026-06", "outbox", ["a-summary"], people("ann@example.org", "bo@example.org"))

    assert added == 2
    rows = ledger.to_send("2026-06")
    assert [r.email for r in rows] == ["ann@example.org", "bo@example.org"]
    assert rows[0].name == "Ann" and rows[0].topics == ("Microglia",) and rows[0].list_name == "members"
    assert rows[0].first_name == "F"
    assert ledger.run("2026-06").state == lg.RUNNING
    assert ledger.counts("2026-06")[lg.PENDING] == 2


def test_a_run_is_created_once_and_reopening_it_keeps_its_recipients_and_their_state(ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    ledger.mark_sending("2026-06", "ann@example.org")
    ledger.mark_sent("2026-06", "ann@example.org", "<m1@example.org>", None)
    ledger.set_run_state("2026-06", lg.INTERRUPTED, "stopped")

    with pytest.raises(DeliveryError, match="issue 2026-06 already has a send run; it can only be resumed"):
        ledger.start_run("2026-06", "outbox", [], people("cy@example.org"))
    assert ledger.start_or_join_run("2026-06", "outbox", [], people("cy@example.org")) == (0, False)
    ledger.reopen_run("2026-06", "smtp")

    assert [r.email for r in ledger.to_send("2026-06")] == ["bo@example.org"]
    assert ledger.counts("2026-06")[lg.SENT] == 1
    run = ledger.run("2026-06")
    assert run.state == lg.RUNNING and run.provider == "smtp" and run.finished_at is None
    ledger.set_run_state("2026-06", lg.FINISHED)
    assert ledger.run("2026-06").finished_at is not None and len(ledger.runs()) == 1


def test_a_stream_that_fails_part_way_leaves_no_run(ledger):
    def audience():
        yield from people("ann@example.org", "bo@example.org")
        raise DeliveryError("the database went away")

    with pytest.raises(DeliveryError, match="went away"):
        ledger.start_run("2026-06", "outbox", ["a-summary"], audience())

    assert ledger.run("2026-06") is None and ledger.counts("2026-06")[lg.PENDING] == 0


def test_sending_left_by_a_dead_worker_becomes_unknown_and_is_resent_only_when_asked(db, ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    dead = lg.Ledger(db, worker="dead")
    dead.claim("2026-06", limit=2)
    dead.mark_sending("2026-06", "ann@example.org")
    dead.close()  # the worker is gone with ann's message in flight (tests/test_db_claim.py SIGKILLs one)

    assert ledger.recover_unknown("2026-06") == ["ann@example.org"]
    assert [r.email for r in ledger.claim("2026-06", limit=5)] == ["bo@example.org"]  # bo's reservation freed
    assert ledger.unknown("2026-06") == ["ann@example.org"]
    assert ledger.failures("2026-06")[0].last_error == lg.IN_DOUBT

    assert ledger.requeue_unknown("2026-06") == 1
    assert [r.email for r in ledger.to_send("2026-06")] == ["ann@example.org", "bo@example.org"]


def test_a_live_workers_sending_rows_are_left_alone(db, ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org"))
    with lg.Ledger(db) as other:
        [row] = other.claim("2026-06")
        other.mark_sending("2026-06", row.email)

        assert ledger.recover_unknown("2026-06") == []
        assert ledger.counts("2026-06")[lg.SENDING] == 1
        other.mark_sent("2026-06", row.email, "<m@example.org>", "p-1")
    assert ledger.counts("2026-06")[lg.SENT] == 1


def wait_until_gone(db, worker: str, timeout: float = 10.0) -> None:
    """PostgreSQL ends a dead client's session (and frees its lease) a moment after the process ends."""
    deadline = time.monotonic() + timeout
    while locks.worker_lease(db, worker).held_elsewhere():
        assert time.monotonic() < deadline, f"worker {worker}'s lease is still held"
        time.sleep(0.05)


def test_a_sent_held_back_commits_with_the_next_sending_so_a_worker_has_one_row_in_doubt_at_most(db, ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    # A worker in its own process: it holds bo's `sent` back, then dies before its next write.
    steps = (
        "from pathlib import Path; import os, sys;"
        "from newsletter.db.engine import database_url, open_engine;"
        "from newsletter.db.ledger import Ledger;"
        f"engine = open_engine(database_url(Path('.'), {db.url.render_as_string(False)!r}, {{}}));"
        "w = Ledger(engine, worker='w1'); w.claim('2026-06', limit=2);"
        "w.mark_sending('2026-06', 'ann@example.org');"
        "w.mark_sent('2026-06', 'ann@example.org', '<m1@example.org>', None, later=True);"
        "c = w.counts('2026-06'); print(c['sending'], c['sent'], flush=True);"
        "w.mark_sending('2026-06', 'bo@example.org');"
        "c = w.counts('2026-06'); print(c['sending'], c['sent'], flush=True);"
        "w.mark_sent('2026-06', 'bo@example.org', '<m2@example.org>', None, later=True);"
        "os._exit(0)"
    )
    worker = subprocess.run([sys.executable, "-c", steps], capture_output=True, text=True, timeout=60)
    # accepted, not yet recorded: still in doubt; then one transaction: ann `sent`, bo `sending`
    assert worker.stdout.split("\n")[:2] == ["1 0", "1 1"], worker.stderr
    wait_until_gone(db, "w1")

    assert ledger.recover_unknown("2026-06") == ["bo@example.org"]
    assert [(f.email, f.state) for f in ledger.failures("2026-06")] == [("bo@example.org", lg.UNKNOWN)]


def test_each_thread_holds_back_its_own_sent_and_settle_or_close_commits_it(db, ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    worker = lg.Ledger(db)
    worker.claim("2026-06", limit=2)

    def send(email: str) -> None:
        worker.mark_sending("2026-06", email)
        worker.mark_sent("2026-06", email, f"<{email}>", None, later=True)

    other = threading.Thread(target=send, args=("ann@example.org",))
    other.start()
    other.join()
    send("bo@example.org")  # this thread's writes never carry another thread's held `sent`
    assert ledger.counts("2026-06")[lg.SENDING] == 2

    worker.settle()  # this thread's: bo
    assert ledger.counts("2026-06")[lg.SENT] == 1
    worker.close()  # the end of the worker: what any thread still holds (ann)
    counts = ledger.counts("2026-06")
    assert (counts[lg.SENDING], counts[lg.SENT]) == (0, 2)


def test_claims_never_hand_one_recipient_to_two_workers_and_transient_failures_stay_with_their_worker(
    db, ledger
):
    ledger.start_run("2026-06", "outbox", [], people(*(f"r{n}@example.org" for n in range(5))))
    with lg.Ledger(db) as other:
        mine = ledger.claim("2026-06", limit=2)
        theirs = other.claim("2026-06", limit=10)
        assert [r.email for r in mine] == ["r0@example.org", "r1@example.org"]
        assert [r.email for r in theirs] == ["r2@example.org", "r3@example.org", "r4@example.org"]
        other.mark_sending("2026-06", "r2@example.org")
        other.mark_failed("2026-06", "r2@example.org", lg.FAILED_TRANSIENT, "451 try later")
        assert ledger.claim("2026-06") == []  # r2 is held by `other` until it retries or is gone
    assert [r.email for r in ledger.claim("2026-06", limit=5)] == [
        "r2@example.org",
        "r3@example.org",
        "r4@example.org",
    ]


def test_transient_failures_are_sent_again_and_permanent_ones_are_not(ledger):
    ledger.start_run("2026-06", "outbox", [], people("ann@example.org", "bo@example.org"))
    ledger.mark_failed("2026-06", "ann@example.org", lg.FAILED_TRANSIENT, "451 try later")
    ledger.mark_failed("2026-06", "bo@example.org", lg.FAILED_PERMANENT, "550 no such user")

    assert [r.email for r in ledger.to_send("2026-06")] == ["ann@example.org"]
    assert [(f.email, f.state, f.last_error) for f in ledger.failures("2026-06")] == [
        ("ann@example.org", lg.FAILED_TRANSIENT, "451 try later"),
        ("bo@example.org", lg.FAILED_PERMANENT, "550 no such user"),
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


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 6, 2, 13, 0, tzinfo=UTC),  # no microseconds: isoformat must still write them
        datetime(2026, 6, 2, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-4))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ],
)
def test_the_ledgers_fast_sqlite_stamp_is_the_text_sqlalchemy_stores(moment):
    from sqlalchemy.dialects import sqlite

    from newsletter.db.ledger_writes import sqlite_stamp
    from newsletter.db.schema import recipients

    dialect = sqlite.dialect()
    stored = recipients.c.updated_at.type.dialect_impl(dialect).bind_processor(dialect)  # as Core writes it
    assert sqlite_stamp(moment) == stored(moment)


def test_the_editions_still_to_send_come_most_common_first(ledger):
    readers = [
        lg.NewRecipient("ann@example.org", topics=("MRI",)),
        lg.NewRecipient("bo@example.org", topics=("Gut", "MRI")),
        lg.NewRecipient("cy@example.org", topics=("Gut", "MRI")),
        lg.NewRecipient("di@example.org", large_text=True),
    ]
    ledger.start_run("2026-06", "smtp", [], readers)
    ledger.mark_sending("2026-06", "ann@example.org")  # no longer to send

    assert ledger.editions("2026-06", limit=5) == [(("Gut", "MRI"), False), ((), True)]
    assert ledger.editions("2026-06", limit=1) == [(("Gut", "MRI"), False)]
