"""`newsletter send` as a real process against a real SMTP server: kill it, interrupt it, run two.

The server is aiosmtpd on loopback recording every message it accepts, so "exactly once" is
checked against what really arrived, not against what the ledger believes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from delivery_helpers import ISSUE_ID, write_issue, write_readers

from newsletter.cli import cli
from newsletter.delivery import ledger as lg
from newsletter.delivery.records import RecipientState, RunState
from newsletter.store.config import load_settings

SECRET = "test-secret-for-unsubscribe-links-0123456789"
CONCURRENCY = 4


@pytest.fixture
def ready(workspace: Path) -> Path:
    write_issue(workspace)
    return workspace


def send_process(workspace: Path, port: int, *extra: str, rate: str = "300") -> subprocess.Popen:
    command = [
        sys.executable, "-m", "newsletter", "-w", str(workspace), "send", ISSUE_ID,
        "--provider", f"smtp://127.0.0.1:{port}", "--yes", "--rate", rate, "--concurrency", str(CONCURRENCY),
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(condition, process: subprocess.Popen | None = None, limit: float = 60.0) -> None:
    """Poll until `condition()` holds (a safety limit only, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the send ended early ({process.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting")
        time.sleep(0.005)


def ledger_of(workspace: Path) -> lg.Ledger:
    return lg.Ledger(lg.ledger_path(load_settings(workspace)))


def test_killing_send_at_several_points_never_skips_anyone_and_duplicates_only_unknowns(ready, smtp_sink):
    emails = write_readers(ready, 120)
    kills_at = [5, 30, 60, 95]  # messages received by the server when the process is killed
    unknown_after_kill: list[int] = []
    for received in kills_at:
        process = send_process(ready, smtp_sink.port)
        wait_until(lambda n=received: smtp_sink.count() >= n, process)
        process.send_signal(signal.SIGKILL)
        process.wait()
        with ledger_of(ready) as ledger:
            unknown_after_kill.append(ledger.counts(ISSUE_ID)[RecipientState.SENDING])
    # The lock died with each killed process: the resume is not blocked and finishes the list.
    process = send_process(ready, smtp_sink.port)
    out, err = process.communicate(timeout=120)

    with ledger_of(ready) as ledger:
        unknown = set(ledger.unknown(ISSUE_ID))
        counts = ledger.counts(ISSUE_ID)
    got = smtp_sink.per_recipient()
    print(f"kills: {len(kills_at)}, unknown after each: {unknown_after_kill}")
    assert all(n <= CONCURRENCY for n in unknown_after_kill), unknown_after_kill
    assert len(unknown) == sum(unknown_after_kill)
    missing = [e for e in emails if e not in unknown and got.get(e, 0) != 1]
    assert missing == [], f"not exactly once: {[(e, got.get(e, 0)) for e in missing]}"
    assert all(got.get(e, 0) <= 1 for e in unknown)  # an unknown got it once or not at all; never twice
    assert counts[RecipientState.SENT] == len(emails) - len(unknown) and counts[RecipientState.PENDING] == 0
    # Unknowns are listed and not resent without being asked; exit code 3 says "not all sent".
    assert process.returncode == 3, err
    if unknown:
        assert "may have got the issue already" in out and sorted(unknown)[0] in out

    # Asked to, the next run sends the unknowns and only them.
    before = smtp_sink.count()
    process = send_process(ready, smtp_sink.port, "--resend-unknown")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert smtp_sink.count() - before == len(unknown)
    assert set(r for r, _ in smtp_sink.received[before:]) == unknown


def test_ctrl_c_stops_after_the_messages_in_flight_and_the_next_send_resumes(ready, smtp_sink):
    emails = write_readers(ready, 60)
    process = send_process(ready, smtp_sink.port, rate="60")
    wait_until(lambda: smtp_sink.count() >= 10, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130, err
    assert "interrupted" in out and "again to resume" in out
    with ledger_of(ready) as ledger:
        counts = ledger.counts(ISSUE_ID)
        assert ledger.run(ISSUE_ID).state == RunState.INTERRUPTED
    assert counts[RecipientState.SENDING] == 0  # nothing left in doubt: the messages in flight were finished
    assert counts[RecipientState.SENT] == smtp_sink.count() < 60

    process = send_process(ready, smtp_sink.port)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert smtp_sink.per_recipient() == dict.fromkeys(emails, 1)


def test_a_second_send_of_the_same_issue_is_refused_while_the_first_runs(ready, smtp_sink):
    write_readers(ready, 60)
    first = send_process(ready, smtp_sink.port, rate="20")
    try:
        wait_until(lambda: smtp_sink.count() >= 2, first)
        result = CliRunner().invoke(
            cli,
            ["-w", str(ready), "send", ISSUE_ID, "--provider", f"smtp://127.0.0.1:{smtp_sink.port}", "--yes"],
            env={"NEWSLETTER_SECRET": SECRET},
        )
        assert result.exit_code == 1
        assert f"Error: a send of issue {ISSUE_ID} is already running (pid {first.pid} on " in result.output
        assert "wait for it to finish" in result.output
    finally:
        first.kill()
        first.wait()
