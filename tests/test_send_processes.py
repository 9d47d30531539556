"""`newsletter send --concurrency 4`: one process, four sending threads, against a real SMTP server.

The server (aiosmtpd, recording every message) is the judge of "exactly once"; where a test needs
a send still running, the server holds its messages in flight (`hold_after`) until the test lets
them go, so nothing depends on how fast this machine is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from delivery_helpers import ISSUE_ID, workspace_ledger, write_issue, write_readers

from newsletter.delivery.records import RecipientState, RunState

SECRET = "test-secret-for-unsubscribe-links-0123456789"
CONNECTIONS = 4
R = RecipientState


@pytest.fixture(params=["sqlite", "postgresql"])
def ready(request: pytest.FixtureRequest, workspace: Path) -> Path:
    """A workspace with the test issue, on the embedded SQLite database, then on a PostgreSQL server."""
    write_issue(workspace)
    if request.param == "postgresql":
        settings = workspace / "newsletter.yaml"
        settings.write_text(settings.read_text() + f"database: {request.getfixturevalue('postgres_url')}\n")
    return workspace


def send_process(workspace: Path, provider: str, *extra: str, rate: str = "1000") -> subprocess.Popen:
    """`newsletter send` in its own process group, as a terminal runs a command."""
    command = [
        sys.executable, "-m", "newsletter", "-w", str(workspace), "send", ISSUE_ID, "--provider", provider,
        "--yes", "--rate", rate, "--concurrency", str(CONNECTIONS), *extra,
    ]  # fmt: skip
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET}
    env.pop("NEWSLETTER_SMTP_PASSWORD", None)
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def smtp(port: int) -> str:
    return f"smtp://127.0.0.1:{port}"


def wait_until(condition, process: subprocess.Popen, limit: float = 60.0) -> None:
    """Poll until `condition()` holds (a safety limit only, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the send ended early ({process.returncode}):\n{out}\n{err}")
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.005)


def trickle(sink, process: subprocess.Popen) -> tuple[str, str]:
    """Let the held messages go one at a time until the send ends; its output."""
    done = threading.Event()

    def let_go() -> None:
        while not done.wait(0.02):
            sink.release()

    helper = threading.Thread(target=let_go, daemon=True)
    helper.start()
    try:
        return process.communicate(timeout=60)
    finally:
        done.set()
        sink.release_all()


def test_four_connections_in_one_process_deliver_each_recipient_exactly_once(ready, smtp_sink):
    emails = write_readers(ready, 200)
    process = send_process(ready, smtp(smtp_sink.port))
    out, err = process.communicate(timeout=120)

    assert process.returncode == 0, out + err
    assert smtp_sink.per_recipient() == dict.fromkeys(emails, 1)
    with workspace_ledger(ready) as ledger:
        assert ledger.counts(ISSUE_ID)[R.SENT] == len(emails)
        assert ledger.run(ISSUE_ID).state == RunState.FINISHED
    assert f"{len(emails)}/{len(emails)}  sent {len(emails)}" in err
    assert out.count(f"Issue {ISSUE_ID}: finished. Sent {len(emails)} in this run") == 1
    assert "Traceback" not in out + err


def test_ctrl_c_to_the_process_group_stops_after_the_messages_in_flight(ready, smtp_sink):
    emails = write_readers(ready, 120)
    smtp_sink.hold_after(10)
    process = send_process(ready, smtp(smtp_sink.port))
    wait_until(lambda: smtp_sink.count() >= 10, process)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C, while messages are held
    out, err = trickle(smtp_sink, process)

    assert process.returncode == 130, out + err
    assert "stopped by the operator after the messages in flight" in out and "Traceback" not in out + err
    with workspace_ledger(ready) as ledger:
        counts = ledger.counts(ISSUE_ID)
        assert ledger.run(ISSUE_ID).state == RunState.INTERRUPTED
    assert counts[R.SENDING] == counts[R.UNKNOWN] == 0  # nothing in doubt: all finished in flight
    assert counts[R.SENT] == smtp_sink.count() < len(emails)

    again = send_process(ready, smtp(smtp_sink.port))
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    assert smtp_sink.per_recipient() == dict.fromkeys(emails, 1)


