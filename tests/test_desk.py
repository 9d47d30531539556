"""The editor's desk through its app factory: every change is the YAML a person would write, a file
changed on disk is never overwritten, approvals are withdrawn by edits, test sends reach a real SMTP
server and are recorded nowhere."""

from __future__ import annotations

import difflib
import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from desk_helpers import ISSUE, Desk

from newsletter.store import issues
from newsletter.store.approval import ApprovalState, approval_of, is_approved
from newsletter.web.desk.context import Access

ISSUE_FILE = f"issues/{ISSUE}.yaml"
MICROGLIA = "2026-05-14-lab-grown-human-microglia-point-targets"
INVADING = "2026-05-20-invading-immune-cells-damage-nerves-ms"
GUT = "2026-05-27-brain-immune-system-talk-more-than"
SECRET = "test-secret-for-unsubscribe-links-0123456789"


@pytest.fixture
def desk(workspace: Path) -> Desk:
    d = Desk(workspace)
    d.get(f"/issues/{ISSUE}")
    return d


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_every_page_answers(desk):
    for url in (
        "/",
        f"/issues/{ISSUE}",
        "/summaries",
        f"/summaries/{MICROGLIA}",
        f"/issues/{ISSUE}/email.html",
        f"/issues/{ISSUE}/findings",
        "/import",
    ):
        assert desk.get(url).status_code == 200, url
    assert desk.get("/issues/2099-01").status_code == 404
    assert "Not found" in desk.page


def test_moving_an_item_up_changes_only_its_two_lines_and_keeps_the_comments(desk):
    before = desk.text(ISSUE_FILE)
    desk.post(f"/issues/{ISSUE}/items/{MICROGLIA}", {"action": "up"})
    after = desk.text(ISSUE_FILE)
    assert len(changed_lines(before, after)) == 2  # one line moved: the two items swapped places
    assert issues.load_issue(desk.workspace, ISSUE).sections[0].items[:2] == (MICROGLIA, INVADING)
    assert sorted(before.splitlines()) == sorted(after.splitlines())  # the same lines, comments and all
    assert "Moved up to position 1 of 4" in desk.messages()[0]


def test_editing_the_subject_rewrites_that_line_alone_in_the_same_quoting(desk):
    before = desk.text(ISSUE_FILE)
    desk.post(
        f"/issues/{ISSUE}/lines",
        {
            "title": "MS Research Roundup, June 2026",
            "subject": "Microglia: healing, harm and new targets",
            "preheader": "Nine new studies from May, explained in plain language",
            "intro": issues.load_issue(desk.workspace, ISSUE).intro.replace("\n", "\r\n"),
        },
    )
    assert changed_lines(before, desk.text(ISSUE_FILE)) == [
        '-subject: "Microglia, gut signals and what follows PML"',
        '+subject: "Microglia: healing, harm and new targets"',
    ]
    assert desk.messages() == ["Subject saved."]


