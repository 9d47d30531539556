"""`newsletter send --concurrency 4` over worker processes, against a real SMTP server on loopback.

The send's connections are split over up to one process per core; these tests find its worker
processes in /proc, kill one, interrupt the whole process group, and check "exactly once" against
what the server (aiosmtpd, recording every message) really received.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from delivery_helpers import ISSUE_ID, state, workspace_ledger, write_issue, write_readers

from newsletter.delivery import crew, workers
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


def send_process(workspace: Path, provider: str, *extra: str, rate: str = "300") -> subprocess.Popen:
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


def worker_pids(parent: int) -> list[int]:
    """The send's worker processes (multiprocessing's spawned children; not its resource tracker)."""
    found = []
    for children in Path(f"/proc/{parent}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:
                found.append(int(pid))
    return found


def wait_until(condition, process: subprocess.Popen, limit: float = 60.0) -> None:
    """Poll until `condition()` holds (a safety limit only, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the send ended early ({process.returncode}):\n{out}\n{err}")
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.005)


def pid_gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_four_connections_over_two_processes_deliver_each_recipient_exactly_once(ready, smtp_sink):
    emails = write_readers(ready, 200)
    process = send_process(ready, smtp(smtp_sink.port), rate="400")
    wait_until(lambda: smtp_sink.count() >= 10, process)
    helpers = worker_pids(process.pid)
    out, err = process.communicate(timeout=120)

    assert process.returncode == 0, out + err
    assert len(helpers) == crew.processes_for("smtp", CONNECTIONS)
    assert len(helpers) > 1 or (os.cpu_count() or 1) == 1
    assert smtp_sink.per_recipient() == dict.fromkeys(emails, 1)
    with workspace_ledger(ready) as ledger:
        assert ledger.counts(ISSUE_ID)[R.SENT] == len(emails)
        assert ledger.run(ISSUE_ID).state == RunState.FINISHED
    # One progress line and one outcome for the whole send; the workers print nothing.
    assert f"{len(emails)}/{len(emails)}  sent {len(emails)}" in err
    assert out.count(f"Issue {ISSUE_ID}: finished. Sent {len(emails)} in this run") == 1
    assert "Traceback" not in out + err
    assert all(pid_gone(pid) for pid in helpers)


def test_a_killed_worker_pauses_the_run_and_the_next_send_finishes_it_without_duplicates(ready, smtp_sink):
    emails = write_readers(ready, 150)
    process = send_process(ready, smtp(smtp_sink.port), rate="150")
    wait_until(lambda: smtp_sink.count() >= 30, process)
    victim, *others = worker_pids(process.pid)
    os.kill(victim, signal.SIGKILL)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 4, out + err  # paused
    assert f"a sending process (pid {victim}) ended unexpectedly (killed by SIGKILL)" in out
    assert all(pid_gone(pid) for pid in others)
    with workspace_ledger(ready) as ledger:
        assert ledger.run(ISSUE_ID).state == RunState.PAUSED
        counts = ledger.counts(ISSUE_ID)
    in_doubt = counts[R.SENDING] + counts[R.UNKNOWN]
    assert in_doubt <= CONNECTIONS // len([victim, *others])  # one per connection of the killed worker
    assert counts[R.PENDING] > 0  # the others stopped after their messages in flight, not at the end

    again = send_process(ready, smtp(smtp_sink.port))
    out, err = again.communicate(timeout=120)
    with workspace_ledger(ready) as ledger:
        unknown = set(ledger.unknown(ISSUE_ID))
        counts = ledger.counts(ISSUE_ID)
    got = smtp_sink.per_recipient()
    assert again.returncode in (0, 3), out + err
    assert len(unknown) == in_doubt
    assert [e for e in emails if e not in unknown and got.get(e, 0) != 1] == []
    assert all(got.get(e, 0) <= 1 for e in unknown)  # never twice, and not resent unasked
    assert counts[R.SENT] == len(emails) - len(unknown)


def test_killing_the_parent_takes_its_workers_with_it_and_the_next_send_resumes(ready, smtp_sink):
    emails = write_readers(ready, 120)
    process = send_process(ready, smtp(smtp_sink.port), rate="100")
    wait_until(lambda: smtp_sink.count() >= 20, process)
    helpers = worker_pids(process.pid)
    process.kill()
    process.communicate()
    deadline = time.monotonic() + 30
    while not all(pid_gone(pid) for pid in helpers):  # a safety limit only, not a timing assertion
        assert time.monotonic() < deadline, "a worker outlived its parent"
        time.sleep(0.01)

    again = send_process(ready, smtp(smtp_sink.port))
    out, err = again.communicate(timeout=120)
    with workspace_ledger(ready) as ledger:
        unknown = set(ledger.unknown(ISSUE_ID))
    got = smtp_sink.per_recipient()
    assert again.returncode in (0, 3), out + err
    assert len(unknown) <= CONNECTIONS
    assert [e for e in emails if e not in unknown and got.get(e, 0) != 1] == []
    assert all(got.get(e, 0) <= 1 for e in unknown)


