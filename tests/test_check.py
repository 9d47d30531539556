"""The pre-send check: each finding on a deliberately broken issue, email or message, and the CLI."""

from __future__ import annotations

import binascii
import dataclasses
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from factories import issue, summary
from sample_workspace import SAMPLE_ISSUE

from newsletter import check, render
from newsletter.check import spam as sa
from newsletter.check.content import summary_findings
from newsletter.check.email import RenderedEmail, email_findings, long_text_lines
from newsletter.check.findings import Finding, Severity, SpamScore
from newsletter.check.issue import issue_findings
from newsletter.compose.ready import INTRO_TODO
from newsletter.delivery import ledger, records
from newsletter.errors import ConfigError
from newsletter.store import issues
from newsletter.store.config import load_settings
from newsletter.store.fileio import load_yaml, parse_yaml
from newsletter.store.models import Issue, Section, Summary

TODO = "TODO: write a short note from the editor."

ISSUE_YAML = """\
title: MS Research Roundup, June 2026
subject: Microglia, gut bacteria and a new look at B cells
preheader: Five new studies in plain language
window: {since: 2026-05-01, until: 2026-05-31}
intro: |
  Welcome.
sections:
  - title: Immune cells
    items: [cd29-b-cells, microglia-models]
"""


DOC = parse_yaml(ISSUE_YAML, Path("issues/2026-06.yaml"))
STORE = {s.id: s for s in (summary("cd29-b-cells"), summary("microglia-models"))}


def findings_of(the_issue: Issue, store=STORE, carried=None) -> list[Finding]:
    return issue_findings(the_issue, store, DOC, TODO, carried)


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


# --- the issue --------------------------------------------------------------------------------


def test_a_well_assembled_issue_has_no_findings():
    assert findings_of(issue()) == []


def test_intro_still_todo_is_an_error_at_the_intro_line():
    found = only(findings_of(issue(intro=f"{TODO}\n")))
    assert (found.severity, found.where) == ("error", "issues/2026-06.yaml:5")
    assert "TODO" in found.what and "note from the editor" in found.fix


def test_a_long_subject_is_a_warning():
    long = only(findings_of(issue(subject="A" * 75)))
    assert long.severity == "warning" and "75 characters" in long.what
    assert long.where == "issues/2026-06.yaml:2"


def test_missing_preheader_is_a_warning():
    found = only(findings_of(issue(preheader="")))
    assert found.severity == "warning" and "preheader" in found.what


def test_summary_outside_the_window_names_its_date_and_line():
    store = {**STORE, "microglia-models": summary("microglia-models", published=date(2026, 4, 2))}
    found = only(findings_of(issue(), store))
    assert found.severity == "warning"
    assert "published 2026-04-02, outside the issue's window 2026-05-01..2026-05-31" in found.what
    assert found.where == "issues/2026-06.yaml:9"


def test_summary_already_sent_names_the_earlier_issue():
    found = only(findings_of(issue(), carried={"microglia-models": "2026-05"}))
    assert found.what == "summary microglia-models was carried by an earlier issue (2026-05)"


def test_summary_marked_needs_review_is_an_error_naming_its_file():
    store = {**STORE, "cd29-b-cells": summary(needs_review=True, missing_fields=("published",))}
    found = only(findings_of(issue(), store))
    assert found.severity == "error"
    assert "needs_review (guessed: published)" in found.what
    assert "summaries/cd29-b-cells.yaml" in found.fix


# --- the content ------------------------------------------------------------------------------

TODAY = date(2026, 6, 1)


def test_a_complete_summary_has_no_findings():
    assert summary_findings(summary(), TODAY) == []


def test_full_summary_without_takeaway_is_an_error():
    found = only(summary_findings(summary(takeaway=None, teaser="Blurb."), TODAY))
    assert found.severity == "error" and found.where == "summaries/cd29-b-cells.yaml (takeaway)"


def test_teaser_without_takeaway_is_a_note_and_without_a_blurb_a_warning():
    # A teaser needs what the email shows of it (title, link, blurb), so --strict passes it.
    teaser = summary(takeaway=None, found=None, considerations=None, teaser="Blurb.")
    found = only(summary_findings(teaser, TODAY))
    assert (
        found.severity == "note"
        and found.what == "no takeaway, so the email shows the site's short teaser, cut to a word"
    )
    bare = only(summary_findings(summary(takeaway=None, found=None, considerations=None), TODAY))
    assert (bare.severity, bare.what) == ("warning", "no takeaway, so the email shows only the title")


