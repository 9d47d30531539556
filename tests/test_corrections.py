"""`newsletter correct`: a correction reaches exactly the readers the ledger says received the summary.

End to end through the commands and a real SMTP server (aiosmtpd) on loopback: two issues, readers
whose editions did and did not carry the summary, one who left since, one left `unknown` by a crash.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from delivery_helpers import state, write_readers
from factories import invoke
from sqlalchemy import update

from newsletter.db import schema as t
from newsletter.store.content import load_summary

SECRET = "a-test-signing-key-that-is-long-enough-0123456789"
MICROGLIA = "2026-05-06-microglia-affect-ms-healing-harm-explained"
LAB = "2026-05-14-lab-grown-human-microglia-point-targets"
GUT = "2025-12-01-gut-bacteria-boost-cognitive-function"
GUT2 = "2026-12-31-certain-gut-bacteria-worsen-ms"
NOTE = "The study followed 40 people, not 400."

ISSUE = """\
title: "MS Research Roundup, {title}"
subject: "{subject}"
preheader: "New studies in plain language"
window: {{since: 2026-05-01, until: 2026-05-31}}
intro: |
  A short note from the editor.
sections:
  - title: Immune cells and inflammation
    items: [{immune}]
  - title: Gut and microbiome
    items: [{gut}]