def test_moving_across_sections_removing_adding_and_sections(desk):
    ws = desk.workspace
    desk.post(f"/issues/{ISSUE}/items/{GUT}", {"action": "move", "section": "0"})
    issue = issues.load_issue(ws, ISSUE)
    assert issue.sections[0].items[-1] == GUT
    assert "Gut and microbiome" not in [s.title for s in issue.sections]  # left empty: removed, and said
    assert "was left empty and was removed" in desk.messages()[0]
    # the item's own comment travelled with it; the section's trailing comment block stayed at its end
    text = desk.text(ISSUE_FILE)
    assert f"- {GUT}  # 2026-05-27: The Brain and the Immune System" in text
    assert text.index(GUT) < text.index("# Teasers left out because")

    desk.post(f"/issues/{ISSUE}/items/{GUT}", {"action": "remove"})
    assert GUT not in issues.load_issue(ws, ISSUE).summary_ids
    assert f'id="cand-{GUT}"' in desk.page  # back among the candidates

    desk.post(f"/issues/{ISSUE}/sections", {"action": "add", "title": "The gut", "first": GUT})
    issue = issues.load_issue(ws, ISSUE)
    assert (issue.sections[-1].title, issue.sections[-1].items) == ("The gut", (GUT,))
    assert f"- {GUT}  # 2026-05-27: The Brain and the Immune System" in desk.text(ISSUE_FILE)

    last = len(issue.sections) - 1
    desk.post(f"/issues/{ISSUE}/sections", {"action": "up", "index": str(last)})
    desk.post(f"/issues/{ISSUE}/sections", {"action": "rename", "index": str(last - 1), "title": "Gut news"})
    assert [s.title for s in issues.load_issue(ws, ISSUE).sections][last - 1 :] == [
        "Gut news",
        issue.sections[last - 1].title,
    ]
    desk.post(f"/issues/{ISSUE}/sections", {"action": "delete", "index": str(last - 1)})
    assert GUT not in issues.load_issue(ws, ISSUE).summary_ids


def test_a_candidate_is_added_to_a_section_with_new_issues_comment(desk):
    teaser = "2026-05-01-cd29-marks-blood-b-cells"
    desk.get(f"/issues/{ISSUE}?kind=teaser")
    assert f'id="cand-{teaser}"' in desk.page
    assert 'id="cand-2026-05-06' not in desk.page  # full summaries filtered out (and in the issue)
    desk.post(f"/issues/{ISSUE}/items/{teaser}", {"action": "add", "section": "0", "kind": "teaser"})
    assert issues.load_issue(desk.workspace, ISSUE).sections[0].items[-1] == teaser
    assert f"- {teaser}  # teaser, 2026-05-01: CD29" in desk.text(ISSUE_FILE)


def test_a_file_changed_on_disk_meanwhile_is_not_overwritten_and_the_change_is_shown(desk):
    path = desk.workspace / ISSUE_FILE
    theirs = path.read_text(encoding="utf-8").replace("Nine new studies", "Nine fresh studies")
    path.write_text(theirs, encoding="utf-8")
    response = desk.post(f"/issues/{ISSUE}/items/{MICROGLIA}", {"action": "up"})
    assert response.status_code == 409
    assert path.read_text(encoding="utf-8") == theirs
    assert "Nine fresh studies" in desk.page and "changed on disk" in desk.page
    desk.get(f"/issues/{ISSUE}")  # reload: the change now applies to their version
    desk.post(f"/issues/{ISSUE}/items/{MICROGLIA}", {"action": "up"})
    assert "Nine fresh studies" in desk.text(ISSUE_FILE)
    assert issues.load_issue(desk.workspace, ISSUE).sections[0].items[0] == MICROGLIA


def test_a_change_that_would_break_the_file_is_refused_and_nothing_written(desk):
    before = desk.text(ISSUE_FILE)
    desk.post(f"/issues/{ISSUE}/lines", {"subject": "   "})
    assert desk.text(ISSUE_FILE) == before
    assert any("not saved" in m and "subject" in m for m in desk.messages())
    desk.post(f"/issues/{ISSUE}/sections", {"action": "rename", "index": "0", "title": "Gut and microbiome"})
    assert desk.text(ISSUE_FILE) == before
    assert any("appears twice" in m for m in desk.messages())


def test_posts_need_the_pages_csrf_token_and_a_loopback_host(desk):
    before = desk.text(ISSUE_FILE)
    bad = desk.client.post(
        f"/issues/{ISSUE}/items/{MICROGLIA}",
        data={"action": "up", "version": desk.field("version"), "csrf": "forged"},
        headers={"Host": "127.0.0.1:8027"},
    )
    assert bad.status_code == 400
    other_site = desk.client.post(
        f"/issues/{ISSUE}/items/{MICROGLIA}",
        data={"action": "up", "version": desk.field("version"), "csrf": desk.field("csrf")},
        headers={"Host": "127.0.0.1:8027", "Origin": "http://evil.example"},
    )
    assert other_site.status_code == 400
    assert desk.client.get("/", headers={"Host": "evil.example:8027"}).status_code == 403  # DNS rebinding
    assert desk.client.get(f"/issues/{ISSUE}/items/{MICROGLIA}").status_code == 405  # changes are POSTs
    assert desk.text(ISSUE_FILE) == before