def test_a_long_caution_is_a_note_saying_by_how_much_and_a_teaser_is_never_long():
    caution = "Only in mice. " * 31  # 93 words (3 a sentence)
    found = only(summary_findings(summary(considerations=caution), TODAY))
    assert found.severity == Severity.NOTE and found.where.endswith("(considerations)")
    assert "93 words, 33 over the 60" in found.what
    assert summary_findings(summary(considerations="Only in mice. " * 20), TODAY) == []
    assert "write a shorter `considerations_short:`" in found.fix


def test_a_long_field_with_the_editors_short_wording_is_measured_by_the_short_one():
    caution = "Only in mice. " * 31
    assert (
        summary_findings(summary(considerations=caution, considerations_short="Only in mice."), TODAY) == []
    )
    long_short = summary(considerations=caution + "More.", considerations_short="Only in mice. " * 21)
    found = only(summary_findings(long_short, TODAY))
    assert found.where.endswith("(considerations_short)") and "63 words, 3 over the 60" in found.what
    care = summary(who_should_care="Carers. " * 70, who_should_care_short="Carers.")
    assert summary_findings(care, TODAY) == []


def test_a_short_wording_no_shorter_than_its_field_is_a_warning_not_a_refusal():
    # A re-import may shorten the site's text under the editor's short wording: the file still loads.
    stale = summary(considerations="Only in mice.", considerations_short="Only in mice, so far.")
    found = only(summary_findings(stale, TODAY))
    assert found.severity == Severity.WARNING and found.where.endswith("(considerations_short)")
    assert "not shorter than considerations" in found.what and "remove considerations_short" in found.fix


def test_full_summary_without_considerations_is_an_error():
    found = only(summary_findings(summary(considerations=None), TODAY))
    assert "considerations" in found.what and found.where.endswith("(considerations)")


def test_plain_http_link_in_a_summary_is_an_error():
    found = only(summary_findings(summary(found="See http://example.org/study for more."), TODAY))
    assert "http://example.org/study is not https" in found.what
    assert found.where == "summaries/cd29-b-cells.yaml (found)"


def test_date_in_the_future_is_an_error():
    found = only(summary_findings(summary(published=date(2026, 12, 31)), TODAY))
    assert "2026-12-31 is in the future" in found.what


# --- the email --------------------------------------------------------------------------------

UNSUBSCRIBE = "https://msresearch.example.org/newsletter/unsubscribe?token=abc"
ADDRESS = "MS Research Roundup, 100 Example Street, Springfield, MA 01101, USA"


def card(s: Summary) -> str:
    return (
        f'<h2>{s.title}</h2><p>{s.takeaway}</p><a href="{s.url}" aria-label="Read more: {s.title}">'
        "Read more</a>"
    )


def good_html(body: str | None = None) -> str:
    cards = body if body is not None else "".join(card(s) for s in STORE.values())
    return (
        '<!doctype html><html lang="en"><head><title>June</title><style>p{color:#222}</style></head>'
        f'<body><img src="logo.png" alt="MS Research Roundup">{cards}'
        f'<p>{ADDRESS}</p><a href="{UNSUBSCRIBE}">Unsubscribe</a></body></html>'
    )


def good_text(extra: str = "") -> str:
    cards = "".join(f"{s.title}\n{s.takeaway}\nRead more: {s.url}\n\n" for s in STORE.values())
    return (
        f"{cards}{extra}MS Research Roundup, 100 Example Street,\nSpringfield, MA 01101, USA\n{UNSUBSCRIBE}\n"
    )


def email(html: str | None = None, text: str | None = None, unsubscribe: str | None = UNSUBSCRIBE):
    return RenderedEmail(
        html if html is not None else good_html(),
        text if text is not None else good_text(),
        unsubscribe,
        ADDRESS,
        tuple(STORE.values()),
    )


def test_a_good_email_has_no_findings():
    assert email_findings(email()) == []


def test_html_over_102_kb_is_an_error_and_over_80_kb_a_warning():
    cards = "".join(card(s) for s in STORE.values())
    padding = "<p>" + "x" * 1000 + "</p>"
    big = only(email_findings(email(good_html(cards + padding * 104))))
    assert big.severity == "error" and "Gmail clips" in big.what
    near = only(email_findings(email(good_html(cards + padding * 85))))
    assert near.severity == "warning" and "close to Gmail's 102 KB" in near.what