"""


def write_issue(workspace: Path, issue_id: str, title: str, subject: str, immune: str, gut: str) -> None:
    text = ISSUE.format(title=title, subject=subject, immune=immune, gut=gut)
    (workspace / "issues" / f"{issue_id}.yaml").write_text(text, encoding="utf-8")


def run(workspace: Path, *args: str):
    return invoke(["-w", str(workspace), *args], env={"NEWSLETTER_SECRET": SECRET})


def recipients_of(sink, subject_start: str) -> list[str]:
    found = []
    for data in sink.messages:
        message = message_from_bytes(data, policy=policy.SMTP)
        if str(message["Subject"]).startswith(subject_start):
            found.append(re.search(r"<?([^<>\s]+@[^<>\s]+)>?$", str(message["To"])).group(1))
    return sorted(found)


@pytest.fixture
def sent_twice(workspace: Path, smtp_sink):
    """Two issues sent: the microglia summary in both, in the immune section; readers as the test says."""
    for old in (workspace / "issues").glob("*.yaml"):
        old.unlink()
    write_readers(workspace, 0)
    provider = f"smtp://127.0.0.1:{smtp_sink.port}?starttls=no"
    add = [
        ("ann@example.org", "Ann", ""),  # the whole issue: gets the summary twice, one correction
        ("bo@example.org", "Bo", "Gut and microbiome"),  # her edition never carried it
        ("dee@example.org", "Dee", ""),  # got it, then unsubscribed
        ("eve@example.org", "Eve", ""),  # her message was with the provider when a run stopped
    ]
    for email, first, topics in add:
        args = ["subscribers", "add", email, "--first", first] + (["--topics", topics] if topics else [])
        assert run(workspace, *args).exit_code == 0
    write_issue(workspace, "2026-06", "June 2026", "Microglia and the gut", MICROGLIA, GUT)
    sent = run(workspace, "send", "2026-06", "--provider", provider, "--yes", "--rate", "1000")
    assert sent.exit_code == 0, sent.output
    # Cy joins after the first issue and reads only the immune section, which carries it again.
    assert run(workspace, "subscribers", "add", "cy@example.org", "--first", "Cy", "--topics",
               "Immune cells and inflammation").exit_code == 0  # fmt: skip
    write_issue(
        workspace, "2026-07", "July 2026", "Microglia again, and more gut", f"{MICROGLIA}, {LAB}", GUT2
    )
    sent = run(workspace, "send", "2026-07", "--provider", provider, "--yes", "--rate", "1000", "--force",
               "--reason", "the microglia summary is repeated on purpose")  # fmt: skip
    assert sent.exit_code == 0, sent.output
    with state(workspace).begin() as connection:
        connection.execute(
            update(t.recipients)
            .where(t.recipients.c.issue_id == "2026-06", t.recipients.c.email == "eve@example.org")
            .values(state="unknown")
        )
    assert run(workspace, "subscribers", "remove", "dee@example.org").exit_code == 0
    return workspace, smtp_sink, provider


def test_a_correction_reaches_exactly_the_readers_who_received_the_summary(sent_twice, tmp_path):
    workspace, sink, provider = sent_twice
    issues_sent = len(sink.messages)
    before = (workspace / "summaries" / f"{MICROGLIA}.yaml").read_text()

    dry = run(workspace, "correct", MICROGLIA, "--note", NOTE, "--provider", provider, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "readers who received it and are still subscribed: 3" in dry.output
    assert "not sent: 1 not in their edition, 1 suppressed or erased since" in dry.output  # Bo; Dee
    assert "in the lists: 4 = 0 already sent + 3 to send + 1 left out" in dry.output
    assert "Dry run: nothing recorded, nothing sent." in dry.output
    assert (workspace / "summaries" / f"{MICROGLIA}.yaml").read_text() == before
    assert len(sink.messages) == issues_sent

    done = run(workspace, "correct", MICROGLIA, "--note", NOTE, "--provider", provider, "--yes")
    assert done.exit_code == 0, done.output
    run_id = f"correction-{MICROGLIA}-1"
    assert recipients_of(sink, "Correction: ") == ["ann@example.org", "cy@example.org", "eve@example.org"]

    message = message_from_bytes(sink.messages[issues_sent], policy=policy.SMTP)
    summary = load_summary(workspace / "summaries" / f"{MICROGLIA}.yaml")
    assert message["Subject"] == f"Correction: {summary.title}"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    flat = " ".join(text.split())
    assert f"What changed: {NOTE}" in flat and summary.url in text
    assert " ".join(summary.takeaway.split()) in flat
    assert "MS Research Roundup, June 2026 and MS Research Roundup, July 2026" in flat
    assert summary.title in html and NOTE in html and "/unsubscribe?token=" in text

    # The note is in the summary's file, written as a person would (the rest of the file unchanged).
    after = (workspace / "summaries" / f"{MICROGLIA}.yaml").read_text()
    assert after.startswith(before.rstrip("\n")) and f"note: {NOTE}" in after
    assert [c.note for c in summary.corrections] == [NOTE]

    # Again: the same correction resumes its finished run and sends nobody twice.
    again = run(workspace, "correct", MICROGLIA, "--note", NOTE, "--provider", provider, "--yes")
    assert again.exit_code == 0, again.output
    assert "nothing left to send" in again.output
    assert recipients_of(sink, "Correction: ") == ["ann@example.org", "cy@example.org", "eve@example.org"]
    assert len(load_summary(workspace / "summaries" / f"{MICROGLIA}.yaml").corrections) == 1

    status = run(workspace, "status", run_id)
    assert status.exit_code == 0 and run_id in status.output and "finished" in status.output

    # Each issue's archive page carries the correction beside the summary.
    assert run(workspace, "archive", "--out", str(tmp_path / "site")).exit_code == 0
    for issue_id in ("2026-06", "2026-07"):
        page = (tmp_path / "site" / issue_id / "index.html").read_text()
        assert "Corrected " in page and NOTE in page, issue_id
    assert not (tmp_path / "site" / run_id).exists()


def test_a_summary_no_issue_carried_has_nobody_to_correct_and_nothing_is_written(workspace: Path):
    before = (workspace / "summaries" / f"{GUT2}.yaml").read_text()
    result = run(workspace, "correct", GUT2, "--note", NOTE, "--yes")
    assert result.exit_code == 1 and "there is nobody to correct" in result.output
    assert "Traceback" not in result.output
    assert (workspace / "summaries" / f"{GUT2}.yaml").read_text() == before


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["no-such-summary", "--note", NOTE], "no such summary"),
        ([GUT2, "--note", "   "], "--note: say what changed"),
        ([GUT2, "--note", NOTE, "--force"], "--force and --reason TEXT go together"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(workspace: Path, args, problem):
    result = run(workspace, "correct", *args, "--yes")
    assert result.exit_code != 0 and problem in result.output and "Traceback" not in result.output


def test_the_corrections_list_survives_a_summary_rewritten_from_its_model(workspace: Path):
    """An import rewrites a summary's file from its model (store.content.summary_to_yaml): the notes stay."""
    from datetime import date

    from newsletter.store.content import summary_to_yaml, write_summary
    from newsletter.store.corrections import add_correction

    assert add_correction(workspace, GUT, NOTE, date(2026, 7, 2)) == 1
    assert add_correction(workspace, GUT, "A second fix.", date(2026, 7, 9)) == 2
    summary = load_summary(workspace / "summaries" / f"{GUT}.yaml")
    assert [(c.date, c.note) for c in summary.corrections] == [
        (date(2026, 7, 2), NOTE),
        (date(2026, 7, 9), "A second fix."),
    ]
    write_summary(workspace, summary)
    again = load_summary(workspace / "summaries" / f"{GUT}.yaml")
    assert again == summary and "corrections:" in summary_to_yaml(again)