def test_a_shared_token_signs_editors_in_by_name(workspace):
    d = Desk(workspace, Access(token="s3cret-token"))
    assert d.get("/").status_code == 303
    d.get("/sign-in")
    host = {"Host": "127.0.0.1:8027"}
    assert d.client.post("/sign-in", data={"name": "Ana", "token": "wrong"}, headers=host).status_code == 401
    d.client.post("/sign-in", data={"name": "Ana", "token": "s3cret-token"}, headers=host)
    assert d.get("/").status_code == 200 and "Signed in as Ana" in d.page


def test_a_proxy_header_names_the_editor_and_is_required(workspace):
    d = Desk(workspace, Access(user_header="X-Remote-User"))
    assert d.client.get("/", headers={"Host": "desk.example.org"}).status_code == 401
    d.get("/", headers={"Host": "desk.example.org", "X-Remote-User": "Ben"})
    assert "Signed in as Ben" in d.page


def test_approve_records_who_and_when_and_an_edit_withdraws_it(desk):
    ws = desk.workspace
    before = desk.text(ISSUE_FILE)
    desk.post(f"/issues/{ISSUE}/approve", {})
    assert desk.messages()[0].startswith("Approved by ana at 2026-05-30")
    added = changed_lines(before, desk.text(ISSUE_FILE))
    assert len(added) == 1 and added[0].startswith(
        "+approved: {by: ana, at: 2026-05-30T08:00:00-04:00, digest: "
    )
    assert is_approved(ws, ISSUE)
    assert "Approved</strong> by ana" in desk.page

    # an edit to one of its summaries, made outside the desk, withdraws the approval
    summary = ws / "summaries" / f"{MICROGLIA}.yaml"
    summary.write_text(summary.read_text(encoding="utf-8").replace("Researchers are", "Scientists are"))
    assert approval_of(ws, ISSUE).state is ApprovalState.WITHDRAWN
    desk.get(f"/issues/{ISSUE}")
    assert "Approval withdrawn" in desk.page
    assert "What changed since the approval" in desk.page
    assert '<span class="add">+  Scientists are using' in desk.page
    desk.post(f"/issues/{ISSUE}/approve", {})
    assert is_approved(ws, ISSUE)
    desk.post(f"/issues/{ISSUE}/items/{MICROGLIA}", {"action": "up"})  # and so does one in the desk
    assert not is_approved(ws, ISSUE)
    # a comment is not content: adding one keeps the approval of what readers get
    desk.post(f"/issues/{ISSUE}/approve", {})
    path = ws / ISSUE_FILE
    path.write_text("# checked twice\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert is_approved(ws, ISSUE)


def test_approve_is_refused_while_check_finds_errors(desk):
    from delivery_helpers import mark_needs_review

    mark_needs_review(desk.workspace)
    desk.get(f"/issues/{ISSUE}")
    desk.post(f"/issues/{ISSUE}/approve", {})
    assert any("not approved" in m for m in desk.messages())
    assert "approved:" not in desk.text(ISSUE_FILE)


def test_findings_link_to_their_fields(desk):
    from delivery_helpers import mark_needs_review

    mark_needs_review(desk.workspace)
    desk.get(f"/issues/{ISSUE}/findings?panel=1")
    assert f'<a href="#item-{MICROGLIA}">{MICROGLIA}</a>' in desk.page
    path = desk.workspace / ISSUE_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("Microglia, gut signals", "M" * 80))
    desk.get(f"/issues/{ISSUE}/findings")  # its own page links to the issue page's fields
    assert f'<a href="/issues/{ISSUE}#f-subject">subject</a>' in desk.page


