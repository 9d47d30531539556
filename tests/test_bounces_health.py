"""An issue's health: counts and rates against SES's and Gmail's thresholds, and the run's own pause rule."""

from __future__ import annotations

from bounce_helpers import BOUNCE_TO, SECRET, sample, sent_issue

from newsletter.bounces.decide import Limits, decide
from newsletter.bounces.health import bounce_pause, issue_health, previous_issue_warnings
from newsletter.bounces.mapping import Recipients, match_notice
from newsletter.bounces.notice import read_notice
from newsletter.db.suppression import unsubscribe
from newsletter.delivery import ledger as lg
from newsletter.delivery import records as rec


def apply(db, *names: str) -> None:
    for name in names:
        notice = read_notice(sample(name))
        for match in match_notice(notice, Recipients(db, SECRET, BOUNCE_TO))[0]:
            decide(db, match, notice.notification_id, "bounce mailbox", Limits())


def test_health_counts_each_kind_once_per_person_with_rates_and_warnings(db):
    sent_issue(db)  # 12 recipients
    apply(db, "postfix-unknown-user.eml", "gmail-no-such-user.eml", "gmail-over-quota.eml",
          "yahoo-arf-complaint.eml", "postfix-delayed-warning.eml", "vacation-auto-reply.eml")  # fmt: skip
    apply(db, "postfix-unknown-user.eml")  # the same report again
    unsubscribe(db, "loyal@example.org", "one-click")

    health = issue_health(db, "2026-05")

    assert health is not None
    counts = (health.sent, health.delivered, health.hard_bounces, health.soft_bounces, health.complaints)
    assert counts == (12, 9, 2, 1, 1)
    assert health.unsubscribes == 1
    assert round(health.rate(health.hard_bounces), 4) == 0.1667
    assert health.warnings == (
        "warning: the hard-bounce rate of issue 2026-05 is 16.67% (2 of 12), over 10.0%: "
        "SES may pause sending",
        "warning: the complaint rate of issue 2026-05 is 8.33% (1 of 12), over 0.5%: SES may pause sending",
    )


def test_an_address_refused_during_the_send_is_a_hard_bounce_too(db):
    with lg.Ledger(db) as ledger:
        ledger.start_run(
            "2026-07", "smtp", [], [rec.NewRecipient("a@example.org"), rec.NewRecipient("b@example.org")]
        )
        ledger.mark_sending("2026-07", "a@example.org")
        ledger.mark_sent("2026-07", "a@example.org", "<m@example.org>", None)
        ledger.mark_failed("2026-07", "b@example.org", rec.FAILED_PERMANENT, "550 5.1.1 user unknown")
    health = issue_health(db, "2026-07")
    assert health is not None and (health.sent, health.hard_bounces, health.delivered) == (1, 1, 1)
    assert (health.attempts, health.rate(health.hard_bounces)) == (2, 0.5)  # never over 100 %


def test_a_clean_issue_has_no_warnings_and_an_unsent_one_no_health(db):
    sent_issue(db)
    health = issue_health(db, "2026-05")
    assert health is not None and health.warnings == () and health.delivered == 12
    assert issue_health(db, "2099-01") is None


def test_the_next_send_is_warned_about_the_previous_issues_complaints(db):
    sent_issue(db)
    apply(db, "yahoo-arf-complaint.eml")
    with lg.Ledger(db) as ledger:
        ledger.start_run("2026-06", "smtp", [], [])
    warnings = previous_issue_warnings(db, "2026-06")
    assert [w for w in warnings if "complaint rate" in w][0].startswith(
        "warning: the previous issue (2026-05) had a complaint rate of 8.33% (1 of 12), over 0.1 %"
    )


def test_a_correction_sent_between_issues_takes_nothing_from_the_issue_before_it(db):
    sent_issue(db)  # 12 recipients, loyal@example.org among them
    apply(db, "yahoo-arf-complaint.eml")
    with lg.Ledger(db) as ledger:
        ledger.start_run("correction-2026-05-01-a-study-1", "smtp", [], [rec.NewRecipient("x@example.org")])
    unsubscribe(db, "loyal@example.org", "one-click")  # after the correction, before the next issue
    with lg.Ledger(db) as ledger:
        ledger.start_run("2026-06", "smtp", [], [])

    health = issue_health(db, "2026-05")
    assert health is not None and health.unsubscribes == 1
    warnings = previous_issue_warnings(db, "2026-06")
    assert any("the previous issue (2026-05) had a complaint rate" in w for w in warnings)


def test_a_run_pauses_itself_only_after_200_attempts_over_the_threshold():
    assert bounce_pause(199, 199) is None  # too few attempts to judge
    assert bounce_pause(200, 10) is None  # exactly 5 %: not over
    assert bounce_pause(200, 11) == (
        "paused: 11 of 200 attempts bounced hard (5.5%, over 5%); an old or bought list harms the sender's "
        "reputation: clean it, then `newsletter send` again resumes"
    )
    assert bounce_pause(1000, 30, threshold=0.02) is not None


def test_the_next_send_is_warned_about_the_previous_issues_hard_bounces_reported_after_it(db):
    sent_issue(db)  # 12 recipients, all accepted by the relay
    apply(db, "postfix-unknown-user.eml")  # reported later: 1 of 12, over 5 %
    with lg.Ledger(db) as ledger:
        ledger.start_run("2026-06", "smtp", [], [])
    (warning,) = previous_issue_warnings(db, "2026-06")
    assert warning.startswith(
        "warning: the previous issue (2026-05) had a hard-bounce rate of 8.33% (1 of 12)"
    )
    assert "`newsletter bounces fetch`" in warning
