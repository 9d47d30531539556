"""Scheduled sends: what is due with a fake clock, and `send-due` run as cron would run it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from delivery_helpers import (
    ISSUE_ID,
    RecordingSink,
    add_readers,
    reader,
    start_sink,
    state,
    workspace_ledger,
    write_issue,
    write_readers,
)
from factories import invoke

from newsletter.db.locks import scheduler_lock
from newsletter.delivery import schedule
from newsletter.delivery.records import NewRecipient, RecipientState, Run, RunState
from newsletter.delivery.schedule import Action
from newsletter.errors import ExitStatus

SEND_AT = "2026-06-02T09:00:00-04:00"
SECRET = {"NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("24h", timedelta(hours=24)), ("90m", timedelta(minutes=90)), ("2d", timedelta(days=2)),
     ("1h30m", timedelta(minutes=90)), ("45s", timedelta(seconds=45)), (" 1D 2H ", timedelta(hours=26))],
)  # fmt: skip
def test_durations_read_as_people_write_them(text, expected):
    assert schedule.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "1 hour", "-2h", "2w"])
def test_a_duration_without_a_unit_is_refused_with_examples(text):
    with pytest.raises(ValueError, match="use a number and a unit: 90m, 24h, 2d or 1h30m"):
        schedule.parse_duration(text)


def run(state: RunState) -> Run:
    return Run(ISSUE_ID, state, "outbox", "", "2026-06-02T13:00:00+00:00", "2026-06-02T13:05:00+00:00", None)


DAY = timedelta(hours=24)


def test_decisions_with_a_fake_clock():
    due = at(SEND_AT)
    decide = schedule.decide
    assert decide(ISSUE_ID, None, due, DAY, None, 0).action == Action.UNSCHEDULED
    not_due = decide(ISSUE_ID, due, due - timedelta(minutes=5), DAY, None, 0)
    assert (not_due.action, not_due.reason) == (Action.NOT_DUE, f"due at {SEND_AT}, in 5m")
    assert decide(ISSUE_ID, due, due, DAY, None, 0).action == Action.SEND
    assert decide(ISSUE_ID, due, due + timedelta(hours=23), DAY, None, 0).action == Action.SEND
    late = decide(ISSUE_ID, due, due + timedelta(hours=30), DAY, None, 0)
    assert late.action == Action.TOO_LATE
    assert late.reason.startswith(f"was due at {SEND_AT}, 1d 6h ago, more than the 1d allowed;")
    # A run that was started resumes however late; a finished one is left alone.
    assert (
        decide(ISSUE_ID, due, due + timedelta(days=3), DAY, run(RunState.RUNNING), 40).action == Action.RESUME
    )
    assert (
        decide(ISSUE_ID, due, due + timedelta(days=3), DAY, run(RunState.PAUSED), 40).action == Action.RESUME
    )
    assert decide(ISSUE_ID, due, due, DAY, run(RunState.FINISHED), 0).action == Action.FINISHED
    # An operator's Ctrl-C is respected: the scheduler does not restart what a person stopped.
    assert decide(ISSUE_ID, due, due, DAY, run(RunState.INTERRUPTED), 40).action == Action.HELD
    assert decide(ISSUE_ID, due, due, DAY, run(RunState.INCOMPLETE), 0).action == Action.HELD
    assert decide(ISSUE_ID, due, due, DAY, run(RunState.INCOMPLETE), 3).action == Action.RESUME


@pytest.fixture
def scheduled(workspace: Path) -> Path:
    for old in (workspace / "issues").glob("*.yaml"):
        old.unlink()  # only the test's issue is scheduled
    write_issue(workspace, send_at=SEND_AT)
    write_readers(workspace, 12)
    state(workspace)  # the lists move into the state database here, not in the middle of a test
    return workspace


def send_due(workspace: Path, *args: str):
    return invoke(["-w", str(workspace), "send-due", *args], env=SECRET)


def sent_count(workspace: Path) -> int:
    with workspace_ledger(workspace) as ledger:
        return ledger.counts(ISSUE_ID)[RecipientState.SENT]


def test_an_issue_not_yet_due_is_not_sent(scheduled):
    result = send_due(scheduled, "--now", "2026-06-02T08:55:00-04:00")

    assert result.exit_code == 0, result.output
    assert result.output == f"{ISSUE_ID}: not due yet (due at {SEND_AT}, in 5m)\n"
    assert not (scheduled / "outbox").exists()


def test_a_due_issue_is_sent_once_and_a_later_run_does_nothing(scheduled):
    result = send_due(scheduled, "--now", "2026-06-02T09:02:00-04:00")

    assert result.exit_code == 0, result.output
    assert f"{ISSUE_ID}: due at {SEND_AT}: sending" in result.output
    assert len(list((scheduled / "outbox" / ISSUE_ID).glob("*.eml"))) == 12
    assert sent_count(scheduled) == 12

    again = send_due(scheduled, "--now", "2026-06-02T09:07:00-04:00")
    assert again.exit_code == 0 and again.output == ""


def test_a_partly_sent_issue_is_resumed_without_resending(scheduled):
    emails = [f"reader{n:04d}@example.org" for n in range(12)]
    with workspace_ledger(scheduled) as ledger:  # as a run killed after five messages leaves it
        ledger.start_run(ISSUE_ID, "outbox", [], [NewRecipient(e) for e in emails])
        for email in emails[:5]:
            ledger.mark_sent(ISSUE_ID, email, "<m@example.org>", None)

    result = send_due(scheduled, "--now", "2026-06-05T09:00:00-04:00")  # days late, but already started

    assert result.exit_code == 0, result.output
    assert f"{ISSUE_ID}: resuming the running run (7 left to send): sending" in result.output
    assert "Sent 7 in this run" in result.output
    files = sorted(p.name for p in (scheduled / "outbox" / ISSUE_ID).glob("*.eml"))
    assert len(files) == 7 and not any(f.startswith("reader0000") for f in files)


def test_an_issue_due_too_long_ago_is_refused_unless_allowed(scheduled):
    result = send_due(scheduled, "--now", "2026-06-04T09:00:00-04:00")

    assert result.exit_code == ExitStatus.REFUSED
    assert f"{ISSUE_ID}: not sent: was due at {SEND_AT}, 2d ago, more than the 1d allowed" in result.output
    assert not (scheduled / "outbox").exists()

    allowed = send_due(scheduled, "--now", "2026-06-04T09:00:00-04:00", "--max-late", "3d")
    assert allowed.exit_code == 0, allowed.output
    assert sent_count(scheduled) == 12


def test_an_unfinished_draft_or_a_broken_issue_is_reported_and_never_sent(scheduled):
    from newsletter.compose.ready import INTRO_TODO

    path = scheduled / "issues" / f"{ISSUE_ID}.yaml"
    path.write_text(path.read_text().replace("A short note from the editor.", INTRO_TODO))
    broken = write_issue(scheduled, "2026-07", send_at=SEND_AT)
    broken.write_text(
        broken.read_text().replace("2026-05-14-lab-grown", "no-such-summary-2026-05-14-lab-grown")
    )

    result = send_due(scheduled, "--now", "2026-06-02T09:02:00-04:00")

    assert result.exit_code == ExitStatus.REFUSED
    assert f"{ISSUE_ID}: not sent: not ready: issues/{ISSUE_ID}.yaml: intro: still the TODO" in result.output
    assert "2026-07: not sent: not ready: " in result.output and "no-such-summary" in result.output
    assert not (scheduled / "outbox").exists()


def test_a_bad_max_late_or_now_is_a_usage_error(scheduled):
    assert "use a number and a unit" in send_due(scheduled, "--max-late", "soon").output
    assert "is not a date-time" in send_due(scheduled, "--now", "tomorrow").output


def test_while_one_send_due_runs_another_does_nothing(scheduled):
    with scheduler_lock(state(scheduled)):
        result = send_due(scheduled, "--now", "2026-06-02T09:02:00-04:00")

    assert result.exit_code == 0
    assert re.match(
        r"send-due: another send-due is running \(pid \d+ on .*\); this one does nothing\n$", result.output
    )
    assert not (scheduled / "outbox").exists()


def test_two_overlapping_send_due_processes_send_each_message_once(scheduled):
    sink = RecordingSink()
    controller = start_sink(sink)
    settings_file = scheduled / "newsletter.yaml"
    settings_file.write_text(
        settings_file.read_text().replace("provider: outbox", f"provider: smtp://127.0.0.1:{controller.port}")
    )
    emails = [reader(n) for n in range(40)]
    add_readers(scheduled, [f"{e},Reader,,subscribed,2026-01-01" for e in emails[12:]])  # 12 were there
    command = [
        sys.executable,
        "-m",
        "newsletter",
        "-w",
        str(scheduled),
        "send-due",
        "--now",
        "2026-06-02T09:01:00-04:00",
    ]
    env = {**os.environ, **SECRET}
    try:
        runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [r.communicate(timeout=120)[0] for r in runs]
    finally:
        controller.stop()

    assert sink.per_recipient() == dict.fromkeys(emails, 1)
    assert sorted(r.returncode for r in runs) == [0, 0]
    # One did the work; the other found it (or the issue) taken, or already finished, and sent nothing.
    assert sum("Sent 40 in this run" in out for out in outputs) == 1


# -- issue 14: the send gate and hostile durations -----------------------------------------------------


def test_send_due_refuses_an_issue_that_check_rejects_with_the_findings(scheduled):
    from delivery_helpers import mark_needs_review, snapshot

    mark_needs_review(scheduled)
    before = snapshot(scheduled)

    result = send_due(scheduled, "--now", "2026-06-02T09:02:00-04:00")

    assert result.exit_code == ExitStatus.REFUSED
    assert result.output.startswith(
        f"{ISSUE_ID}: not sent: not ready: not sending issue {ISSUE_ID}: `newsletter check` finds 1 error;"
    )
    assert "is marked needs_review" in result.output
    assert snapshot(scheduled) == before


@pytest.mark.parametrize("text", ["99999999999d", "3651d", "999999999999999999999h"])
def test_an_absurd_max_late_is_a_clean_usage_error(scheduled, text):
    result = send_due(scheduled, "--max-late", text)

    assert result.exit_code == 2 and "is too long; at most 3650d" in result.output
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