def test_a_change_answers_at_once_and_its_findings_follow(desk):
    """The page after a change does not wait for `check`: it says check is running and where the
    findings come from; once `check` ran on the files as they are, the page shows them itself."""
    desk.get(f"/issues/{ISSUE}/findings")
    desk.get(f"/issues/{ISSUE}")
    assert 'id="findings-h">Check: 0 error(s)' in desk.page and "data-load" not in desk.page
    desk.post(f"/issues/{ISSUE}/lines", {"subject": "Microglia and the TODO of May"})
    assert 'data-load="/issues/2026-06/findings"' in desk.page and 'aria-busy="true"' in desk.page
    desk.get(f"/issues/{ISSUE}/findings?panel=1")
    assert '<a href="#f-subject">subject</a>: the subject still has placeholder text (TODO)' in desk.page
    desk.get(f"/issues/{ISSUE}")
    assert "data-load" not in desk.page and "placeholder text (TODO)" in desk.page


def test_a_summarys_finding_links_to_its_form_field(workspace):
    from newsletter.check.findings import Finding, Severity
    from newsletter.web.desk.editor import locate_finding

    finding = Finding(Severity.ERROR, "no takeaway", f"summaries/{MICROGLIA}.yaml (takeaway)", "write one")
    with Desk(workspace).app.test_request_context():
        assert locate_finding(finding, ISSUE, None, {}).href == f"/summaries/{MICROGLIA}#f-takeaway"


def test_mark_reviewed_needs_every_guessed_field_looked_at(desk):
    sid = "2026-05-06-microglia-affect-ms-healing-harm-explained"
    path = desk.workspace / "summaries" / f"{sid}.yaml"
    original = path.read_text(encoding="utf-8")
    path.write_text(original + "needs_review: true\nmissing_fields: [journal, takeaway]\n", encoding="utf-8")
    desk.get(f"/summaries/{sid}")
    assert desk.page.count("guessed") >= 2
    desk.post(f"/summaries/{sid}/reviewed", {"looked": ["journal"], "back": f"/summaries/{sid}"})
    assert "needs_review: true" in path.read_text(encoding="utf-8")
    assert any("takeaway" in m for m in desk.messages())
    desk.post(f"/summaries/{sid}/reviewed", {"looked": ["journal", "takeaway"]})
    assert path.read_text(encoding="utf-8") == original
    desk.get("/summaries?review=1")
    assert sid not in desk.page


def test_saving_a_summary_changes_only_the_edited_fields(desk):
    sid = INVADING
    desk.get(f"/summaries/{sid}")
    before = desk.text(f"summaries/{sid}.yaml")
    form = dict(re.findall(r'<input id="f-(\w+)" name="\w+" value="([^"]*)"', desk.page))
    texts = dict(re.findall(r'<textarea id="f-(\w+)" name="\w+" rows="\d+">([^<]*)</textarea>', desk.page))
    import html

    data = {k: html.unescape(v) for k, v in {**form, **texts}.items()}
    data["journal"] = "Science Immunology"
    data["topics-shown"] = "1"
    data["topic"] = ["Macrophages", "Microglia", "Oxidative stress"]
    data["free_tags"] = "EAE"
    desk.post(f"/summaries/{sid}", data)
    assert changed_lines(before, desk.text(f"summaries/{sid}.yaml")) == [
        "-journal: Science immunology",
        "+journal: Science Immunology",
    ]
    data["takeaway"] = data["takeaway"] + " It was a mouse study."
    desk.get(f"/summaries/{sid}")
    desk.post(f"/summaries/{sid}", data)
    after = desk.text(f"summaries/{sid}.yaml")
    assert "It was a mouse study." in after and max(len(line) for line in after.splitlines()) <= 110


