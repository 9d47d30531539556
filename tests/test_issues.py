"""Drafting issues with `new-issue`, and `build` refusing bad issue files with a clear message."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from factories import run

from newsletter.compose.ready import INTRO_TODO
from newsletter.delivery import ledger, records
from newsletter.errors import ContentError
from newsletter.store import content, issues
from newsletter.store.config import load_settings
from newsletter.store.models import Summary


def add_summary(ws: Path, sid: str, published: date, topics=(), teaser: bool = False, **fields) -> Summary:
    s = Summary(
        id=sid,
        title=fields.pop("title", sid.replace("-", " ").capitalize()),
        url=f"https://msresearch.example.org/research/{sid}",
        published=published,
        takeaway=None if teaser else "The key takeaway.",
        topics=tuple(topics),
        found=None if teaser else "What they found.",
        teaser="A short blurb from the site, cut mid-wo" if teaser else None,
        **fields,
    )
    content.write_summary(ws, s)
    return s


@pytest.fixture
def may_store(empty_workspace: Path) -> Path:
    add_summary(empty_workspace, "cd29-b-cells", date(2026, 5, 1), ["B cells", "Biomarkers"])
    add_summary(empty_workspace, "microglia-roles", date(2026, 5, 6), ["Microglia"])
    add_summary(empty_workspace, "gut-teaser", date(2026, 5, 1), ["Gut bacteria"], teaser=True)
    add_summary(empty_workspace, "mri-teaser", date(2026, 5, 1), ["Microglia"], teaser=True)
    add_summary(empty_workspace, "april-study", date(2026, 4, 30), ["MRI"])
    add_summary(empty_workspace, "june-study", date(2026, 6, 3), ["MRI"])
    return empty_workspace


def test_new_issue_drafts_the_months_summaries_grouped_by_topic(may_store: Path):
    result = run(may_store, "new-issue", "2026-06", "--send-at", "2026-06-02T09:00:00-04:00")
    assert result.exit_code == 0, result.output
    assert "Drafted issues/2026-06.yaml: 3 summaries in 2 sections" in result.output
    issue = issues.load_issue(may_store, "2026-06")
    assert issue.title == "MS Research Roundup, June 2026"
    assert (issue.since, issue.until) == (date(2026, 5, 1), date(2026, 5, 31))
    assert [(s.title, s.items) for s in issue.sections] == [
        ("Gut and microbiome", ("gut-teaser",)),
        ("Immune cells and inflammation", ("microglia-roles", "cd29-b-cells")),
    ]
    assert INTRO_TODO in issue.intro
    text = (may_store / "issues" / "2026-06.yaml").read_text()
    assert "# Teasers only: no full summary in this window fills this section." in text
    assert "#   mri-teaser" in text  # left out, and said so, because full summaries fill its section


def test_new_issue_never_overwrites_without_force(may_store: Path):
    assert run(may_store, "new-issue", "2026-06").exit_code == 0
    path = may_store / "issues" / "2026-06.yaml"
    path.write_text(path.read_text().replace(INTRO_TODO, "Edited by hand."))
    refused = run(may_store, "new-issue", "2026-06")
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: issues/2026-06.yaml already exists; edit it, or pass --force to draft it again\n"
    )
    assert "Edited by hand." in path.read_text()
    assert run(may_store, "new-issue", "2026-06", "--force").exit_code == 0
    assert "Edited by hand." not in path.read_text()


def test_the_next_default_issue_skips_what_the_previous_one_carried(may_store: Path):
    assert run(may_store, "new-issue", "2026-06", "--send-at", "2026-06-02T09:00:00-04:00").exit_code == 0
    add_summary(may_store, "late-june", date(2026, 6, 20), ["NMOSD"])
    result = run(may_store, "new-issue", "--send-at", "2026-07-01T09:00:00-04:00")
    assert result.exit_code == 0, result.output
    july = issues.load_issue(may_store, "2026-07")
    assert (july.since, july.until) == (date(2026, 6, 1), date(2026, 7, 1))
    assert july.summary_ids == ("late-june", "june-study")


def record_send(ws: Path, issue_id: str, summary_ids: list[str], reached: bool = True) -> None:
    """A send run in the workspace's real ledger file; `reached`: the one recipient got it."""
    settings = load_settings(ws)
    with ledger.open_ledger(settings) as book:
        book.start_run(issue_id, "outbox", summary_ids, [records.NewRecipient("ana@example.org")])
        if reached:
            book.mark_sending(issue_id, "ana@example.org")
            book.mark_sent(issue_id, "ana@example.org", "<1@example.org>", None)


def test_new_issue_leaves_out_what_the_ledger_shows_was_sent(may_store: Path):
    # A special May issue went out and its file was since removed; only the ledger remembers it.
    record_send(may_store, "may-special", ["microglia-roles"])
    record_send(may_store, "may-draft", ["cd29-b-cells"], reached=False)  # a run that reached nobody
    result = run(may_store, "new-issue", "2026-06")
    assert result.exit_code == 0, result.output
    assert "left out microglia-roles (2026-05-06): already sent (the ledger's record)" in result.output
    assert issues.load_issue(may_store, "2026-06").summary_ids == ("gut-teaser", "cd29-b-cells")


