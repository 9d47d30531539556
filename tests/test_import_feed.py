"""Importing the site's feed: RSS, Atom and JSON Feed, with and without the entries' pages, and bad feeds."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from factories import invoke, summary_files
from loopback_site import FEEDS, HUGE, MANIFEST, SITE, LoopbackSite, site_fixture  # noqa: F401 - `site`
from sample_workspace import copy_sample_workspace

from newsletter.importers import import_pages
from newsletter.importers.feed import FeedError, load_feed, parse_feed
from newsletter.importers.feedimport import Action, import_feed
from newsletter.store.content import load_summaries, write_summary

TZ = ZoneInfo("America/New_York")
TODAY = date(2026, 6, 1)
PAGES = Path(__file__).parent / "pages"
FEED_FILES = ("rss.xml", "atom.xml", "feed.json")


def rss(items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>MS Research</title>'
        f"<link>{SITE}/</link><description>Summaries</description>{items}</channel></rss>"
    ).encode()


@pytest.mark.parametrize("name", FEED_FILES)
def test_each_feed_format_gives_the_sample_summaries_entries(name: str, workspace: Path):
    feed = load_feed(FEEDS / name, TZ)
    store = load_summaries(workspace)
    assert feed.kind == {"rss.xml": "RSS 2.0", "atom.xml": "Atom 1.0", "feed.json": "JSON Feed 1.1"}[name]
    assert [e.title for e in feed.entries] == [
        "The Brain and the Immune System Talk More Than We Thought",
        "How Invading Immune Cells Damage Nerves in an MS Model",
        "Lab-Grown Human Microglia Point to New Targets for Progressive MS",
        "Understanding Immune Cells in MS: Helpers or Hurters?",
        "How Microglia Affect MS: Healing and Harm Explained",
    ]
    for entry in feed.entries:
        summary = next(s for s in store.values() if s.url == entry.link)
        assert (entry.published, entry.topics, entry.description) == (
            summary.published,
            summary.topics,
            summary.takeaway,
        )


def test_a_date_is_the_site_s_day_in_its_time_zone():
    late = rss(
        f"<item><title>T</title><link>{SITE}/research/t</link>"
        "<pubDate>Thu, 07 May 2026 02:30:00 +0000</pubDate></item>"
    )
    assert parse_feed(late, "feed.xml", TZ).entries[0].published == date(2026, 5, 6)


def test_the_feed_alone_creates_teasers_with_everything_pages_lack(empty_workspace: Path):
    report = import_feed(empty_workspace, FEEDS / "rss.xml", today=TODAY)
    assert [c.action for c in report.changes] == [Action.CREATED] * 5
    assert report.problems == () and report.needs_review == ()
    made = load_summaries(empty_workspace)
    # The sample's ids without their "YYYY-MM-DD-": an id comes from the title alone.
    assert set(made) == {p["summary"][len("2026-05-06-") :] for p in MANIFEST}
    microglia = made["microglia-affect-ms-healing-harm-explained"]
    assert microglia.teaser == (
        "Microglia play a dual role in MS, helping both to damage and repair nerve insulation."
    )
    assert microglia.is_teaser and microglia.published == date(2026, 5, 6)


def test_the_feed_completes_the_copied_pages_and_clears_their_review(empty_workspace: Path, tmp_path: Path):
    import_pages(empty_workspace, [PAGES / p["seed"] for p in MANIFEST], today=TODAY)
    guessed = {i: s for i, s in load_summaries(empty_workspace).items() if s.found}
    assert all("published" in s.missing_fields for s in guessed.values())
    report = import_feed(empty_workspace, FEEDS / "atom.xml", today=TODAY)
    assert [c.action for c in report.changes] == [Action.UPDATED] * 5
    # Matched, not duplicated; a page without a title takes the id its feed title gives.
    renamed = dict(report.renamed)
    assert {c.summary.id for c in report.changes} == {renamed.get(i, i) for i in guessed}
    assert sorted(renamed) == sorted(i for i, s in guessed.items() if "title" in s.missing_fields)
    assert not any((empty_workspace / "summaries" / f"{old}.yaml").exists() for old in renamed)
    assert report.needs_review == () and report.problems == ()
    sample = load_summaries(copy_sample_workspace(tmp_path / "sample"))
    for change in report.changes:
        done = change.summary
        twin = next(s for s in sample.values() if s.takeaway == done.takeaway)
        assert (done.title, done.url, done.published, done.topics) == (
            twin.title,
            twin.url,
            twin.published,
            twin.topics,
        )
        assert not done.needs_review and done.missing_fields == ()
    again = import_feed(empty_workspace, FEEDS / "feed.json", today=TODAY)
    assert [c.action for c in again.changes] == [Action.UNCHANGED] * 5


def test_the_feed_with_its_pages_makes_full_summaries(empty_workspace: Path, site: LoopbackSite):
    report = import_feed(
        empty_workspace, f"{SITE}/feed.xml", pages=True, fetch_policy=site.policy, today=TODAY
    )
    full = [c.summary for c in report.changes if c.summary.found]
    assert sorted(s.id for s in full) == sorted(p["summary"][len("2026-05-06-") :] for p in MANIFEST)
    assert all(not s.needs_review for s in full)
    assert len(report.changes) == 25 and report.pages == 5
    assert len(site.requests) == 6  # the feed and each entry's page, once


def test_pages_complete_the_teasers_an_earlier_feed_import_made(empty_workspace: Path, site: LoopbackSite):
    import_feed(empty_workspace, FEEDS / "feed.json", today=TODAY)
    report = import_feed(
        empty_workspace, f"{SITE}/feed.json", pages=True, fetch_policy=site.policy, today=TODAY
    )
    own = [c for c in report.changes if c.summary.found]
    assert [c.action for c in own] == [Action.UPDATED] * 5
    assert len(load_summaries(empty_workspace)) == 25


def test_an_entry_without_a_date_is_reported_not_guessed(workspace: Path):
    before = load_summaries(workspace)
    feed = rss(
        f"<item><title>Undated Study</title><link>{SITE}/research/undated</link>"
        "<description>Some text.</description></item>"
    )
    path = workspace / "undated.xml"
    path.write_bytes(feed)
    report = import_feed(workspace, path, today=TODAY)
    assert report.changes == ()
    assert report.problems == (
        "entry 1 ('Undated Study'): not imported: it has no publication date (pubDate or published); "
        "give it a date in the feed, or import its page with --published",
    )
    assert load_summaries(workspace) == before


def test_an_undated_entry_still_fills_what_else_a_summary_lacks(empty_workspace: Path):
    import_pages(empty_workspace, [PAGES / "000_f350c222d50321a3.txt"], today=TODAY)
    path = empty_workspace / "feed.xml"
    path.write_bytes(
        rss(
            "<item><title>Lab-Grown Human Microglia Point to New Targets for Progressive MS</title>"
            f"<link>{SITE}/research/lab-grown</link><category>Microglia</category>"
            "<description>Researchers are using human cell-based lab models to study how microglia (brain "
            "immune cells) may drive MS progression and to find new treatment targets.</description></item>"
        )
    )
    report = import_feed(empty_workspace, path, today=TODAY)
    (change,) = report.changes
    assert change.summary.title == "Lab-Grown Human Microglia Point to New Targets for Progressive MS"
    assert change.summary.missing_fields == ("published",) and change.summary.needs_review
    assert report.problems == (
        "entry 1 ('Lab-Grown Human Microglia Point to New Targets for Progressive MS'): it has no "
        "publication date (pubDate or published); summaries/"
        f"{change.summary.id}.yaml keeps its guessed date",
    )


def test_an_editor_s_own_value_stays_and_the_difference_is_reported(workspace: Path):
    store = load_summaries(workspace)
    summary = store["2026-05-06-microglia-affect-ms-healing-harm-explained"]
    write_summary(workspace, dataclasses.replace(summary, title="Microglia: Both Sides"))
    report = import_feed(workspace, FEEDS / "rss.xml", today=TODAY)
    assert load_summaries(workspace)[summary.id].title == "Microglia: Both Sides"
    assert report.problems == (
        f"entry 5 ('How Microglia Affect MS: Healing and Harm Explained'): summaries/{summary.id}.yaml "
        "keeps its title 'Microglia: Both Sides'; the feed says 'How Microglia Affect MS: Healing and Harm "
        "Explained'",
    )
    assert [c.action for c in report.changes] == [Action.UNCHANGED] * 5


# --- bad feeds: one clear line each, nothing written ----------------------------------------------


def refused(
    workspace: Path, location: str | Path, site: LoopbackSite | None = None, pages: bool = False
) -> str:
    before = summary_files(workspace)
    with pytest.raises(FeedError) as caught:
        import_feed(workspace, location, pages, fetch_policy=site.policy if site else None, today=TODAY)
    assert summary_files(workspace) == before
    return caught.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"Summaries of MS research, updated monthly.", "not an RSS, Atom or JSON feed"),
        (
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            "not an RSS, Atom or JSON feed (line 1, column 0: not well-formed (invalid token))",
        ),
        (b'<rss version="2.0"><channel><item><title>Cut', "broken XML (line 1, column 44: no element found)"),
        (b'{"items": [', "feed.bad:1: not valid JSON (Expecting value, column 12)"),
        (b'{"title": "x", "items": []}', 'JSON, but not a JSON Feed (no "version"'),
    ],
)
def test_a_feed_that_is_not_xml_or_json(workspace: Path, body: bytes, message: str):
    path = workspace / "feed.bad"
    path.write_bytes(body)
    assert message in refused(workspace, path)


@pytest.mark.parametrize(
    ("link", "why"),
    [
        ("javascript:alert(1)", "'javascript:alert(1)' is a javascript: link"),
        ("http://msresearch.example.org/research/x", "is a plain http link"),
    ],
)
def test_an_entry_whose_link_is_not_https(workspace: Path, link: str, why: str):
    path = workspace / "feed.xml"
    path.write_bytes(rss(f"<item><title>Bad</title><link>{link}</link></item>"))
    message = refused(workspace, path)
    assert message.startswith(f"nothing imported: {path}: entry 1 ('Bad'): link ")
    assert why in message and "\n" not in message


def test_a_50_mb_feed_is_cut_at_the_size_limit(workspace: Path, site: LoopbackSite):
    site.stream("/big.xml", "application/rss+xml", HUGE)
    assert refused(workspace, f"{SITE}/big.xml", site).endswith("more than the 10 MB limit; stopped reading")
    assert site.wait_sent("/big.xml") < HUGE / 2


def test_a_feed_url_that_redirects_in_a_loop(workspace: Path, site: LoopbackSite):
    site.redirect("/feed", "/rss")
    site.redirect("/rss", "/feed")
    assert refused(workspace, f"{SITE}/feed", site) == (
        f"{SITE}/feed: redirect loop ({SITE}/feed -> {SITE}/rss -> {SITE}/feed)"
    )


def test_a_page_that_cannot_be_fetched_stops_the_whole_import(empty_workspace: Path, site: LoopbackSite):
    site.redirect(MANIFEST[2]["path"], MANIFEST[2]["path"])
    message = refused(empty_workspace, f"{SITE}/feed.xml", site, pages=True)
    assert message.startswith(
        "nothing imported: entry 4 ('Understanding Immune Cells in MS: Helpers or Hurters?'): "
    )
    assert message.endswith("redirect loop (" + " -> ".join([f"{SITE}{MANIFEST[2]['path']}"] * 2) + ")")


def test_the_cli_imports_the_feed_named_in_the_settings(empty_workspace: Path):
    settings = empty_workspace / "newsletter.yaml"
    settings.write_text(settings.read_text() + "feed_url: https://msresearch.example.org/feed.xml\n")
    run = invoke(["-w", str(empty_workspace), "import", "--feed", str(FEEDS / "rss.xml")])
    assert run.exit_code == 0, run.output
    assert run.output.count("created") >= 5
    refused = invoke(["-w", str(empty_workspace), "import", "--feed", "x.xml", "page.txt"])
    assert refused.exit_code == 2 and "--feed imports the feed alone" in refused.output
