"""The subscriber service through Flask's test client, with its real database and a real SMTP sink.

Sign up, confirm, welcome, preferences, one-click unsubscribe, your data; and every kind of bad input.
"""

from __future__ import annotations

import json
import logging
import re
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest
from service_helpers import (
    SECRET,
    Service,
    link_in,
    signup_form,
    start_service,
    start_sink_thread,
    text_of,
    token_of,
)
from sqlalchemy import func, select

from newsletter.db import schema as t
from newsletter.db.audience import person_data
from newsletter.db.suppression import is_suppressed
from newsletter.mail.tokens import make_token as list_token


def confirmed_reader(svc: Service, email: str = "ann@example.org", **fields) -> str:
    """Sign up and confirm `email`; returns the preferences link from the welcome email."""
    client = svc.client
    before = len(svc.sink.messages)
    assert client.post("/signup", data=signup_form(email, **fields)).status_code == 200
    confirm = link_in(svc.sink.wait_for(before + 1)[-1], "confirm")
    assert client.post("/confirm", data={"token": token_of(confirm)}).status_code == 200
    return link_in(svc.sink.wait_for(before + 2)[-1], "preferences")


def people(svc: Service) -> int:
    with svc.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(t.subscribers)).scalar_one()


def test_signup_sends_a_confirmation_and_stores_nothing_until_the_post(svc):
    client = svc.client
    form = client.get("/signup").get_data(as_text=True)
    assert (
        'name="consent" value="yes" required' in form
        and "checked" not in form.split('name="consent"')[1][:80]
    )

    answer = client.post(
        "/signup",
        data=signup_form(
            "Ann@Example.org", first_name="Ann", topics=["Gut and microbiome"], topics_consent="yes"
        ),
    )
    assert answer.status_code == 200 and "Check your inbox" in answer.get_data(as_text=True)
    (confirm_email,) = svc.sink.wait_for(1)
    assert confirm_email["To"] == "Ann <Ann@example.org>"
    assert confirm_email["Subject"] == "Confirm your subscription to MS Research Roundup"
    assert confirm_email["Auto-Submitted"] == "auto-generated" and confirm_email["List-Unsubscribe"] is None
    assert "Hi Ann," in text_of(confirm_email)
    link = link_in(confirm_email, "confirm")
    assert people(svc) == 0

    page = client.get(link.removeprefix("http://127.0.0.1:8030"))  # a link scanner opening it
    assert page.status_code == 200 and "Yes, subscribe me" in page.get_data(as_text=True)
    assert people(svc) == 0

    done = client.post("/confirm", data={"token": token_of(link)})
    assert done.status_code == 200 and "You are subscribed" in done.get_data(as_text=True)
    data = person_data(svc.engine, "ann@example.org")
    assert data is not None and data["first_name"] == "Ann" and data["topics"] == ["Gut and microbiome"]
    (membership,) = data["lists"]
    assert membership["status"] == "subscribed" and membership["consent_source"] == "form"
    assert membership["consent_form_version"] == "1" and membership["consent_ip"] is None
    assert membership["consent_at"]

    welcome = svc.sink.wait_for(2)[1]
    assert welcome["Subject"] == "Welcome to MS Research Roundup"
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert welcome["List-Id"] == "MS Research Roundup <roundup.msresearch.example.org>"
    assert welcome["List-Unsubscribe"].startswith("<http://127.0.0.1:8030/unsubscribe?token=")
    body = text_of(welcome)
    assert "once a month" in body and "Gut and microbiome" in body and "/preferences?token=" in body
    # Nothing was sent yet: the welcome points at the archive, naming no issue.
    assert welcome.get_body(("html",)).get_content().count("See the issues so far") == 1
    assert f"The issues so far:\r\n{svc.settings.archive_url}\r\n" in body


def test_the_answer_is_the_same_for_a_known_address(svc):
    confirmed_reader(svc, "known@example.org")
    known = svc.client.post("/signup", data=signup_form("known@example.org"))
    new = svc.client.post("/signup", data=signup_form("new@example.org"))
    assert known.status_code == new.status_code == 200
    assert known.get_data() == new.get_data()
    svc.sink.wait_for(4)  # both get an email; only the inbox's owner learns anything


def test_confirming_keeps_the_ip_only_when_the_settings_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    sink, controller = start_sink_thread()
    svc = start_service(tmp_path, sink, keep_ip=True, form_version="2026-06 wording")
    try:
        confirmed_reader(svc, "ip@example.org")
        (membership,) = person_data(svc.engine, "ip@example.org")["lists"]
        assert (
            membership["consent_ip"] == "127.0.0.1"
            and membership["consent_form_version"] == "2026-06 wording"
        )
    finally:
        svc.close()
        controller.stop()


