"""From a notification to a decision: matched to one recipient and issue, suppressed or counted, once."""

from __future__ import annotations

import pytest
from bounce_helpers import BOUNCE_TO, ISSUE, SECRET, SENT, sample, sent_issue
from sqlalchemy import select

from newsletter.bounces.classify import Kind
from newsletter.bounces.decide import Limits, Outcome, decide
from newsletter.bounces.mapping import Recipients, match_notice
from newsletter.bounces.notice import read_notice
from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.engine import reading
from newsletter.db.rows import subscriber_id
from newsletter.db.subscribers import add_subscriber
from newsletter.db.suppression import is_suppressed, unsubscribe
from newsletter.mail import verp


def matched(db, name: str):
    notice = read_notice(sample(name))
    return notice, match_notice(notice, Recipients(db, SECRET, BOUNCE_TO))


def history(db, email: str) -> list[events.Event]:
    with reading(db) as connection:
        return events.history(connection, subscriber_id(connection, email))


def test_a_hard_bounce_maps_by_its_verp_token_and_suppresses_at_once_with_the_evidence(db):
    sent_issue(db)
    notice, (matches, why) = matched(db, "outlook-recipient-not-found.eml")
    [match] = matches

    decision = decide(db, match, notice.notification_id, "bounce mailbox", Limits())

    assert (match.issue_id, match.email, match.via, why) == (ISSUE, "left.company@outlook.com", "verp", "")
    assert (decision.outcome, decision.kind, decision.status) == (Outcome.SUPPRESSED, Kind.HARD, "5.1.10")
    assert is_suppressed(db, "left.company@outlook.com")
    evidence = [e for e in history(db, "left.company@outlook.com") if "notification" in e.detail]
    [event] = evidence
    assert event.kind == "bounced" and event.source == "bounce mailbox"
    assert event.detail["status"] == "5.1.10" and event.detail["issue"] == ISSUE
    assert event.detail["diagnostic"].startswith("smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound")
    assert event.detail["decision"] == "suppressed at once (hard bounce)"


def test_the_same_notification_twice_counts_once(db):
    sent_issue(db)
    notice, ([match], _) = matched(db, "gmail-over-quota.eml")

    first = decide(db, match, notice.notification_id, "bounce mailbox", Limits())
    again = decide(db, match, notice.notification_id, "bounce mailbox", Limits())

    assert (first.outcome, again.outcome) == (Outcome.COUNTED, Outcome.ALREADY)
    assert [e.kind for e in history(db, "quota@gmail.com")].count("soft_bounced") == 1


def test_without_a_token_our_quoted_message_id_finds_the_recipient(db):
    sent_issue(db)
    _, ([match], _) = matched(db, "sendmail-user-unknown.eml")
    assert (match.email, match.via) == ("gone@example.com", "message-id")


def test_a_complaint_with_the_recipient_redacted_maps_by_token_and_suppresses(db):
    sent_issue(db)
    notice, ([match], _) = matched(db, "microsoft-jmrp-complaint.eml")

    decision = decide(db, match, notice.notification_id, "bounce mailbox", Limits())

    assert (match.email, decision.kind, decision.outcome) == (
        "reader@hotmail.com",
        Kind.COMPLAINT,
        Outcome.SUPPRESSED,
    )
    with reading(db) as connection:
        status = connection.execute(select(t.memberships.c.status)).scalars().all()
    assert "complained" in status and is_suppressed(db, "reader@hotmail.com")


