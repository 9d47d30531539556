"""The summary store: a clean sample store, bad files named with their field, `summaries list`."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
from factories import invoke

from newsletter.errors import ContentError
from newsletter.importers.text import url_slug
from newsletter.store.config import load_settings
from newsletter.store.content import filter_summaries, load_summaries, summary_to_yaml
from newsletter.store.topics import load_taxonomy

GOOD = (
    "title: A Good Summary\n"
    "url: https://msresearch.example.org/research/a-good-summary\n"
    "published: 2026-05-02\n"
    "takeaway: The point of the study.\n"
)


def write(workspace: Path, name: str, text: str) -> Path:
    path = workspace / "summaries" / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the sample store --------------------------------------------------------------------------


def test_the_sample_store_is_clean_and_realistic(workspace: Path):
    store = load_summaries(workspace)
    full = [s for s in store.values() if not s.is_teaser]
    teasers = [s for s in store.values() if s.is_teaser]
    assert (len(full), len(teasers)) == (5, 20)
    assert sorted(s.published for s in full) == [date(2026, 5, d) for d in (6, 11, 14, 20, 27)]
    assert sum(1 for s in teasers if s.published == date(2026, 5, 1)) == 6
    assert not [s.id for s in store.values() if s.needs_review or s.missing_fields]
    vocabulary = {t.casefold() for t in load_taxonomy(workspace).vocabulary}
    pattern = load_settings(workspace).summary_url
    for s in store.values():
        assert s.topics and all(t.casefold() in vocabulary for t in s.topics), s.id
        assert s.url == pattern.replace("{slug}", url_slug(s.title)), s.id
        assert s.sources, s.id
    assert all(s.journal and s.found and s.who_should_care and s.considerations for s in full)
    assert all(s.teaser and len(s.teaser) <= 100 for s in teasers)


def test_sample_files_are_written_as_the_store_writes_them(workspace: Path):
    """Hand edits kept the importer's layout, so a re-import shows no spurious changes."""
    for summary in load_summaries(workspace).values():
        path = workspace / "summaries" / f"{summary.id}.yaml"
        assert path.read_text(encoding="utf-8") == summary_to_yaml(summary), path.name


def test_filters(workspace: Path):
    store = load_summaries(workspace).values()
    may = filter_summaries(store, since=date(2026, 5, 1), until=date(2026, 5, 31))
    assert [s.published for s in may] == sorted((s.published for s in may), reverse=True)
    assert len(may) == 11
    gut = filter_summaries(store, topic="gut MICROBIOME")
    assert [s.id for s in gut] == [
        "2026-12-31-consistent-gut-bacteria-differences-ms",
        "2026-05-27-brain-immune-system-talk-more-than",
    ]


# --- bad files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "no-title.yaml",
            GOOD.replace("title: A Good Summary\n", ""),
            "summaries/no-title.yaml: title: required: the summary's title, on one line",
        ),
        (
            "http.yaml",
            GOOD.replace("https://", "http://"),
            "summaries/http.yaml:2: url: expected an absolute https URL, "
            "got 'http://msresearch.example.org/research/a-good-summary'",
        ),
        (
            "bad-date.yaml",
            GOOD.replace("2026-05-02", "2026-02-30"),
            "summaries/bad-date.yaml:3: published: expected a real date as YYYY-MM-DD, got '2026-02-30'",
        ),
        (
            "invalid.yaml",
            GOOD + "topics: [B cells\n",
            "summaries/invalid.yaml:6: invalid YAML",
        ),
        (
            "Bad_Name.yaml",
            GOOD,
            "summaries/Bad_Name.yaml: the file name is the summary id: use lowercase letters",
        ),
    ],
)
def test_a_bad_summary_file_names_itself_and_the_field(workspace: Path, name, text, message):
    write(workspace, name, text)
    with pytest.raises(ContentError) as caught:
        load_summaries(workspace)
    assert message in caught.value.message


def test_a_duplicate_id_names_both_files(workspace: Path):
    write(workspace, "twice.yaml", GOOD)
    write(workspace, "twice.yml", GOOD)
    with pytest.raises(ContentError) as caught:
        load_summaries(workspace)
    assert (
        "summaries/twice.yml: duplicate id 'twice', also in summaries/twice.yaml; rename or remove one"
        in caught.value.message
    )


def test_every_bad_file_is_reported_at_once(workspace: Path):
    write(workspace, "one.yaml", GOOD.replace("https://", "ftp://"))
    write(workspace, "two.yaml", GOOD.replace("2026-05-02", "May 2"))
    with pytest.raises(ContentError) as caught:
        load_summaries(workspace)
    assert caught.value.message.startswith("summaries/: 2 problems:\n")


# --- the command line --------------------------------------------------------------------------


def test_cli_summaries_list(workspace: Path):
    result = invoke(
        ["-w", str(workspace), "summaries", "list", "--since", "2026-05-20", "--until", "2026-05-31"]
    )
    assert result.exit_code == 0, result.output
    assert result.output == (
        "2026-05-27  full    2026-05-27-brain-immune-system-talk-more-than\n"
        "            The Brain and the Immune System Talk More Than We Thought\n"
        "2026-05-20  full    2026-05-20-invading-immune-cells-damage-nerves-ms\n"
        "            How Invading Immune Cells Damage Nerves in an MS Model\n"
        "2 summaries\n"
    )


def test_cli_summaries_list_by_topic(workspace: Path):
    result = invoke(["-w", str(workspace), "summaries", "list", "--topic", "nmosd"])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "2 summaries"


def test_cli_reports_a_bad_store_in_one_message(workspace: Path):
    write(workspace, "http.yaml", GOOD.replace("https://", "http://"))
    result = invoke(["-w", str(workspace), "summaries", "list"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: summaries/http.yaml:2: url: expected an absolute https URL")
    assert "Traceback" not in result.output


def test_a_summary_is_a_record_not_a_tuple():
    from newsletter.store.models import Section, Summary

    summary = Summary("x", "A title", "https://example.org/x", date(2026, 5, 1))
    assert summary != ("x", "A title", "https://example.org/x", date(2026, 5, 1))
    assert Section("Gut", ("x",)) != ("Gut", ("x",))
    with pytest.raises(TypeError):
        tuple(summary)  # type: ignore[call-overload]
    renamed = dataclasses.replace(summary, title="B")
    assert renamed == Summary("x", "B", "https://example.org/x", date(2026, 5, 1))


def test_considerations_the_site_does_not_give_are_acknowledged_not_invented(workspace):
    from factories import run

    from newsletter.store import issues as issue_files
    from newsletter.store.content import load_summaries, write_summary

    first = issue_files.load_issue(workspace, "2026-06").summary_ids[0]
    summary = load_summaries(workspace)[first]
    write_summary(workspace, dataclasses.replace(summary, considerations=None))
    missing = run(workspace, "check", "2026-06")
    fix = "acknowledge it with the line `considerations: none on the site`"
    write_summary(workspace, dataclasses.replace(summary, considerations="None on the site"))
    acknowledged = run(workspace, "check", "2026-06")
    built = run(workspace, "build", "2026-06", "--out", str(workspace / "out"))

    assert missing.exit_code == 1 and fix in missing.output
    assert f"summaries/{first}.yaml (considerations): a full summary without" in missing.output
    assert f"summaries/{first}.yaml (considerations): a full summary without" not in acknowledged.output
    assert built.exit_code == 0
    assert "none on the site" not in (workspace / "out" / "2026-06" / "email.html").read_text().lower()
