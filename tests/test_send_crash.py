"""`newsletter send` as a real process against a real SMTP server: kill it, interrupt it, run two.

The server is aiosmtpd on loopback recording every message it accepts, so "exactly once" is
checked against what really arrived, not against what the ledger believes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from delivery_helpers import ISSUE_ID, move_files_in, state, workspace_ledger, write_issue, write_readers
from factories import invoke

from newsletter.delivery.ledger import Ledger
from newsletter.delivery.records import NewRecipient, RecipientState, RunState
from newsletter.errors import ExitStatus

SECRET = "test-secret-for-unsubscribe-links-0123456789"
CONCURRENCY = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def ready(request: pytest.FixtureRequest, workspace: Path) -> Path:
    """A workspace with the test issue, on the embedded SQLite database, then on a PostgreSQL server."""
    write_issue(workspace)
    if request.param == "postgresql":
        use_database(workspace, request.getfixturevalue("postgres_url"))
    return workspace


def use_database(workspace: Path, url: str) -> None:
    settings = workspace / "newsletter.yaml"
    settings.write_text(settings.read_text() + f"database: {url}\n")


def on_postgresql(workspace: Path) -> bool:
    return "database: postgresql" in (workspace / "newsletter.yaml").read_text()


def send_process(
    workspace: Path, port: int, *extra: str, rate: str = "300", env: dict[str, str] | None = None
) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "newsletter", "-w", str(workspace), "send", ISSUE_ID,
        "--provider", f"smtp://127.0.0.1:{port}", "--yes", "--rate", rate, "--concurrency", str(CONCURRENCY),
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET, **(env or {})}
    # A session of its own, so a test can kill the whole send: the parent and its worker processes.
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def kill_send(process: subprocess.Popen) -> None:
    """SIGKILL the send and its workers at once, as a crash of the machine's sending job would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


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


def ledger_of(workspace: Path) -> Ledger:
    return workspace_ledger(workspace)


def test_killing_send_at_several_points_never_skips_anyone_and_duplicates_only_unknowns(ready, smtp_sink):
    emails = write_readers(ready, 120)
    kills_at = [5, 30, 60, 95]  # messages received by the server when the process is killed
    unknown_after_kill: list[int] = []
    for received in kills_at:
        process = send_process(ready, smtp_sink.port)
        wait_until(lambda n=received: smtp_sink.count() >= n, process)
        kill_send(process)
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
    if on_postgresql(ready):
        pytest.skip("on PostgreSQL a second send joins the run (test_three_senders_share_one_run)")
    write_readers(ready, 60)
    first = send_process(ready, smtp_sink.port, rate="20")
    try:
        wait_until(lambda: smtp_sink.count() >= 2, first)
        result = invoke(
            ["-w", str(ready), "send", ISSUE_ID, "--provider", f"smtp://127.0.0.1:{smtp_sink.port}", "--yes"],
            env={"NEWSLETTER_SECRET": SECRET},
        )
        assert result.exit_code == 1
        assert f"Error: a send of issue {ISSUE_ID} is already running (pid {first.pid} on " in result.output
        assert "wait for it to finish" in result.output
    finally:
        first.kill()
        first.wait()


# -- issue 14: SIGTERM and SIGHUP leave a run the scheduler resumes; a full disk is one line -----------


def send_due_process(workspace: Path) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "newsletter",
        "-w",
        str(workspace),
        "send-due",
        "--now",
        "2026-06-02T09:01:00-04:00",
    ]
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def use_smtp(workspace: Path, port: int, rate: int) -> None:
    settings = workspace / "newsletter.yaml"
    text = settings.read_text().replace("provider: outbox", f"provider: smtp://127.0.0.1:{port}")
    settings.write_text(text.replace("  rate: 10\n", f"  rate: {rate}\n"))


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_service_manager_stopping_send_due_leaves_a_run_the_next_send_due_finishes(ready, smtp_sink, stop):
    emails = write_readers(ready, 40)
    use_smtp(ready, smtp_sink.port, rate=40)
    process = send_due_process(ready)
    wait_until(lambda: smtp_sink.count() >= 8, process)
    process.send_signal(stop)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130, err
    assert f"stopped by {stop.name} after the messages in flight" in out and "Traceback" not in err
    with ledger_of(ready) as ledger:
        assert ledger.run(ISSUE_ID).state == RunState.STOPPED
        assert ledger.counts(ISSUE_ID)[RecipientState.SENDING] == 0
    again = send_due_process(ready)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, out + err
    assert "resuming the stopped run" in out
    assert smtp_sink.per_recipient() == dict.fromkeys(emails, 1)


