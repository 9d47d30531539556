"""Topics are health data: their own consent, logged with its words; withdrawal deletes them; /privacy.

Through the real Flask app and the links the service emails (and once under waitress over HTTP).
"""

from __future__ import annotations

import re
import socket
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from html import unescape

from service_helpers import SECRET, Service, link_in, signup_form, start_service, start_sink_thread, token_of
from sqlalchemy import select

from newsletter.db import schema as t
from newsletter.db.audience import person_data
from newsletter.db.subscribers import add_subscriber
from newsletter.web.service.privacy import TOPICS_CONSENT_VERSION, topics_consent_text
from newsletter.web.service.server import CONNECTIONS, Running, make_server

GUT, IMMUNE = "Gut and microbiome", "Immune cells and inflammation"
MOMENT = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def wording(svc: Service) -> str:
    return topics_consent_text(svc.settings.name).wording


def consent_events(svc: Service) -> list[tuple[str, dict]]:
    with svc.engine.connect() as connection:
        rows = connection.execute(
            select(t.events.c.kind, t.events.c.detail)
            .where(t.events.c.kind.like("topics_consent%"))
            .order_by(t.events.c.id)
        ).all()
    return [(row.kind, dict(row.detail)) for row in rows]


def sign_up(svc: Service, email: str, **fields) -> tuple[str, str]:
    """Sign up through the form and confirm through the emailed link; (signup page, preferences link)."""
    before = len(svc.sink.messages)
    answer = svc.client.post("/signup", data=signup_form(email, **fields))
    assert answer.status_code == 200
    confirm = link_in(svc.sink.wait_for(before + 1)[-1], "confirm")
    assert svc.client.post("/confirm", data={"token": token_of(confirm)}).status_code == 200
    return answer.get_data(as_text=True), link_in(svc.sink.wait_for(before + 2)[-1], "preferences")


def consent_box(html: str) -> str:
    found = re.search(r'<input type="checkbox" name="topics_consent"[^>]*>', html)
    assert found, html
    return found.group(0)


def test_the_signup_form_asks_for_topics_under_a_separate_unticked_consent_naming_what_is_kept(svc):
    html = svc.client.get("/signup").get_data(as_text=True)
    assert "checked" not in consent_box(html)
    assert unescape(html).count(wording(svc)) == 1 and "health" in wording(svc)
    assert 'href="http://127.0.0.1:8030/privacy"' in html
    # The box to receive email is a different box from the one for topics.
    assert 'name="consent" value="yes"' in html


def test_topics_with_consent_are_kept_and_the_words_version_and_time_logged(svc):
    context = svc.app.extensions["newsletter_service"]
    svc.app.extensions["newsletter_service"] = type(context)(**{**context.__dict__, "clock": lambda: MOMENT})
    sign_up(svc, "ann@example.org", topics=[GUT, IMMUNE], topics_consent="yes")
    assert person_data(svc.engine, "ann@example.org")["topics"] == [GUT, IMMUNE]
    ((kind, detail),) = consent_events(svc)
    assert kind == "topics_consent_given"
    assert detail == {"wording": wording(svc), "version": TOPICS_CONSENT_VERSION, "topics": [GUT, IMMUNE]}
    with svc.engine.connect() as connection:
        at = connection.execute(
            select(t.events.c.at).where(t.events.c.kind == "topics_consent_given")
        ).scalar_one()
    assert at == MOMENT
    # The download carries the consent log, words and all.
    data = person_data(svc.engine, "ann@example.org")
    assert any(e["kind"] == "topics_consent_given" and e["detail"]["wording"] for e in data["events"])


def test_ticked_topics_without_consent_are_not_kept_and_the_page_says_so(svc):
    page, _ = sign_up(svc, "bo@example.org", topics=[GUT])
    assert "so we will keep none: you will get every topic" in page
    assert person_data(svc.engine, "bo@example.org")["topics"] == []
    assert consent_events(svc) == []
    # Not even inside the emailed link: the token carries no topics.
    confirm = svc.sink.wait_for(1)[0]
    from newsletter.web.service.tokens import Purpose, read_token

    keyring = svc.app.extensions["newsletter_service"].keyring
    assert read_token(keyring, token_of(link_in(confirm, "confirm")), Purpose.CONFIRM).fields["t"] == []


def test_unticking_the_consent_on_preferences_deletes_the_topics_and_logs_it(svc):
    _, link = sign_up(svc, "cy@example.org", topics=[GUT], topics_consent="yes")
    token = token_of(link)
    shown = svc.client.get(link).get_data(as_text=True)  # the emailed link, as the reader opens it
    assert "checked" in consent_box(shown) and 'href="http://127.0.0.1:8030/privacy"' in shown

    # The topic box stays ticked, the consent box is not: nothing may be kept.
    saved = svc.client.post("/preferences", data={"token": token, "topics": [GUT], "pause": "keep"})
    text = unescape(saved.get_data(as_text=True))
    assert "You withdrew your consent to keep topics: we deleted them." in text
    assert "You ticked topics but not the box to let us keep them, so we kept none" in text
    assert person_data(svc.engine, "cy@example.org")["topics"] == []
    kinds = [kind for kind, _ in consent_events(svc)]
    assert kinds == ["topics_consent_given", "topics_consent_withdrawn"]
    assert consent_events(svc)[1][1] == {"topics_deleted": 1, "consent_was_recorded": True}
    assert "checked" not in consent_box(saved.get_data(as_text=True))

    # Consenting again keeps the topics and logs a new grant.
    again = svc.client.post(
        "/preferences", data={"token": token, "topics": [IMMUNE], "topics_consent": "yes", "pause": "keep"}
    )
    assert "We recorded your consent to keep your topics." in again.get_data(as_text=True)
    assert person_data(svc.engine, "cy@example.org")["topics"] == [IMMUNE]
    assert [kind for kind, _ in consent_events(svc)][-1] == "topics_consent_given"