def test_soft_bounces_are_suppressed_after_n_in_different_issues_among_the_last_m(db):
    limits = Limits(soft_limit=2, soft_window_issues=3)
    slow = {"slow@example.net": SENT["slow@example.net"]}
    outcomes = []
    for n, issue in enumerate(["2026-05", "2026-06"]):
        if n:
            sent_issue(db, issue, {"slow@example.net": f"<{issue}.x@msresearch.example.org>"})
        else:
            sent_issue(db, issue, slow)
        notice, ([match], _) = matched(db, "postfix-greylisted-expired.eml")
        # Two notices about one issue count as one issue; the second issue's notice is a new one.
        match = type(match)(match.failure, issue, match.email, match.via)
        first = decide(db, match, f"{notice.notification_id}-{issue}-a", "bounce mailbox", limits)
        second = decide(db, match, f"{notice.notification_id}-{issue}-b", "bounce mailbox", limits)
        outcomes.append((first.outcome, second.outcome))

    assert outcomes == [(Outcome.COUNTED, Outcome.COUNTED), (Outcome.SUPPRESSED, Outcome.SUPPRESSED)]
    assert is_suppressed(db, "slow@example.net")
    decisions = [e.detail["decision"] for e in history(db, "slow@example.net") if "notification" in e.detail]
    assert decisions[0] == "counted: soft bounces in 1 of the last 3 issues (suppressed at 2)"
    assert decisions[2] == "suppressed: soft bounces in 2 of the last 3 issues"


def test_one_soft_bounce_suppresses_nobody(db):
    sent_issue(db)
    notice, ([match], _) = matched(db, "exim-quota-exceeded.eml")
    assert decide(db, match, notice.notification_id, "bounce mailbox", Limits()).outcome == Outcome.COUNTED
    assert not is_suppressed(db, "full.box@example.org.uk")


def test_a_notification_for_an_address_or_issue_we_never_sent_decides_nothing(db):
    sent_issue(db, emails={"loyal@example.org": SENT["loyal@example.org"]})
    for name in ("postfix-unknown-user.eml", "yahoo-no-account.eml", "microsoft-jmrp-complaint.eml"):
        _, (matches, why) = matched(db, name)
        assert matches == [] and why == "unverified: its VERP token matches no recipient of a sent issue"
    without_token = sample("sendmail-user-unknown.eml").replace(
        b"5f1c0e2a9b7d4c3e8a1f0b6d", b"000000000000000000000000"
    )
    matches, why = match_notice(read_notice(without_token), Recipients(db, SECRET, BOUNCE_TO))
    assert matches == [] and why == (
        "unverified: no VERP token or Message-ID of ours proves it concerns gone@example.com"
    )


def test_a_forged_token_matches_nobody(db):
    sent_issue(db)
    real = verp.recipient_tag(SECRET, ISSUE, "unknown.user@example.net").encode()
    forged = sample("postfix-unknown-user.eml").replace(
        real, real[:-1] + (b"a" if real[-1:] != b"a" else b"b")
    )
    forged = forged.replace(b"unknown.user@example.net", b"someone@example.net")
    notice = read_notice(forged)
    matches, why = match_notice(notice, Recipients(db, SECRET, BOUNCE_TO))
    assert matches == [] and why == "unverified: its VERP token matches no recipient of a sent issue"


@pytest.mark.parametrize("name", ["yahoo-no-account.eml"])
def test_a_heuristic_format_maps_by_token_too(db, name):
    sent_issue(db)
    _, ([match], _) = matched(db, name)
    assert (match.email, match.via, match.failure.status) == ("closed.account@yahoo.com", "verp", "5.0.0")


def test_a_report_about_a_message_sent_before_the_readers_latest_opt_in_suppresses_nobody(db):
    """They left and signed up again after the issue went out: its late bounce proves nothing now."""
    sent_issue(db)
    unsubscribe(db, "left.company@outlook.com", "left", source="preferences")
    add_subscriber(db, "left.company@outlook.com", list_name="readers", resubscribe=True)
    notice, ([match], _) = matched(db, "outlook-recipient-not-found.eml")

    decision = decide(db, match, notice.notification_id, "bounce mailbox", Limits())

    assert decision.outcome == Outcome.BEFORE_OPT_IN and not is_suppressed(db, "left.company@outlook.com")
    [event] = [e for e in history(db, "left.company@outlook.com") if "notification" in e.detail]
    assert event.detail["decision"] == "not acted on: dated before the reader's latest opt-in"
