"""`newsletter bounces fetch` against a real IMAP server (Dovecot on loopback, IMAPS with a test CA)."""

from __future__ import annotations

import json
import random
import smtplib
import ssl
from pathlib import Path

import pytest
from bounce_helpers import BOUNCE_TO, SAMPLES, SECRET, nested_parts, sample, sent_issue
from factories import invoke
from imapclient import IMAPClient

from newsletter.db.engine import database_url, open_engine
from newsletter.db.locks import bounce_fetcher_lock
from newsletter.db.revisions import upgrade
from newsletter.db.suppression import is_suppressed

BIG_ATTACHMENT = 20 * 1024 * 1024
UNRECOGNISED = {"malformed-dsn.eml", "newsletter-reply.eml"}


def settings_yaml(server, ca: Path | None, port: int | None = None, username: str | None = None) -> str:
    ca_line = f"    ca_file: {ca}\n" if ca else ""
    return (
        "bounces:\n"
        f"  address: {BOUNCE_TO}\n"
        "  soft_limit: 2\n"
        "  soft_window_issues: 3\n"
        "  imap:\n"
        f"    host: {server.host}\n"
        f"    port: {port or server.port}\n"
        f"    username: {username or server.user}\n"
        "    folder: INBOX\n"
        "    processed_folder: Processed\n"
        "    timeout: 10\n" + ca_line
    )


@pytest.fixture
def mailbox(imap_server):
    context = ssl.create_default_context(cafile=str(imap_server.certificates.ca))
    client = IMAPClient(imap_server.host, imap_server.port, ssl_context=context, timeout=10)
    client.login(imap_server.user, imap_server.password)
    yield client
    client.logout()