def test_a_bot_filling_the_hidden_field_gets_the_same_answer_and_no_email(svc):
    bot = svc.client.post("/signup", data=signup_form("bot@example.org", website="http://spam.example"))
    person = svc.client.post("/signup", data=signup_form("person@example.org"))
    assert bot.get_data() == person.get_data()
    svc.sink.wait_for(1)
    assert svc.mail.wait_idle(5) and [r for r, _ in svc.sink.received] == ["person@example.org"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"email": "not-an-address"}, "Enter an email address such as name@example.org."),
        ({"email": "ann@example.org\r\nBcc: x@evil.example"}, "contains a line break"),
        ({"first_name": "Ann\r\nBcc: x@evil.example"}, "The first name contains a line break"),
        ({"first_name": "Ann\x07"}, "control character"),
        ({"first_name": "A" * 10_000}, "at most 100 characters"),
        ({"first_name": "Eve <eve@evil.example>"}, "cannot contain &lt;, &gt; or @"),
        ({"consent": ""}, "Tick the box to agree"),
        ({"topics": ["Not a topic"]}, "Choose topics from the list."),
    ],
)
def test_bad_signups_are_returned_with_the_problem_and_nothing_is_sent(svc, fields, problem):
    answer = svc.client.post("/signup", data={**signup_form("ann@example.org"), **fields})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert problem in page and 'aria-invalid="true"' in page
    assert "A" * 200 not in page  # a 10,000-character name is not echoed back
    assert svc.mail.wait_idle(2) and svc.sink.count() == 0