def test_a_held_run_is_left_by_send_due_and_resumed_by_send(ready, smtp_sink):
    emails = write_readers(ready, 30)
    use_smtp(ready, smtp_sink.port, rate=30)
    process = send_process(ready, smtp_sink.port, rate="30")
    wait_until(lambda: smtp_sink.count() >= 5, process)
    held = invoke(["-w", str(ready), "send", ISSUE_ID, "--hold"])
    out, err = process.communicate(timeout=30)

    assert held.exit_code == 0, held.output
    assert process.returncode == 130 and "held by the operator (send --hold)" in out, out + err
    refused = send_due_process(ready)
    out, _ = refused.communicate(timeout=60)
    assert refused.returncode == 5 and "not sent: stopped by an operator" in out
    resumed = send_process(ready, smtp_sink.port)
    resumed.communicate(timeout=60)
    assert resumed.returncode == 0
    assert smtp_sink.per_recipient() == dict.fromkeys(emails, 1)


def test_a_disk_filling_mid_run_stops_it_with_one_line_and_the_next_send_resumes(ready, smtp_sink):
    import resource

    if on_postgresql(ready):
        pytest.skip("the disk that fills is the database server's; SQLite's file is the one limited here")
    emails = write_readers(ready, 200)
    with ledger_of(ready) as ledger:  # the run exists; its files may now grow by a few pages only
        ledger.start_run(ISSUE_ID, "smtp", [], [NewRecipient(e) for e in emails])
    folder = Path(str(state(ready).url.database)).parent
    limit = max(p.stat().st_size for p in folder.glob("*") if p.is_file()) + 40_000

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [sys.executable, "-m", "newsletter", "-w", str(ready), "send", ISSUE_ID,
               "--provider", f"smtp://127.0.0.1:{smtp_sink.port}", "--yes", "--rate", "500"]  # fmt: skip
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET}
    full = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, preexec_fn=small_disk)

    assert full.returncode == 4, full.stdout + full.stderr
    assert "Traceback" not in full.stderr and "Exception in thread" not in full.stderr
    assert "stopped: a sending thread failed: " in full.stdout
    assert "state.sqlite3" in full.stdout and smtp_sink.count() < len(emails)
    status = invoke(["-w", str(ready), "status", ISSUE_ID])
    assert status.output.startswith(f"{ISSUE_ID}: ") and not status.output.startswith(f"{ISSUE_ID}: running")

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    with ledger_of(ready) as ledger:
        unknown = set(ledger.unknown(ISSUE_ID))
    got = smtp_sink.per_recipient()
    assert resumed.returncode in (0, 3), resumed.stdout + resumed.stderr
    assert all(got.get(e) == 1 for e in emails if e not in unknown)
    assert all(got.get(e, 0) <= 1 for e in unknown) and len(unknown) <= 2


