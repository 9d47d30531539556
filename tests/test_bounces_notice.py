"""Reading notifications: each major server's format -> the failures it reports, classified."""

from __future__ import annotations

import pytest
from bounce_helpers import BOUNCE_TO, ISSUE, SECRET, nested_parts, sample

from newsletter.bounces.classify import Kind, best_status, kind_of
from newsletter.bounces.notice import read_notice
from newsletter.mail import verp


@pytest.mark.parametrize(
    ("name", "fmt", "email", "kind", "status"),
    [
        ("postfix-unknown-user.eml", "dsn", "unknown.user@example.net", Kind.HARD, "5.1.1"),
        ("sendmail-user-unknown.eml", "dsn", "gone@example.com", Kind.HARD, "5.1.1"),
        ("gmail-no-such-user.eml", "dsn", "nobody.here@gmail.com", Kind.HARD, "5.1.1"),
        ("gmail-over-quota.eml", "dsn", "quota@gmail.com", Kind.SOFT, "5.2.2"),
        ("outlook-recipient-not-found.eml", "dsn", "left.company@outlook.com", Kind.HARD, "5.1.10"),
        ("ses-forwarded-bounce.eml", "dsn", "bounced@example.com", Kind.HARD, "5.1.1"),
        ("postfix-greylisted-expired.eml", "dsn", "slow@example.net", Kind.SOFT, "4.7.1"),
        ("exim-quota-exceeded.eml", "heuristic", "full.box@example.org.uk", Kind.SOFT, "5.2.2"),
        ("yahoo-no-account.eml", "heuristic", "closed.account@yahoo.com", Kind.HARD, "5.0.0"),
        ("yahoo-arf-complaint.eml", "arf", "complainer@yahoo.com", Kind.COMPLAINT, "abuse"),
        ("microsoft-jmrp-complaint.eml", "arf", "", Kind.COMPLAINT, "abuse"),
    ],
)
def test_each_servers_report_gives_the_recipient_its_class_and_status_code(name, fmt, email, kind, status):
    notice = read_notice(sample(name))

    assert (notice.format, notice.kind) == (fmt, kind)
    [failure] = notice.failures
    assert (failure.email, failure.kind, failure.status) == (email, kind, status)
    assert failure.diagnostic  # the evidence goes into the person's log


def test_the_evidence_is_the_remote_servers_own_words():
    [failure] = read_notice(sample("outlook-recipient-not-found.eml")).failures
    assert failure.diagnostic == (
        "smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
    )


@pytest.mark.parametrize("name", ["vacation-auto-reply.eml", "outlook-automatic-reply.eml"])
def test_auto_replies_are_recognised_and_never_count_as_bounces(name):
    notice = read_notice(sample(name))
    assert (notice.kind, notice.failures) == (Kind.AUTO_REPLY, ())


def test_a_delay_warning_is_no_failure():
    notice = read_notice(sample("postfix-delayed-warning.eml"))
    assert notice.kind == Kind.WARNING


def test_a_malformed_report_is_unrecognised_and_says_what_was_missing():
    notice = read_notice(sample("malformed-dsn.eml"))
    assert (notice.kind, notice.failures) == (Kind.UNRECOGNISED, ())
    assert notice.why == "no recipient block with Action and Status"


def test_a_readers_reply_is_not_a_bounce():
    notice = read_notice(sample("newsletter-reply.eml"))
    assert (notice.kind, notice.why) == (Kind.UNRECOGNISED, "not a bounce report")


def test_the_notification_id_is_its_message_id_or_a_digest_of_its_bytes():
    assert read_notice(sample("gmail-over-quota.eml")).notification_id == (
        "<6634a2c8.a70a0220.2b3c4.ef01SMTPIN_ADDED_MISSING@mx.google.com>"
    )
    no_id = b"From: x@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
    assert read_notice(no_id).notification_id == read_notice(no_id).notification_id
    assert read_notice(no_id).notification_id.startswith("sha256:")


def test_our_message_id_quoted_in_the_report_is_found():
    notice = read_notice(sample("sendmail-user-unknown.eml"))
    assert notice.original_ids == ("<2026-05.5f1c0e2a9b7d4c3e8a1f0b6d@msresearch.example.org>",)


