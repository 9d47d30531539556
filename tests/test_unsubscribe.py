"""The one-click unsubscribe endpoint over real HTTP on loopback."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from factories import invoke

from newsletter.db.audience import iter_memberships, load_audience
from newsletter.db.migrate import table_counts
from newsletter.db.state import open_state
from newsletter.db.suppression import is_suppressed
from newsletter.mail.tokens import make_token
from newsletter.store.config import load_settings
from newsletter.web.unsubscribe import UnsubscribeApp, make_unsubscribe_server

SECRET = b"test-secret-0123456789abcdef"


def state(workspace):
    """The workspace's state database (the sample subscribers move into it on first use)."""
    return open_state(load_settings(workspace))


def statuses(workspace) -> dict[str, str]:
    return {row["email"]: row["status"] for row in iter_memberships(state(workspace))}


LIST_ID = "roundup.msresearch.example.org"


@pytest.fixture
def endpoint(workspace):
    app = UnsubscribeApp(workspace, SECRET, LIST_ID, "MS Research Roundup")
    server = make_unsubscribe_server(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/unsubscribe"
    server.shutdown()
    server.server_close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        raise AssertionError("the endpoint must not redirect")


def request(url: str, body: bytes | None = None) -> tuple[int, str]:
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with opener.open(req, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_post_one_click_unsubscribes(endpoint, workspace):
    token = make_token(SECRET, LIST_ID, "Ana.Reader@example.com")
    status, page = request(f"{endpoint}?token={token}", b"List-Unsubscribe=One-Click")
    assert status == 200
    assert "You are unsubscribed" in page
    assert is_suppressed(state(workspace), "ana.reader@example.com")
    assert statuses(workspace)["ana.reader@example.com"] == "unsubscribed"


def test_get_shows_a_button_and_changes_nothing(endpoint, workspace):
    token = make_token(SECRET, LIST_ID, "ana.reader@example.com")
    before = table_counts(state(workspace))
    status, page = request(f"{endpoint}?token={token}")
    assert status == 200
    assert '<form method="post"' in page and "<button" in page and "ana.reader@example.com" in page
    assert table_counts(state(workspace)) == before and statuses(workspace)["ana.reader@example.com"] == (
        "subscribed"
    )
    # The page's button posts the one-click body to the same token, which then works.
    assert 'name="List-Unsubscribe" value="One-Click"' in page
    assert f'action="?token={token}"' in page


def test_a_workspace_page_can_extend_the_packaged_one_and_replace_a_block(endpoint, workspace):
    (workspace / "templates" / "pages").mkdir(parents=True)
    (workspace / "templates" / "pages" / "unsubscribed.html").write_text(
        '{% extends "default:pages/unsubscribed.html" %}\n'
        '{% block content %}<p>Sorry to see {{ email }} go. <a href="/">Back</a></p>{% endblock %}\n'
    )
    token = make_token(SECRET, LIST_ID, "ana.reader@example.com")
    status, page = request(f"{endpoint}?token={token}", b"List-Unsubscribe=One-Click")
    assert status == 200 and is_suppressed(state(workspace), "ana.reader@example.com")
    assert "<p>Sorry to see ana.reader@example.com go." in page  # the replaced block
    assert "<title>You are unsubscribed</title>" in page  # the rest is the packaged page


def test_pages_escape_what_they_show(workspace):
    app = UnsubscribeApp(workspace, SECRET, LIST_ID, "Research <b>Roundup</b> & more")
    server = make_unsubscribe_server(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        token = make_token(SECRET, LIST_ID, "ana.reader@example.com")
        status, page = request(f"http://127.0.0.1:{server.server_port}/unsubscribe?token={token}")
    finally:
        server.shutdown()
        server.server_close()
    assert status == 200
    assert "Research &lt;b&gt;Roundup&lt;/b&gt; &amp; more" in page and "<b>" not in page


def test_forged_token_gets_400_and_changes_nothing(endpoint, workspace):
    before = (table_counts(state(workspace)), statuses(workspace))
    real = make_token(SECRET, LIST_ID, "ana.reader@example.com")
    forged = make_token(b"not the secret at all!!", LIST_ID, "ana.reader@example.com")
    other_list = make_token(SECRET, "other.example.org", "ana.reader@example.com")
    mixed = make_token(SECRET, LIST_ID, "dev.patel@example.org").split(".")[0] + "." + real.split(".")[1]
    for token in (forged, other_list, mixed, "garbage", ""):
        status, page = request(f"{endpoint}?token={token}", b"List-Unsubscribe=One-Click")
        assert status == 400, token
        assert "not valid" in page
    status, _ = request(f"{endpoint}?token={real}", b"something=else")
    assert status == 400
    assert (table_counts(state(workspace)), statuses(workspace)) == before


def test_two_concurrent_unsubscribes_both_land(endpoint, workspace):
    people = [
        "ana.reader@example.com",
        "dev.patel@example.org",
        "chloe.lefevre@example.com",
        "erin.nurse@example.com",
    ]
    urls = [f"{endpoint}?token={make_token(SECRET, LIST_ID, p)}" for p in people]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda u: request(u, b"List-Unsubscribe=One-Click")[0], urls))
    assert results == [200] * 4
    assert all(is_suppressed(state(workspace), p) for p in people)
    members, _tally = load_audience(state(workspace))
    assert [m.email for m in members] == ["ben.caregiver@example.org"]


def test_serve_unsubscribe_refuses_without_a_secret(workspace, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_SECRET", raising=False)
    result = invoke(["-w", str(workspace), "serve-unsubscribe", "--port", "0"])
    assert result.exit_code == 1
    assert "NEWSLETTER_SECRET is not set" in result.output
