"""The subscriber service's POST /ses/events: SES bounces and complaints through SNS, verified, applied."""

from __future__ import annotations

from pathlib import Path

import pytest
from bounce_helpers import sent_issue
from sample_workspace import copy_sample_workspace
from service_helpers import service_settings
from test_bounces_sns import REGION, SES_ID, TOPIC, body, cert_server, ses_bounce, signed  # noqa: F401

from newsletter.db.engine import database_url, open_engine
from newsletter.db.revisions import upgrade
from newsletter.db.suppression import is_suppressed
from newsletter.store.config import load_settings
from newsletter.web.service import create_app

SNS_SETTINGS = f"""\
bounces:
  address: bounces@msresearch.example.org
  sns:
    region: {REGION}
    topic_arns: ["{TOPIC}"]
    allow_loopback_for_tests: true
"""


def service(tmp_path: Path, bounces: str = SNS_SETTINGS):
    root = copy_sample_workspace(tmp_path / "ws")
    settings_file = root / "newsletter.yaml"
    settings_file.write_text(settings_file.read_text(encoding="utf-8") + bounces, encoding="utf-8")
    engine = open_engine(database_url(root, None, {}))
    upgrade(engine)
    sent_issue(engine, provider_ids={"bounced@example.com": SES_ID})
    app = create_app(load_settings(root), engine, service=service_settings())
    return app, engine


@pytest.fixture
def app_and_engine(tmp_path):
    app, engine = service(tmp_path)
    yield app, engine
    engine.dispose()


def test_a_signed_permanent_bounce_suppresses_and_a_forged_one_is_refused(app_and_engine, cert_server):  # noqa: F811
    app, engine = app_and_engine
    good = signed(cert_server, ses_bounce("Permanent", "bounced@example.com", "5.1.1", "fb-1", ses_id=SES_ID))
    forged = {**good, "Message": good["Message"].replace("bounced@example.com", "loyal@example.org")}
    headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}

    refused = app.test_client().post("/ses/events", data=body(forged), headers=headers)
    accepted = app.test_client().post("/ses/events", data=body(good), headers=headers)

    assert (refused.status_code, refused.text) == (403, "the signature does not verify\n")
    assert (accepted.status_code, accepted.text) == (200, "bounced@example.com: suppressed\n")
    assert is_suppressed(engine, "bounced@example.com") and not is_suppressed(engine, "loyal@example.org")


def test_an_sns_message_above_the_forms_limit_is_read_and_one_above_256_kb_refused(app_and_engine):
    app, _ = app_and_engine
    client = app.test_client()
    padded = b'{"Type": "Nonsense", "padding": "' + b"x" * 100_000 + b'"}'

    assert client.post("/ses/events", data=padded).status_code == 400  # read whole: not an SNS message
    assert client.post("/ses/events", data=b"x" * 300_000).status_code == 413


def test_without_sns_settings_the_route_says_so(tmp_path):
    app, engine = service(tmp_path, bounces="")
    reply = app.test_client().post("/ses/events", data=b"{}")
    engine.dispose()
    assert (reply.status_code, reply.text) == (
        404,
        "SES events are not configured (bounces.sns in newsletter.yaml)\n",
    )


def test_a_signed_message_over_64_kb_gets_through_waitress_to_the_handler(app_and_engine, cert_server):  # noqa: F811
    """SNS messages run to 256 KB; the server in front must not refuse them before the route does."""
    import urllib.error
    import urllib.request

    from newsletter.web.service.server import Running, make_server

    app, engine = app_and_engine
    message = ses_bounce("Permanent", "bounced@example.com", "5.1.1", "fb-big", ses_id=SES_ID)
    message["Padding"] = "x" * 150_000  # not a signed field: the signature still holds
    data = body(signed(cert_server, message))
    assert 150_000 < len(data) < 256 * 1024
    running = Running(make_server(app, "127.0.0.1", 0, service_settings()))
    try:
        request = urllib.request.Request(running.url + "ses/events", data=data, method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert (answer.status, answer.read()) == (200, b"bounced@example.com: suppressed\n")
        too_big = urllib.request.Request(running.url + "ses/events", data=b"x" * 300_000, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(too_big, timeout=30)
        assert refused.value.code == 413
    finally:
        running.stop()
    assert is_suppressed(engine, "bounced@example.com")