def test_leftover_template_syntax_in_html_and_text():
    html = good_html("".join(card(s) for s in STORE.values()) + "<p>Hello {{ name }}</p>")
    found = only(email_findings(email(html)))
    assert (found.where, found.severity) == ("email.html", "error") and "{{" in found.what
    found = only(email_findings(email(text=good_text("{% endif %}\n"))))
    assert found.where == "email.txt" and "{%" in found.what


def test_leftover_personalisation_token():
    found = only(email_findings(email(text=good_text("Dear __NL_NAME__,\n"))))
    assert "__NL_NAME__" in found.what


def test_image_without_alt_is_an_error():
    html = good_html().replace('alt="MS Research Roundup"', "")
    found = only(email_findings(email(html)))
    assert "logo.png has no alt" in found.what


def test_link_without_a_name_is_an_error():
    html = good_html("".join(card(s) for s in STORE.values()) + '<a href="https://x.example.org/"> </a>')
    found = only(email_findings(email(html)))
    assert "https://x.example.org/ has no name" in found.what


def test_duplicate_generic_link_names_are_a_warning():
    html = good_html().replace('aria-label="Read more: ', 'data-title="')
    found = only(email_findings(email(html)))
    assert (
        found.severity == "warning" and "2 links to different pages are all named 'Read more'" in found.what
    )


def test_missing_unsubscribe_link_in_either_part():
    html = good_html().replace(f'<a href="{UNSUBSCRIBE}">Unsubscribe</a>', "")
    assert "no link to the recipient's unsubscribe page" in only(email_findings(email(html))).what
    text = good_text().replace(UNSUBSCRIBE, "")
    assert only(email_findings(email(text=text))).what == "the text has no unsubscribe link"
    assert "List-Unsubscribe" in only(email_findings(email(unsubscribe=None))).what


def test_missing_postal_address():
    html = good_html().replace(ADDRESS, "")
    found = only(email_findings(email(html)))
    assert found.where == "email.html" and "postal address" in found.what


def test_long_text_lines_are_a_warning_but_bare_urls_are_not():
    url_line = "Read more: https://msresearch.example.org/research/" + "a-very-long-slug-" * 5
    assert long_text_lines(f"short\n{url_line}\n") == []
    found = only(email_findings(email(text=good_text("word " * 20 + "\n"))))
    assert found.severity == "warning" and "1 text line(s) longer than 78" in found.what


def test_text_and_html_must_carry_the_same_summaries():
    html = good_html(card(STORE["cd29-b-cells"]))
    found = only(email_findings(email(html)))
    assert "microglia-models is in the text but its title or link is not in the HTML" in found.what


# --- deliverability ---------------------------------------------------------------------------

SA_OUTPUT = """\
X-Spam-Checker-Version: SpamAssassin 4.0.1 (2024-03-25) on vm
X-Spam-Status: Yes, score=6.3 required=5.0 tests=HTML_MESSAGE,MIME_HTML_ONLY,
\tMISSING_DATE autolearn=disabled version=4.0.1
From: a@example.org

Content analysis details:   (6.3 points, 5.0 required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
 0.0 HTML_MESSAGE           BODY: HTML included in message
 1.4 MISSING_DATE           Missing Date: header
 4.9 MIME_HTML_ONLY         BODY: Message only has text/html MIME parts
"""


def test_parse_spamassassin_reads_score_and_rules():
    spam = sa.parse_spamassassin(SA_OUTPUT)
    assert (spam.score, spam.required) == (6.3, 5.0)
    assert spam.rules == (("HTML_MESSAGE", 0.0), ("MISSING_DATE", 1.4), ("MIME_HTML_ONLY", 4.9))


def test_spam_score_thresholds_and_the_skip_note():
    spam = sa.parse_spamassassin(SA_OUTPUT)
    found = only(sa.spam_findings(spam))
    assert found.severity == "error" and "MIME_HTML_ONLY +4.9" in found.what
    warn = SpamScore(2.5, 5.0, (("X", 2.5),))
    assert only(sa.spam_findings(warn)).severity == "warning"
    assert only(sa.spam_findings(SpamScore(2.0, 5.0, ()))).severity == "note"
    note = only(sa.spam_findings(None))
    assert note.severity == "note" and "not installed" in note.what