def test_the_summary_form_takes_the_editors_short_wordings(desk):
    from newsletter.store.content import load_summary

    sid = INVADING
    desk.get(f"/summaries/{sid}")
    for key in ("considerations_short", "who_should_care_short"):
        assert f'<textarea id="f-{key}" name="{key}" rows="6"></textarea>' in desk.page
    desk.post(f"/summaries/{sid}", {"considerations_short": "Only in mice so far."})
    summary = load_summary(desk.workspace / f"summaries/{sid}.yaml")
    assert summary.considerations_short == "Only in mice so far." and summary.who_should_care_short is None


def test_new_issue_drafts_the_next_month_and_opens_it(workspace):
    (workspace / ISSUE_FILE).unlink()
    d = Desk(workspace)
    d.get("/")
    response = d.post("/issues/new", {}, follow=False)
    assert response.status_code == 303
    drafted = response.headers["Location"].rsplit("/", 1)[1]
    assert issues.load_issue(workspace, drafted).summary_ids  # the CLI reads what the desk drafted
    d.get(response.headers["Location"])
    assert d.messages()[0].startswith(f"Drafted {drafted} with ")


def test_new_issue_says_why_when_there_is_nothing_to_draft(desk):
    desk.get("/")
    desk.post("/issues/new", {})
    assert any("no summaries to draft" in m for m in desk.messages())