def test_a_20_mb_attachment_is_read_only_as_far_as_the_report():
    report = sample("postfix-unknown-user.eml").replace(b"--4XyZ1b2c3dz9sTL.1777640531/mx.example.net--", b"")
    attachment = (
        b"--4XyZ1b2c3dz9sTL.1777640531/mx.example.net\nContent-Type: application/octet-stream\n"
        b"Content-Transfer-Encoding: base64\n\n" + b"QUJDRA==" * (20 * 1024 * 1024 // 8) + b"\n"
    )
    notice = read_notice(report + attachment + b"--4XyZ1b2c3dz9sTL.1777640531/mx.example.net--\n")
    assert (notice.kind, notice.failures[0].status) == (Kind.HARD, "5.1.1")
    assert len(notice.text) <= 2 * 1024 * 1024


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("5.1.1", Kind.HARD),  # no such user
        ("5.1.2", Kind.HARD),  # bad domain
        ("5.1.10", Kind.HARD),  # null MX
        ("5.2.1", Kind.HARD),  # mailbox disabled
        ("5.4.4", Kind.HARD),  # unable to route
        ("5.0.0", Kind.HARD),  # permanent, no detail
        ("5.2.2", Kind.SOFT),  # mailbox full
        ("4.2.2", Kind.SOFT),  # mailbox full, for now
        ("4.7.1", Kind.SOFT),  # greylisted
        ("5.7.1", Kind.SOFT),  # refused by policy: our reputation, not a dead address
        ("5.3.0", Kind.SOFT),
        ("4.4.7", Kind.SOFT),  # expired in the queue
        ("2.0.0", Kind.WARNING),
    ],
)
def test_the_classification_table(status, kind):
    assert kind_of(status) == kind


def test_a_generic_status_is_made_precise_by_the_diagnostic():
    assert best_status("5.0.0", "smtp; 550 5.1.1 user unknown") == "5.1.1"
    assert best_status("", "smtp; 550 mailbox unavailable") == "5.0.0"
    assert best_status("4.0.0", "smtp; 550 5.1.1 user unknown") == "4.0.0"  # the classes disagree


def test_a_verp_address_names_recipient_and_issue_in_a_short_lowercase_local_part():
    address = verp.bounce_address(BOUNCE_TO, SECRET, ISSUE, "Some.One@Example.org")

    local = address.partition("@")[0]
    assert local.startswith("bounces+") and local == local.lower() and len(local) <= 64
    token = verp.read_bounce_address(BOUNCE_TO, address.upper())  # a server that changes case
    assert token is not None
    assert verp.matches(token, SECRET, ISSUE, "some.one@example.org")
    assert not verp.matches(token, SECRET, ISSUE, "someone.else@example.org")
    assert not verp.matches(token, SECRET, "2026-06", "some.one@example.org")
    assert not verp.matches(token, b"another-key-0123456789", ISSUE, "some.one@example.org")


def test_a_verp_address_for_another_bounce_address_or_without_a_token_is_not_read():
    address = verp.bounce_address(BOUNCE_TO, SECRET, ISSUE, "a@example.org")
    assert verp.read_bounce_address("other@msresearch.example.org", address) is None
    assert verp.read_bounce_address(BOUNCE_TO, BOUNCE_TO) is None
    assert verp.read_bounce_address(BOUNCE_TO, "bounces+not-a-token@msresearch.example.org") is None
    with pytest.raises(ValueError, match="cannot carry a VERP token"):
        verp.bounce_address("bounces+x@example.org", SECRET, ISSUE, "a@example.org")


def test_hostile_structure_and_random_bytes_are_unreadable_never_a_traceback(capsys):
    import random

    deep = read_notice(nested_parts(5000))
    assert deep.unreadable.startswith("it has 5000 nested or multipart parts") and not deep.failures
    rng = random.Random(4)
    for _ in range(50):
        assert read_notice(bytes(rng.getrandbits(8) for _ in range(4000))).unreadable
    noise = read_notice(
        b"From: a@b.example\r\nSubject: x\r\n\r\n" + bytes(rng.getrandbits(8) for _ in range(9000))
    )
    assert noise.kind == Kind.UNRECOGNISED and not noise.failures
    assert capsys.readouterr() == ("", "")  # flufl.bounce's detectors log their tracebacks; not to us
