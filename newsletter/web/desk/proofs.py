"""Test and approve: a [TEST] proof to the editor's own addresses, and the approval of an issue.

A test send goes through the configured provider (`send --test-to`) and is recorded nowhere as a
delivery. "Approve" writes who and when, with the digest of what was approved, into the issue file
(store/approval.py); it is refused while `check` finds errors or the file changed since the page.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, redirect, request, url_for

from newsletter.errors import NewsletterError
from newsletter.store import issues
from newsletter.store.approval import approve as approve_issue
from newsletter.web.desk.context import desk
from newsletter.web.desk.edits import EditError
from newsletter.web.desk.pages import say
from newsletter.web.desk.reports import report_for
from newsletter.web.desk.security import editor

blueprint = Blueprint("proofs", __name__)
MAX_TEST_ADDRESSES = 10


def test_addresses(raw: str) -> list[str]:
    """Addresses separated by commas, spaces or lines; at most MAX_TEST_ADDRESSES."""
    found = [a for a in re.split(r"[\s,;]+", raw) if a]
    if not found:
        raise EditError("give at least one address to send the test to")
    if len(found) > MAX_TEST_ADDRESSES:
        raise EditError(f"at most {MAX_TEST_ADDRESSES} addresses for a test")
    return list(dict.fromkeys(found))


def _issue(issue_id: str) -> None:
    if not issues.issue_path(desk().workspace, issue_id).is_file():
        abort(404, f"no issue {issue_id}")


@blueprint.post("/issues/<issue_id>/test")
def send_test(issue_id: str) -> Response:
    from newsletter.delivery.proof import send_test as send_proof
    from newsletter.delivery.reporting import Silent

    _issue(issue_id)
    d = desk()
    addresses = test_addresses(request.form.get("addresses", ""))
    results = send_proof(d.settings, issue_id, addresses, d.provider, Silent())
    failed = [f"{p.address} ({p.result.detail or p.result.status})" for p in results if not p.result.ok]
    if failed:
        raise NewsletterError(f"test not delivered to {', '.join(failed)}")
    say(f"Test sent to {', '.join(p.address for p in results)}; it is recorded nowhere as a delivery.")
    return redirect(url_for("editor.edit", issue_id=issue_id, focus="test") + "#test", 303)  # type: ignore[return-value]


@blueprint.post("/issues/<issue_id>/approve")
def approve(issue_id: str) -> Response:
    _issue(issue_id)
    d = desk()
    report = report_for(issue_id)
    if report.errors:
        raise EditError(f"not approved: `check` finds {len(report.errors)} error(s); fix them first")
    who = editor() or request.form.get("name", "").strip()
    if not who:
        raise EditError("not approved: say who approves")
    now = d.clock().astimezone(d.settings.tz).replace(microsecond=0)
    version = approve_issue(d.workspace, issue_id, who, now, request.form.get("version", ""))
    d.remember(version, issues.issue_path(d.workspace, issue_id).read_text(encoding="utf-8"))
    say(f"Approved by {who} at {now:%Y-%m-%d %H:%M}. Any edit to the issue or its summaries withdraws it.")
    return redirect(url_for("editor.edit", issue_id=issue_id, focus="approval") + "#approval", 303)  # type: ignore[return-value]