@pytest.mark.skipif(not sa.spamassassin_available(), reason="spamassassin is not installed")
def test_spamassassin_scores_a_text_only_message_low():
    message = (
        b"From: Roundup <roundup@msresearch.example.org>\r\nTo: reader@example.org\r\n"
        b"Subject: Research news\r\nDate: Mon, 01 Jun 2026 09:00:00 -0400\r\n"
        b"Message-ID: <20260601090000.1234@msresearch.example.org>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nFive new studies in plain language.\r\n"
    )
    spam = sa.run_spamassassin(message)
    assert spam.required == 5.0 and spam.score < 2.0


# --- the command, on the sample workspace -----------------------------------------------------


def run_check(workspace: Path, *args: str):
    from factories import invoke

    return invoke(["--workspace", str(workspace), "check", *args])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_check_passes_the_sample_issue(workspace: Path):
    issue_id = SAMPLE_ISSUE
    result = run_check(workspace, issue_id)
    assert result.exit_code == 0, result.output
    assert f"{issue_id}: 0 error(s)" in result.output
    if sa.spamassassin_available():
        assert "note: email: SpamAssassin scores the sample message" in result.output


def test_check_fails_an_issue_with_the_todo_intro(workspace: Path):
    issue_id = SAMPLE_ISSUE
    path = workspace / "issues" / f"{issue_id}.yaml"
    text = path.read_text()
    intro = text[text.index("intro: |") : text.index("sections:")]
    path.write_text(text.replace(intro, f"intro: |\n  {INTRO_TODO}\n"))
    result = run_check(workspace, issue_id)
    assert result.exit_code == 1
    assert (
        f"error: issues/{issue_id}.yaml:" in result.output
        and "the intro is still the TODO text" in result.output
    )


def test_check_reports_a_needs_review_summary_and_strict_fails_on_warnings(workspace: Path):
    issue_id = SAMPLE_ISSUE
    issue = issues.load_issue(workspace, issue_id)
    first = issue.summary_ids[0]
    with (workspace / "summaries" / f"{first}.yaml").open("a") as handle:
        handle.write("needs_review: true\n")
    result = run_check(workspace, issue_id)
    assert result.exit_code == 1 and f"summary {first} is marked needs_review" in result.output
    (workspace / "summaries" / f"{first}.yaml").write_text(
        (workspace / "summaries" / f"{first}.yaml").read_text().replace("needs_review: true\n", "")
    )
    edit(
        workspace / "issues" / f"{issue_id}.yaml",
        "subject: ",
        "subject: A much longer subject line that runs on, ",
    )
    assert run_check(workspace, issue_id).exit_code == 0
    strict = run_check(workspace, issue_id, "--strict")
    assert strict.exit_code == 1 and "inboxes cut it near 60" in strict.output


@pytest.mark.parametrize(
    ("broken", "what"),
    [
        ("subject", "subject: required: the email's subject line"),
        ("twice", "sections.5.items.0: {first} is already in the issue (section {section!r})"),
        ("missing", "sections.5.items.0: no summary 'no-such-summary' in summaries/"),
    ],
)
def test_what_the_issue_loader_refuses_is_an_error_at_its_line(workspace: Path, broken: str, what: str):
    path = workspace / "issues" / f"{SAMPLE_ISSUE}.yaml"
    sample = issues.load_issue(workspace, SAMPLE_ISSUE)
    first, section = sample.summary_ids[0], sample.sections[0].title
    text = path.read_text()
    if broken == "subject":
        text = re.sub(r"(?m)^subject: .*$", 'subject: ""', text)
    else:
        item = first if broken == "twice" else "no-such-summary"
        text += f"  - title: Again\n    items: [{item}]\n"
    path.write_text(text)
    report = check.check_issue(load_settings(workspace), SAMPLE_ISSUE, spam=False)
    found = only(list(report.findings))
    doc = load_yaml(path, f"issues/{SAMPLE_ISSUE}.yaml")
    keys = ("subject",) if broken == "subject" else ("sections", 5, "items", 0)
    assert (found.severity, found.where) == ("error", doc.where(*keys))
    assert found.what.startswith(what.format(first=first, section=section)), found.what
    assert report.failed() and report.sample is None


def test_check_reports_an_empty_section_with_its_line(workspace: Path):
    issue_id = SAMPLE_ISSUE
    with (workspace / "issues" / f"{issue_id}.yaml").open("a") as handle:
        handle.write("  - title: Empty one\n    items: []\n")
    result = run_check(workspace, issue_id)
    assert result.exit_code == 1
    assert f"error: issues/{issue_id}.yaml:" in result.output and "empty section" in result.output


