"""Import from the desk: a page or the feed, by URL (from a loopback copy of the site) or as an
uploaded file, with the importer's own rules; the result links each summary's form; a refusal is one
line on the page and nothing is written."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

from desk_helpers import Desk
from loopback_site import (  # noqa: F401 - the `site` and `secure_site` fixtures
    FEEDS,
    HUGE,
    MANIFEST,
    SITE,
    LoopbackSite,
    secure_site_fixture,
    site_fixture,
)

from newsletter.importers.fetch import FetchPolicy
from newsletter.store.content import load_summaries
from newsletter.web.desk import MAX_UPLOAD

MICROGLIA = next(p for p in MANIFEST if p["site_layout"] == "A")


def written(workspace: Path) -> list[str]:
    return sorted(p.name for p in (workspace / "summaries").glob("*.yaml"))


def result(desk: Desk) -> str:
    return desk.page.split('id="result"', 1)[1].split("</section>", 1)[0]


def listed(desk: Desk) -> list[str]:
    """The summary ids the result links to, in order."""
    return re.findall(r'<a href="/summaries/([a-z0-9-]+)">', result(desk))


def open_import(workspace: Path, policy: FetchPolicy | None) -> Desk:
    desk = Desk(workspace, fetch_policy=policy)
    assert desk.get("/import").status_code == 200
    return desk


def test_a_page_by_its_url_is_imported_and_each_summary_links_to_its_form(
    empty_workspace: Path, site: LoopbackSite
):
    desk = open_import(empty_workspace, site.policy)
    desk.post("/import", {"what": "page", "url": SITE + MICROGLIA["path"], "published": "2026-05-06"})
    ids = listed(desk)
    store = load_summaries(empty_workspace)
    assert ids and set(ids) == set(store)  # the page's own summary and its teasers
    own = next(s for s in store.values() if s.found)
    assert own.published.isoformat() == "2026-05-06" and own.sources == (SITE + MICROGLIA["path"],)
    assert "<p>1 pages: 1 full summaries, 6 teasers; 7 created" in result(desk)
    assert desk.messages() == ["Import done: 7 summary file(s), each linked to its form below."]
    for sid in ids:
        assert f"summaries/{sid}.yaml" in desk.page
    # what the importer guessed is shown, and each summary's form is one click away
    assert result(desk).count("needs review: url, topics") == len(ids) - 1 == 6
    teaser = next(s for s in store.values() if s.needs_review)
    desk.get(f"/summaries/{teaser.id}")
    assert 'id="review-h">Needs review' in desk.page


def test_the_feed_and_its_pages_by_url_show_what_needs_review(empty_workspace: Path, site: LoopbackSite):
    desk = open_import(empty_workspace, site.policy)
    desk.post("/import", {"what": "feed", "url": f"{SITE}/feed.xml"})  # the feed alone: teasers
    assert len(listed(desk)) == 5 and "needs review" not in result(desk)
    desk.post("/import", {"what": "feed", "url": f"{SITE}/feed.xml", "pages": "1"})
    assert len(listed(desk)) == 25 and len(written(empty_workspace)) == 25
    assert "5 entries, 5 pages; 20 created, 5 updated, 0 unchanged, 20 need review" in result(desk)
    assert result(desk).count("needs review: ") == 20  # the teasers of the pages: guessed url, topics


def test_an_uploaded_page_then_the_uploaded_feed_complete_each_other(empty_workspace: Path):
    desk = open_import(empty_workspace, None)
    html = (FEEDS / "html" / "B" / MICROGLIA["file"]).read_bytes()
    desk.post("/import", {"what": "page", "url": "", "file": (BytesIO(html), MICROGLIA["file"])})
    own = next(s for s in load_summaries(empty_workspace).values() if s.found)
    assert own.sources == (MICROGLIA["file"],) and own.needs_review
    assert f'<a href="/summaries/{own.id}">' in desk.page
    assert re.search(r"needs review: [a-z_, ]*published", desk.page)

    desk.get("/import")
    desk.post("/import", {"what": "feed", "file": (BytesIO((FEEDS / "rss.xml").read_bytes()), "rss.xml")})
    assert "Imported from rss.xml" in desk.page
    done = {s.takeaway: s for s in load_summaries(empty_workspace).values()}[own.takeaway]
    assert not done.needs_review and done.published.isoformat() == "2026-05-06"


def refused(desk: Desk, form: dict) -> str:
    """Post the form; the one error line the page shows (the form's URL kept for another try)."""
    response = desk.post("/import", form)
    assert response.status_code == 200 and "/import" in response.request.path
    errors = re.findall(r'<p class="message error">([^<]*)</p>', desk.page)
    assert len(errors) == 1 and "\n" not in errors[0], errors
    return errors[0]


def test_refusals_are_one_line_and_write_nothing(empty_workspace: Path, site: LoopbackSite):
    desk = open_import(empty_workspace, site.policy)
    assert "give an https URL" in refused(desk, {"what": "page", "url": "http://msresearch.example.org/x"})
    assert "expected a file ending in" in refused(
        desk, {"what": "page", "file": (BytesIO(b"MZ\x90\x00"), "setup.exe")}
    )
    assert refused(
        desk, {"what": "page", "url": SITE + MICROGLIA["path"], "file": (BytesIO(b"x"), "page.txt")}
    ) == ("give a URL or a file, not both")
    assert "not a date" in refused(
        desk, {"what": "page", "url": SITE + MICROGLIA["path"], "published": "May"}
    )

    # a feed whose first entry links into the internal network: its pages are refused, none written
    rss = (FEEDS / "rss.xml").read_text(encoding="utf-8")
    first = rss.index("<link>", rss.index("<item>"))
    site.serve(
        "/bad.xml",
        rss[:first] + "<link>https://10.0.0.5/admin</link>" + rss[rss.index("</link>", first) + 7 :],
        "application/rss+xml",
    )
    line = refused(desk, {"what": "feed", "url": f"{SITE}/bad.xml", "pages": "1"})
    assert line.startswith("nothing imported: ") and "10.0.0.5 is a private address" in line
    assert f'value="{SITE}/bad.xml"' in desk.page  # kept for another try

    # too big, and too slow: the fetch's own limits
    site.stream("/huge", "text/html", HUGE)
    assert "MB" in refused(desk, {"what": "page", "url": f"{SITE}/huge"})
    site.trickle("/slow", total=2000, interval=0.2)
    slow = Desk(empty_workspace, fetch_policy=FetchPolicy(test_origin=site.origin, timeout=5, deadline=1))
    slow.get("/import")
    assert refused(slow, {"what": "page", "url": f"{SITE}/slow"}) == (
        f"nothing imported: {SITE}/slow: not finished within 1 s; stopped"
    )
    assert written(empty_workspace) == []


def test_private_hosts_only_with_allow_private_hosts(empty_workspace: Path, secure_site: LoopbackSite):
    url = f"{secure_site.origin}{MICROGLIA['path']}"
    desk = open_import(empty_workspace, None)  # the importer's own policy, from newsletter.yaml
    line = refused(desk, {"what": "page", "url": url})
    assert "127.0.0.1 is a loopback address" in line and "import.allow_private_hosts" in line
    assert secure_site.requests == [] and written(empty_workspace) == []

    settings = empty_workspace / "newsletter.yaml"
    settings.write_text(
        settings.read_text(encoding="utf-8") + "import:\n  allow_private_hosts: true\n", encoding="utf-8"
    )
    desk = open_import(empty_workspace, None)
    assert "import.allow_private_hosts is on" in desk.page
    desk.post("/import", {"what": "page", "url": url})
    assert listed(desk) and [path for path, _ in secure_site.requests] == [MICROGLIA["path"]]


def test_an_upload_may_be_as_large_as_a_fetch_and_other_forms_stay_small(workspace: Path):
    assert FetchPolicy().max_bytes == MAX_UPLOAD
    desk = Desk(workspace)
    desk.get("/import")
    big = BytesIO(b"x" * (MAX_UPLOAD + 1))
    assert desk.post("/import", {"what": "page", "file": (big, "big.txt")}).status_code == 413
    desk.get("/summaries/2026-05-14-lab-grown-human-microglia-point-targets")
    large_form = {"title": "x" * (300 * 1024)}
    assert (
        desk.post("/summaries/2026-05-14-lab-grown-human-microglia-point-targets", large_form).status_code
        == 413
    )


def test_an_unreadable_upload_is_named_as_the_editor_named_it(empty_workspace: Path):
    desk = open_import(empty_workspace, None)
    line = refused(desk, {"what": "feed", "file": (BytesIO(b"<rss><channel>"), "site-feed.xml")})
    assert line.startswith("site-feed.xml: ") and "desk-import-" not in line
    assert written(empty_workspace) == []