@pytest.mark.parametrize(
    "bad",
    [
        "corrections: yes\n",
        "corrections:\n  - {date: 2026-13-01, note: x}\n",
        "corrections:\n  - {note: x}\n",
    ],
)
def test_a_broken_corrections_list_is_one_line_with_the_file_and_line(workspace: Path, bad: str):
    from newsletter.errors import ContentError

    path = workspace / "summaries" / f"{GUT}.yaml"
    path.write_text(path.read_text() + bad)
    with pytest.raises(ContentError) as caught:
        load_summary(path)
    assert "corrections" in caught.value.message and f"{GUT}.yaml:" in caught.value.message


def test_a_correction_cut_short_resumes_and_sends_each_reader_once(sent_twice):
    workspace, sink, provider = sent_twice
    settings = workspace / "newsletter.yaml"
    settings.write_text(settings.read_text().replace("max_attempts: 5", "max_attempts: 1"))
    sink.replies["cy@example.org"] = ["451 4.3.0 try again later"]  # one busy answer: left to resume

    first = run(workspace, "correct", MICROGLIA, "--note", NOTE, "--provider", provider, "--yes")
    assert first.exit_code == 3, first.output  # some not sent: the run is incomplete
    assert recipients_of(sink, "Correction: ") == ["ann@example.org", "eve@example.org"]
    status = run(workspace, "status", f"correction-{MICROGLIA}-1")
    assert "incomplete" in status.output and "cy@example.org" in status.output

    second = run(workspace, "correct", MICROGLIA, "--note", NOTE, "--provider", provider, "--yes")
    assert second.exit_code == 0, second.output
    assert recipients_of(sink, "Correction: ") == ["ann@example.org", "cy@example.org", "eve@example.org"]
    # A new note is a new correction, with its own run; the first one's readers get it too.
    third = run(workspace, "correct", MICROGLIA, "--note", "One more fix.", "--provider", provider, "--yes")
    assert third.exit_code == 0 and f"correction-{MICROGLIA}-2" in third.output
    assert len(load_summary(workspace / "summaries" / f"{MICROGLIA}.yaml").corrections) == 2


@pytest.mark.skipif(bool(__import__("screenshots").missing_browser()), reason="apt-get install chromium")
@pytest.mark.skipif(
    not __import__("screenshots").AXE.is_file(), reason="npm install --prefix .cache/npm axe-core"
)
@pytest.mark.parametrize("large", [False, True])
def test_the_correction_email_has_no_serious_accessibility_finding(workspace: Path, tmp_path: Path, large):
    from datetime import date

    import screenshots

    from newsletter.render import personal, proof_recipient
    from newsletter.render.correction import CorrectionDraft, render_correction
    from newsletter.store.config import load_settings

    settings = load_settings(workspace)
    summary = load_summary(workspace / "summaries" / f"{MICROGLIA}.yaml")
    draft = CorrectionDraft("correction-x-1", summary, NOTE, date(2026, 7, 2), (("2026-06", "June 2026"),))
    rendered = render_correction(settings, draft, large)
    page = tmp_path / "correction.html"
    page.write_text(personal.personalize_html(rendered.html, proof_recipient(settings)), encoding="utf-8")
    driver = screenshots.start_browser()
    try:
        for width in (screenshots.PHONE, screenshots.DESKTOP):
            for scheme in screenshots.Scheme:
                screenshots.show(driver, page, width, scheme)
                serious = [
                    v for v in screenshots.axe_violations(driver) if v["impact"] in ("serious", "critical")
                ]
                assert serious == [], (width, scheme, serious)
                assert driver.execute_script("return document.documentElement.scrollWidth") <= width
    finally:
        driver.quit()


def test_a_correction_cut_short_says_to_resume_it_with_correct_and_an_issue_with_send():
    from newsletter.delivery.records import resume_command

    assert resume_command("correction-2026-05-20-vitamin-d-2") == (
        'newsletter correct 2026-05-20-vitamin-d --note "<the same note>"'
    )
    assert resume_command("2026-06") == "newsletter send 2026-06"
