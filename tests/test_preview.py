"""The live preview, fetched over real HTTP from a server on a free loopback port."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from html import escape
from pathlib import Path

import pytest
from sample_workspace import SAMPLE_ISSUE as ISSUE

from newsletter.store import issues
from newsletter.web import preview


def fetch(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode("utf-8")


@pytest.fixture
def server(workspace: Path) -> Iterator[str]:
    """The preview of the sample issue, served on 127.0.0.1 at a port the system picks."""
    # SpamAssassin is left out here (test_check covers it) to keep each re-render quick.
    running = preview.make_server(preview.Previewer(workspace, ISSUE, spam=False), port=0)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    host, port = running.server_address[:2]
    yield f"http://{host}:{port}"
    running.shutdown()
    running.server_close()


def test_the_page_shows_inbox_line_size_check_frames_and_text(server: str, workspace: Path):
    sample = issues.load_issue(workspace, ISSUE)
    status, content_type, page = fetch(server + "/")
    assert status == 200 and content_type == "text/html; charset=utf-8"
    inbox = f'<span class="subject">{escape(sample.subject)}</span>'
    assert inbox in page  # the subject, as in an inbox
    assert f'<span class="pre">{escape(sample.preheader)}</span>' in page
    assert "HTML size:" in page and "of Gmail's 102 KB clipping limit" in page
    assert '<section id="check"><h2>Check</h2>' in page
    assert 'src="/email.html" width="375"' in page and 'src="/email.html" width="800"' in page
    assert 'src="/email-dark.html" width="375"' in page
    assert "as reader@example.org gets it" in page
    assert "Hi Sample Reader," in page  # the personalised text part, shown on the page


def test_the_frames_serve_the_personalised_email_and_its_dark_view(server: str):
    status, _, html = fetch(server + "/email.html")
    assert status == 200 and html.startswith("<!DOCTYPE html>")
    assert "unsubscribe?token=" in html and "__NL_" not in html
    _, _, dark = fetch(server + "/email-dark.html")
    assert "prefers-color-scheme" not in dark.split("</head>")[0]  # the dark rules now apply always
    assert ":root{color-scheme:dark}" in dark


def test_the_text_is_served_as_plain_text(server: str, workspace: Path):
    status, content_type, text = fetch(server + "/email.txt")
    assert status == 200 and content_type == "text/plain; charset=utf-8"
    assert text.startswith(issues.load_issue(workspace, ISSUE).title + "\n")


def test_an_edit_shows_on_the_next_request(server: str, workspace: Path):
    before = fetch(server + "/version")[2]
    path = workspace / "issues" / f"{ISSUE}.yaml"
    subject = issues.load_issue(workspace, ISSUE).subject
    assert subject in path.read_text()
    path.write_text(path.read_text().replace(subject, "Edited: microglia, seen anew"))
    assert fetch(server + "/version")[2] != before
    page = fetch(server + "/")[2]
    assert '<span class="subject">Edited: microglia, seen anew</span>' in page


def test_a_broken_edit_shows_its_error_and_the_server_survives(server: str, workspace: Path):
    path = workspace / "issues" / f"{ISSUE}.yaml"
    good = path.read_text()
    path.write_text(good.replace("window:", "window: [", 1))
    status, _, page = fetch(server + "/")
    assert status == 500
    assert "cannot render" in page and "issues/2026-06.yaml:" in page and "invalid YAML" in page
    assert fetch(server + "/email.html")[0] == 500
    path.write_text(good)
    assert fetch(server + "/")[0] == 200


def test_a_broken_template_shows_its_error(server: str, workspace: Path):
    (workspace / "templates").mkdir(exist_ok=True)
    (workspace / "templates" / "email.txt").write_text("{{ issue.title }\n")
    status, _, page = fetch(server + "/")
    assert status == 500 and "email.txt:1: template error" in page


def test_force_dark_unwraps_only_the_dark_rules():
    html = (
        "<html><head><style>p{color:#000}@media (prefers-color-scheme: dark) { p { color: #fff; } }"
        "@media (max-width:480px){p{font-size:16px}}</style></head><body><p>x</p></body></html>"
    )
    dark = preview.force_dark(html)
    assert "p{color:#000} p { color: #fff; } @media (max-width:480px){p{font-size:16px}}" in dark