def test_imported_topics_have_no_consent_and_the_page_says_saving_without_it_deletes_them(svc):
    add_subscriber(svc.engine, "dee@example.org", topics=[GUT], vocabulary=None)
    from newsletter.web.service.tokens import Purpose, make_token

    token = make_token(
        svc.app.extensions["newsletter_service"].keyring, Purpose.PREFERENCES, "dee@example.org"
    )
    shown = svc.client.get(f"/preferences?token={token}").get_data(as_text=True)
    assert "were set by the editor" in shown and "checked" not in consent_box(shown)
    svc.client.post("/preferences", data={"token": token, "pause": "keep"})
    assert person_data(svc.engine, "dee@example.org")["topics"] == []
    assert consent_events(svc) == [
        ("topics_consent_withdrawn", {"topics_deleted": 1, "consent_was_recorded": False})
    ]


def test_the_privacy_page_says_what_is_held_why_how_long_and_how_to_erase(svc):
    html = unescape(svc.client.get("/privacy").get_data(as_text=True))
    for held in (
        "email address",
        "first name",
        "topics, only with your consent",
        "Larger text",
        "Delivery history",
        "consent log",
        "one-way fingerprint",
        "no tracking pixel",
        "download everything",
        "erase your data",
        "For how long",
    ):
        assert held in html, held
    assert wording(svc) in html and TOPICS_CONSENT_VERSION in html


def test_the_issue_email_footer_links_the_privacy_page(svc):
    from newsletter.render import render_issue
    from newsletter.store.issues import load_issue_content

    issue, summaries = load_issue_content(svc.root, "2026-06")
    rendered = render_issue(svc.settings, issue, summaries)
    url = svc.settings.privacy_url
    assert f'href="{url}"' in rendered.html and url in rendered.text
    # It is the service's own page, where the service is mounted (the folder of the preferences links).
    from newsletter.web.service.settings import service_settings

    assert url == service_settings(svc.settings).base_url + "privacy"
    assert svc.client.get("/privacy").status_code == 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_under_waitress_the_emailed_links_lead_to_consent_withdrawal_and_the_privacy_page(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    sink, controller = start_sink_thread()
    port = free_port()
    svc = start_service(tmp_path, sink, base_url=f"http://127.0.0.1:{port}/")
    running = Running(make_server(svc.app, "127.0.0.1", port, svc.service, per_client=CONNECTIONS))
    try:

        def post(url: str, fields: dict) -> str:
            body = urllib.parse.urlencode(fields, doseq=True).encode()
            with urllib.request.urlopen(urllib.request.Request(url, body), timeout=30) as answer:
                return answer.read().decode()

        signup = urllib.request.urlopen(running.url + "signup", timeout=30).read().decode()
        privacy = re.search(r'href="([^"]+/privacy)"', signup).group(1)
        assert "For how long" in urllib.request.urlopen(privacy, timeout=30).read().decode()
        post(running.url + "signup", signup_form("eve@example.org", topics=[GUT], topics_consent="yes"))
        post(running.url + "confirm", {"token": token_of(link_in(sink.wait_for(1)[0], "confirm"))})
        link = link_in(sink.wait_for(2)[1], "preferences")
        assert "checked" in consent_box(urllib.request.urlopen(link, timeout=30).read().decode())
        assert person_data(svc.engine, "eve@example.org")["topics"] == [GUT]
        post(running.url + "preferences", {"token": token_of(link), "pause": "keep"})
        assert person_data(svc.engine, "eve@example.org")["topics"] == []
    finally:
        running.stop()
        svc.close()
        controller.stop()


def test_the_welcome_email_links_the_privacy_page(svc):
    sign_up(svc, "fay@example.org")
    welcome = svc.sink.wait_for(2)[1]
    from service_helpers import text_of

    url = svc.settings.privacy_url
    assert url in text_of(welcome) and f'href="{url}"' in welcome.get_body(("html",)).get_content()


def test_erasing_removes_the_topics_from_the_delivery_history_too(svc):
    from newsletter.delivery.ledger import Ledger
    from newsletter.delivery.records import NewRecipient

    _, link = sign_up(svc, "gil@example.org", topics=[GUT], topics_consent="yes")
    Ledger(svc.engine).start_run("2026-06", "outbox", ["x"], [NewRecipient("gil@example.org", topics=(GUT,))])
    erased = svc.client.post("/preferences/erase", data={"token": token_of(link), "sure": "yes"})
    assert erased.status_code == 200
    with svc.engine.connect() as connection:
        (row,) = connection.execute(select(t.recipients.c.email, t.recipients.c.topics)).all()
    assert row.email.startswith("erased-") and row.topics == ""
