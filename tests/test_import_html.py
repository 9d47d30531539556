"""Importing the site's pages as saved HTML files and https URLs, in both layouts, and refused input."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from factories import summary_files
from loopback_site import FEEDS, HUGE, MANIFEST, SITE, LoopbackSite, site_fixture  # noqa: F401 - the `site` fixture

from newsletter.errors import PageError
from newsletter.importers import import_pages
from newsletter.importers.fetch import USER_AGENT, FetchPolicy
from newsletter.importers.html import parse_html
from newsletter.importers.sources import read_source
from newsletter.store.content import load_summaries
from newsletter.store.fileio import load_yaml
from newsletter.store.topics import load_taxonomy

PAGES = Path(__file__).parent / "pages"
TODAY = date(2026, 6, 1)
PARTS = ("journal", "takeaway", "found", "who_should_care", "considerations")


def html_file(page: dict, layout: str) -> Path:
    return FEEDS / "html" / layout / page["file"]


@pytest.mark.parametrize("layout", ["A", "B"])
@pytest.mark.parametrize("page", MANIFEST, ids=[p["seed"][:3] for p in MANIFEST])
def test_each_rendering_reads_like_the_copied_page(page: dict, layout: str, workspace: Path):
    expected = load_yaml(PAGES / "expected" / f"{page['seed'][:3]}.yaml").data
    summary = load_summaries(workspace)[page["summary"]]
    read = read_source(html_file(page, layout), load_taxonomy(workspace).vocabulary)
    assert read.layout == layout
    for part in PARTS:
        assert getattr(read, part) == expected[part], part
    assert [(r.published.isoformat(), r.teaser) for r in read.related] == [
        (r["published"], r["teaser"]) for r in expected["related"]
    ]
    # What the copied text lacks, the HTML gives: the title (<title> for layout B) and the link.
    assert (read.title, read.url) == (summary.title, summary.url)
    assert read.topics == (summary.topics if layout == "A" else None)
    assert read.warnings == ()


def test_navigation_scripts_styles_and_hidden_parts_are_not_text():
    data = html_file(MANIFEST[1], "A").read_bytes()
    doc = parse_html(data, "page.html")
    for chrome in ("Home", "window.dataLayer", "font-family", "cookies", "Privacy", "JavaScript", "★"):
        assert chrome not in doc.text
    assert doc.title == "How Microglia Affect MS: Healing and Harm Explained"
    assert doc.canonical == f"{SITE}/research/how-microglia-affect-ms-healing-and-harm-explained"


def test_html_import_gives_the_text_import_summaries_with_titles_and_links(tmp_path: Path, empty_workspace):
    from sample_workspace import copy_sample_workspace

    as_text = empty_workspace
    as_html = copy_sample_workspace(tmp_path / "html")
    for part in ("summaries", "issues", "subscribers"):
        for file in (as_html / part).iterdir():
            file.unlink()
    texts = [PAGES / p["seed"] for p in MANIFEST]
    htmls = [html_file(p, p["site_layout"]) for p in MANIFEST]
    import_pages(as_text, texts, today=TODAY)
    report = import_pages(as_html, htmls, today=TODAY)
    assert report.count("created") == 25 and report.warnings == ()
    text_store, html_store = load_summaries(as_text), load_summaries(as_html)
    sample = {p["summary"]: p for p in MANIFEST}
    for seed in MANIFEST:
        text = next(s for s in text_store.values() if seed["seed"] in s.sources and s.found)
        html = next(s for s in html_store.values() if seed["file"] in s.sources and s.found)
        for part in (*PARTS, "topics"):
            assert getattr(html, part) == getattr(text, part), part
        assert html.url == f"{SITE}{sample[seed['summary']]['path']}"
        assert html.missing_fields == (("published",) if html.topics else ("published", "topics"))
    teasers = {(s.published, s.teaser, s.title) for s in text_store.values() if s.teaser}
    assert {(s.published, s.teaser, s.title) for s in html_store.values() if s.teaser} == teasers


def test_the_same_page_in_the_other_layout_updates_its_summary(empty_workspace):
    page = MANIFEST[0]
    first = import_pages(empty_workspace, [html_file(page, "B")], today=TODAY)
    again = import_pages(empty_workspace, [html_file(page, "A")], today=TODAY)
    own = [w for w in again.written if not w.summary.is_teaser]
    assert [w.action for w in own] == ["updated"]  # found by its canonical link: topics added
    assert own[0].summary.id == first.written[0].summary.id
    assert own[0].summary.topics == ("Microglia", "Progression", "Neurodegeneration")


def test_a_page_fetched_from_its_https_url(empty_workspace, site: LoopbackSite):
    url = f"{SITE}{MANIFEST[3]['path']}"
    report = import_pages(empty_workspace, [url], today=TODAY, fetch_policy=site.policy)
    own = report.written[0].summary
    assert (own.title, own.url, own.sources) == (
        "How Invading Immune Cells Damage Nerves in an MS Model",
        url,
        (url,),
    )
    assert report.count("created") == 7
    assert site.requests == [(MANIFEST[3]["path"], USER_AGENT)]
    assert USER_AGENT.startswith("newsletter/")


# --- refused input: one clear line, nothing written -----------------------------------------------


def refused(workspace: Path, source: str | Path, policy: FetchPolicy | None = None) -> str:
    before = summary_files(workspace)
    with pytest.raises(PageError) as caught:
        import_pages(workspace, [source], today=TODAY, fetch_policy=policy)
    assert summary_files(workspace) == before
    message = caught.value.message
    assert "\n" not in message
    return message


def test_a_page_in_neither_layout(workspace: Path, tmp_path: Path):
    page = tmp_path / "about.html"
    page.write_text("<html><head><title>About us</title></head><body><h1>About</h1><p>We are a charity.</p>")
    assert refused(workspace, page) == (
        "nothing imported: about.html: not a summary page of the site: found neither the headings "
        "of layout A ('Key Takeaway', 'What They Found', ...) "
        "nor the text lines and 'Read More' list of layout B"
    )


@pytest.mark.parametrize(
    ("link", "why"),
    [
        ("http://msresearch.example.org/research/x", "is a plain http link; only https links are imported"),
        ("javascript:alert(document.cookie)", "is a javascript: link; only https links are imported"),
    ],
)
def test_links_other_than_https_are_not_fetched(workspace: Path, site: LoopbackSite, link: str, why: str):
    assert why in refused(workspace, link, site.policy)
    assert site.requests == []


def test_a_50_mb_answer_is_cut_at_the_size_limit(workspace: Path, site: LoopbackSite):
    site.stream("/research/huge", "text/html", HUGE)
    message = refused(workspace, f"{SITE}/research/huge", site.policy)
    assert message.endswith("more than the 10 MB limit; stopped reading")
    assert site.wait_sent("/research/huge") < HUGE / 2  # the reader hung up long before the end


def test_a_redirect_loop(workspace: Path, site: LoopbackSite):
    site.redirect("/research/a", "/research/b")
    site.redirect("/research/b", f"{SITE}/research/a")
    assert refused(workspace, f"{SITE}/research/a", site.policy).endswith(
        f"redirect loop ({SITE}/research/a -> {SITE}/research/b -> {SITE}/research/a)"
    )


def test_too_many_redirects_and_a_redirect_to_http(workspace: Path, site: LoopbackSite):
    for n in range(7):
        site.redirect(f"/r/{n}", f"/r/{n + 1}")
    assert refused(workspace, f"{SITE}/r/0", site.policy).endswith("more than 5 redirects; check the link")
    site.redirect("/research/moved", "http://msresearch.example.org/research/moved")
    assert "redirected to 'http://msresearch.example.org/research/moved' is a plain http link" in refused(
        workspace, f"{SITE}/research/moved", site.policy
    )


def test_an_answer_that_is_not_html(workspace: Path, site: LoopbackSite):
    assert refused(workspace, f"{SITE}/feed.xml", site.policy).endswith(
        "got content type 'application/rss+xml'; expected text/html or application/xhtml+xml"
    )
    assert refused(workspace, f"{SITE}/research/gone", site.policy).endswith(
        "the server answered 404 Not Found"
    )


def test_a_server_that_does_not_answer_in_time(workspace: Path, site: LoopbackSite):
    site.routes["/research/slow"] = lambda handler: __import__("time").sleep(1.5)
    policy = FetchPolicy(test_origin=site.origin, timeout=0.3)
    assert refused(workspace, f"{SITE}/research/slow", policy).endswith(
        "no answer within 0.3 s; try again later"
    )
