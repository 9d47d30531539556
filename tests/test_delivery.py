"""The delivery engine: streaming, retries with backoff, bounces, pausing, and resuming from the ledger.

These tests drive the engine with a small scripted provider (the Provider protocol is two methods);
the SMTP behaviour against a real aiosmtpd server is in test_send_crash.py and test_send_smtp.py.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest

from newsletter.console import ProgressPrinter
from newsletter.delivery import ledger as lg
from newsletter.delivery.engine import Engine
from newsletter.delivery.pacing import DeliveryOptions, RateLimiter, backoff_delay
from newsletter.delivery.records import NewRecipient, RecipientRow, RecipientState, RunState
from newsletter.delivery.reporting import Tally
from newsletter.errors import ExitStatus
from newsletter.providers.base import OutgoingMessage, SendResult

ISSUE = "2026-06"


class ScriptedProvider:
    """Answers each send from a script keyed by address (default: accepted); records what it accepted."""

    name = "scripted"

    def __init__(self, world: ScriptedWorld):
        self.world = world
        self.closed = False

    def send(self, message: OutgoingMessage, ready=None) -> SendResult:
        if ready is not None:
            ready()
        with self.world.lock:
            replies = self.world.script.get(message.envelope_to, [])
            reply = replies.pop(0) if replies else "sent"
            self.world.attempts.append(message.envelope_to)
        if reply == "drop":
            raise ConnectionResetError("connection dropped by the server")
        if reply == "sent":
            with self.world.lock:
                self.world.delivered.append(message.envelope_to)
            return SendResult("sent", "250 OK", provider_id=f"id-{message.envelope_to}")
        status, detail = reply
        return SendResult(status, detail)

    def close(self) -> None:
        self.closed = True


class ScriptedWorld:
    def __init__(self, script: dict | None = None, down_for: int = 0):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.lock = threading.Lock()
        self.attempts: list[str] = []
        self.delivered: list[str] = []
        self.connections: list[ScriptedProvider] = []
        self.down_for = down_for  # the first N connection attempts fail: a server down at the start

    def connect(self) -> ScriptedProvider:
        with self.lock:
            if self.down_for > 0:
                self.down_for -= 1
                raise ConnectionRefusedError("[Errno 111] Connection refused")
            provider = ScriptedProvider(self)
            self.connections.append(provider)
            return provider


def build(row: RecipientRow) -> OutgoingMessage:
    return OutgoingMessage(ISSUE, "roundup@example.org", row.email, f"<{row.rowid}@example.org>", b"Hi\r\n")


FAST = DeliveryOptions(rate=10_000, concurrency=2, max_attempts=3, backoff_base=0.001, pause_after=5)


@pytest.fixture
def ledger(tmp_path: Path):
    from delivery_helpers import sqlite_state

    engine = sqlite_state(tmp_path)
    with lg.Ledger(engine) as opened:
        yield opened
    engine.dispose()


def start(ledger: lg.Ledger, count: int) -> list[str]:
    emails = [f"reader{n:03d}@example.org" for n in range(count)]
    ledger.start_run(ISSUE, "scripted", ["a-summary"], [NewRecipient(e) for e in emails])
    return emails


def engine(ledger, world, options=FAST, open_provider=None, **kwargs) -> Engine:
    connect = open_provider or world.connect
    return Engine(ledger, ISSUE, build, connect, options, rng=random.Random(1), **kwargs)


def test_every_recipient_is_sent_once_and_the_run_finishes(ledger):
    emails = start(ledger, 50)
    world = ScriptedWorld()

    outcome = engine(ledger, world).run()

    assert sorted(world.delivered) == emails
    assert outcome.state == RunState.FINISHED and outcome.exit_code == 0 and outcome.sent_now == 50
    assert ledger.counts(ISSUE)[RecipientState.SENT] == 50
    # One connection per sender that got work (a busy machine can let one sender take all 50),
    # never one per message, and every one closed at the end.
    assert 1 <= len(world.connections) <= FAST.concurrency and all(p.closed for p in world.connections)


def test_a_transient_reply_is_retried_until_accepted(ledger):
    emails = start(ledger, 3)
    world = ScriptedWorld({emails[1]: [("transient", "451 4.3.0 try again later")] * 2})

    outcome = engine(ledger, world).run()

    assert world.attempts.count(emails[1]) == 3
    assert sorted(world.delivered) == emails
    assert outcome.state == RunState.FINISHED


def test_transient_failures_beyond_the_limit_stay_resumable(ledger):
    emails = start(ledger, 3)
    world = ScriptedWorld({emails[0]: [("transient", "451 4.3.0 try again later")] * 3})

    outcome = engine(ledger, world).run()

    assert outcome.state == RunState.INCOMPLETE and outcome.exit_code == ExitStatus.FAILURES
    assert [(f.email, f.state) for f in ledger.failures(ISSUE)] == [
        (emails[0], RecipientState.FAILED_TRANSIENT)
    ]
    # The next run sends it (the server has recovered) and nobody else again.
    outcome = engine(ledger, world).run()
    assert outcome.state == RunState.FINISHED and outcome.sent_now == 1
    assert sorted(world.delivered) == emails


def test_a_permanent_reply_is_not_retried_and_a_recipient_rejection_is_a_bounce(ledger):
    emails = start(ledger, 3)
    world = ScriptedWorld(
        {
            emails[0]: [("permanent", "550 5.1.1 <reader000@example.org>: no such user")],
            emails[1]: [("permanent", "554 5.6.0 message content rejected")],
        }
    )
    bounced: list[tuple[str, str]] = []

    outcome = engine(ledger, world, on_bounce=lambda email, reason: bounced.append((email, reason))).run()

    assert world.attempts.count(emails[0]) == 1 and world.attempts.count(emails[1]) == 1
    assert bounced == [(emails[0], "550 5.1.1 <reader000@example.org>: no such user")]
    assert outcome.state == RunState.FINISHED and outcome.exit_code == ExitStatus.FAILURES
    assert outcome.counts[RecipientState.FAILED_PERMANENT] == 2


def test_a_dropped_connection_is_retried_on_a_fresh_connection(ledger):
    emails = start(ledger, 4)
    world = ScriptedWorld({emails[2]: ["drop"]})

    outcome = engine(ledger, world, options=FAST.__class__(**{**FAST.__dict__, "concurrency": 1})).run()

    assert sorted(world.delivered) == emails
    assert outcome.state == RunState.FINISHED
    assert len(world.connections) == 2  # the broken one was closed and replaced


def test_a_server_down_at_the_start_is_waited_for_with_backoff(ledger):
    emails = start(ledger, 5)
    world = ScriptedWorld(down_for=2)

    outcome = engine(ledger, world).run()

    assert sorted(world.delivered) == emails and outcome.state == RunState.FINISHED


def test_too_many_consecutive_errors_pause_the_run_and_say_why(ledger):
    start(ledger, 40)
    world = ScriptedWorld(down_for=10_000)

    outcome = engine(ledger, world).run()

    assert outcome.state == RunState.PAUSED and outcome.exit_code == ExitStatus.PAUSED
    assert (
        "paused after 5 errors in a row; last: cannot connect: [Errno 111] Connection refused" in outcome.note
    )
    assert ledger.run(ISSUE).state == RunState.PAUSED
    assert world.delivered == []
    # Nobody was lost: once the server is back, a new run sends everyone.
    world.down_for = 0
    assert engine(ledger, world).run().state == RunState.FINISHED
    assert len(world.delivered) == 40


def test_someone_who_unsubscribes_mid_run_is_skipped(ledger):
    from newsletter.db.suppression import unsubscribe

    emails = start(ledger, 5)  # the recipients are fixed now; then one of them unsubscribes
    unsubscribe(ledger.engine, emails[3].upper(), "one-click unsubscribe")
    world = ScriptedWorld()

    outcome = engine(ledger, world).run()

    assert emails[3] not in world.delivered and len(world.delivered) == 4
    assert ledger.failures(ISSUE)[0].last_error == "unsubscribed or suppressed during the run"
    assert (
        outcome.counts[RecipientState.SKIPPED] == 1
        and outcome.state == RunState.FINISHED
        and outcome.exit_code == 0
    )


def test_a_stop_request_finishes_the_messages_in_flight_and_leaves_a_resumable_run(ledger):
    emails = start(ledger, 30)
    world = ScriptedWorld()
    stop = threading.Event()

    def build_then_stop(row: RecipientRow) -> OutgoingMessage:
        if row.rowid == 10:
            stop.set()  # as Ctrl-C would, from the signal handler
        return build(row)

    outcome = Engine(ledger, ISSUE, build_then_stop, world.connect, FAST, stop=stop).run()

    assert outcome.state == RunState.INTERRUPTED and outcome.exit_code == ExitStatus.INTERRUPTED
    counts = ledger.counts(ISSUE)
    assert counts[RecipientState.SENDING] == 0 and counts[RecipientState.SENT] == len(world.delivered) < 30
    outcome = engine(ledger, world).run()
    assert outcome.state == RunState.FINISHED and sorted(world.delivered) == emails


def test_the_rate_limiter_spaces_slots_evenly():
    now = [100.0]
    limiter = RateLimiter(4.0, clock=lambda: now[0])
    assert limiter.take() == pytest.approx(100.0)  # the first slot is now
    assert limiter.take() == pytest.approx(100.25)
    now[0] = 200.0  # after a long idle spell, no burst is banked
    assert limiter.take() == pytest.approx(200.0)
    assert limiter.take() == pytest.approx(200.25)


def test_backoff_doubles_up_to_a_ceiling_with_jitter():
    options = DeliveryOptions(rate=1, concurrency=1, backoff_base=2, backoff_max=30)
    rng = random.Random(7)
    delays = [backoff_delay(n, options, rng) for n in range(1, 7)]
    ceilings = [2, 4, 8, 16, 30, 30]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))


def test_progress_lines_are_plain_when_not_on_a_terminal_and_the_end_is_shown_once():
    import io

    stream = io.StringIO()
    printer = ProgressPrinter(stream, tty=False, every=5)
    tally = Tally(total=10, sent=4, failed_permanent=1)
    printer(tally, False)  # too soon: the first line comes `every` seconds in
    tally.started -= 6
    printer(tally, False)
    printer(tally, False)  # too soon for another line
    printer(tally, True)  # nothing new since the last line: not repeated
    tally.sent = 9
    printer(tally, True)

    lines = [masked(line) for line in stream.getvalue().splitlines()]
    assert lines == [
        "5/10  sent 4  failed 1  skipped 0  R/s  T left",
        "10/10  sent 9  failed 1  skipped 0  R/s  T left",
    ]


def test_on_a_terminal_the_progress_bar_is_redrawn_in_place_and_ends_its_line():
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    printer = ProgressPrinter(stream)
    tally = Tally(total=8, sent=2)
    printer(tally, False)
    tally.sent = 8
    printer(tally, True)

    import re

    # Click's own cursor hiding (8.2 on) and its padding over a longer earlier line are not ours to test.
    shown = re.sub(r"\x1b\[\?25[lh]", "", stream.getvalue())
    draws = [re.sub(r" +(\n?)$", r"\1", masked(draw)) for draw in shown.split("\r")]
    assert draws == [
        "",
        "[######------------------]  2/8  sent 2  failed 0  skipped 0  R/s  T left",
        "[########################]  8/8  sent 8  failed 0  skipped 0  R/s  T left\n",
    ]


def masked(text: str) -> str:
    """Output with the figures that depend on the clock (rates, times left, seconds taken) replaced."""
    import re

    text = re.sub(r"\d+\.\d/s  \d+[hm]\d\d[ms] left", "R/s  T left", text)
    return re.sub(r"\(\d+\.\d s\)", "(S s)", text)


# -- the same engine against a real SMTP server (aiosmtpd on loopback) -------------------------------


def smtp_engine(ledger, port: int, options: DeliveryOptions, **kwargs) -> Engine:
    from newsletter.providers.smtp import SmtpProvider

    return Engine(
        ledger, ISSUE, build, lambda: SmtpProvider("127.0.0.1", port, "none", timeout=5), options,
        rng=random.Random(3), **kwargs,
    )  # fmt: skip


SMTP_FAST = DeliveryOptions(rate=10_000, concurrency=2, max_attempts=4, backoff_base=0.01, pause_after=8)


def test_smtp_451_is_retried_and_550_is_a_bounce_not_retried(ledger, smtp_sink):
    emails = start(ledger, 6)
    smtp_sink.replies[emails[1]] = ["451 4.3.0 mailbox busy, try later"] * 2
    smtp_sink.replies[emails[2]] = ["550 5.1.1 no such user"]
    bounced = []

    outcome = smtp_engine(ledger, smtp_sink.port, SMTP_FAST, on_bounce=lambda e, r: bounced.append(e)).run()

    got = smtp_sink.per_recipient()
    assert got == {e: 1 for e in emails if e != emails[2]}
    assert bounced == [emails[2]]
    failures = ledger.failures(ISSUE)
    assert [(f.email, f.state, f.attempts) for f in failures] == [
        (emails[2], RecipientState.FAILED_PERMANENT, 1)
    ]
    assert failures[0].last_error.startswith("550 5.1.1 no such user")
    assert outcome.exit_code == ExitStatus.FAILURES


def test_smtp_dropped_connection_is_sent_again_on_a_new_connection(ledger, smtp_sink):
    emails = start(ledger, 5)
    smtp_sink.drop[emails[3]] = 2  # dropped twice: the provider's own reconnect and one engine retry

    outcome = smtp_engine(ledger, smtp_sink.port, SMTP_FAST).run()

    assert smtp_sink.per_recipient() == dict.fromkeys(emails, 1)
    assert outcome.state == RunState.FINISHED


def test_smtp_server_down_at_the_start_is_retried_until_it_is_up(ledger):
    from delivery_helpers import RecordingSink, free_port, start_sink

    emails = start(ledger, 4)
    port = free_port()
    handler = RecordingSink()
    controllers = []
    # The server comes up a moment after the run starts; until then every connection is refused.
    timer = threading.Timer(0.3, lambda: controllers.append(start_sink(handler, port)))
    timer.start()
    options = DeliveryOptions(
        rate=10_000, concurrency=2, max_attempts=12, backoff_base=0.05, backoff_max=0.4, pause_after=100
    )
    try:
        outcome = smtp_engine(ledger, port, options).run()
    finally:
        timer.join()
        for controller in controllers:
            controller.stop()
    assert handler.per_recipient() == dict.fromkeys(emails, 1)
    assert outcome.state == RunState.FINISHED
    assert ledger.failures(ISSUE) == []


def test_smtp_server_refusing_everything_pauses_the_run_with_its_reply(ledger, smtp_sink):
    start(ledger, 30)
    smtp_sink.refuse_all = "451 4.7.1 greylisted, come back later"

    outcome = smtp_engine(ledger, smtp_sink.port, SMTP_FAST).run()

    assert outcome.state == RunState.PAUSED and outcome.exit_code == ExitStatus.PAUSED
    assert "paused after 8 errors in a row; last: 451 4.7.1 greylisted, come back later" in outcome.note
    assert smtp_sink.count() == 0
    assert outcome.counts[RecipientState.PENDING] + outcome.counts[RecipientState.FAILED_TRANSIENT] == 30


# -- `newsletter send` through the command line ------------------------------------------------------


SECRET_ENV = {"NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"}


def invoke(workspace, *args: str, env: dict | None = None, input: str | None = None):
    from factories import invoke

    return invoke(["-w", str(workspace), *args], env=env or {}, input=input)


def test_a_hard_bounce_marks_the_subscriber_bounced_and_suppressed(workspace, smtp_sink):
    from delivery_helpers import state, write_issue, write_readers

    from newsletter.db.audience import iter_memberships
    from newsletter.db.suppression import is_suppressed

    write_issue(workspace)
    emails = write_readers(workspace, 4)
    smtp_sink.replies[emails[1]] = ["550 5.1.1 <reader0001@example.org>: user unknown"]

    result = invoke(workspace, "send", ISSUE, "--provider", f"smtp://127.0.0.1:{smtp_sink.port}", "--yes",
                    "--rate", "1000", env=SECRET_ENV)  # fmt: skip

    assert result.exit_code == ExitStatus.FAILURES, result.output
    assert f"{emails[1]}: failed_permanent after 1 attempt(s): 550 5.1.1" in result.output
    assert is_suppressed(state(workspace), emails[1])
    assert {r["email"]: r["status"] for r in iter_memberships(state(workspace))}[emails[1]] == "bounced"
    assert sorted(smtp_sink.per_recipient()) == [emails[0], emails[2], emails[3]]


def test_the_plan_counts_who_is_left_out_and_a_dry_run_sends_nothing(workspace):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 5)
    with (workspace / "subscribers" / "readers.csv").open("a", encoding="utf-8") as f:
        f.write("gone@example.org,Gone,,unsubscribed,2026-01-01\nnot-an-address,Bad,,subscribed,2026-01-01\n")
    with (workspace / "subscribers" / "suppressed.csv").open("a", encoding="utf-8") as f:
        f.write("reader0004@example.org,complained,2026-02-01\n")

    result = invoke(workspace, "send", ISSUE, "--dry-run")
    shown = invoke(workspace, "send", ISSUE, "--dry-run", "--show")

    assert result.exit_code == 0, result.output
    # Everyone in the lists is accounted for: sent already + to send + left out by reason.
    assert "  in the lists: 6 = 0 already sent + 4 to send + 2 left out\n" in result.output
    assert "  left out: 1 suppressed, 1 unsubscribed, 0 bounced\n" in result.output
    assert "  to send now: 4\n" in result.output
    assert "  provider: outbox, 10 messages/s, 2 connection(s), about 0 s" in result.output
    assert "Dry run: nothing sent." in result.output
    assert not (workspace / "outbox").exists()
    assert "  left out, suppressed: reader0004@example.org\n" in shown.output
    assert "  left out, unsubscribed: gone@example.org\n" in shown.output
    assert "  to send or sent: reader0003@example.org\n" in shown.output


def test_a_send_without_a_terminal_needs_yes(workspace):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 2)

    result = invoke(workspace, "send", ISSUE)

    assert result.exit_code == 1
    assert (
        "Error: not sending: nobody at a terminal can confirm; add --yes to send without asking"
        in result.output
    )


def test_a_test_send_goes_to_any_address_with_test_in_the_subject_and_is_recorded_nowhere(
    workspace, smtp_sink
):
    from email import policy
    from email.parser import BytesParser

    from delivery_helpers import write_issue

    write_issue(workspace)
    received = smtp_sink.messages
    result = invoke(workspace, "send", ISSUE, "--test-to", "editor@elsewhere.example", "--provider",
                    f"smtp://127.0.0.1:{smtp_sink.port}", env=SECRET_ENV)  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "test sent to editor@elsewhere.example" in result.output
    message = BytesParser(policy=policy.default).parsebytes(received[0])
    assert message["Subject"] == "[TEST] Microglia, healing and harm"
    status = invoke(workspace, "status")
    assert status.stdout == "No issue has been sent yet.\n"


def test_status_shows_each_run_its_counts_and_failures_and_json_for_scripts(workspace, smtp_sink):
    import json

    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    emails = write_readers(workspace, 3)
    smtp_sink.replies[emails[2]] = ["550 5.1.1 user unknown"]
    invoke(
        workspace, "send", ISSUE, "--provider", f"smtp://127.0.0.1:{smtp_sink.port}", "--yes", env=SECRET_ENV
    )

    text = invoke(workspace, "status", ISSUE)
    data = json.loads(invoke(workspace, "status", "--json").output)

    assert text.exit_code == 0
    lines = text.output.splitlines()
    assert lines[0].startswith(f"{ISSUE}: finished (finished ")
    assert lines[0].endswith("via smtp): 2 sent, 1 failed_permanent")
    assert lines[1] == f"  {emails[2]}: failed_permanent after 1 attempt(s): 550 5.1.1 user unknown"
    assert data[0]["issue"] == ISSUE and data[0]["counts"]["sent"] == 2
    assert data[0]["failures"] == [
        {"email": emails[2], "state": "failed_permanent", "attempts": 1, "error": "550 5.1.1 user unknown"}
    ]
    missing = invoke(workspace, "status", "2099-01")
    assert missing.exit_code == 1 and "issue 2099-01 has not been sent yet" in missing.output


def test_the_recipients_are_fixed_when_the_run_starts(workspace):
    from delivery_helpers import add_readers, workspace_ledger, write_issue, write_readers

    write_issue(workspace)
    emails = write_readers(workspace, 4)
    with workspace_ledger(workspace) as ledger:  # as a run stopped after one message
        ledger.start_run(ISSUE, "outbox", [], [NewRecipient(e) for e in emails])
        ledger.mark_sent(ISSUE, emails[0], "<m@example.org>", None)
        ledger.set_run_state(ISSUE, RunState.INTERRUPTED, "stopped")
    add_readers(
        workspace, ["late1@example.org,Late,,subscribed,2026-06-02", "late2@example.org,Later,,subscribed,"]
    )

    plan = invoke(workspace, "send", ISSUE, "--dry-run")
    result = invoke(workspace, "send", ISSUE, "--yes", env=SECRET_ENV)

    assert "  2 subscribed after this run started: not included\n  to send now: 3\n" in plan.output
    assert result.exit_code == 0, result.output
    assert outbox_recipients(workspace) == emails[1:]  # neither the one already sent nor the late ones
    assert "Totals: 4 sent" in result.output


def outbox_recipients(workspace) -> list[str]:
    from email.parser import BytesHeaderParser
    from email.utils import parseaddr

    messages = (workspace / "outbox" / ISSUE).glob("*.eml")
    return sorted(parseaddr(BytesHeaderParser().parsebytes(m.read_bytes())["To"])[1] for m in messages)


def test_a_send_and_a_send_with_nothing_left_print_exactly_this(workspace):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 3)
    invoke(workspace, "db", "upgrade")  # the lists move into the database (and say so) here

    first = invoke(workspace, "send", ISSUE, "--yes", "--rate", "1000", env=SECRET_ENV)
    status = invoke(workspace, "status").output
    again = invoke(workspace, "send", ISSUE, "--yes", "--rate", "1000", "--provider", "outbox:elsewhere",
                   env=SECRET_ENV)  # fmt: skip

    assert first.exit_code == 0 and again.exit_code == 0
    assert masked(first.output).splitlines() == [
        "Issue 2026-06: Microglia, healing and harm",
        "  in the lists: 3 = 0 already sent + 3 to send + 0 left out",
        "  left out: 0 suppressed, 0 unsubscribed, 0 bounced",
        "  recipients: 3 subscribed",
        "  already sent this issue: 0",
        "  to send now: 3",
        "  provider: outbox, 1000 messages/s, 2 connection(s), about 0 s",
        "3/3  sent 3  failed 0  skipped 0  R/s  T left",
        "Issue 2026-06: finished. Sent 3 in this run (S s). Totals: 3 sent, 0 failed permanently,"
        " 0 failed for now, 0 unknown, 0 skipped, 0 pending.",
    ]
    finished = status.split("finished (finished ")[1].split(",")[0]
    assert masked(again.output).splitlines() == [
        "Issue 2026-06: Microglia, healing and harm",
        "  in the lists: 3 = 3 already sent + 0 to send + 0 left out",
        "  left out: 0 suppressed, 0 unsubscribed, 0 bounced",
        "  recipients: 3 subscribed",
        "  already sent this issue: 3",
        "  to send now: 0",
        "  provider: outbox, 1000 messages/s, 2 connection(s), about 0 s",
        "Issue 2026-06: finished. Sent 0 in this run (S s). Totals: 3 sent, 0 failed permanently,"
        " 0 failed for now, 0 unknown, 0 skipped, 0 pending.",
        f"  nothing left to send; the run finished at {finished}",
    ]
    # The re-run with nothing to send leaves the run as the real send left it (time and provider).
    assert invoke(workspace, "status").output == status


def test_invalid_rows_never_reach_a_send_and_are_reported_with_file_and_line(workspace):
    from delivery_helpers import workspace_ledger, write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 3)
    with (workspace / "subscribers" / "readers.csv").open("a", encoding="utf-8") as f:
        f.writelines(f"bad{n}-at-example.org,Bad,,subscribed,2026-01-01\n" for n in range(23))

    sent = invoke(workspace, "send", ISSUE, "--yes", env=SECRET_ENV)

    # The files move into the database on first use; rows that cannot are reported, not sent to.
    assert sent.exit_code == 0, sent.output
    assert (
        "readers: 3 added, 0 updated, 0 unchanged, 0 opted out, 0 suppressed (not resubscribed), 23 invalid"
        in (sent.stderr)
    )
    assert f"{workspace / 'subscribers' / 'readers.csv'}:5: 'bad0-at-example.org' is not a valid email" in (
        sent.stderr
    )
    with workspace_ledger(workspace) as ledger:
        assert ledger.counts(ISSUE)[RecipientState.SENT] == 3


def test_answering_no_sends_nothing_and_exits_non_zero(workspace, monkeypatch):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace, send_at="2099-06-02T09:00:00-04:00")
    write_readers(workspace, 2)
    monkeypatch.setattr("newsletter.cli.sending.at_terminal", lambda: True)  # as if someone were there

    result = invoke(workspace, "send", ISSUE, input="n\n", env=SECRET_ENV)

    assert result.exit_code == ExitStatus.REFUSED, result.output
    assert (
        "Warning: the issue is scheduled for 2099-06-02T09:00:00-04:00 (send_at); sending now is before"
        in (result.output)
    )
    assert "Not sent." in result.output and not (workspace / "outbox").exists()


# -- issue 14: results in doubt, worker faults, the send gate, hostile inputs --------------------------


class HandedOverThenTimedOut:
    """A provider that says `unknown` for one address: the body was handed over, the reply never came."""

    name = "timing-out"

    def __init__(self, doubtful: str, attempts: list[str]):
        self.doubtful = doubtful
        self.attempts = attempts

    def send(self, message: OutgoingMessage, ready=None) -> SendResult:
        if ready is not None:
            ready()
        self.attempts.append(message.envelope_to)
        if message.envelope_to == self.doubtful:
            return SendResult("unknown", "timed out waiting for the reply to the final '.'")  # type: ignore[arg-type]
        return SendResult("sent", "250 OK")

    def close(self) -> None:
        pass


def test_a_result_in_doubt_is_recorded_unknown_and_never_retried(ledger):
    emails = start(ledger, 4)
    attempts: list[str] = []

    outcome = engine(ledger, None, open_provider=lambda: HandedOverThenTimedOut(emails[1], attempts)).run()

    assert attempts.count(emails[1]) == 1
    assert [(f.email, f.state, f.attempts) for f in ledger.failures(ISSUE)] == [
        (emails[1], RecipientState.UNKNOWN, 1)
    ]
    assert outcome.state == RunState.INCOMPLETE and outcome.exit_code == ExitStatus.FAILURES
    # A resume does not send it again either: only `--resend-unknown` does.
    assert (
        engine(ledger, None, open_provider=lambda: HandedOverThenTimedOut("", attempts)).run().sent_now == 0
    )
    assert attempts.count(emails[1]) == 1


def test_a_fault_in_a_worker_stops_the_run_cleanly_and_says_why(ledger):
    emails = start(ledger, 20)
    world = ScriptedWorld({emails[2]: [("permanent", "550 5.1.1 no such user")]})

    def unreadable_list(email: str, reason: str) -> None:
        raise PermissionError(13, "Permission denied", "subscribers/other.csv")

    options = DeliveryOptions(rate=10_000, concurrency=1, max_attempts=3, backoff_base=0.001)
    outcome = engine(ledger, world, options=options, on_bounce=unreadable_list).run()

    assert outcome.state == RunState.PAUSED and outcome.exit_code == ExitStatus.PAUSED
    assert outcome.note.startswith(
        "stopped: a sending thread failed: Permission denied: subscribers/other.csv. Fix it, then run"
    )
    assert ledger.run(ISSUE).state == RunState.PAUSED and ledger.run(ISSUE).note == outcome.note
    assert len(world.delivered) == 2  # the workers stopped at the fault; the rest wait for the resume
    assert ledger.counts(ISSUE)[RecipientState.PENDING] == 17


def test_a_send_refused_by_the_gate_lists_the_findings_and_changes_nothing(workspace):
    from delivery_helpers import mark_needs_review, snapshot, write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 3)
    mark_needs_review(workspace)
    invoke(workspace, "db", "upgrade")
    before = snapshot(workspace)

    result = invoke(workspace, "send", ISSUE, "--yes", env=SECRET_ENV)

    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: not sending issue {ISSUE}: `newsletter check` finds 1 error; fix them, or send anyway"
        " with --force --reason TEXT: error: "
    )
    assert (
        "summary 2026-05-14-lab-grown-human-microglia-point-targets is marked needs_review" in result.output
    )
    assert "Traceback" not in result.output
    assert snapshot(workspace) == before


def test_force_with_a_reason_sends_and_the_reason_is_kept_with_the_run(workspace):
    import json

    from delivery_helpers import mark_needs_review, write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 3)
    mark_needs_review(workspace)

    no_reason = invoke(workspace, "send", ISSUE, "--yes", "--force", env=SECRET_ENV)
    forced = invoke(
        workspace, "send", ISSUE, "--yes", "--force", "--reason", "reviewed by phone", env=SECRET_ENV
    )

    assert no_reason.exit_code == 2 and "--force and --reason TEXT go together" in no_reason.output
    assert forced.exit_code == 0, forced.output
    assert (
        "note: sending although `newsletter check` finds 1 error (--force: reviewed by phone)"
        in forced.output
    )
    status = json.loads(invoke(workspace, "status", "--json").output)
    assert status[0]["forced_reason"] == "reviewed by phone" and status[0]["counts"]["sent"] == 3
    assert (
        "  sent past `newsletter check` with --force: reviewed by phone" in invoke(workspace, "status").output
    )


@pytest.mark.parametrize("rate", ["nan", "inf", "-inf", "0"])
def test_a_rate_that_is_not_a_positive_number_is_refused(workspace, rate):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 2)

    result = invoke(workspace, "send", ISSUE, "--yes", "--rate", rate, env=SECRET_ENV)

    # One line naming the option (argparse reads "-inf" as an option, so it says a value is missing).
    assert result.exit_code == 2 and result.output.startswith("newsletter send: error: --rate: ")
    assert result.output.count("\n") == 1 and result.stdout == ""
    assert not (workspace / "outbox").exists() and not (workspace / ".newsletter").exists()  # nothing opened


def test_an_smtp_reply_with_escape_sequences_is_shown_escaped(workspace, smtp_sink):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    emails = write_readers(workspace, 2)
    smtp_sink.replies[emails[0]] = ["550 5.7.1 \x1b]0;pwned\x07\x1b[32mall fine\x1b[0m"]

    result = invoke(workspace, "send", ISSUE, "--provider", f"smtp://127.0.0.1:{smtp_sink.port}", "--yes",
                    env=SECRET_ENV)  # fmt: skip

    assert result.exit_code == ExitStatus.FAILURES, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "550 5.7.1 \\x1b]0;pwned\\x07\\x1b[32mall fine\\x1b[0m" in result.output


def test_a_warm_up_spaces_its_first_slots_ten_times_wider_then_goes_at_the_rate():
    now = [0.0]
    limiter = RateLimiter(10.0, clock=lambda: now[0], ramp=3)
    slots = [limiter.take() for _ in range(5)]
    assert [round(b - a, 6) for a, b in zip(slots, slots[1:], strict=False)] == [1.0, 1.0, 1.0, 0.1]


def test_a_warm_up_pauses_the_run_after_its_first_messages_when_too_many_bounced_hard(ledger):
    emails = start(ledger, 60)
    dead = emails[:20:2]  # 10 of the first 20: 50 %
    world = ScriptedWorld({e: [("permanent", "550 5.1.1 no such user")] for e in dead})
    options = DeliveryOptions(rate=10_000, concurrency=1, max_attempts=1, pause_after=50, ramp=20)

    outcome = engine(ledger, world, options, pause_min_attempts=200).run()

    assert outcome.state == RunState.PAUSED and "bounced hard" in outcome.note
    assert 20 <= len(world.attempts) < 60  # the warm-up's first 20 were judged, the rest waits


def test_bounces_reported_after_the_send_count_towards_the_pause_between_batches(ledger):
    emails = start(ledger, 100)
    world = ScriptedWorld()
    asked: list[int] = []
    reported = threading.Event()

    def later_bounces() -> tuple[int, int]:
        # What `bounces fetch` finds between batches: a relay accepted everything, then 30 % bounced.
        sent = len(world.delivered)
        asked.append(sent)
        reported.set()
        return sent, sent * 3 // 10

    def slow_after_the_first_batch(row: RecipientRow) -> OutgoingMessage:
        if len(world.attempts) >= 25:
            reported.wait(30)  # the send goes on only once the watcher has looked at the mailbox
        return build(row)

    options = DeliveryOptions(rate=10_000, concurrency=2, max_attempts=1, check_every=20)
    run = Engine(
        ledger, ISSUE, slow_after_the_first_batch, world.connect, options,
        pause_min_attempts=20, later_bounces=later_bounces, progress_interval=0.05,
    )  # fmt: skip
    outcome = run.run()

    assert asked and asked[0] >= 20
    assert outcome.state == RunState.PAUSED and "bounced hard" in outcome.note, outcome
    assert len(world.delivered) < len(emails)


class FakeSesAccount:
    """A loopback SES v2 endpoint that answers GetAccount with a sending quota (boto3 signs; not checked)."""

    def __init__(self, max_send_rate: float):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        quota = {
            "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": max_send_rate, "SentLast24Hours": 0.0}
        }
        self.paths: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.paths.append(self.path)
                data = json.dumps(quota).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_with_ses_the_rate_is_the_accounts_max_send_rate_shown_in_the_plan(workspace):
    from delivery_helpers import write_issue, write_readers

    pytest.importorskip("boto3")
    write_issue(workspace)
    write_readers(workspace, 3)
    aws = {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789",
    }
    fake = FakeSesAccount(14.0)
    try:
        provider = f"ses://eu-west-1?endpoint={fake.url}"
        quota = invoke(workspace, "send", ISSUE, "--provider", provider, "--dry-run", env=aws)
        given = invoke(workspace, "send", ISSUE, "--provider", provider, "--dry-run", "--rate", "3", env=aws)
    finally:
        fake.close()
    assert quota.exit_code == 0, quota.output
    assert "14 messages/s" in quota.output and "the SES account's MaxSendRate" in quota.output
    assert "/v2/email/account" in fake.paths
    assert "3 messages/s" in given.output and "MaxSendRate" not in given.output  # --rate wins