def test_ctrl_c_to_the_process_group_stops_every_process_after_its_messages_in_flight(ready, smtp_sink):
    emails = write_readers(ready, 120)
    process = send_process(ready, smtp(smtp_sink.port), rate="80")
    wait_until(lambda: smtp_sink.count() >= 10, process)
    helpers = worker_pids(process.pid)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130, out + err
    assert "stopped by the operator after the messages in flight" in out and "Traceback" not in out + err
    assert all(pid_gone(pid) for pid in helpers)
    with workspace_ledger(ready) as ledger:
        counts = ledger.counts(ISSUE_ID)
        assert ledger.run(ISSUE_ID).state == RunState.INTERRUPTED
    assert counts[R.SENDING] == counts[R.UNKNOWN] == 0  # nothing in doubt: all finished in flight
    assert counts[R.SENT] == smtp_sink.count() < len(emails)

    again = send_process(ready, smtp(smtp_sink.port))
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    assert smtp_sink.per_recipient() == dict.fromkeys(emails, 1)


def test_sigterm_to_the_parent_alone_reaches_the_workers_and_leaves_the_run_resumable(workspace, smtp_sink):
    write_issue(workspace)
    emails = write_readers(workspace, 100)
    process = send_process(workspace, smtp(smtp_sink.port), rate="80")
    wait_until(lambda: smtp_sink.count() >= 10, process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130, out + err
    assert "stopped by SIGTERM after the messages in flight" in out
    with workspace_ledger(workspace) as ledger:
        assert ledger.run(ISSUE_ID).state == RunState.STOPPED
        assert ledger.counts(ISSUE_ID)[R.SENDING] == 0
    again = send_process(workspace, smtp(smtp_sink.port))
    again.communicate(timeout=120)
    assert smtp_sink.per_recipient() == dict.fromkeys(emails, 1)


def test_workers_that_cannot_log_in_pause_the_run_with_one_line_saying_why(workspace, smtp_sink):
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


def test_send_hold_from_another_terminal_stops_every_worker(workspace, smtp_sink):
    write_issue(workspace)
    emails = write_readers(workspace, 100)
    process = send_process(workspace, smtp(smtp_sink.port), rate="60")
    wait_until(lambda: smtp_sink.count() >= 10, process)
    hold = subprocess.run(
        [sys.executable, "-m", "newsletter", "-w", str(workspace), "send", ISSUE_ID, "--hold"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    out, err = process.communicate(timeout=30)

    assert hold.returncode == 0, hold.stderr
    assert process.returncode == 130, out + err
    assert "held by the operator (send --hold)" in out
    with workspace_ledger(workspace) as ledger:
        assert ledger.run(ISSUE_ID).state == RunState.INTERRUPTED
        assert ledger.counts(ISSUE_ID)[R.SENDING] == 0
    assert smtp_sink.count() < len(emails)


def test_the_bounce_rate_pause_counts_the_attempts_of_all_workers_together(workspace, smtp_sink):
    write_issue(workspace)
    settings = workspace / "newsletter.yaml"
    settings.write_text(
        settings.read_text() + "bounces:\n  address: bounces@example.org\n  pause_min_attempts: 100\n"
    )
    emails = write_readers(workspace, 400)
    dead = emails[::10]  # 10 %, over the 5 % limit, spread through the list
    for email in dead:
        smtp_sink.replies[email] = [f"550 5.1.1 <{email}>: Recipient address rejected: User unknown"]
    process = send_process(workspace, smtp(smtp_sink.port), rate="100")
    out, err = process.communicate(timeout=120)

    assert process.returncode == 4, out + err
    assert "bounced hard (" in out and f"Issue {ISSUE_ID}: paused." in out
    attempts = smtp_sink.count() + sum(1 for e in dead if not smtp_sink.replies[e])
    assert 100 <= attempts < len(emails)  # past the minimum over all workers, well before the end


def run_worker(job: workers.Job) -> tuple:
    """One worker process started as a send starts it; returns its last report."""
    context = multiprocessing.get_context("spawn")
    up_read, up_write = context.Pipe(duplex=False)
    down_read, down_write = context.Pipe(duplex=False)
    process = context.Process(target=workers.work, args=(job, up_write, down_read))
    process.start()
    up_write.close()
    reports = []
    while True:
        try:
            reports.append(up_read.recv())
        except EOFError:
            break
    process.join()
    down_write.close()
    return reports[-1]


def test_a_worker_refuses_to_start_a_run_or_to_send_an_issue_changed_since_the_check(workspace):
    write_issue(workspace)
    write_readers(workspace, 3)
    state(workspace)
    job = workers.Job(str(workspace), ISSUE_ID, "outbox", 10.0, 1, 3, True, digest="")

    changed = (
        "failed",
        f"issue {ISSUE_ID} or its settings, topics or templates changed on disk after `newsletter send`"
        " checked it; run the send again",
    )
    assert run_worker(job) == changed

    from newsletter.store import issues
    from newsletter.store.config import load_settings

    root = load_settings(workspace).workspace
    issue, summaries = issues.load_issue_content(root, ISSUE_ID)
    checked = workers.Job(**{**job.__dict__, "digest": workers.issue_digest(root, issue, summaries)})
    # A template override saved after the check changes the email: the worker will not send it.
    (workspace / "templates").mkdir(exist_ok=True)
    (workspace / "templates" / "footer.txt").write_text("edited after the check\n", encoding="utf-8")
    assert run_worker(checked) == changed
    (workspace / "templates" / "footer.txt").unlink()
    no_run = run_worker(checked)
    assert no_run == ("failed", f"a worker process only joins a running send of issue {ISSUE_ID}, and its"
                                " run is not started")  # fmt: skip
    with workspace_ledger(workspace) as ledger:
        assert ledger.run(ISSUE_ID) is None


def test_connections_and_rate_are_split_over_the_processes_and_add_up():
    assert crew.processes_for("smtp", 1, cpus=2) == 1  # one connection: no extra process
    assert crew.processes_for("smtp", 4, cpus=2) == 2
    assert crew.processes_for("smtp", 3, cpus=8) == 3
    assert crew.processes_for("ses", 8, cpus=8) == 1  # HTTP under a quota: threads
    assert crew.processes_for("outbox", 8, cpus=8) == 1  # its threads share each disk flush
    assert crew.shares(5, 2) == [3, 2] and crew.shares(4, 4) == [1, 1, 1, 1]
    jobs = crew.jobs_for("ws", ISSUE_ID, None, 10.0, 5, 2, 5, False, "d")
    assert [j.connections for j in jobs] == [3, 2]
    assert sum(j.rate for j in jobs) == pytest.approx(10.0) and jobs[0].rate == pytest.approx(6.0)


def test_a_worker_given_its_parents_renderings_makes_the_same_messages_without_rendering(
    workspace, monkeypatch
):
    import pickle

    from newsletter import render
    from newsletter.compose.reader import Reader
    from newsletter.mail.factory import MessageFactory
    from newsletter.store import issues
    from newsletter.store.config import load_settings

    write_issue(workspace)
    settings = load_settings(workspace)
    issue, summaries = issues.load_issue_content(settings.workspace, ISSUE_ID)
    readers = [
        Reader("ann@example.org", "Ann"),
        Reader("bo@example.org", "Bo", topics=("Immune cells and inflammation",)),
        Reader("cy@example.org", "Cy", large_text=True),
    ]
    parent = MessageFactory.for_issue(settings, issue, summaries, b"k" * 32)
    renderings = pickle.loads(pickle.dumps(parent.renderings_for(readers)))  # as a Job carries them
    assert len(renderings) == 2  # Bo's topic picks every section of this issue: Ann's rendering

    monkeypatch.setattr(render, "render_issue", lambda *args, **kwargs: pytest.fail("rendered again"))
    worker = MessageFactory.for_issue(settings, issue, summaries, b"k" * 32, prepared=renderings)
    for reader in readers:
        made, expected = worker.parts(reader), parent.parts(reader)
        assert (made.subject, made.html, made.text) == (expected.subject, expected.html, expected.text)


def test_the_fingerprint_covers_the_template_files_and_skips_what_is_not_a_file(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "footer.txt").write_text("As sent.\n", encoding="utf-8")
    os.mkfifo(templates / "pipe")  # read, it would wait for a writer for ever
    before = workers.issue_digest(tmp_path, "the issue", {})

    (templates / "footer.txt").write_text("Edited.\n", encoding="utf-8")

    assert workers.issue_digest(tmp_path, "the issue", {}) != before