def test_a_10_mb_body_is_refused_with_413(svc):
    answer = svc.client.post(
        "/signup", data=b"email=" + b"a" * 10_000_000, content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 413 and "Too much data sent" in answer.get_data(as_text=True)
    assert svc.sink.count() == 0


def test_one_client_signing_up_too_often_gets_429(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    sink, controller = start_sink_thread()
    svc = start_service(tmp_path, sink, ip_limit=3, address_limit=1)
    try:
        codes = [
            svc.client.post("/signup", data=signup_form(f"r{n}@example.org")).status_code for n in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        svc.sink.wait_for(3)
    finally:
        svc.close()
        controller.stop()


def test_one_address_gets_a_limited_number_of_emails_with_the_same_answer(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    sink, controller = start_sink_thread()
    svc = start_service(tmp_path, sink, address_limit=2)
    try:
        answers = [svc.client.post("/signup", data=signup_form("ann@example.org")) for _ in range(4)]
        assert {a.status_code for a in answers} == {200} and len({a.get_data() for a in answers}) == 1
        assert svc.mail.wait_idle(5) and svc.sink.count() == 2
    finally:
        svc.close()
        controller.stop()


def test_confirm_links_that_are_forged_truncated_expired_or_for_another_page_change_nothing(svc):
    svc.client.post("/signup", data=signup_form("ann@example.org"))
    token = token_of(link_in(svc.sink.wait_for(1)[0], "confirm"))
    preferences = token_of(confirmed_reader(svc, "bob@example.org"))
    payload, stamp, mac = token.split(".")
    for bad, words in (
        (token[:-6], "This link is not valid"),
        (f"{payload}.{stamp}.{mac[::-1]}", "This link is not valid"),
        ("", "This link is not valid"),
        ("x" * 5000, "This link is not valid"),
        (preferences, "This link is meant for another page"),
    ):
        answer = svc.client.post("/confirm", data={"token": bad})
        assert answer.status_code == 400 and words in answer.get_data(as_text=True)
    assert person_data(svc.engine, "ann@example.org") is None


def test_a_confirm_link_expires_after_the_configured_days(svc):
    from datetime import UTC, datetime, timedelta

    svc.client.post("/signup", data=signup_form("ann@example.org"))
    token = token_of(link_in(svc.sink.wait_for(1)[0], "confirm"))
    context = svc.app.extensions["newsletter_service"]
    later = datetime.now(UTC) + timedelta(days=7, minutes=1)
    svc.app.extensions["newsletter_service"] = context.__class__(
        **{**context.__dict__, "clock": lambda: later}
    )
    answer = svc.client.post("/confirm", data={"token": token})
    assert answer.status_code == 400 and "This link has expired" in answer.get_data(as_text=True)
    assert person_data(svc.engine, "ann@example.org") is None


def test_a_confirm_link_sent_before_an_unsubscribe_does_not_resubscribe(svc):
    svc.client.post("/signup", data=signup_form("ann@example.org"))
    token = token_of(link_in(svc.sink.wait_for(1)[0], "confirm"))
    assert svc.client.post("/confirm", data={"token": token}).status_code == 200
    one_click = list_token(SECRET.encode(), svc.settings.list_id, "ann@example.org")
    svc.client.post(f"/unsubscribe?token={one_click}", data={"List-Unsubscribe": "One-Click"})
    again = svc.client.post("/confirm", data={"token": token})
    assert again.status_code == 400 and "You unsubscribed after this link was sent" in again.get_data(
        as_text=True
    )
    assert is_suppressed(svc.engine, "ann@example.org")


def test_one_click_unsubscribe_with_the_token_live_emails_carry(svc):
    confirmed_reader(svc, "ann@example.org")
    token = list_token(SECRET.encode(), svc.settings.list_id, "ann@example.org")
    shown = svc.client.get(f"/unsubscribe?token={token}")
    assert shown.status_code == 200 and not is_suppressed(svc.engine, "ann@example.org")
    wrong = svc.client.post(f"/unsubscribe?token={token}", data={"List-Unsubscribe": "Yes"})
    assert wrong.status_code == 400 and not is_suppressed(svc.engine, "ann@example.org")
    done = svc.client.post(f"/unsubscribe?token={token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    assert is_suppressed(svc.engine, "ann@example.org")
    other_list = list_token(SECRET.encode(), "other.example.org", "ann@example.org")
    assert (
        svc.client.post(
            f"/unsubscribe?token={other_list}", data={"List-Unsubscribe": "One-Click"}
        ).status_code
        == 400
    )


def test_preferences_change_in_one_click_and_say_what_changed(svc):
    link = confirmed_reader(svc, "ann@example.org", first_name="Ann")
    token = token_of(link)
    page = svc.client.get(f"/preferences?token={token}").get_data(as_text=True)
    assert 'value="Ann"' in page and "Pause for 3 months" in page
    saved = svc.client.post(
        "/preferences",
        data={
            "token": token,
            "first_name": "Annie",
            "topics": ["Immune cells and inflammation", "Treatments and care"],
            "topics_consent": "yes",
            "large_text": "yes",
            "pause": "3",
        },
    )
    text = saved.get_data(as_text=True)
    assert saved.status_code == 200
    assert "Your first name is now Annie." in text
    assert "Your topics: Immune cells and inflammation, Treatments and care." in text
    assert "You will get the larger-text edition." in text and "Paused until " in text
    data = person_data(svc.engine, "ann@example.org")
    assert data["first_name"] == "Annie" and data["large_text"] is True and data["paused_until"]
    same = svc.client.post(
        "/preferences",
        data={
            "token": token,
            "first_name": "Annie",
            "large_text": "yes",
            "pause": "keep",
            "topics": ["Immune cells and inflammation", "Treatments and care"],
            "topics_consent": "yes",
        },
    )
    assert "Nothing changed" in same.get_data(as_text=True)


def test_the_reader_downloads_their_data_and_erases_it(svc):
    token = token_of(confirmed_reader(svc, "ann@example.org", first_name="Ann"))
    download = svc.client.post("/preferences/data", data={"token": token})
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    data = json.loads(download.get_data(as_text=True))
    assert data["email"] == "ann@example.org" and [e["kind"] for e in data["events"]] == ["subscribed"]
    unsure = svc.client.post("/preferences/erase", data={"token": token})
    assert unsure.status_code == 400 and person_data(svc.engine, "ann@example.org") is not None
    erased = svc.client.post("/preferences/erase", data={"token": token, "sure": "yes"})
    assert erased.status_code == 200 and "Your data is erased" in erased.get_data(as_text=True)
    assert person_data(svc.engine, "ann@example.org") is None and is_suppressed(svc.engine, "ann@example.org")


def test_every_page_forbids_framing_scripts_and_referrers(svc):
    for path in ("/signup", "/health", "/unsubscribe?token=nope", "/nowhere"):
        headers = svc.client.get(path).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "no-referrer"


def test_redirects_go_only_to_configured_origins(svc):
    good = svc.client.post(
        "/signup", data=signup_form("a@example.org", next="https://msresearch.example.org/thanks")
    )
    assert good.status_code == 303 and good.headers["Location"] == "https://msresearch.example.org/thanks"
    for evil in (
        "https://evil.example/",
        "//evil.example/",
        "javascript:alert(1)",
        "https://msresearch.example.org.evil.example/",
    ):
        answer = svc.client.post("/signup", data=signup_form("a@example.org", next=evil))
        assert answer.status_code == 200 and "Location" not in answer.headers


def test_the_access_log_names_routes_never_tokens_or_addresses(svc, caplog):
    caplog.set_level(logging.INFO)
    token = token_of(confirmed_reader(svc, "ann@example.org"))
    svc.client.get(f"/preferences?token={token}")
    access = [json.loads(r.getMessage()) for r in caplog.records if r.name == "newsletter.service.access"]
    assert {"/signup", "/confirm", "/preferences"} <= {a["route"] for a in access}
    ours = [r for r in caplog.records if r.name.startswith("newsletter")]  # not the SMTP sink's own log
    everything = "\n".join(r.getMessage() for r in ours)
    assert token not in everything and "ann@example.org" not in everything


def test_health_says_ok(svc):
    answer = svc.client.get("/health")
    assert answer.status_code == 200 and answer.get_json() == {
        "status": "ok",
        "database": "ok",
        "mail": "ok",
        "mail_waiting": 0,
        "oldest_mail_seconds": 0.0,
    }


def test_a_broken_workspace_email_template_stops_the_service_at_start(tmp_path, monkeypatch):
    from sample_workspace import copy_sample_workspace
    from service_helpers import service_settings

    from newsletter import render
    from newsletter.db.engine import database_url, open_engine
    from newsletter.db.revisions import upgrade
    from newsletter.errors import RenderError
    from newsletter.store.config import load_settings
    from newsletter.web.service import create_app

    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    root = copy_sample_workspace(tmp_path / "ws")
    (root / "templates").mkdir()
    (root / "templates" / "confirm.txt").write_text("{% if %}\n")
    engine = open_engine(database_url(root, None, {}))
    upgrade(engine)
    render.environment.cache_clear()
    with pytest.raises(RenderError, match=r"confirm.txt:1: template error"):
        create_app(load_settings(root), engine, service=service_settings())
    engine.dispose()


def form_target(page_url: str, html: str, button: str) -> tuple[str, dict[str, str]]:
    """Where a browser posts the form holding `button`, and its hidden fields: the action as written."""
    form = next(f for f in re.findall(r"<form\b.*?</form>", html, re.S) if button in f)
    action = re.search(r'action="([^"]*)"', form)
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    target = urlsplit(urljoin(page_url, unescape(action.group(1) if action else "")))
    return target.path + (f"?{target.query}" if target.query else ""), {
        k: unescape(v) for k, v in hidden.items()
    }


def test_a_long_address_with_every_topic_confirms_through_the_emailed_link(svc):
    """Two or more topics made a token itsdangerous compresses; the link in the email must still work."""
    email = "firstname.middle-names.lastname+newsletter-" + "x" * 40 + "@research.hospital.example.org"
    topics = [
        "Gut and microbiome",
        "Immune cells and inflammation",
        "Diagnosis and monitoring",
        "Treatments and care",
    ]
    assert (
        svc.client.post(
            "/signup", data=signup_form(email, first_name="Zoë", topics=topics, topics_consent="yes")
        ).status_code
        == 200
    )
    link = link_in(svc.sink.wait_for(1)[0], "confirm")
    shown = svc.client.get(link)  # the whole URL, as the reader's browser opens it
    assert shown.status_code == 200, shown.get_data(as_text=True)
    path, fields = form_target(link, shown.get_data(as_text=True), "Yes, subscribe me")
    done = svc.client.post(path, data=fields)
    assert done.status_code == 200 and "You are subscribed" in done.get_data(as_text=True)
    assert sorted(person_data(svc.engine, email)["topics"]) == sorted(topics)

    welcome = svc.sink.wait_for(2)[1]
    assert svc.client.get(link_in(welcome, "preferences")).status_code == 200
    one_click = re.search(r"<(https?://[^>]+)>", welcome["List-Unsubscribe"]).group(1)
    done = svc.client.post(one_click, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and is_suppressed(svc.engine, email)


def test_an_erase_returned_for_its_box_posts_to_the_erase_url_again(svc):
    """The page that says 'tick the box' is shown at /preferences/erase: its forms must still post right."""
    link = confirmed_reader(svc, "ann@example.org")
    unsure = svc.client.post("/preferences/erase", data={"token": token_of(link)})
    assert unsure.status_code == 400
    path, fields = form_target(
        "http://127.0.0.1:8030/preferences/erase", unsure.get_data(as_text=True), "Erase my data"
    )
    assert path == "/preferences/erase"
    erased = svc.client.post(path, data={**fields, "sure": "yes"})
    assert erased.status_code == 200 and person_data(svc.engine, "ann@example.org") is None


def test_signing_up_again_ends_a_pause_and_says_so(svc):
    token = token_of(confirmed_reader(svc, "ann@example.org"))
    svc.client.post("/preferences", data={"token": token, "pause": "3"})
    assert person_data(svc.engine, "ann@example.org")["paused_until"]
    before = len(svc.sink.messages)
    svc.client.post("/signup", data=signup_form("ann@example.org"))
    confirm = link_in(svc.sink.wait_for(before + 1)[-1], "confirm")
    done = svc.client.post("/confirm", data={"token": token_of(confirm)}).get_data(as_text=True)
    assert "Your pause has ended: the next issue comes as usual." in done
    assert person_data(svc.engine, "ann@example.org")["paused_until"] is None


def test_the_welcome_names_the_newest_sent_issue_and_the_export_carries_deliveries(svc):
    from bounce_helpers import sent_issue

    from newsletter.store.issues import load_issue_content

    sent_issue(svc.engine, "2026-06", {"bob@example.org": "<2026-06.abc@msresearch.example.org>"})
    due_unsent = (svc.root / "issues" / "2026-06.yaml").read_text().replace("June 2026", "July 2026")
    (svc.root / "issues" / "2026-07.yaml").write_text(due_unsent.replace("2026-06-02T", "2026-07-02T"))
    confirmed_reader(svc, "ann@example.org")
    welcome = text_of(svc.sink.wait_for(2)[1]).replace("\r\n", "\n")
    assert (
        f"Read the latest issue, MS Research Roundup, June 2026:\n{svc.settings.archive_url}2026-06/"
        in welcome
    )
    assert "2026-07" not in welcome and "July" not in welcome
    _, summaries = load_issue_content(svc.root, "2026-06")
    flat = " ".join(welcome.split())
    assert all(f"- {' '.join(s.title.split())}" in flat for s in summaries.values())  # what it brought
    bob = list_token(SECRET.encode(), svc.settings.list_id, "bob@example.org")  # his issue's own link
    data = json.loads(svc.client.post("/preferences/data", data={"token": bob}).get_data(as_text=True))
    [delivery] = data["deliveries"]
    assert (delivery["issue"], delivery["state"]) == ("2026-06", "sent") and delivery["sent_at"]


def test_mail_stuck_past_the_limit_fails_health_and_a_restart_sends_it(tmp_path, monkeypatch):
    """The confirm email waits in the database while the provider is down; the next start sends it."""
    import dataclasses

    from service_helpers import service_settings

    from newsletter.providers import open_provider
    from newsletter.web.service import create_app
    from newsletter.web.service.mailqueue import MailQueue

    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    sink, controller = start_sink_thread()
    working = start_service(tmp_path, sink)
    working.mail.close(timeout=1)
    down = dataclasses.replace(working.settings, provider="smtp://127.0.0.1:9?starttls=no")  # nothing listens
    failing = MailQueue(working.engine, lambda: open_provider(None, down), workers=1, backoff=(3600,))
    app = create_app(
        working.settings, working.engine, service=service_settings(mail_wait_limit=0), mail=failing
    )
    try:
        assert app.test_client().post("/signup", data=signup_form("ann@example.org")).status_code == 200
        with working.engine.connect() as connection:  # the first attempt failed and set the next one
            tried = lambda: connection.execute(select(t.service_mail.c.attempts)).scalar()  # noqa: E731
            assert failing.wait_idle(0) is False
            while not tried():
                connection.rollback()
        health = app.test_client().get("/health")
        assert health.status_code == 503 and health.get_json()["mail"] == "delayed"
        assert health.get_json()["mail_waiting"] == 1
        failing.close(timeout=0)  # the service stops: the email stays in the database

        restarted = MailQueue(working.engine, lambda: open_provider(None, working.settings), workers=1)
        try:
            (confirm,) = sink.wait_for(1)
            assert confirm["Subject"] == "Confirm your subscription to MS Research Roundup"
            assert restarted.wait_idle(10) and restarted.pending() == 0
        finally:
            restarted.close(timeout=2)
    finally:
        working.engine.dispose()
        controller.stop()