@pytest.fixture
def bounce_workspace(workspace, imap_server, monkeypatch):
    original = (workspace / "newsletter.yaml").read_text()
    (workspace / "newsletter.yaml").write_text(
        original + settings_yaml(imap_server, imap_server.certificates.ca)
    )
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET.decode())
    monkeypatch.setenv("NEWSLETTER_BOUNCE_PASSWORD", imap_server.password)
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    engine = open_engine(database_url(workspace, None, {}))
    upgrade(engine)
    sent_issue(engine)
    yield workspace, engine
    engine.dispose()


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def with_attachment(head: bytes, size: int) -> bytes:
    """A message with `size` bytes of base64 attachment: not a bounce report."""
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\r\n"
    return crlf(head) + line * (size // len(line)) + b"\r\n--B--\r\n"


BIG_PLAIN = (
    b"From: Someone <someone@example.org>\nTo: bounces@msresearch.example.org\n"
    b"Subject: Slides from the talk\n"
    b"Message-ID: <big-1@example.org>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n"
    b"--B\nContent-Type: text/plain\n\nThe slides, attached.\n"
    b"--B\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n"
)


def run_fetch(ws: Path, *extra: str):
    return invoke(["--workspace", str(ws), "bounces", "fetch", *extra])


def folder_subjects(client: IMAPClient, folder: str) -> list[str]:
    client.select_folder(folder, readonly=True)
    fetched = client.fetch(client.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return sorted(v[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip() for v in fetched.values())


def test_fetch_decides_on_every_report_moves_them_and_leaves_the_rest(bounce_workspace, mailbox):
    ws, engine = bounce_workspace
    names = sorted(p.name for p in SAMPLES.glob("*.eml"))
    for name in names:
        mailbox.append("INBOX", crlf(sample(name)))
    mailbox.append("INBOX", with_attachment(BIG_PLAIN, BIG_ATTACHMENT))

    result = run_fetch(ws)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        f"Read {len(names) + 1} messages in INBOX: 11 decisions, 3 auto-replies or delay warnings ignored, "
        f"{len(names) - 2} moved to Processed, 0 unverified, 0 unreadable, 3 left."
    )
    assert (
        "  hard      5.1.10  left.company@outlook.com  issue 2026-05  "
        "suppressed: suppressed at once (hard bounce)" in lines
    )
    assert (
        "  complaint abuse   reader@hotmail.com  issue 2026-05  suppressed: suppressed at once (complaint)"
        in lines
    )
    assert (
        "  soft      5.2.2   quota@gmail.com  issue 2026-05  counted: "
        "counted: soft bounces in 1 of the last 3 issues (suppressed at 2)"
    ) in lines
    assert any("'Slides from the talk': not a bounce report" in line for line in lines)
    assert any("'Undelivered Mail': no recipient block with Action and Status" in line for line in lines)
    for email in ("unknown.user@example.net", "gone@example.com", "nobody.here@gmail.com",
                  "left.company@outlook.com", "closed.account@yahoo.com", "bounced@example.com",
                  "complainer@yahoo.com", "reader@hotmail.com"):  # fmt: skip
        assert is_suppressed(engine, email), email
    for email in ("quota@gmail.com", "full.box@example.org.uk", "slow@example.net", "loyal@example.org"):
        assert not is_suppressed(engine, email), email  # one soft bounce, or nothing at all
    # Nothing lost: what was not recognised is still in the inbox, the rest in Processed.
    assert folder_subjects(mailbox, "INBOX") == [
        "Subject: Re: Microglia, gut bacteria and a new look at B cells",
        "Subject: Slides from the talk",
        "Subject: Undelivered Mail",
    ]
    assert len(folder_subjects(mailbox, "Processed")) == len(names) - 2


def test_the_same_notification_delivered_twice_counts_once(bounce_workspace, mailbox):
    ws, _ = bounce_workspace
    mailbox.append("INBOX", crlf(sample("gmail-over-quota.eml")))
    assert run_fetch(ws).exit_code == 0
    mailbox.append("INBOX", crlf(sample("gmail-over-quota.eml")))

    result = run_fetch(ws)

    assert result.exit_code == 0, result.output
    assert "quota@gmail.com  issue 2026-05  already recorded: counted: soft bounces in 1" in result.output


def test_a_report_with_a_20_mb_attachment_is_read_from_its_first_part(bounce_workspace, mailbox):
    ws, engine = bounce_workspace
    report = sample("sendmail-user-unknown.eml").replace(
        b"--641D2aB1012345.1777640621/mail.example.com--", b""
    )
    attachment = (
        b"--641D2aB1012345.1777640621/mail.example.com\nContent-Type: application/pdf\n"
        b"Content-Transfer-Encoding: base64\n\n"
    )
    mailbox.append("INBOX", with_attachment(report + attachment, BIG_ATTACHMENT))

    result = run_fetch(ws)

    assert result.exit_code == 0, result.output
    assert "gone@example.com  issue 2026-05  suppressed" in result.output
    assert is_suppressed(engine, "gone@example.com")


def test_an_unreachable_mailbox_is_one_line_and_exit_1(bounce_workspace, imap_server):
    ws, _ = bounce_workspace
    from dovecot_server import free_port

    text = (ws / "newsletter.yaml").read_text().replace(f"port: {imap_server.port}", f"port: {free_port()}")
    (ws / "newsletter.yaml").write_text(text)

    result = run_fetch(ws)

    assert result.exit_code == 1
    assert result.output.startswith("Error: bounce mailbox 127.0.0.1:")
    assert "is unreachable (" in result.output and "Nothing was read or changed" in result.output
    assert len(result.output.splitlines()) == 1


def test_a_refused_login_names_the_user_and_the_variable_never_the_password(bounce_workspace, monkeypatch):
    ws, _ = bounce_workspace
    monkeypatch.setenv("NEWSLETTER_BOUNCE_PASSWORD", "wrong-password")

    result = run_fetch(ws)

    assert result.exit_code == 1
    assert result.output == (
        f"Error: bounce mailbox 127.0.0.1:{_port(ws)} refused the login of 'bounces'; check "
        "bounces.imap.username and NEWSLETTER_BOUNCE_PASSWORD. Nothing was read or changed\n"
    )
    assert "wrong-password" not in result.output


def test_a_server_certificate_the_system_does_not_trust_is_refused(bounce_workspace):
    ws, _ = bounce_workspace
    text = (ws / "newsletter.yaml").read_text()
    (ws / "newsletter.yaml").write_text("\n".join(x for x in text.splitlines() if "ca_file" not in x) + "\n")

    result = run_fetch(ws)

    assert result.exit_code == 1
    assert "the TLS handshake failed (CERTIFICATE_VERIFY_FAILED)" in result.output


def test_a_second_fetch_while_one_runs_stops_at_once(bounce_workspace, mailbox):
    ws, engine = bounce_workspace
    mailbox.append("INBOX", crlf(sample("postfix-unknown-user.eml")))
    with bounce_fetcher_lock(engine):
        result = run_fetch(ws)
    assert result.exit_code == 1
    assert result.output.startswith("Error: `newsletter bounces fetch` is already running (pid ")
    assert not is_suppressed(engine, "unknown.user@example.net")
    assert folder_subjects(mailbox, "INBOX") == ["Subject: Undelivered Mail Returned to Sender"]


def test_missing_password_or_settings_are_one_line(workspace, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET.decode())
    result = run_fetch(workspace)
    assert result.exit_code == 1 and "bounces.imap is not set" in result.output


def _port(ws: Path) -> int:
    lines = (ws / "newsletter.yaml").read_text().splitlines()
    return int(next(line for line in lines if line.startswith("    port:")).split(":")[1])


def test_a_genuine_postfix_report_for_an_unknown_user_suppresses_that_recipient(
    bounce_workspace, mailbox, postfix_server
):
    """Mail from a VERP sender to an unknown user of a private Postfix: its real DSN, read from Dovecot."""
    ws, engine = bounce_workspace
    from postfix_server import DOMAIN

    from newsletter.mail.verp import bounce_address

    recipient = f"no-such-reader@{DOMAIN}"
    sent_issue(engine, "2026-06", {recipient: "<2026-06.0123456789abcdef01234567@msresearch.example.org>"})
    envelope_from = bounce_address(BOUNCE_TO, SECRET, "2026-06", recipient)
    message = (
        f"From: MS Research Roundup <roundup@msresearch.example.org>\r\nTo: {recipient}\r\n"
        "Subject: Microglia\r\n"
        "Message-ID: <2026-06.0123456789abcdef01234567@msresearch.example.org>\r\n\r\nHi\r\n"
    )
    with smtplib.SMTP("127.0.0.1", postfix_server.port, timeout=10) as smtp:
        smtp.sendmail(envelope_from, [recipient], message)
    [report] = postfix_server.sink.wait_for(1)
    assert b"report-type=delivery-status" in report and b"Status: 5.1.1" in report
    mailbox.append("INBOX", crlf(report))

    result = run_fetch(ws)

    assert result.exit_code == 0, result.output
    assert f"  hard      5.1.1   {recipient}  issue 2026-06  suppressed" in result.output
    assert is_suppressed(engine, recipient)


FORGED_DSN = b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: bounces@msresearch.example.org
Subject: Undelivered Mail Returned to Sender
Message-ID: <forged-dsn-1@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary=R

--R
Content-Type: text/plain

Your message could not be delivered.
--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; loyal@example.org
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown
--R--
"""
FORGED_ARF = b"""From: Feedback Loop <fbl@isp.example>
To: bounces@msresearch.example.org
Subject: Complaint about message
Message-ID: <forged-arf-1@isp.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary=F

--F
Content-Type: text/plain

This is an abuse report.
--F
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeFBL/1.0
Version: 1
Original-Rcpt-To: <slow@example.net>
--F--
"""
PLAIN_FAILURE = b"""From: Mail Delivery System <Mailer-Daemon@mail.example.org.uk>
To: bounces@msresearch.example.org
Subject: Mail delivery failed: returning message to sender
Message-ID: <plain-failure-1@mail.example.org.uk>
X-Failed-Recipients: quota@gmail.com
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  quota@gmail.com
    SMTP error from remote mail server after RCPT TO:<quota@gmail.com>:
    550 5.1.1 User unknown
"""


def test_reports_without_proof_change_nobody_and_are_kept_listed_and_counted(bounce_workspace, mailbox):
    """A forged DSN, a forged ARF complaint and a plain failure notice naming real readers, no VERP token."""
    ws, engine = bounce_workspace
    for data in (FORGED_DSN, FORGED_ARF, PLAIN_FAILURE):
        mailbox.append("INBOX", crlf(data))
    mailbox.append("INBOX", crlf(sample("postfix-unknown-user.eml")))  # a genuine one among them

    result = run_fetch(ws)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "Read 4 messages in INBOX: 1 decisions, 0 auto-replies or delay warnings ignored, "
        "1 moved to Processed, 3 unverified, 0 unreadable, 0 left."
    )
    assert "Unverified, moved to Unverified; nobody's state changed:" in lines
    for email in ("loyal@example.org", "slow@example.net", "quota@gmail.com"):
        assert not is_suppressed(engine, email), email
        assert any(f"proves it concerns {email}" in line for line in lines), email
    assert is_suppressed(engine, "unknown.user@example.net")
    assert len(folder_subjects(mailbox, "Unverified")) == 3 and folder_subjects(mailbox, "INBOX") == []
    # `status` counts them, for the issue sent last and in all, so forged reports arriving show.
    status = invoke(["-w", str(ws), "status"])
    assert status.exit_code == 0, status.output
    row = next(line for line in status.output.splitlines() if line.strip().startswith("unverified"))
    assert row.split()[1] == "3" and "nobody's state changed" in row
    assert status.output.splitlines()[-1].startswith("Unverified: 3 bounce/complaint reports without proof")
    report = json.loads(invoke(["-w", str(ws), "status", "--json"]).output)
    assert sum(issue["unverified_reports"] for issue in report) == 3


def test_a_poison_message_is_quarantined_and_the_reports_behind_it_are_read(bounce_workspace, mailbox):
    ws, engine = bounce_workspace
    mailbox.append("INBOX", nested_parts(5000))
    mailbox.append("INBOX", bytes(random.Random(26).getrandbits(8) for _ in range(20_000)))
    mailbox.append("INBOX", crlf(sample("postfix-unknown-user.eml")))

    result = run_fetch(ws)

    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith("1 moved to Processed, 0 unverified, 2 unreadable, 0 left."), lines[0]
    assert any("nested or multipart parts" in line for line in lines)
    assert any("it is not an email" in line for line in lines)
    assert is_suppressed(engine, "unknown.user@example.net")
    assert folder_subjects(mailbox, "Processed") == ["Subject: Undelivered Mail Returned to Sender"]
    again = run_fetch(ws)  # nothing left to trip over
    assert again.exit_code == 0 and again.output.startswith("Read ")
