"""The importer of the site's pages: both layouts, the teaser merge, re-imports and refused pages."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
from factories import invoke, summary_files
from hypothesis import given
from hypothesis import strategies as st

from newsletter.errors import PageError
from newsletter.importers import PageOptions, import_pages, read_page, read_page_text
from newsletter.importers.tags import split_tags
from newsletter.importers.text import restore_sentence_spaces
from newsletter.store.content import load_summaries, write_summary
from newsletter.store.fileio import load_yaml
from newsletter.store.topics import load_taxonomy

PAGES = Path(__file__).parent / "pages"  # copies of the five seed pages of the site
EXPECTED = PAGES / "expected"
PAGE = {name.name[:3]: name for name in PAGES.glob("*.txt")}
TODAY = date(2026, 6, 1)


@pytest.fixture
def vocabulary(workspace: Path) -> tuple[str, ...]:
    return load_taxonomy(workspace).vocabulary


# --- reading each page -------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["000", "001", "002", "003", "004"])
def test_each_seed_page_is_read_exactly(number: str, vocabulary):
    expected = load_yaml(EXPECTED / f"{number}.yaml").data
    page = read_page(PAGE[number], vocabulary)
    assert page.layout == expected["layout"]
    assert page.title == expected["title"]
    assert page.journal == expected["journal"]
    for field in ("takeaway", "found", "who_should_care", "considerations"):
        assert getattr(page, field) == expected[field], field
    assert page.topics == (tuple(expected["topics"]) if expected["topics"] is not None else None)
    assert [(r.published.isoformat(), r.title, r.teaser) for r in page.related] == [
        (r["published"], r["title"], r["teaser"]) for r in expected["related"]
    ]
    assert page.warnings == ()


def test_layout_a_page(vocabulary):
    page = read_page(PAGE["001"], vocabulary)
    assert page.layout == "A"
    assert page.title == "How Microglia Affect MS: Healing and Harm Explained"
    assert (
        page.takeaway
        == "Microglia play a dual role in MS, helping both to damage and repair nerve insulation."
    )
    assert page.journal == "Advances in neurobiology"
    assert page.topics == (
        "Autoimmune disease",
        "Brain",
        "Demyelination",
        "Inflammation",
        "Lesions",
        "Macrophages",
        "Microglia",
        "Multiple sclerosis",
        "Neurodegeneration",
        "Remyelination",
    )
    first = page.related[0]
    assert (first.published, first.title) == (
        date(2025, 12, 1),
        "Important Insights on MS and Anti-NMDAR Encephalitis",
    )
    assert first.teaser == (
        "Learn how anti-NMDAR encephalitis overlaps with MS and what it means for treatment and symptom manag"
    )


def test_layout_a_tags_keep_the_sites_spelling(vocabulary):
    page = read_page(PAGE["002"], vocabulary)
    assert page.topics == (
        "BAMs",
        "EAE",
        "dendritic cells",
        "microglia",
        "monocytes",
        "multiple sclerosis",
        "neuroinflammation",
        "phagocytes",
    )
    assert page.title == "Understanding Immune Cells in MS: Helpers or Hurters?"
    assert page.journal == "Trends in immunology"


def test_layout_b_page_gets_its_sentence_spaces_back(vocabulary):
    page = read_page(PAGE["000"], vocabulary)
    assert page.layout == "B"
    assert page.title is None and page.topics is None
    assert page.takeaway.startswith("Researchers are using human cell-based lab models")
    assert "relying only on animal studies. These models show" in page.found
    assert ".These" not in page.found
    assert page.journal == "Experimental & molecular medicine"
    # The related list is glued together: `Read More5/1/2026` ... `Read MoreWhether you’ve ...`
    assert [r.published for r in page.related] == [date(2026, 12, 31)] + [date(2026, 5, 1)] * 3 + [
        date(2026, 3, 1)
    ] * 2


def test_layout_b_unicode_is_kept_exactly(vocabulary):
    page = read_page(PAGE["004"], vocabulary)
    assert "immune system \u2014 it actively" in page.takeaway  # em dash
    assert "gut\u2013brain immune connection" in page.who_should_care  # en dash
    assert "brain\u2019s immune system" in page.found  # curly apostrophe
    pml = page.related[-1].teaser
    assert "PML\u2011IRIS relate to better 1\u2011year outcomes" in pml  # non-breaking hyphens


def test_layout_b_with_the_ai_notice(vocabulary):
    page = read_page(PAGE["003"], vocabulary)
    assert page.journal == "Science immunology"
    assert page.considerations.endswith("whether targeting mtROS is safe in real-world patients.")
    assert all("AI-generated" not in r.teaser for r in page.related)
    assert [r.published.isoformat() for r in page.related] == [
        "2026-12-31",
        "2026-12-31",
        "2026-09-01",
        "2026-07-04",
        "2026-07-03",
        "2026-07-03",
    ]


def test_a_layout_b_page_with_fewer_lines_is_read_in_order_with_a_warning(vocabulary):
    text = (
        "A short takeaway.\nWhat they found.Another sentence.\n5/1/2026\nA blurb\nRead MoreWhether you’ve "
        "... respected medical journals like Neurology often range ..."
    )
    page = read_page_text(text, "short.txt", vocabulary)
    assert (page.takeaway, page.found, page.who_should_care) == (
        "A short takeaway.",
        "What they found. Another sentence.",
        None,
    )
    assert page.journal == "Neurology"
    assert page.warnings == (
        "short.txt: only 2 text lines; read in order, so missing: who_should_care, considerations",
    )


def test_a_layout_a_page_without_some_sections(vocabulary):
    text = "A Title\n\nA Title\nKey Takeaway\n\nThe point.\n\nWhat They Found\n\nThe finding.\n"
    page = read_page_text(text, "partial.txt", vocabulary)
    assert (page.title, page.takeaway, page.found, page.considerations) == (
        "A Title",
        "The point.",
        "The finding.",
        None,
    )
    assert page.topics is None and page.related == ()
    assert "partial.txt: no 'Important Considerations' section" in page.warnings


# --- topic tags and glued sentences ------------------------------------------------------------


def test_tags_are_split_by_the_vocabulary(vocabulary):
    split = split_tags("Autoimmune diseaseBrainDemyelinationInflammation", vocabulary)
    assert split.tags == ("Autoimmune disease", "Brain", "Demyelination", "Inflammation")
    assert split.unknown == ()


def test_an_unknown_tag_is_kept_and_reported(workspace: Path, vocabulary):
    split = split_tags("BrainFatigue scoresMicroglia", vocabulary)
    assert split.tags == ("Brain", "Fatigue scores", "Microglia")
    assert split.unknown == ("Fatigue scores",)
    text = PAGE["001"].read_text(encoding="utf-8").replace("BrainDemyelination", "BrainFatigueDemyelination")
    page = read_page_text(text, "001.txt", vocabulary)
    assert "Fatigue" in page.topics
    assert page.warnings == ()
    assert page.unknown_topics == ("Fatigue",)  # said once per import, not once per page (below)


def test_tags_not_in_topics_yaml_are_one_line_per_import_with_the_fix(empty_workspace: Path):
    report = import_pages(empty_workspace, sorted(PAGE.values()), today=TODAY)
    topics = empty_workspace / "topics.yaml"
    topics.write_text(topics.read_text().replace("Brain, Multiple", "Multiple"))
    again = import_pages(empty_workspace, sorted(PAGE.values()), today=TODAY)

    assert [line for line in report.lines() if "topics.yaml" in line and "tags" in line] == []
    notes = [line for line in again.lines() if line.startswith("note:")]
    assert notes == [
        "note: 1 tag is not in topics.yaml, so it places no summary in a section: Brain. "
        "Fix: add each to a section's tags in topics.yaml (or to its closing `tags:` list), or to "
        "import.ignore_categories in newsletter.yaml if it is not a topic"
    ]


@given(st.lists(st.sampled_from(["Brain", "EAE", "B cells", "Zz", "xq", "Microglia", "Gut microbiome"])))
def test_tag_splitting_never_drops_text(pieces):
    run = "".join(pieces)
    split = split_tags(run, ["Brain", "EAE", "B cells", "Microglia", "Gut microbiome", "Microbiome"])
    assert "".join(split.tags).replace(" ", "") == run.replace(" ", "")


def test_sentence_spaces():
    assert restore_sentence_spaces("animal studies.These models") == "animal studies. These models"
    assert restore_sentence_spaces("in MS.Then") == "in MS. Then"
    assert restore_sentence_spaces("fear?Yes!No") == "fear? Yes! No"
    # Abbreviations, decimals and names are left alone.
    assert restore_sentence_spaces("e.g.The U.S.Army") == "e.g.The U.S.Army"
    assert restore_sentence_spaces("1.5 mg of Node.js") == "1.5 mg of Node.js"


# --- importing into the store ------------------------------------------------------------------


def test_import_without_options_marks_what_it_guessed(empty_workspace: Path):
    report = import_pages(empty_workspace, [PAGE["000"]], today=TODAY)
    full = next(w.summary for w in report.written if not w.summary.is_teaser)
    assert full.id == "using-human-cell-based-lab-models"
    assert full.title == "Researchers are using human cell-based lab models to study how…"
    assert full.published == TODAY
    assert full.url == (
        "https://msresearch.example.org/research/"
        "researchers-are-using-human-cell-based-lab-models-to-study-how"
    )
    assert full.needs_review and full.missing_fields == ("title", "published", "url", "topics")
    assert full.sources == ("000_f350c222d50321a3.txt",)
    assert load_summaries(empty_workspace)[full.id] == full


def test_import_with_options(empty_workspace: Path):
    options = PageOptions(
        date(2026, 5, 14), "Lab-Grown Microglia and MS", "https://msresearch.example.org/r/lab"
    )
    report = import_pages(empty_workspace, [PAGE["000"]], options, today=TODAY)
    full = report.written[0].summary
    assert full.id == "lab-grown-microglia-ms"
    assert (full.title, full.published, full.url) == (
        "Lab-Grown Microglia and MS",
        date(2026, 5, 14),
        "https://msresearch.example.org/r/lab",
    )
    assert full.missing_fields == ("topics",)  # a layout-B page carries no topics


def test_the_same_related_item_on_several_pages_is_one_teaser(empty_workspace: Path):
    report = import_pages(empty_workspace, [PAGE[n] for n in ("000", "002", "004")], today=TODAY)
    store = load_summaries(empty_workspace)
    cd29 = store["2026-05-01-cd29-marks-blood-b-cells"]
    assert (
        cd29.title == "CD29: A Blood Clue to MS B Cells and Treatment Response"
    )  # learnt from 002 (layout A)
    assert cd29.sources == (
        "000_f350c222d50321a3.txt",
        "002_ec3c6a16d040ee0a.txt",
        "004_58afeca2e1178263.txt",
    )
    assert cd29.teaser.startswith("Study finds CD29 marks blood B cells")
    assert cd29.missing_fields == ("url", "topics")
    # 000 and 002 list the same six items; 004 adds three more.
    assert sum(1 for s in store.values() if s.is_teaser) == 9
    assert len(report.written) == 12


def test_all_five_seeds(empty_workspace: Path):
    report = import_pages(empty_workspace, sorted(PAGE.values()), today=TODAY)
    store = load_summaries(empty_workspace)
    assert sum(1 for s in store.values() if not s.is_teaser) == 5
    assert sum(1 for s in store.values() if s.is_teaser) == 20
    # The three layout-B pages carry no title: each is named once, with the ways to complete it.
    assert [w.split(":")[0] for w in report.warnings] == [
        "000_f350c222d50321a3.txt",
        "003_68d3138fa4712870.txt",
        "004_58afeca2e1178263.txt",
    ]
    assert all("newsletter import --feed FEED" in w and "--title" in w for w in report.warnings)
    may_teasers = sorted(s.id for s in store.values() if s.is_teaser and s.published == date(2026, 5, 1))
    assert may_teasers == [
        "2026-05-01-after-optic-neuritis-ganglion-cell",
        "2026-05-01-brain-seeking-cd4-killer-cell",
        "2026-05-01-cd29-marks-blood-b-cells",
        "2026-05-01-early-detection-lower-spinal-fluid",
        "2026-05-01-fewer-hospital-diagnoses-antibody-positive",
        "2026-05-01-specific-spinal-fluid-proteins-tied",
    ]
    untitled = store["2026-05-01-brain-seeking-cd4-killer-cell"]
    assert untitled.title == "Study finds a brain\u2011seeking CD4 killer cell tied to MS and CMV…"
    assert untitled.missing_fields == ("title", "url", "topics")


def test_a_title_learnt_later_fills_the_teaser_and_its_guessed_url(empty_workspace: Path):
    import_pages(empty_workspace, [PAGE["000"]], today=TODAY)
    before = load_summaries(empty_workspace)["2026-05-01-cd29-marks-blood-b-cells"]
    assert "title" in before.missing_fields
    import_pages(empty_workspace, [PAGE["002"]], today=TODAY)
    after = load_summaries(empty_workspace)["2026-05-01-cd29-marks-blood-b-cells"]
    assert after.title == "CD29: A Blood Clue to MS B Cells and Treatment Response"
    assert after.url.endswith("/research/cd29-a-blood-clue-to-ms-b-cells-and-treatment-response")
    assert after.missing_fields == ("url", "topics")


def test_import_order_does_not_matter(tmp_path: Path, empty_workspace: Path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(empty_workspace, other)
    for number in ("000", "001", "002", "003", "004"):
        import_pages(empty_workspace, [PAGE[number]], today=TODAY)
    import_pages(other, [PAGE[n] for n in ("004", "002", "003", "000", "001")], today=TODAY)
    assert summary_files(empty_workspace) == summary_files(other)


def test_reimport_changes_nothing(empty_workspace: Path):
    import_pages(empty_workspace, sorted(PAGE.values()), today=TODAY)
    before = summary_files(empty_workspace)
    report = import_pages(empty_workspace, sorted(PAGE.values()), today=date(2026, 7, 1))
    assert {w.action for w in report.written} == {"unchanged"}
    assert summary_files(empty_workspace) == before


def test_reimport_keeps_the_editors_work(empty_workspace: Path):
    report = import_pages(empty_workspace, [PAGE["003"]], today=TODAY)
    full = report.written[0].summary
    edited = dataclasses.replace(
        full,
        title="How Invading Immune Cells Damage Nerves",
        published=date(2026, 5, 20),
        url="https://msresearch.example.org/research/invading-cells",
        topics=("Macrophages",),
        needs_review=False,
        missing_fields=(),
        # The editor's short wording for the email: no page has it, so no import touches it.
        considerations_short=" ".join((full.considerations or "").split()[:8]),
        who_should_care_short=" ".join((full.who_should_care or "").split()[:5]),
    )
    assert edited.considerations_short and edited.who_should_care_short
    assert full.considerations_short is None and full.who_should_care_short is None  # never the tool's
    write_summary(empty_workspace, edited)
    # The site corrected a typo in the takeaway; the editor imports the page again.
    changed = (
        PAGE["003"].read_text(encoding="utf-8").replace("damage nervous tissue", "damage nerve tissue", 1)
    )
    page = empty_workspace / PAGE["003"].name
    page.write_text(changed, encoding="utf-8")
    report = import_pages(empty_workspace, [page], today=date(2026, 7, 1))
    assert report.written[0].action == "updated"
    again = load_summaries(empty_workspace)[full.id]
    assert "monocyte-derived macrophages damage nerve tissue mainly" in again.takeaway
    assert again == dataclasses.replace(edited, takeaway=again.takeaway)


# --- refused pages: nothing is written ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty.txt: the file is empty; expected a summary page of the site"),
        ("  \n\n", "empty.txt: the file is empty; expected a summary page of the site"),
        (
            "Shopping list\nMilk\nEggs and bread for the weekend.\n",
            "empty.txt: not a summary page of the site: found neither the headings of layout A",
        ),
    ],
)
def test_an_unrecognised_page_is_refused_and_nothing_is_written(empty_workspace: Path, text, message):
    bad = empty_workspace / "empty.txt"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(PageError) as caught:
        import_pages(empty_workspace, [PAGE["001"], bad], today=TODAY)
    assert message in caught.value.message
    assert caught.value.message.startswith("nothing imported: ")
    assert summary_files(empty_workspace) == {}


def test_an_impossible_related_date_names_the_line(empty_workspace: Path):
    bad = empty_workspace / "bad-date.txt"
    bad.write_text(
        PAGE["001"].read_text(encoding="utf-8").replace("12/1/2025", "2/30/2026", 1), encoding="utf-8"
    )
    with pytest.raises(PageError, match=r"bad-date\.txt:30: '2/30/2026' is not a real date \(M/D/YYYY\)"):
        import_pages(empty_workspace, [bad], today=TODAY)
    assert summary_files(empty_workspace) == {}


def test_a_page_that_is_not_text_is_refused(empty_workspace: Path):
    bad = empty_workspace / "page.pdf"
    bad.write_bytes(b"%PDF-1.7\n\xff\xfe\x00binary")
    with pytest.raises(PageError, match=r"page\.pdf: not UTF-8 text"):
        import_pages(empty_workspace, [bad], today=TODAY)


def test_a_broken_store_stops_the_import(empty_workspace: Path):
    (empty_workspace / "summaries" / "broken.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"summaries/broken\.yaml:\d+: invalid YAML"):
        import_pages(empty_workspace, [PAGE["001"]], today=TODAY)
    assert list(summary_files(empty_workspace)) == ["broken.yaml"]


# --- the command line --------------------------------------------------------------------------


def test_cli_import_prints_what_it_did(empty_workspace: Path):
    args = ["--workspace", str(empty_workspace), "import", str(PAGE["001"]), "--published", "2026-05-06"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "created    summaries/microglia-affect-ms-healing-harm-explained.yaml  (full; needs review: url)"
    )
    assert (
        "created    summaries/2025-12-01-phh-1v-booster-shot-could.yaml  (teaser; needs review: url, topics)"
        in lines
    )
    assert lines[-1] == "1 pages: 1 full summaries, 6 teasers; 7 created, 0 updated, 0 unchanged; 0 warnings"
    again = invoke(args)
    assert again.output.splitlines()[-1] == (
        "1 pages: 1 full summaries, 6 teasers; 0 created, 0 updated, 7 unchanged; 0 warnings"
    )


def test_cli_import_prints_an_unknown_tag_once_as_a_note(empty_workspace: Path):
    page = empty_workspace / "001.txt"
    page.write_text(
        PAGE["001"].read_text(encoding="utf-8").replace("BrainDemyelination", "BrainFatigueDemyelination")
    )
    result = invoke(["-w", str(empty_workspace), "import", str(page)])
    assert result.exit_code == 0
    assert (
        "note: 1 tag is not in topics.yaml, so it places no summary in a section: Fatigue." in result.output
    )
    assert result.output.splitlines()[-1].endswith("; 0 warnings")


def test_cli_refuses_a_title_for_several_pages(empty_workspace: Path):
    result = invoke(
        ["-w", str(empty_workspace), "import", str(PAGE["000"]), str(PAGE["003"]), "--title", "One title"],
    )
    assert result.exit_code == 1
    assert (
        result.output == "Error: import: --title and --url describe one page: import that page on its own\n"
    )


def test_cli_refuses_a_non_https_url(empty_workspace: Path):
    args = ["-w", str(empty_workspace), "import", str(PAGE["000"]), "--url", "http://example.org/x"]
    result = invoke(args)
    assert result.exit_code == 1
    assert (
        result.output == "Error: import: --url: expected an absolute https URL, got 'http://example.org/x'\n"
    )
    assert summary_files(empty_workspace) == {}


def test_cli_refuses_an_unrecognised_page_in_one_line(empty_workspace: Path):
    bad = empty_workspace / "notes.txt"
    bad.write_text("Meeting notes\nAgenda\n", encoding="utf-8")
    result = invoke(["-w", str(empty_workspace), "import", str(bad)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: nothing imported: notes.txt: not a summary page of the site")
    assert "Traceback" not in result.output


def test_a_page_without_findings_is_found_again_on_reimport(empty_workspace: Path):
    page = empty_workspace / "takeaway-only.txt"
    page.write_text("A Title\n\nA Title\nKey Takeaway\n\nThe point.\n", encoding="utf-8")
    first = import_pages(empty_workspace, [page], today=TODAY)
    second = import_pages(empty_workspace, [page], today=TODAY)
    assert [w.path for w in first.written] == [w.path for w in second.written] == ["summaries/title.yaml"]
    assert second.written[0].action == "unchanged"
    assert "takeaway-only.txt: no 'What They Found' section" in second.warnings


def test_unknown_run_together_tags_are_split_where_the_case_changes():
    split = split_tags("Vitamin DRelapsesCohort study", ["Microglia"])
    assert split.tags == ("Vitamin D", "Relapses", "Cohort study")
    assert split.unknown == ("Vitamin D", "Relapses", "Cohort study")
    # Known tags are taken first, so a tag with a capital inside a word survives whole.
    assert split_tags("McDonald criteriaMRIScans", ["McDonald criteria"]).tags == (
        "McDonald criteria",
        "MRI",
        "Scans",
    )


def test_the_id_does_not_depend_on_whether_the_date_was_given(empty_workspace: Path, tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    for part in ("newsletter.yaml", "topics.yaml"):
        (other / part).write_bytes((empty_workspace / part).read_bytes())
    with_date = import_pages(empty_workspace, [PAGE["002"]], PageOptions(date(2026, 5, 14)), today=TODAY)
    without = import_pages(other, [PAGE["002"]], today=TODAY)
    assert with_date.written[0].summary.id == without.written[0].summary.id


def test_reimport_keeps_what_the_editor_wrote_that_the_page_lacks(empty_workspace: Path, tmp_path: Path):
    lines = PAGE["002"].read_text(encoding="utf-8").splitlines()
    start = lines.index("Important Considerations")
    page = tmp_path / PAGE["002"].name  # the same page, saved again without that section
    page.write_text("\n".join(lines[:start] + lines[start + 3 :]) + "\n", encoding="utf-8")
    (written, *_) = import_pages(empty_workspace, [page], today=TODAY).written
    assert written.summary.considerations is None
    edited = dataclasses.replace(written.summary, considerations="A small study in mice.")
    write_summary(empty_workspace, edited)
    import_pages(empty_workspace, [page], today=TODAY)
    assert load_summaries(empty_workspace)[edited.id].considerations == "A small study in mice."


def test_title_does_not_silently_replace_a_layout_a_pages_own_title(empty_workspace: Path):
    with pytest.raises(PageError) as refused:
        import_pages(empty_workspace, [PAGE["002"]], PageOptions(title="Another title"), today=TODAY)
    assert "has its own title" in refused.value.message and "add --force" in refused.value.message
    assert not list((empty_workspace / "summaries").glob("*.yaml"))
    forced = import_pages(empty_workspace, [PAGE["002"]], PageOptions(title="Another title", force=True))
    assert forced.written[0].summary.title == "Another title"
