"""Bounces wired into sending: VERP envelope senders, the ledger's ids, the bounce-rate pause, warnings."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.errors import ExitStatus
from newsletter.mail.verp import matches, read_bounce_address

ISSUE = "2026-06"
SECRET = "test-secret-for-unsubscribe-links-0123456789"
ENV = {"NEWSLETTER_SECRET": SECRET}
BOUNCE_TO = "bounces@msresearch.example.org"
SENDER = "roundup@msresearch.example.org"


def invoke(workspace: Path, *args: str):
    from factories import invoke

    return invoke(["-w", str(workspace), *args], env=ENV)


def with_bounces(workspace: Path, extra: str = "") -> Path:
    settings = workspace / "newsletter.yaml"
    settings.write_text(
        settings.read_text(encoding="utf-8") + f"bounces:\n  address: {BOUNCE_TO}\n{extra}", encoding="utf-8"
    )
    return workspace


def maps_back(envelope_from: str, email: str) -> bool:
    token = read_bounce_address(BOUNCE_TO, envelope_from)
    return token is not None and matches(token, SECRET.encode(), ISSUE, email)


def sent_rows(workspace: Path) -> dict[str, tuple[str, str]]:
    from delivery_helpers import state

    from newsletter.db import schema as t

    with state(workspace).connect() as connection:
        rows = connection.execute(
            select(t.recipients.c.email, t.recipients.c.message_id, t.recipients.c.provider_id).where(
                t.recipients.c.issue_id == ISSUE
            )
        ).all()
    return {row.email: (row.message_id, row.provider_id) for row in rows}


def test_each_outbox_message_has_a_verp_return_path_that_maps_back_and_the_ledger_keeps_its_ids(workspace):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    emails = write_readers(with_bounces(workspace), 3)

    result = invoke(workspace, "send", ISSUE, "--yes", "--rate", "1000")

    assert result.exit_code == ExitStatus.OK, result.output
    ledger = sent_rows(workspace)
    for path in sorted((workspace / "outbox" / ISSUE).glob("*.eml")):
        headers = BytesHeaderParser(policy=default).parsebytes(path.read_bytes())
        email = headers["To"].addresses[0].addr_spec
        return_path = headers["Return-Path"].strip("<>")
        assert return_path.startswith("bounces+") and return_path.endswith("@msresearch.example.org")
        someone_else = emails[1] if email == emails[0] else emails[0]
        assert maps_back(return_path, email) and not maps_back(return_path, someone_else)
        assert headers["From"].addresses[0].addr_spec == SENDER  # the author stays the sender
        assert ledger[email] == (headers["Message-ID"], path.name)  # matched later by either id
    assert sorted(ledger) == emails


def test_the_smtp_envelope_sender_carries_the_token(workspace, smtp_sink):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    emails = write_readers(with_bounces(workspace), 2)

    result = invoke(workspace, "send", ISSUE, "--provider", f"smtp://127.0.0.1:{smtp_sink.port}", "--yes")

    assert result.exit_code == ExitStatus.OK, result.output
    assert sorted(smtp_sink.mail_from) == emails
    assert all(maps_back(sender, email) for email, sender in smtp_sink.mail_from.items())
    assert smtp_sink.mail_from[emails[0]] != smtp_sink.mail_from[emails[1]]


def test_without_a_bounce_address_the_envelope_sender_is_the_sender(workspace, smtp_sink):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    write_readers(workspace, 2)

    result = invoke(workspace, "send", ISSUE, "--provider", f"smtp://127.0.0.1:{smtp_sink.port}", "--yes")

    assert result.exit_code == ExitStatus.OK, result.output
    assert set(smtp_sink.mail_from.values()) == {SENDER}


def test_a_test_send_keeps_the_plain_sender(workspace, smtp_sink):
    from delivery_helpers import write_issue

    write_issue(workspace)
    with_bounces(workspace)

    result = invoke(workspace, "send", ISSUE, "--test-to", "editor@example.org", "--provider",
                    f"smtp://127.0.0.1:{smtp_sink.port}")  # fmt: skip

    assert result.exit_code == ExitStatus.OK, result.output
    assert smtp_sink.mail_from == {"editor@example.org": SENDER}


@pytest.mark.parametrize("configured", [False, True])
def test_a_run_whose_addresses_bounce_hard_pauses_itself_and_says_why(workspace, smtp_sink, configured):
    from delivery_helpers import write_issue, write_readers

    write_issue(workspace)
    if configured:  # the limits from newsletter.yaml; the defaults are 5 % after 200 attempts
        with_bounces(workspace, "  pause_rate: 0.04\n  pause_min_attempts: 100\n")
    emails = write_readers(workspace, 240)
    dead = emails[::12]  # 20 of 240: 8.3 %, spread through the list as on an old list
    for email in dead:
        smtp_sink.replies[email] = [f"550 5.1.1 <{email}>: Recipient address rejected: User unknown"]

    result = invoke(workspace, "send", ISSUE, "--provider", f"smtp://127.0.0.1:{smtp_sink.port}", "--yes",
                    "--rate", "1000", "--concurrency", "1")  # fmt: skip

    assert result.exit_code == ExitStatus.PAUSED, result.output
    first = 100 if configured else 200
    assert "bounced hard (" in result.output and f"over {4 if configured else 5}%)" in result.output
    assert f"Issue {ISSUE}: paused." in result.output
    attempts = smtp_sink.count() + sum(1 for e in dead if not smtp_sink.replies[e])
    assert first <= attempts < 240  # stopped at the first check past the minimum, not at the end
    status = invoke(workspace, "status", ISSUE)
    assert f"{ISSUE}: paused" in status.output and "bounced hard" in status.output


def bounced_and_complained(workspace: Path) -> None:
    """Issue 2026-05 sent to 12 readers: 2 hard bounces, a soft one, a complaint and an unsubscribe since."""
    from bounce_helpers import BOUNCE_TO, sample, sent_issue
    from bounce_helpers import SECRET as SAMPLES_SECRET
    from delivery_helpers import state

    from newsletter.bounces.decide import Limits, decide
    from newsletter.bounces.mapping import Recipients, match_notice
    from newsletter.bounces.notice import read_notice
    from newsletter.db.suppression import unsubscribe

    engine = state(workspace)
    sent_issue(engine)
    for name in ("postfix-unknown-user.eml", "gmail-no-such-user.eml", "gmail-over-quota.eml",
                 "yahoo-arf-complaint.eml"):  # fmt: skip
        notice = read_notice(sample(name))
        for match in match_notice(notice, Recipients(engine, SAMPLES_SECRET, BOUNCE_TO))[0]:
            decide(engine, match, notice.notification_id, "bounce mailbox", Limits())
    unsubscribe(engine, "loyal@example.org", "one-click")


def test_status_shows_the_issue_health_against_the_thresholds(workspace):
    bounced_and_complained(workspace)

    result = invoke(workspace, "status", "2026-05")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith("via smtp): 12 sent")
    assert result.output.splitlines()[1:] == [
        "  after the send, of 12 attempts (12 accepted):",
        "    delivered          9   75.00%",
        "    hard bounces       2   16.67%  limits 5.0%, 10.0% (SES review, SES pause)",
        "    soft bounces       1    8.33%",
        "    complaints         1    8.33%  limits 0.1%, 0.3%, 0.5% (SES review and Gmail's aim, Gmail's"
        " maximum, SES pause)",
        "    unsubscribes       1    8.33%  before the next issue",
        "  warning: the hard-bounce rate of issue 2026-05 is 16.67% (2 of 12), over 10.0%: SES may pause"
        " sending",
        "  warning: the complaint rate of issue 2026-05 is 8.33% (1 of 12), over 0.5%: SES may pause sending",
    ]


def test_status_json_carries_the_same_figures(workspace):
    import json

    bounced_and_complained(workspace)

    [status] = json.loads(invoke(workspace, "status", "--json").output)

    health = status["health"]
    assert (health["attempts"], health["accepted"]) == (12, 12)
    assert health["hard_bounces"] == {
        "count": 2,
        "rate": 0.166667,
        "limits": [
            {"rate": 0.05, "meaning": "SES reviews the account"},
            {"rate": 0.1, "meaning": "SES may pause sending"},
        ],
    }
    counts = {k: health[k]["count"] for k in ("delivered", "soft_bounces", "complaints", "unsubscribes")}
    assert counts == {"delivered": 9, "soft_bounces": 1, "complaints": 1, "unsubscribes": 1}
    assert [limit["rate"] for limit in health["complaints"]["limits"]] == [0.001, 0.003, 0.005]
    assert len(health["warnings"]) == 2 and health["warnings"][1].startswith("warning: the complaint rate")


def test_sending_the_next_issue_warns_of_the_previous_issues_complaints(workspace):
    from delivery_helpers import write_issue

    bounced_and_complained(workspace)
    write_issue(workspace)

    result = invoke(workspace, "send", ISSUE, "--dry-run")

    assert result.exit_code == 0, result.output
    assert (
        "warning: the previous issue (2026-05) had a complaint rate of 8.33% (1 of 12), over 0.1 %; make sure"
        " every reader asked for it and the unsubscribe link is easy to find"
    ) in result.output.splitlines()