def test_sigterm_stops_after_the_messages_in_flight_and_leaves_the_run_resumable(workspace, smtp_sink):
    write_issue(workspace)
    emails = write_readers(workspace, 100)
    smtp_sink.hold_after(10)
    process = send_process(workspace, smtp(smtp_sink.port))
    wait_until(lambda: smtp_sink.count() >= 10, process)
    process.send_signal(signal.SIGTERM)
    out, err = trickle(smtp_sink, process)

    assert process.returncode == 130, out + err
    assert "stopped by SIGTERM after the messages in flight" in out
    with workspace_ledger(workspace) as ledger:
        assert ledger.run(ISSUE_ID).state == RunState.STOPPED
        assert ledger.counts(ISSUE_ID)[R.SENDING] == 0
    again = send_process(workspace, smtp(smtp_sink.port))
    again.communicate(timeout=120)
    assert smtp_sink.per_recipient() == dict.fromkeys(emails, 1)


def test_connections_that_cannot_log_in_pause_the_run_with_one_line_saying_why(workspace, smtp_sink):
    write_issue(workspace)
    write_readers(workspace, 40)
    process = send_process(workspace, f"smtp://editor@127.0.0.1:{smtp_sink.port}")  # no password set
    out, err = process.communicate(timeout=60)

    assert process.returncode == 4, out + err
    assert "paused: SMTP user 'editor' is set but NEWSLETTER_SMTP_PASSWORD is not" in out
    assert "Traceback" not in out + err and smtp_sink.count() == 0
    with workspace_ledger(workspace) as ledger:
        run = ledger.run(ISSUE_ID)
        assert run.state == RunState.PAUSED and "NEWSLETTER_SMTP_PASSWORD" in run.note
        assert ledger.counts(ISSUE_ID)[R.SENDING] == 0


def test_send_hold_from_another_terminal_stops_the_send(workspace, smtp_sink):
    write_issue(workspace)
    emails = write_readers(workspace, 100)
    smtp_sink.hold_after(10)
    process = send_process(workspace, smtp(smtp_sink.port))
    wait_until(lambda: smtp_sink.count() >= 10, process)
    hold = subprocess.run(
        [sys.executable, "-m", "newsletter", "-w", str(workspace), "send", ISSUE_ID, "--hold"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    out, err = trickle(smtp_sink, process)

    assert hold.returncode == 0, hold.stderr
    assert process.returncode == 130, out + err
    assert "held by the operator (send --hold)" in out
    with workspace_ledger(workspace) as ledger:
        assert ledger.run(ISSUE_ID).state == RunState.INTERRUPTED
        assert ledger.counts(ISSUE_ID)[R.SENDING] == 0
    assert smtp_sink.count() < len(emails)


def test_the_bounce_rate_pause_counts_the_attempts_of_all_threads_together(workspace, smtp_sink):
    write_issue(workspace)
    settings = workspace / "newsletter.yaml"
    settings.write_text(
        settings.read_text() + "bounces:\n  address: bounces@example.org\n  pause_min_attempts: 100\n"
    )
    emails = write_readers(workspace, 400)
    dead = emails[::10]  # 10 %, over the 5 % limit, spread through the list
    for email in dead:
        smtp_sink.replies[email] = [f"550 5.1.1 <{email}>: Recipient address rejected: User unknown"]
    process = send_process(workspace, smtp(smtp_sink.port))
    out, err = process.communicate(timeout=120)

    assert process.returncode == 4, out + err
    assert "bounced hard (" in out and f"Issue {ISSUE_ID}: paused." in out
    attempts = smtp_sink.count() + sum(1 for e in dead if not smtp_sink.replies[e])
    assert 100 <= attempts < len(emails)  # past the minimum over all threads, well before the end
