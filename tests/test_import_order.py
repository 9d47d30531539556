"""Pages and the feed in any order: the same summaries, with the feed's dates, links and topics."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from factories import invoke
from loopback_site import FEEDS

from newsletter.importers import import_pages
from newsletter.importers.feedimport import import_feed
from newsletter.store.content import load_summaries

TODAY = date(2026, 6, 1)
PAGES = sorted((Path(__file__).parent / "pages").glob("*.txt"))


def feed_without_descriptions(folder: Path) -> Path:
    """The site's feed as some sites serve it: titles, links, dates and categories, no text."""
    path = folder / "bare.xml"
    path.write_text(re.sub(r"<description>&lt;p&gt;.*?</description>", "", (FEEDS / "rss.xml").read_text()))
    return path


@pytest.fixture(params=["rss.xml", "bare"])
def feed(request, tmp_path: Path) -> Path:
    return FEEDS / "rss.xml" if request.param == "rss.xml" else feed_without_descriptions(tmp_path)


def both_orders(make_workspace, feed: Path):
    feed_first, pages_first = make_workspace("a"), make_workspace("b")
    import_feed(feed_first, feed, today=TODAY)
    import_pages(feed_first, PAGES, today=TODAY)
    import_pages(pages_first, PAGES, today=TODAY)
    import_feed(pages_first, feed, today=TODAY)
    return load_summaries(feed_first), load_summaries(pages_first)


@pytest.fixture
def make_workspace(empty_workspace: Path, tmp_path: Path):
    import shutil

    def make(name: str) -> Path:
        return Path(shutil.copytree(empty_workspace, tmp_path / name))

    return make


def test_feed_then_pages_and_pages_then_feed_give_the_same_summaries(make_workspace, feed: Path):
    feed_first, pages_first = both_orders(make_workspace, feed)

    assert feed_first == pages_first
    full = [s for s in feed_first.values() if not s.is_teaser]
    assert len(full) == 5


def test_a_feed_with_text_completes_every_page_with_its_date_link_and_title(make_workspace):
    feed_first, _ = both_orders(make_workspace, FEEDS / "rss.xml")

    full = {s.url: s for s in feed_first.values() if not s.is_teaser}
    assert all(not s.needs_review for s in full.values()), [s.missing_fields for s in full.values()]
    lab = full[
        "https://msresearch.example.org/research/lab-grown-human-microglia-point-to-new-targets-for-progressive-ms"
    ]
    # A layout-B page (no title) matched to its entry by its takeaway, and named by the entry's title.
    assert (lab.id, lab.title, lab.published) == (
        "lab-grown-human-microglia-point-targets",
        "Lab-Grown Human Microglia Point to New Targets for Progressive MS",
        date(2026, 5, 14),
    )
    assert lab.teaser is None and lab.found  # the page's full text, not the feed's blurb


def test_entries_without_text_are_remembered_until_their_pages_come(empty_workspace: Path, tmp_path: Path):
    report = import_feed(empty_workspace, feed_without_descriptions(tmp_path), today=TODAY)
    assert report.changes == () and report.problems == ()
    assert any("5 entries have no text yet: remembered" in line for line in report.lines())

    pages = import_pages(empty_workspace, PAGES, today=TODAY)

    microglia = load_summaries(empty_workspace)["microglia-affect-ms-healing-harm-explained"]
    assert microglia.published == date(2026, 5, 6)  # the feed's date, not today's guess
    assert microglia.url.endswith("/how-microglia-affect-ms-healing-and-harm-explained")
    # The layout-B pages have no title and the feed no text to match them by: each is listed with
    # the command that completes it, and the entries still waiting are named to take the values from.
    untitled = [w for w in pages.warnings if "no title" in w]
    assert len(untitled) == 3 and all('--title "TITLE" --url URL --published' in w for w in untitled)
    waiting = next(w for w in pages.warnings if w.startswith("the feed's entries without a page yet"))
    assert "'Lab-Grown Human Microglia Point to New Targets for Progressive MS' (2026-05-14," in waiting


def test_a_generic_category_is_neither_a_topic_nor_a_reason_to_clear_the_review(empty_workspace: Path):
    gut = (FEEDS / "rss.xml").read_text()
    gut = re.sub(r"(<item>.*?)<category>.*?</item>", _only_research, gut, count=1, flags=re.S)
    (empty_workspace / "feed.xml").write_text(gut)
    import_pages(empty_workspace, PAGES, today=TODAY)

    import_feed(empty_workspace, empty_workspace / "feed.xml", today=TODAY)

    talk = load_summaries(empty_workspace)["brain-immune-system-talk-more-than"]
    assert talk.topics == () and talk.needs_review and "topics" in talk.missing_fields


def _only_research(match: re.Match) -> str:
    item = re.sub(r"<category>.*?</category>\s*", "", match.group(0))
    return item.replace("</item>", "<category>Research</category></item>")


def test_the_categories_to_ignore_are_a_setting(empty_workspace: Path):
    settings = empty_workspace / "newsletter.yaml"
    settings.write_text(settings.read_text() + "import:\n  ignore_categories: [Microglia, EAE]\n")
    import_feed(empty_workspace, FEEDS / "rss.xml", today=TODAY)

    topics = {t for s in load_summaries(empty_workspace).values() for t in s.topics}
    assert "Research" not in topics and "Microglia" not in topics and "EAE" not in topics
    assert "Neuroinflammation" in topics

    settings.write_text(settings.read_text() + "  unknown: 1\n")
    refused = invoke(["-w", str(empty_workspace), "import", "--feed", str(FEEDS / "rss.xml")])
    assert refused.exit_code == 1 and "import.unknown" in refused.output
