"""The delivery ledger: recipient states, crash recovery, carried summaries and the per-issue lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.delivery import history
from newsletter.delivery import ledger as lg
from newsletter.delivery.locks import IssueLock, LockedError
from newsletter.delivery.records import NewRecipient, RecipientState, RunState
from newsletter.errors import DeliveryError


@pytest.fixture
def ledger(tmp_path: Path):
    with lg.Ledger(tmp_path / ".newsletter" / "ledger.sqlite3") as opened:
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
    ledger.mark_sending("2026-06", "ann@example.org")  # then the process died

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
    from newsletter.store.config import load_settings

    settings = load_settings(workspace)
    with lg.Ledger(lg.ledger_path(settings)) as ledger:
        ledger.start_run("2026-06", "outbox", ["cd29"], people("ann@example.org"))
        ledger.mark_sent("2026-06", "ann@example.org", "<m@example.org>", None)

    assert history.carried_summaries(settings) == {"cd29"}


def test_without_a_ledger_nothing_was_carried_and_no_ledger_is_created(workspace):
    from newsletter.store.config import load_settings

    settings = load_settings(workspace)

    assert history.carried_summaries(settings) == set()
    assert not lg.ledger_path(settings).exists()


def test_a_second_holder_of_an_issue_lock_is_refused_with_the_holders_pid(tmp_path):
    path = tmp_path / "locks" / "2026-06.lock"
    with (
        IssueLock(path, "a send of issue 2026-06"),
        pytest.raises(LockedError, match=rf"a send of issue 2026-06 is already running \(pid {os.getpid()}"),
    ):
        IssueLock(path, "a send of issue 2026-06").acquire()
    with IssueLock(path, "a send of issue 2026-06"):
        pass  # released on exit, so it can be taken again


def test_a_lock_held_by_a_killed_process_is_free_at_once(tmp_path):
    path = tmp_path / "locks" / "2026-06.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from newsletter.delivery.locks import IssueLock;"
            f"IssueLock(Path({str(path)!r}), 'x').acquire(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"pid {holder.pid}"):
            IssueLock(path, "x").acquire()
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the flock with the process: no stale lock to break, no waiting.
    lock = IssueLock(path, "x")
    lock.acquire()  # non-blocking: raises LockedError if the lock were still held
    lock.release()