def test_check_reports_a_summary_without_considerations(workspace: Path):
    issue_id = SAMPLE_ISSUE
    _, summaries = issues.load_issue_content(workspace, issue_id)
    first = next(s.id for s in summaries.values() if not s.is_teaser)  # teasers have no considerations
    path = workspace / "summaries" / f"{first}.yaml"
    text = path.read_text()
    # Drop the field and any indented continuation lines that belonged to it.
    lines, skipping = [], False
    for line in text.splitlines():
        if line.startswith("considerations:"):
            skipping = True
            continue
        if skipping and line.startswith((" ", "\t")):
            continue
        skipping = False
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    result = run_check(workspace, issue_id)
    assert result.exit_code == 1
    assert f"error: summaries/{first}.yaml (considerations): a full summary without its considerations" in (
        result.output
    )


def test_check_warns_of_a_summary_the_ledger_shows_already_sent(workspace: Path):
    issue_id = SAMPLE_ISSUE
    first = issues.load_issue(workspace, issue_id).summary_ids[0]
    settings = load_settings(workspace)
    with ledger.open_ledger(settings) as book:
        # An earlier special issue, its file since removed, carried `first` to one reader.
        book.start_run("2026-05-special", "outbox", [first], [records.NewRecipient("ana@example.org")])
        book.mark_sending("2026-05-special", "ana@example.org")
        book.mark_sent("2026-05-special", "ana@example.org", "<1@example.org>", None)
    result = run_check(workspace, issue_id, "--strict")
    assert result.exit_code == 1
    doc = load_yaml(workspace / "issues" / f"{issue_id}.yaml", f"issues/{issue_id}.yaml")
    where = doc.where("sections", 0, "items", 0)  # the line of `first` in the issue file
    assert (
        f"warning: {where}: summary {first} was carried by an earlier issue "
        "(recorded only in the delivery ledger)" in result.output
    ), result.output
    assert result.output.count("was carried by an earlier issue") == 1


def test_check_reports_a_template_without_the_postal_address(workspace: Path):
    issue_id = SAMPLE_ISSUE
    (workspace / "templates").mkdir(exist_ok=True)
    packaged = render.PACKAGED_TEMPLATES / "email.txt"
    text = packaged.read_text()
    assert "{{ settings.postal_address | wrap }}" in text
    (workspace / "templates" / "email.txt").write_text(
        text.replace("{{ settings.postal_address | wrap }}", "")
    )
    result = run_check(workspace, issue_id)
    assert result.exit_code == 1
    assert "error: email.txt: the sender's postal address is missing" in result.output


def test_check_of_a_missing_issue_says_how_to_draft_one(workspace: Path):
    result = run_check(workspace, "2031-01")
    assert result.exit_code == 1
    assert (
        "issues/2031-01.yaml: no such issue (the issues: 2026-06); "
        "draft it with `newsletter new-issue 2031-01`" in result.output
    )


# --- what an editor may have left behind (issues 14 and 15) ----------------------------------


def test_control_characters_in_an_issue_field_are_an_error_naming_file_and_field():
    found = only(findings_of(issue(subject="Microglia\x1b[31m and\x00 B cells\x07")))
    assert found.severity == "error" and found.where == "issues/2026-06.yaml:2"
    assert found.what == "the subject contains control characters (ESC, NUL, BEL)"


def test_control_characters_in_a_summary_field_are_an_error():
    found = only(summary_findings(summary(takeaway="A takeaway.\x1b"), TODAY))
    assert (found.severity, found.where) == ("error", "summaries/cd29-b-cells.yaml (takeaway)")
    assert found.what == "the takeaway contains control characters (ESC)"


def test_placeholder_text_in_any_editor_field_is_an_error():
    found = only(findings_of(issue(preheader="TBD: five new studies")))
    assert (found.severity, found.where) == ("error", "issues/2026-06.yaml:3")
    assert found.what == "the preheader still has placeholder text (TBD)"
    found = only(summary_findings(summary(found="Lorem ipsum dolor sit amet."), TODAY))
    assert found.where == "summaries/cd29-b-cells.yaml (found)"
    assert found.what == "the found still has placeholder text (Lorem ipsum)"
    assert summary_findings(summary(found="There is still a lot to do in this field."), TODAY) == []


