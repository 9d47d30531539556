"""The public archive: its pages exist, their links resolve, and the feed is Atom."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC
from html import escape
from pathlib import Path

from factories import run
from sample_workspace import SAMPLE_ISSUE as ISSUE

from newsletter import render
from newsletter.delivery import ledger, records
from newsletter.store import issues
from newsletter.store.config import load_settings

A = "{http://www.w3.org/2005/Atom}"
ARCHIVE_URL = "https://msresearch.example.org/newsletter/archive/"


def local_links(page: Path) -> list[str]:
    hrefs = re.findall(r'href="([^"]+)"', page.read_text())
    return [h for h in hrefs if not h.startswith(("https:", "http:", "mailto:", "#"))]


def resolve(page: Path, href: str) -> Path:
    target = (page.parent / href.split("#")[0]).resolve()
    return target / "index.html" if href.endswith("/") else target


def sample_issue(workspace: Path):
    return issues.load_issue(workspace, ISSUE)


def test_archive_all_writes_index_issue_pages_and_feed_with_working_links(workspace: Path, tmp_path: Path):
    sample = sample_issue(workspace)
    out = tmp_path / "site"
    result = run(workspace, "archive", "--all", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"{ISSUE}  {sample.send_at.date()}  {sample.title}" in result.output
    pages = [out / "index.html", out / ISSUE / "index.html"]
    for page in pages:
        links = local_links(page)
        assert links, page
        for href in links:
            assert resolve(page, href).is_file(), f"{page}: {href} does not resolve"
    index = pages[0].read_text()
    assert f'href="{ISSUE}/"' in index and escape(sample.subject) in index
    issue_page = pages[1].read_text()
    assert all(escape(section.title) in issue_page for section in sample.sections)


def test_the_feed_is_atom_with_ids_updated_and_links(workspace: Path, tmp_path: Path):
    sample = sample_issue(workspace)
    sent_at = sample.send_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run(workspace, "archive", "--all", "--out", str(tmp_path)).exit_code == 0
    feed = ET.parse(tmp_path / "feed.xml").getroot()
    assert feed.tag == f"{A}feed"
    assert feed.findtext(f"{A}id") == ARCHIVE_URL
    assert feed.findtext(f"{A}updated") == sent_at
    assert {link.get("rel"): link.get("href") for link in feed.findall(f"{A}link")} == {
        "self": ARCHIVE_URL + "feed.xml",
        "alternate": ARCHIVE_URL,
    }
    (entry,) = feed.findall(f"{A}entry")
    assert entry.findtext(f"{A}id") == f"{ARCHIVE_URL}{ISSUE}/"
    assert entry.find(f"{A}link").get("href") == f"{ARCHIVE_URL}{ISSUE}/"
    assert entry.findtext(f"{A}updated") == sent_at
    assert entry.findtext(f"{A}title") == f"{sample.title}: {sample.subject}"


def test_view_in_browser_link_points_at_the_issue_page_in_the_archive(workspace: Path, tmp_path: Path):
    built = render.build_issue(load_settings(workspace), ISSUE, tmp_path / "out")
    email = (built.out_dir / "email.html").read_text()
    view = f"{ARCHIVE_URL}{ISSUE}/"
    assert f'href="{view}"' in email
    assert run(workspace, "archive", "--all", "--out", str(tmp_path / "site")).exit_code == 0
    # The page served at archive_url + "<id>/" is the file <out>/<id>/index.html.
    assert (tmp_path / "site" / view.removeprefix(ARCHIVE_URL) / "index.html").is_file()


def test_without_all_only_issues_the_ledger_shows_sent_are_archived(workspace: Path, tmp_path: Path):
    result = run(workspace, "archive", "--out", str(tmp_path / "none"))
    assert result.exit_code == 0 and "0 issue(s)" in result.output
    assert "No issues yet." in (tmp_path / "none" / "index.html").read_text()
    settings = load_settings(workspace)
    with ledger.open_ledger(settings) as book:
        book.start_run(ISSUE, "outbox", ["x"], [records.NewRecipient("ana@example.org")])
        book.mark_sent(ISSUE, "ana@example.org", "<m@example.org>", None)
    result = run(workspace, "archive", "--out", str(tmp_path / "sent"))
    assert result.exit_code == 0 and "1 issue(s)" in result.output
    assert (tmp_path / "sent" / ISSUE / "index.html").is_file()


def test_the_index_looks_like_the_issue_pages_and_prints_the_same_date(workspace: Path, tmp_path: Path):
    # Sent months after its send_at (today, by the ledger's clock): the pages still agree.
    assert run(workspace, "send", ISSUE, "--yes").exit_code == 0
    assert run(workspace, "archive", "--out", str(tmp_path)).exit_code == 0

    index = (tmp_path / "index.html").read_text()
    page = (tmp_path / ISSUE / "index.html").read_text()
    printed = re.search(r'<p class="dek">[^<]*&middot; ([A-Z][a-z]+ \d+, \d{4}) &middot;', page)
    assert printed and f">{printed.group(1)}</time>" in index, printed
    for look in ("#eef1f4", "border-top: 6px solid #0b5cad", "prefers-color-scheme: dark", "Georgia"):
        assert look in index and look in page


def set_subject(workspace: Path, yaml_subject: str) -> None:
    """Write the sample issue's subject line as given: a YAML double-quoted string, escapes and all."""
    path = workspace / "issues" / f"{ISSUE}.yaml"
    lines = [
        "subject: " + yaml_subject if line.startswith("subject:") else line
        for line in path.read_text().split("\n")
    ]
    path.write_text("\n".join(lines))


def test_control_characters_in_a_subject_never_break_the_feed(workspace: Path, tmp_path: Path):
    # The issue loader refuses them (file, line and field), so no archive is written with them.
    set_subject(workspace, r'"Bell\a, escape\e[31m and tab\tkept"')
    result = run(workspace, "archive", "--all", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "issues/2026-06.yaml:4: subject: control character U+0007 in the text" in result.output
    assert not (tmp_path / "feed.xml").exists()


def test_the_index_escapes_markup_in_a_subject(workspace: Path, tmp_path: Path):
    set_subject(workspace, '"Microglia <script>alert(1)</script> & more"')
    assert run(workspace, "archive", "--all", "--out", str(tmp_path)).exit_code == 0
    index = (tmp_path / "index.html").read_text()
    assert "Microglia &lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in index and "<script>" not in index


def test_a_workspace_can_replace_one_block_of_the_archive_index(workspace: Path, tmp_path: Path):
    (workspace / "templates" / "pages").mkdir(parents=True)
    (workspace / "templates" / "pages" / "archive_index.html").write_text(
        '{% extends "default:pages/archive_index.html" %}\n'
        "{% block header %}<h1>Our archive</h1>{% endblock %}\n"
    )
    assert run(workspace, "archive", "--all", "--out", str(tmp_path)).exit_code == 0
    index = (tmp_path / "index.html").read_text()
    assert "<h1>Our archive</h1>" in index and f'href="{ISSUE}/"' in index