def test_explicit_window_and_an_empty_one(may_store: Path):
    result = run(may_store, "new-issue", "spring", "--since", "2026-04-01", "--until", "2026-04-30")
    assert result.exit_code == 0, result.output
    assert issues.load_issue(may_store, "spring").summary_ids == ("april-study",)
    empty = run(may_store, "new-issue", "2025-01")
    assert empty.exit_code == 1
    assert "no summaries to draft 2025-01 from: none published 2024-12-01..2024-12-31" in empty.output


def test_a_send_time_before_midnight_in_the_workspace_zone_leaves_out_that_days_summaries(
    empty_workspace: Path,
):
    add_summary(empty_workspace, "first-of-june", date(2026, 6, 1), ["MRI"])
    add_summary(empty_workspace, "end-of-may", date(2026, 5, 31), ["MRI"])
    # 02:00 UTC on June 1 is still May 31 in New York, the sample workspace's time zone.
    result = run(
        empty_workspace, "new-issue", "x", "--since", "2026-05-01", "--until", "2026-06-30",
        "--send-at", "2026-06-01T02:00:00+00:00",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert issues.load_issue(empty_workspace, "x").summary_ids == ("end-of-may",)


GOOD = """\
title: MS Research Roundup, June 2026
subject: Microglia and B cells
preheader: Two studies
window: {since: 2026-05-01, until: 2026-05-31}
intro: |
  Hello readers.
sections:
  - title: Immune cells and inflammation
    items: [microglia-roles, cd29-b-cells]
"""


def write_issue(ws: Path, text: str, issue_id: str = "2026-06") -> None:
    (ws / "issues" / f"{issue_id}.yaml").write_text(text)


def test_build_writes_the_three_files_and_prints_their_sizes(may_store: Path):
    write_issue(may_store, GOOD)
    result = run(may_store, "build", "2026-06")
    assert result.exit_code == 0, result.output
    for name in ("email.html", "email.txt", "web.html"):
        path = may_store / "out" / "2026-06" / name
        assert f"{path}  {path.stat().st_size / 1024:.1f} KB" in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("[microglia-roles, cd29-b-cells]", "[microglia-roles, no-such-study]"),
            "issues/2026-06.yaml:9: sections.0.items.1: no summary 'no-such-study' in summaries/; "
            "check the id with `newsletter summaries list`",
        ),
        (
            ("[microglia-roles, cd29-b-cells]", "[microglia-roles, microglia-roles]"),
            "issues/2026-06.yaml:9: sections.0.items.1: microglia-roles is already in the issue "
            "(section 'Immune cells and inflammation'); keep one",
        ),
        (
            ("[microglia-roles, cd29-b-cells]", "[]"),
            "issues/2026-06.yaml:9: sections.0.items: empty section: list at least one summary id, "
            "or remove the section",
        ),
        (
            ("subject: Microglia and B cells\n", ""),
            "issues/2026-06.yaml: subject: required: the email's subject line",
        ),
        (
            ("subject: Microglia and B cells", 'subject: "Microglia\\r\\nBcc: everyone@example.org"'),
            "issues/2026-06.yaml:2: subject: must be on one line",
        ),
        (
            ("until: 2026-05-31", "until: 2026-05-32"),
            "issues/2026-06.yaml:4: window.until: expected a real date as YYYY-MM-DD, got '2026-05-32'",
        ),
        (
            ("Hello readers.", INTRO_TODO),
            "issues/2026-06.yaml: intro: still the TODO from new-issue; write a short note",
        ),
    ],
)
def test_build_refuses_a_bad_issue_naming_the_file_line_and_fix(may_store: Path, change, message):
    write_issue(may_store, GOOD.replace(*change))
    result = run(may_store, "build", "2026-06")
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (may_store / "out").exists()


def test_build_refuses_a_summary_in_the_issue_that_fails_validation(may_store: Path):
    write_issue(may_store, GOOD)
    path = may_store / "summaries" / "cd29-b-cells.yaml"
    path.write_text(path.read_text().replace("url: https://", "url: http://"))
    result = run(may_store, "build", "2026-06")
    assert result.exit_code == 1
    assert "summaries/cd29-b-cells.yaml:2: url: expected an absolute https URL" in result.output


def test_build_of_an_unknown_issue_says_how_to_draft_it(may_store: Path):
    result = run(may_store, "build", "2026-09")
    assert result.output == (
        "Error: issues/2026-09.yaml: no such issue; draft it with `newsletter new-issue 2026-09`\n"
    )


