"""The live preview, fetched over real HTTP from a server on a free loopback port."""

from __future__ import annotations

import http.client
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from html import escape
from pathlib import Path

import pytest
from factories import invoke
from sample_workspace import SAMPLE_ISSUE as ISSUE

from newsletter.store import issues
from newsletter.web import preview
from newsletter.web.live import SpamStatus


def fetch(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode("utf-8")


@pytest.fixture
def server(workspace: Path) -> Iterator[str]:
    """The preview of the sample issue, served on 127.0.0.1 at a port the system picks."""
    # SpamAssassin is left out here (test_spam_... below covers it) to keep each re-render quick.
    with preview.Previewer(workspace, ISSUE, spam=False) as previewer:
        running = preview.make_server(previewer, port=0)
        threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        host, port = running.server_address[:2]
        yield f"http://{host}:{port}"
        running.shutdown()
        running.server_close()


def edit_subject(workspace: Path, subject: str) -> None:
    path = workspace / "issues" / f"{ISSUE}.yaml"
    old = issues.load_issue(workspace, ISSUE).subject
    path.write_text(path.read_text().replace(old, subject))


def next_event(stream: http.client.HTTPResponse) -> str:
    """The data of the next server-sent event, skipping comments and the retry field."""
    while True:
        line = stream.readline().decode().strip()
        if line.startswith("data: "):
            return line.removeprefix("data: ")


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
    assert "Hi there," in page  # the personalised text part: the sample reader has no name
    # Each card's reading grade, the hard ones with their hardest sentence.
    assert '<li class="warning"><strong class="grade">15.1</strong> Lab-Grown Human Microglia' in page
    assert page.count('<strong class="grade">') == len(sample.summary_ids)


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


def test_the_event_stream_announces_an_edit(server: str, workspace: Path):
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/events")
    stream = connection.getresponse()
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    first = next_event(stream)
    assert first.startswith(fetch(server + "/version")[2])
    edit_subject(workspace, "Heard at once")
    changed = next_event(stream)  # pushed by the server: the page does not ask again
    connection.close()
    assert changed != first and changed.startswith(fetch(server + "/version")[2])
    assert '<span class="subject">Heard at once</span>' in fetch(server + "/")[2]


def test_a_new_override_that_extends_the_packaged_email_shows_without_a_restart(server: str, workspace: Path):
    assert "Hello from the override" not in fetch(server + "/email.html")[2]
    (workspace / "templates").mkdir(exist_ok=True)
    (workspace / "templates" / "email.mjml").write_text(
        '{% extends "default:email.mjml" %}\n'
        "{% block intro %}\n"
        "<mj-text><p>Hello from the override, {{ token.greeting }}.</p></mj-text>\n"
        "{% endblock %}\n"
    )
    assert fetch(server + "/")[0] == 200  # the page looks at the files; its frames show what it saw
    status, _, html = fetch(server + "/email.html")
    assert status == 200
    assert "Hello from the override, there." in html  # the replaced block, the sample greeted
    assert "Unsubscribe</a>" in html and "In this issue" in html  # the rest is the packaged email


def test_the_spam_score_arrives_after_the_new_render_never_before_it(workspace: Path):
    with preview.Previewer(workspace, ISSUE) as previewer:
        scored = previewer.wait_for_change(previewer.state().token, timeout=120)
        assert scored is not None and scored.spam is SpamStatus.DONE
        assert any("SpamAssassin" in f.what for f in scored.report.findings)
        edit_subject(workspace, "Rendered before it is scored")
        rendered = previewer.wait_for_change(scored.token, timeout=10)
        assert rendered is not None and rendered.sample.subject == "Rendered before it is scored"
        assert rendered.spam is SpamStatus.PENDING  # shown at once, without waiting for SpamAssassin
        assert not any("SpamAssassin" in f.what for f in rendered.report.findings)
        rescored = previewer.wait_for_change(rendered.token, timeout=120)
        assert rescored is not None and rescored.version == rendered.version
        assert rescored.spam is SpamStatus.DONE and any(
            "SpamAssassin" in f.what for f in rescored.report.findings
        )


def test_preview_of_a_missing_issue_fails_in_one_line_before_serving(workspace: Path):
    result = invoke(["-w", str(workspace), "preview", "2031-01", "--port", "0"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: issues/2031-01.yaml: no such issue (the issues: 2026-06); "
        "draft it with `newsletter new-issue 2031-01`\n"
    )


def test_preview_for_someone_who_is_not_a_subscriber_says_so(workspace: Path):
    args = ["-w", str(workspace), "preview", ISSUE, "--port", "0", "--recipient", "stranger@example.org"]
    invoke(["-w", str(workspace), "db", "upgrade"])  # the sample list moves in (and says so)
    result = invoke(args)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "stranger@example.org is not a subscriber" in result.output


def test_the_watcher_wakes_for_the_issue_inputs_only(workspace: Path):
    from newsletter.render import PACKAGED_TEMPLATES
    from newsletter.web.live import is_watched

    root = workspace.resolve()
    assert is_watched(root, root / "issues" / f"{ISSUE}.yaml")
    assert is_watched(root, root / "newsletter.yaml")
    assert is_watched(root, root / "templates" / "email.mjml")
    assert is_watched(root, PACKAGED_TEMPLATES.resolve() / "email.mjml")
    assert not is_watched(root, root / ".newsletter" / "state.sqlite3-wal")  # the database the page reads
    assert not is_watched(root, root / "outbox" / ISSUE / "a.eml")
    assert not is_watched(root, root / "issues" / f".{ISSUE}.yaml.swp")  # an editor's swap file
