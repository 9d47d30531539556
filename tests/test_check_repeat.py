"""A repeat of an issue that went out is an error: `check` fails, `send` and `send-due` refuse it."""

from __future__ import annotations

from pathlib import Path

from factories import issue, run, summary

from newsletter.check.findings import Severity
from newsletter.check.issue import issue_findings
from newsletter.compose.ready import INTRO_TODO
from newsletter.store.fileio import parse_yaml

ITEMS = ("a", "b", "c", "d")
STORE = {sid: summary(sid) for sid in ITEMS}
DOC = parse_yaml(
    "title: T\nsubject: S\npreheader: P\nwindow: {since: 2026-05-01, until: 2026-05-31}\nintro: Hi\n"
    "sections:\n  - title: All\n    items: [a, b, c, d]\n",
    Path("issues/2026-07.yaml"),
)
SUBJECT = "Microglia, gut signals and what follows PML"


def findings(carried=None, subjects=None, subject=SUBJECT):
    this = issue("2026-07", items=ITEMS, subject=subject)
    return issue_findings(this, STORE, DOC, INTRO_TODO, carried, subjects)


def test_most_items_sent_before_is_one_error_naming_them_and_the_issue():
    found = findings(carried={"a": "2026-06", "b": "2026-06", "c": None})

    assert [(f.severity, f.where) for f in found] == [(Severity.ERROR, "issues/2026-07.yaml:6")]
    assert found[0].what == (
        "3 of its 4 summaries went out before (in 2026-06, the delivery ledger): a, b, c"
    )
    assert "--force --reason" in found[0].fix and "new-issue" in found[0].fix


def test_a_few_items_sent_before_stay_warnings_one_per_item():
    found = findings(carried={"a": "2026-06", "b": "2026-06"})  # half is not most

    assert [f.severity for f in found] == [Severity.WARNING, Severity.WARNING]


def test_the_subject_of_an_issue_that_went_out_is_an_error_whatever_the_case_and_spacing():
    found = findings(subjects={"microglia,  gut signals and what follows PML ": "2026-06"})

    assert [(f.severity, f.what) for f in found] == [
        (Severity.ERROR, "the subject is the one issue 2026-06 was sent with")
    ]
    assert findings(subjects={"Something else": "2026-06"}) == []


def copy_of_june(workspace: Path) -> None:
    """January's mistake: last month's file copied, with a new title and send time."""
    june = (workspace / "issues" / "2026-06.yaml").read_text()
    july = june.replace('title: "MS Research Roundup, June 2026"', 'title: "MS Research Roundup, July 2026"')
    july = july.replace("send_at: 2026-06-02T09:00:00-04:00", "send_at: 2026-07-01T09:00:00-04:00")
    assert july != june
    (workspace / "issues" / "2026-07.yaml").write_text(july)


SECRET = {"NEWSLETTER_SECRET": "a-test-secret-of-enough-length-0123456789-abcdefgh"}


def test_a_copy_of_the_issue_sent_last_month_fails_check_and_the_unattended_send(workspace: Path):
    assert run(workspace, "send", "2026-06", "--yes").exit_code == 0
    copy_of_june(workspace)

    checked = run(workspace, "check", "2026-07")
    due = run(workspace, "send-due", "--now", "2026-07-01T09:05:00-04:00", env=SECRET)

    assert checked.exit_code == 1
    subject_line = "error: issues/2026-07.yaml:4: the subject is the one issue 2026-06 was sent with"
    assert subject_line in checked.output
    assert "9 of its 9 summaries went out before (in 2026-06)" in checked.output
    assert due.exit_code == 5, due.output
    assert "\\n" not in due.output  # findings are lines, not escaped text
    assert "the subject is the one issue 2026-06 was sent with" in due.output
    assert not list((workspace / "outbox").glob("2026-07/*.eml"))


def test_repeating_on_purpose_takes_force_and_a_reason(workspace: Path):
    assert run(workspace, "send", "2026-06", "--yes").exit_code == 0
    copy_of_june(workspace)

    refused = run(workspace, "send", "2026-07", "--yes")
    forced = run(workspace, "send", "2026-07", "--yes", "--force", "--reason", "the June mail was lost")

    assert refused.exit_code == 1 and "went out before" in refused.output
    assert forced.exit_code == 0, forced.output
    assert len(list((workspace / "outbox" / "2026-07").glob("*.eml"))) == 5
