"""Three sending processes on one run, one of them killed, then a resume: everyone exactly once.

Real parts: the state database (SQLite file, then a PostgreSQL server), separate OS processes, and
an SMTP server on loopback (aiosmtpd) whose record of what arrived is the judge, not the ledger.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from newsletter.delivery import ledger as lg
from newsletter.delivery import records as rec

WORKER = Path(__file__).with_name("db_claim_worker.py")
ISSUE = "2026-06"
RECIPIENTS = 240


def start_worker(url: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, str(WORKER), url, ISSUE, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready", process.stderr.read()
    return process


def wait_until(condition, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.005)


def test_three_senders_one_killed_then_resumed_send_everyone_exactly_once(db, smtp_sink):
    url = db.url.render_as_string(hide_password=False)
    emails = [f"reader{n:04d}@example.org" for n in range(RECIPIENTS)]
    with lg.Ledger(db) as ledger:
        ledger.start_run(ISSUE, "smtp", ["a-summary"], [rec.NewRecipient(e) for e in emails])

    workers = [start_worker(url, smtp_sink.port) for _ in range(3)]
    wait_until(lambda: smtp_sink.count() >= 60)
    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait()
    killed_sent = len(workers[0].stdout.readlines())  # the addresses it printed after each handover
    for worker in workers[1:]:
        assert worker.wait(timeout=120) == 0, worker.stderr.read()
    with lg.Ledger(db) as ledger:
        left_by_the_killed = ledger.counts(ISSUE)
    resume = start_worker(url, smtp_sink.port)
    assert resume.wait(timeout=120) == 0, resume.stderr.read()

    with lg.Ledger(db) as ledger:
        unknown, counts = set(ledger.unknown(ISSUE)), ledger.counts(ISSUE)
    got = smtp_sink.per_recipient()
    print(f"killed worker sent {killed_sent}; after the others: {left_by_the_killed}; unknown: {unknown}")
    assert killed_sent > 0  # it was really working when it died
    assert len(unknown) <= 1  # at most the one message it had in flight
    assert [e for e in emails if e not in unknown and got.get(e) != 1] == []
    assert all(got.get(e, 0) <= 1 for e in unknown)
    assert counts[rec.SENT] == RECIPIENTS - len(unknown) and counts[rec.PENDING] == counts[rec.SENDING] == 0