def test_a_mistyped_issue_id_names_the_nearest_and_the_existing_ones(may_store: Path):
    run(may_store, "new-issue", "2026-06")
    run(may_store, "new-issue", "spring", "--since", "2026-04-01", "--until", "2026-04-30")

    typo = run(may_store, "check", "2026-6")
    month = run(may_store, "build", "2026-07")

    assert typo.exit_code == 1
    assert typo.output == (
        "Error: issues/2026-6.yaml: no such issue; did you mean 2026-06? (the issues: 2026-06, spring)\n"
    )
    assert month.output == (
        "Error: issues/2026-07.yaml: no such issue (the issues: 2026-06, spring); "
        "draft it with `newsletter new-issue 2026-07`\n"
    )


def test_list_issues_reports_every_broken_file_at_once(may_store: Path):
    write_issue(may_store, GOOD)
    write_issue(may_store, "title: [unclosed\n", "bad-one")
    write_issue(may_store, GOOD.replace("title: MS", "titel: MS"), "bad-two")
    with pytest.raises(ContentError) as caught:
        issues.list_issues(may_store)
    assert "issues/bad-one.yaml:2: invalid YAML" in caught.value.message
    assert "issues/bad-two.yaml:1: titel: unknown field" in caught.value.message


def test_months_after_the_last_send_the_next_issue_is_this_months_and_misses_nothing(may_store: Path):
    run(may_store, "new-issue", "2026-06")
    record_send(may_store, "2026-06", ["gut-teaser", "microglia-roles", "cd29-b-cells"])
    add_summary(may_store, "october-study", date(2026, 10, 14), ["MRI"])
    add_summary(may_store, "november-study", date(2026, 11, 6), ["Microglia"])

    result = run(may_store, "new-issue", "--send-at", "2026-12-08T09:00:00-05:00")

    assert result.exit_code == 0, result.output
    december = issues.load_issue(may_store, "2026-12")  # not "2026-07", five months back
    assert december.title == "MS Research Roundup, December 2026"
    assert (december.since, december.until) == (date(2026, 6, 1), date(2026, 12, 8))
    assert set(december.summary_ids) == {"june-study", "october-study", "november-study"}
    # April's study came before any issue's window: never carried, so said, with the way back.
    line = "left out april-study (2026-04-30): before the window; --since 2026-04-30 includes it"
    assert line in result.output


def test_an_explicit_id_still_takes_everything_since_the_last_send_and_lists_what_it_leaves_out(
    may_store: Path,
):
    run(may_store, "new-issue", "2026-06")
    record_send(may_store, "2026-06", ["gut-teaser", "microglia-roles", "cd29-b-cells"])
    add_summary(may_store, "october-study", date(2026, 10, 14), ["MRI"])
    add_summary(may_store, "january-study", date(2027, 1, 3), ["MRI"])

    result = run(may_store, "new-issue", "2027-01", "--send-at", "2027-01-05T09:00:00-05:00")

    assert result.exit_code == 0, result.output
    january = issues.load_issue(may_store, "2027-01")
    assert (january.since, january.until) == (date(2026, 6, 1), date(2026, 12, 31))
    assert set(january.summary_ids) == {"june-study", "october-study"}
    assert "left out january-study (2027-01-03): published after 2026-12-31: the next issue takes it" in (
        result.output
    )
    text = (may_store / "issues" / "2027-01.yaml").read_text()
    assert "#   january-study  # 2027-01-03: published after 2026-12-31" in text


def test_new_issue_with_nothing_unsent_says_what_to_do(may_store: Path):
    run(may_store, "new-issue", "2026-06", "--send-at", "2026-06-02T09:00:00-04:00")
    for sid in ("june-study", "april-study", "mri-teaser"):  # the teaser June left out too
        (may_store / "summaries" / f"{sid}.yaml").unlink()
    result = run(may_store, "new-issue", "--send-at", "2026-07-01T09:00:00-04:00")
    assert result.exit_code == 1
    assert "earlier issues carried every other summary: import new ones first" in result.output


def test_a_reversed_window_is_an_error_not_an_empty_list(may_store: Path):
    result = run(may_store, "summaries", "list", "--since", "2026-06-01", "--until", "2026-05-01")
    assert result.exit_code == 2 and "2026-06-01 is after --until 2026-05-01; swap them" in result.output


def test_an_issue_file_path_is_accepted_wherever_an_id_is(may_store: Path, tmp_path: Path):
    run(may_store, "new-issue", "2026-06")
    path = may_store / "issues" / "2026-06.yaml"
    path.write_text(path.read_text().replace(INTRO_TODO, "Edited by hand."))
    built = run(may_store, "build", "issues/2026-06.yaml", "--out", str(tmp_path))
    assert built.exit_code == 0, built.output
    assert (tmp_path / "2026-06" / "email.html").is_file()
    wrong = run(may_store, "build", "summaries/cd29-b-cells.yaml")
    assert wrong.exit_code == 2 and "is not an issue: give its id (2026-06) or issues/ID.yaml" in wrong.output
