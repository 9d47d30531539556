"""Approval before a scheduled send: `newsletter approve`, `schedule.require_approval`, the send gate."""

from __future__ import annotations

from pathlib import Path

import pytest
from delivery_helpers import ISSUE_ID, state, write_issue, write_readers
from factories import invoke

from newsletter.store.approval import ApprovalState, approval_from, approval_of, content_digest

SECRET = {"NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"}
SEND_AT = "2026-06-02T09:00:00-04:00"


def test_approval_is_pure_over_the_data_and_ignores_its_own_record():
    issue = {"title": "T", "sections": [{"title": "A", "items": ["x"]}]}
    digest = content_digest(issue, {"x": {"title": "X"}})
    approved = {**issue, "approved": {"by": "Ana", "at": "2026-05-30T10:00:00+02:00", "digest": digest}}
    assert content_digest(approved, {"x": {"title": "X"}}) == digest
    assert approval_from(approved, digest).state is ApprovalState.APPROVED
    assert (
        approval_from(approved, content_digest(issue, {"x": {"title": "Y"}})).state is ApprovalState.WITHDRAWN
    )
    assert approval_from(issue, digest).state is ApprovalState.NONE


@pytest.fixture
def gated(workspace: Path) -> Path:
    for old in (workspace / "issues").glob("*.yaml"):
        old.unlink()
    write_issue(workspace, send_at=SEND_AT)
    write_readers(workspace, 3)
    state(workspace)
    settings = workspace / "newsletter.yaml"
    settings.write_text(settings.read_text(encoding="utf-8") + "schedule: {require_approval: true}\n")
    return workspace


def run(workspace: Path, *args: str):
    return invoke(["-w", str(workspace), *args], env=SECRET)


def outbox(workspace: Path) -> int:
    return len(list((workspace / "outbox" / ISSUE_ID).glob("*.eml")))


def test_send_due_sends_only_an_approved_issue_and_an_edit_withdraws_the_approval(gated):
    refused = run(gated, "send-due", "--now", "2026-06-02T09:02:00-04:00")
    assert refused.exit_code != 0 and "nobody approved it" in refused.output and outbox(gated) == 0

    approved = run(gated, "approve", ISSUE_ID, "--by", "Ana Lima")
    assert approved.exit_code == 0, approved.output
    assert "approved by Ana Lima" in approved.output
    path = gated / "issues" / f"{ISSUE_ID}.yaml"
    text = path.read_text(encoding="utf-8")
    assert "approved: {by: Ana Lima, at: " in text
    path.write_text("# looked at twice\n" + text, encoding="utf-8")
    assert approval_of(gated, ISSUE_ID).approved  # a comment is no change to what readers get

    path.write_text(text.replace("subject: ", "subject: Now ", 1), encoding="utf-8")
    withdrawn = run(gated, "send-due", "--now", "2026-06-02T09:03:00-04:00")
    assert "approval by Ana Lima was withdrawn" in withdrawn.output and outbox(gated) == 0

    path.write_text(text, encoding="utf-8")  # back to exactly what was approved
    sent = run(gated, "send-due", "--now", "2026-06-02T09:04:00-04:00")
    assert sent.exit_code == 0, sent.output
    assert outbox(gated) == 3


def test_send_asks_force_and_a_reason_for_an_unapproved_issue(gated):
    refused = run(gated, "send", ISSUE_ID, "--yes")
    assert refused.exit_code != 0 and "--force --reason" in refused.output and outbox(gated) == 0
    forced = run(
        gated, "send", ISSUE_ID, "--yes", "--force", "--reason", "the editor is away; approved by phone"
    )
    assert forced.exit_code == 0, forced.output
    assert "nobody approved it" in forced.output and outbox(gated) == 3


def test_approve_is_refused_while_check_finds_errors(gated):
    from delivery_helpers import mark_needs_review

    mark_needs_review(gated)
    result = run(gated, "approve", ISSUE_ID)
    assert result.exit_code != 0 and "not approved" in result.output
    assert approval_of(gated, ISSUE_ID).state is ApprovalState.NONE


def test_a_bad_schedule_setting_is_one_line_naming_the_key(gated):
    settings = gated / "newsletter.yaml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace("require_approval: true", "require_approval: yes please")
    )
    result = run(gated, "send-due")
    assert (
        result.exit_code != 0
        and "schedule.require_approval" in result.output
        and "Traceback" not in result.output
    )