def test_a_test_send_reaches_the_smtp_server_and_is_recorded_nowhere(workspace, smtp_sink, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    received = smtp_sink.messages
    d = Desk(workspace, provider=f"smtp://127.0.0.1:{smtp_sink.port}")
    d.get(f"/issues/{ISSUE}")
    d.post(f"/issues/{ISSUE}/test", {"addresses": "ana@example.org, ben@example.org"})
    assert d.messages()[0].startswith("Test sent to ana@example.org, ben@example.org")
    assert sorted(r for r, _ in smtp_sink.received) == ["ana@example.org", "ben@example.org"]
    message = BytesParser(policy=policy.default).parsebytes(received[0])
    assert message["Subject"].startswith("[TEST] ")
    d.get("/")
    assert "draft" in d.page or "scheduled" in d.page
    assert "sent</span>" not in d.page  # no send run recorded
    d.get(f"/issues/{ISSUE}")
    d.post(f"/issues/{ISSUE}/test", {"addresses": "not an address"})
    assert smtp_sink.count() == 2 and any("address" in m.lower() for m in d.messages())


def test_a_workspace_overrides_a_desk_page_one_block_at_a_time(workspace):
    override = workspace / "templates" / "desk" / "issues.html"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text(
        '{% extends "default:desk/issues.html" %}{% block title %}Our issues{% endblock %}', encoding="utf-8"
    )
    d = Desk(workspace)
    d.get("/")
    assert "<title>Our issues" in d.page and "New issue" in d.page


def test_scheduling_writes_send_at_with_the_newsletters_offset(desk):
    before = desk.text(ISSUE_FILE)
    desk.post(f"/issues/{ISSUE}/lines", {"send_at": "2026-06-03T10:30"})
    assert changed_lines(before, desk.text(ISSUE_FILE)) == [
        "-send_at: 2026-06-02T09:00:00-04:00",
        "+send_at: 2026-06-03T10:30:00-04:00",
    ]
    desk.post(f"/issues/{ISSUE}/lines", {"send_at": ""})
    assert issues.load_issue(desk.workspace, ISSUE).send_at is None


def test_a_sections_intro_is_edited_in_place_and_scanned_for_placeholders(desk):
    """Each section's intro: its own textarea; a save rewrites those lines alone in the file's style
    (folded stays folded, short stays on its line); emptied it goes, the comment under it stays;
    `check` and the desk flag placeholder text in it like in the main intro."""
    original = desk.text(ISSUE_FILE)
    assert "May was a month for microglia" in desk.page and 'id="f-section-intro-0"' in desk.page
    gut = "A new look at how the gut and the brain talk to each other, and what TBD means."
    desk.post(f"/issues/{ISSUE}/sections", {"action": "intro", "index": "1", "intro": gut})
    assert desk.messages() == ["Saved the intro of “Gut and microbiome”."]
    assert changed_lines(original, desk.text(ISSUE_FILE)) == [
        "-    intro: A new look at how the gut and the brain talk to each other.",
        f"+    intro: {gut}",
    ]
    assert issues.load_issue(desk.workspace, ISSUE).sections[1].intro == gut
    desk.get(f"/issues/{ISSUE}/findings?panel=1")
    assert (
        '<a href="#f-section-intro-1">section 2 intro</a>: the intro of section 2 still has placeholder'
        in desk.page
    )

    # emptied: the key goes, the comment line that followed it stays above `items`
    desk.get(f"/issues/{ISSUE}")
    desk.post(f"/issues/{ISSUE}/sections", {"action": "rename", "index": "0", "title": "Immune cells TBD"})
    desk.get(f"/issues/{ISSUE}/findings?panel=1")
    assert (
        '<a href="#rename-0">section 1 title</a>: the title of section 1 still has placeholder' in desk.page
    )
    assert 'id="rename-0"' in desk.get(f"/issues/{ISSUE}").get_data(as_text=True)
    desk.post(
        f"/issues/{ISSUE}/sections",
        {"action": "rename", "index": "0", "title": "Immune cells and inflammation"},
    )
    desk.post(f"/issues/{ISSUE}/sections", {"action": "intro", "index": "2", "intro": "  \r\n"})
    text = desk.text(ISSUE_FILE)
    assert '  - title: "Myelin, nerve damage and repair"\n    # Teasers only' in text
    # written back as they were: the file is the one it was, byte for byte
    desk.post(f"/issues/{ISSUE}/sections", {"action": "intro", "index": "1", "intro": gut[:58] + "."})
    desk.post(
        f"/issues/{ISSUE}/sections",
        {
            "action": "intro",
            "index": "2",
            "intro": "A short preview of a study on spinal fluid proteins that flag early nerve damage.",
        },
    )
    assert desk.text(ISSUE_FILE) == original
    # the long folded intro as the textarea shows it (one line) is no change; a line break makes a block
    folded = desk.textarea("f-section-intro-0")
    assert folded.startswith("May was a month for microglia") and "\n" not in folded
    desk.post(f"/issues/{ISSUE}/sections", {"action": "intro", "index": "0", "intro": folded})
    assert desk.messages() == ["Nothing to change."] and desk.text(ISSUE_FILE) == original
    desk.post(
        f"/issues/{ISSUE}/sections", {"action": "intro", "index": "1", "intro": "Gut.\r\n\r\nAnd brain."}
    )
    assert changed_lines(original, desk.text(ISSUE_FILE)) == [
        "-    intro: A new look at how the gut and the brain talk to each other.",
        "+    intro: |-",
        "+      Gut.",
        "+",
        "+      And brain.",
    ]


def test_check_flags_placeholder_text_in_a_sections_intro_with_its_line(workspace):
    """The command the desk's findings come from: the section's intro, named and located."""
    from factories import run

    path = workspace / ISSUE_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("talk to each other.", "talk to each other. XXX"), encoding="utf-8")
    line = text[: text.index("talk to each other.")].count("\n") + 1
    result = run(workspace, "check", ISSUE)
    assert result.exit_code == 1
    flagged = [out for out in result.output.splitlines() if "placeholder text (XXX)" in out]
    assert len(flagged) == 1 and f"{ISSUE_FILE}:{line}" in flagged[0]
    assert "the intro of section 2 still has placeholder text" in flagged[0]