def test_three_senders_share_one_postgresql_run_and_a_killed_one_loses_nobody(
    workspace, postgres_url, smtp_sink
):
    write_issue(workspace)
    emails = write_readers(workspace, 300)
    use_database(workspace, postgres_url)
    move_files_in(workspace)  # the lists move into PostgreSQL once, before the senders start
    senders = [send_process(workspace, smtp_sink.port, rate="150") for _ in range(3)]
    wait_until(lambda: smtp_sink.count() >= 60, senders[0])
    kill_send(senders[0])
    survivors = [p.communicate(timeout=120) for p in senders[1:]]

    with ledger_of(workspace) as ledger:
        after_kill = ledger.counts(ISSUE_ID)
    resumed = send_process(workspace, smtp_sink.port)
    out, err = resumed.communicate(timeout=120)
    with ledger_of(workspace) as ledger:
        unknown = set(ledger.unknown(ISSUE_ID))
        counts = ledger.counts(ISSUE_ID)
    got = smtp_sink.per_recipient()
    assert all("Sent " in o for o, _ in survivors), survivors  # each survivor finished with its totals
    sent_by = [int(o.split("Sent ")[1].split(" ")[0]) for o, _ in survivors]
    print(f"survivors sent {sent_by}; after the kill: {dict(after_kill)}; unknown: {len(unknown)}")
    assert all(n > 0 for n in sent_by), survivors  # the run was shared, not done by one
    assert resumed.returncode in (0, 3), out + err
    assert len(unknown) <= CONCURRENCY
    missing = [e for e in emails if e not in unknown and got.get(e, 0) != 1]
    assert missing == [], f"not exactly once: {[(e, got.get(e, 0)) for e in missing]}"
    assert all(got.get(e, 0) <= 1 for e in unknown)
    assert counts[RecipientState.SENT] == len(emails) - len(unknown) and counts[RecipientState.PENDING] == 0


# -- issue 22: a frozen PostgreSQL server stops the send instead of hanging it -----------------------


def server_processes(server) -> list[int]:
    """The PostgreSQL server's processes: the postmaster (first line of postmaster.pid), then its children."""
    postmaster = int((server.folder / "data" / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The parent's pid is the second field after the command's closing parenthesis.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(stat.parent.name))
    return [postmaster, *children]


def backends_of(server, pid: int) -> int:
    """How many server connections a send process (by its pid) still holds."""
    import psycopg

    with psycopg.connect(host=server.host, port=server.port, user=server.user, dbname="postgres") as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s",
            (f"newsletter pid {pid} %",),
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_frozen_postgresql_stops_the_send_with_one_line_and_the_next_send_sends_nobody_twice(
    workspace, postgres_server, postgres_url, smtp_sink
):
    from newsletter.store.fileio import dump_yaml, parse_yaml

    write_issue(workspace)
    emails = write_readers(workspace, 40)
    use_database(workspace, postgres_url)
    settings = workspace / "newsletter.yaml"
    data = parse_yaml(settings.read_text(encoding="utf-8"), settings).data
    data["delivery"]["database_timeout"] = 1
    settings.write_text(dump_yaml(data), encoding="utf-8")
    move_files_in(workspace)  # the lists move into PostgreSQL before the send starts
    password = {"NEWSLETTER_DATABASE_PASSWORD": "never-shown-3f9a"}  # trust auth: accepted, unused
    smtp_sink.hold_after(5)  # from the 6th, each message waits at its final "." for a permit
    process = send_process(workspace, smtp_sink.port, env=password)
    wait_until(lambda: smtp_sink.count() >= 5, process)

    frozen = server_processes(postgres_server)  # SIGSTOP: the connections stay open, nothing answers
    try:
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        smtp_sink.release_all()
        out, err = process.communicate(timeout=120)
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert process.returncode == ExitStatus.PAUSED, out + err
    assert "Traceback" not in err
    assert len(errors) == 1, err
    assert f"{postgres_server.host}:{postgres_server.port}" in errors[0] and "database_timeout" in errors[0]
    assert "never-shown-3f9a" not in out + err
    # The server, awake, drops the dead send's connections and with them its locks.
    wait_until(lambda: backends_of(postgres_server, process.pid) == 0)

    smtp_sink.held_from = None
    resumed = send_process(workspace, smtp_sink.port, env=password)
    out, err = resumed.communicate(timeout=120)
    with ledger_of(workspace) as ledger:
        unknown = set(ledger.unknown(ISSUE_ID))
        counts = ledger.counts(ISSUE_ID)
    got = smtp_sink.per_recipient()
    assert resumed.returncode in (0, 3), out + err
    assert len(unknown) <= CONCURRENCY
    missing = [e for e in emails if e not in unknown and got.get(e, 0) != 1]
    assert missing == [], f"not exactly once: {[(e, got.get(e, 0)) for e in missing]}"
    assert all(got.get(e, 0) <= 1 for e in unknown)
    assert counts[RecipientState.SENT] == len(emails) - len(unknown) and counts[RecipientState.PENDING] == 0
