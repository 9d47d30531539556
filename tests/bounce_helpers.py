"""What the bounce tests share: the key and issue the samples were made with, and a sent issue."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from newsletter.db.subscribers import add_subscriber
from newsletter.delivery import ledger as lg
from newsletter.delivery import records as rec

SAMPLES = Path(__file__).parent / "bounces"
# The VERP tokens in tests/bounces/*.eml were made with this key for issue 2026-05.
SECRET = b"bounce-tests-secret-for-verp-links-0123456789"
ISSUE = "2026-05"
BOUNCE_TO = "bounces@msresearch.example.org"

# Each sample's original recipient and the Message-ID our message had.
SENT = {
    "unknown.user@example.net": "<2026-05.0a1b2c3d4e5f60718293a4b5@msresearch.example.org>",
    "gone@example.com": "<2026-05.5f1c0e2a9b7d4c3e8a1f0b6d@msresearch.example.org>",
    "nobody.here@gmail.com": "<2026-05.7c6d5e4f3a2b1c0d9e8f7a6b@msresearch.example.org>",
    "quota@gmail.com": "<2026-05.1f2e3d4c5b6a79880a1b2c3d@msresearch.example.org>",
    "left.company@outlook.com": "<2026-05.1122aabbccddeeff00112233@msresearch.example.org>",
    "full.box@example.org.uk": "<2026-05.99887766554433221100ffee@msresearch.example.org>",
    "closed.account@yahoo.com": "<2026-05.aabbccddeeff001122334455@msresearch.example.org>",
    "bounced@example.com": "<2026-05.0f0e0d0c0b0a090807060504@msresearch.example.org>",
    "complainer@yahoo.com": "<2026-05.c0ffee00c0ffee00c0ffee00@msresearch.example.org>",
    "reader@hotmail.com": "<2026-05.d00dfeedd00dfeedd00dfeed@msresearch.example.org>",
    "slow@example.net": "<2026-05.5105105105105105105105ab@msresearch.example.org>",
    "loyal@example.org": "<2026-05.ffffffffffffffffffffffff@msresearch.example.org>",
}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sent_issue(
    engine: Engine,
    issue: str = ISSUE,
    emails: dict[str, str] | None = None,
    provider_ids: dict[str, str] | None = None,
) -> None:
    """A finished run of `issue`: every address a subscriber in `readers` and sent its message."""
    emails = SENT if emails is None else emails
    for email in emails:
        add_subscriber(engine, email, list_name="readers", resubscribe=True)
    with lg.Ledger(engine) as ledger:
        ledger.start_run(issue, "smtp", [], [rec.NewRecipient(e, "readers") for e in emails])
        for email, message_id in emails.items():
            ledger.mark_sending(issue, email)
            ledger.mark_sent(issue, email, message_id, (provider_ids or {}).get(email))
        ledger.set_run_state(issue, rec.FINISHED)


def nested_parts(depth: int) -> bytes:
    """A message with `depth` multiparts one inside the next (the standard parser recurses per level)."""
    head = b"From: someone@example.net\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n) for n in range(depth)
    )
    closing = b"".join(b"--b%d--\r\n" % n for n in reversed(range(depth)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nhi\r\n" + closing