def test_the_subject_new_issue_suggested_is_an_error_even_after_items_were_removed():
    suggested = "Title of microglia-models + 1 more"
    found = only(findings_of(issue(subject=suggested)))
    assert (found.severity, found.where) == ("error", "issues/2026-06.yaml:2")
    assert found.what == "the subject is still the one new-issue suggested"
    # The editor removed items but kept the drafted line: still the suggestion.
    assert only(findings_of(issue(subject="Title of cd29-b-cells + 4 more"))).what == found.what


def test_a_topic_tag_that_still_looks_glued_is_a_warning():
    glued = summary(topics=("Vitamin DRelapses", "Autoimmune diseaseBrain", "BAMs", "MRI"))
    found = summary_findings(glued, TODAY, vocabulary={"bams", "mri"})
    assert [(f.severity, f.what) for f in found] == [
        ("warning", "the topic tag 'Vitamin DRelapses' looks like several tags run together"),
        ("warning", "the topic tag 'Autoimmune diseaseBrain' looks like several tags run together"),
    ]
    assert found[0].fix.startswith("write them as separate tags, e.g. [Vitamin D, Relapses]")
    assert summary_findings(summary(topics=("McDonald criteria",)), TODAY, {"mcdonald criteria"}) == []


def test_html_size_is_measured_as_transmitted_quoted_printable():
    # About 90 KB of text, but every "é" is sent as "=C3=A9": well over Gmail's 102 KB as sent.
    cards = "".join(card(s) for s in STORE.values())
    html = good_html(cards + "<p>" + "é" * 46_000 + "</p>")
    assert len(html.encode("utf-8")) < 102 * 1024
    found = only(email_findings(email(html)))
    size = len(binascii.b2a_qp(html.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")) + 2
    assert found.what == (
        f"the HTML is {size / 1024:.1f} KB as sent; Gmail clips messages over 102 KB, hiding the footer"
    )


# --- a SpamAssassin that is installed but broken --------------------------------------------


def fake_spamassassin(tmp_path: Path, monkeypatch, script: str) -> None:
    """Put an executable `spamassassin` running `script` (sh) first on PATH."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    program = folder / "spamassassin"
    program.write_text(f"#!/bin/sh\ncat > /dev/null\n{script}\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (
            "echo \"config: no rules were found!  Do you need to run 'sa-update'?\" >&2; exit 255",
            "it exited with status 255 and said: config: no rules were found!  Do you need to run "
            "'sa-update'?",
        ),
        ("printf 'garbage\\033]0;owned\\007\\n'", "no X-Spam-Status header in SpamAssassin's output"),
        (
            "echo 'X-Spam-Status: No, score=abc required=5.0'",
            "cannot read the score from X-Spam-Status: No, score=abc required=5.0",
        ),
        ("exec sleep 5", "no answer within 0.5 s"),
    ],
)
def test_a_broken_spamassassin_is_a_finding_not_a_crash(tmp_path, monkeypatch, script, reason):
    fake_spamassassin(tmp_path, monkeypatch, script)
    result = sa.score_message(b"Subject: x\r\n\r\nhello\r\n", timeout=0.5)
    assert result == sa.SpamFailure(reason)
    found = only(sa.spam_findings(result))
    assert (found.severity, found.what) == ("warning", f"SpamAssassin could not score: {reason}")


def test_check_with_a_broken_spamassassin_reports_it_and_the_size_as_sent(workspace, tmp_path, monkeypatch):
    fake_spamassassin(tmp_path, monkeypatch, "echo 'config: no rules were found!' >&2; exit 255")
    report = check.check_issue(load_settings(workspace), SAMPLE_ISSUE)
    assert [f.what for f in report.findings if "SpamAssassin" in f.what] == [
        "SpamAssassin could not score: it exited with status 255 and said: config: no rules were found!"
    ]
    assert report.spam is None and report.sample is not None
    # The HTML part exactly as the message carries it, between its part header and the boundary.
    data = report.sample.message
    head = data.index(b"Content-Type: text/html")
    start = data.index(b"\r\n\r\n", head) + 4
    end = data.index(b"\r\n--=_nl_", start)
    assert report.html_bytes == end - start > len(report.sample.html.encode("utf-8"))


def test_strict_check_passes_teasers_that_have_only_the_sites_blurb(workspace: Path):
    _, summaries = issues.load_issue_content(workspace, SAMPLE_ISSUE)
    teaser = next(s for s in summaries.values() if s.is_teaser and s.teaser)
    path = workspace / "summaries" / f"{teaser.id}.yaml"
    lines = path.read_text().splitlines()
    kept, skipping = [], False
    for line in lines:  # drop the takeaway and its continuation lines
        if line.startswith("takeaway:"):
            skipping = True
            continue
        if skipping and line.startswith((" ", "\t")):
            continue
        skipping = False
        kept.append(line)
    path.write_text("\n".join(kept) + "\n")
    # The sample's full summaries read above grade 8 (a warning each): this test is about teasers.
    settings_file = workspace / "newsletter.yaml"
    settings_file.write_text(settings_file.read_text() + "check:\n  reading_grade_target: 16\n")
    result = run_check(workspace, SAMPLE_ISSUE, "--strict")
    assert result.exit_code == 0, result.output
    assert (
        f"note: summaries/{teaser.id}.yaml (takeaway): no takeaway, so the email shows the site's short "
        "teaser, cut to a word" in result.output
    )


# --- every edition that will be sent ----------------------------------------------------------

OLD_INTRO = """intro: |
  May was a month for the brain's own immune cells. Four of this month's summaries look at
  microglia and the immune cells that reach the brain from the blood.

  You will also find a new look at how the gut and the brain talk to each other, and short
  previews of studies on PML recovery, spinal fluid proteins and changes in the eye after optic
  neuritis.
"""


def one_intro_for_everyone(workspace: Path) -> None:
    """The sample issue as it was written before section intros: one note for every edition."""
    path = workspace / "issues" / f"{SAMPLE_ISSUE}.yaml"
    text = path.read_text()
    text = text.replace(text[text.index("intro: |") : text.index("sections:")], OLD_INTRO)
    path.write_text(re.sub(r"\n    intro: ([|>]-?\n(      .*\n)+|.*\n)", "\n", text))


def test_an_intro_that_promises_what_an_edition_lacks_fails_the_check(workspace: Path):
    from factories import invoke

    one_intro_for_everyone(workspace)
    assert run_check(workspace, SAMPLE_ISSUE).exit_code == 0  # nobody gets part of the issue yet
    add = [
        "--workspace",
        str(workspace),
        "subscribers",
        "add",
        "gut@example.org",
        "--topics",
        "Gut microbiome",
    ]
    assert invoke(add).exit_code == 0
    result = run_check(workspace, SAMPLE_ISSUE)
    assert result.exit_code == 1, result.output
    assert (
        "error: edition for Gut microbiome (intro): the intro names Optic neuritis and PML, "
        "which this edition does not carry" in result.output
    )
    assert "error: edition for Gut microbiome (intro): the intro promises previews" in result.output
    # The sample as written: each section's part of the note goes only to its readers.
    fresh = copy_sample_with(workspace.parent / "fresh", "gut@example.org")
    assert run_check(fresh, SAMPLE_ISSUE).exit_code == 0


def copy_sample_with(root: Path, email: str) -> Path:
    from factories import invoke
    from sample_workspace import copy_sample_workspace

    copy_sample_workspace(root)
    add = ["--workspace", str(root), "subscribers", "add", email, "--topics", "Gut microbiome"]
    assert invoke(add).exit_code == 0
    return root


def test_a_subject_naming_a_section_an_edition_lacks_is_an_error():
    from newsletter.check.editions import EditionWords, promise_findings
    from newsletter.compose.reader import Variant
    from newsletter.store.topics import Taxonomy, TopicSection

    store = {s.id: s for s in (summary(), summary("two", topics=("PML",), as_teaser=True))}
    the_issue = issue(sections=(Section("Immune cells", (summary().id,)), Section("Related", ("two",))))
    taxonomy = Taxonomy((TopicSection("Related", ("PML",)),))
    edition = Variant((summary().id,), topics=("B cells",))
    words = EditionWords("New on PML", "", "", (), "", "")
    found = only(promise_findings(edition, words, the_issue, store, taxonomy))
    assert found.where == "edition for B cells (subject)" and "names PML" in found.what
    assert promise_findings(Variant(), words, the_issue, store, taxonomy) == []


def test_a_caution_sentence_missing_from_an_edition_is_an_error():
    from newsletter.check.editions import EditionWords, caution_findings
    from newsletter.compose.reader import Variant

    s = summary(considerations="Only in mice. Do not start high doses without advice.")
    html = "Only in mice. Do not start high doses without advice."
    whole = EditionWords("", "", "", (), html, "Only in mice.")
    found = only(caution_findings(Variant(large_text=True), whole, [s]))
    assert found.where == f"edition of the whole issue, larger text (summary {s.id})"
    assert "the text part lacks a sentence of considerations: 'Do not start" in found.what
    # With the editor's short wording, the email carries that (and links to the whole text).
    short = dataclasses.replace(s, considerations_short="Only in mice.")
    assert caution_findings(Variant(), whole, [short]) == []
    lacking = dataclasses.replace(s, considerations_short="Mice only.")
    assert (
        "lacks a sentence of considerations: 'Mice only.'"
        in only(caution_findings(Variant(), whole, [lacking])).what
    )


# --- plain language ---------------------------------------------------------------------------


def test_each_sample_summary_has_its_reading_grade_and_the_hard_ones_warn(workspace: Path):
    from newsletter.check.reading import reading_grade

    issue_, summaries = issues.load_issue_content(workspace, SAMPLE_ISSUE)
    full_grades = sorted(
        reading_grade(summaries[i]).grade for i in issue_.summary_ids if not summaries[i].is_teaser
    )
    # The audit's figures (issue 25): median 13.2, from 8.4 to 15.1.
    assert (full_grades[0], full_grades[2], full_grades[-1]) == (8.4, 13.2, 15.1)
    report = check.check_issue(load_settings(workspace), SAMPLE_ISSUE, spam=False)
    assert [g.summary_id for g in report.grades] == list(issue_.summary_ids)
    warned = [f for f in report.warnings if "reading grade" in f.what]
    assert len(warned) == 5  # every full summary is above grade 8; the teasers only note theirs
    assert all("above the target of 8 (hardest sentences, by grade:" in f.what for f in warned)
    assert "summaries/2026-05-14-lab-grown-human-microglia-point-targets.yaml" in {f.where for f in warned}


def test_the_reading_grade_target_comes_from_the_settings(workspace: Path):
    settings_file = workspace / "newsletter.yaml"
    settings_file.write_text(settings_file.read_text() + "check:\n  reading_grade_target: 16\n")
    report = check.check_issue(load_settings(workspace), SAMPLE_ISSUE, spam=False)
    assert not [f for f in report.warnings if "reading grade" in f.what] and report.grade_target == 16
    settings_file.write_text(settings_file.read_text().replace("16", "grade eight"))
    with pytest.raises(ConfigError, match=r"check\.reading_grade_target: expected a school grade"):
        load_settings(workspace)


def test_a_grade_is_what_the_formula_says_and_a_teaser_only_notes_it():
    from newsletter.check.reading import ReadingGrade, grade_of, reading_findings

    assert grade_of("The cat sat on the mat. It was warm.") < 2
    assert (
        grade_of("Immunomodulatory interventions substantially attenuate neuroinflammatory demyelination.")
        > 16
    )
    assert grade_of("") == 0.0
    hard = ReadingGrade("x", "X", 12.5, ((19.0, "A long sentence."), (14.0, "Another.")))
    warning = only(reading_findings(hard, 8, is_teaser=False))
    assert warning.severity == Severity.WARNING and "4.5 above the target of 8" in warning.what
    assert "19.0: 'A long sentence.'" in warning.what
    assert only(reading_findings(hard, 8, is_teaser=True)).severity == Severity.NOTE
    assert only(reading_findings(hard, 13, is_teaser=False)).severity == Severity.NOTE


@pytest.mark.skipif(
    subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0,
    reason="no network namespaces here (unshare -n)",
)
def test_reading_grades_need_no_network():
    code = "from newsletter.check.reading import grade_of; print(grade_of('Microglia help repair damage.'))"
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) > 0


def test_the_send_gate_refuses_an_edition_that_breaks_its_promise(workspace: Path):
    from factories import invoke

    one_intro_for_everyone(workspace)
    add = ["subscribers", "add", "gut@example.org", "--topics", "Gut microbiome"]
    assert invoke(["--workspace", str(workspace), *add]).exit_code == 0
    result = invoke(["--workspace", str(workspace), "send", SAMPLE_ISSUE])
    assert result.exit_code != 0
    assert "not sending issue 2026-06: `newsletter check` finds 2 errors" in result.output
    assert "edition for Gut microbiome (intro): the intro names Optic neuritis and PML" in result.output
    assert not (workspace / "outbox").exists() or not any((workspace / "outbox").iterdir())
