"""SES events through SNS: signed messages from a loopback certificate server, posted over loopback HTTP."""

from __future__ import annotations

import base64
import datetime
import json
import threading
import urllib.error
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
from bounce_helpers import BOUNCE_TO, SENT, sent_issue
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from newsletter.bounces.settings import BounceSettings, SnsSettings
from newsletter.bounces.sns import fetch_url, handle_sns, string_to_sign
from newsletter.bounces.unverified import unverified_counts
from newsletter.db.subscribers import add_subscriber
from newsletter.db.suppression import is_suppressed, unsubscribe

REGION = "eu-west-1"
TOPIC = f"arn:aws:sns:{REGION}:123456789012:ses-events"
SES_ID = "0102018f3a1b2c3d-11111111-2222-3333-4444-555555555555-000000"


@dataclass
class CertServer:
    """A loopback HTTP server holding the test's signing certificate and recording every request."""

    key: rsa.RSAPrivateKey
    base: str
    cert_path: str  # a new name each time: certificates are cached by URL
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def cert_server() -> Iterator[CertServer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = cert.public_bytes(serialization.Encoding.PEM)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            seen.append(self.path)
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/cert.pem")
                self.end_headers()
                return
            body = pem if self.path.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield CertServer(
        key, f"http://127.0.0.1:{server.server_address[1]}", f"/SNS-{uuid.uuid4().hex}.pem", seen
    )
    server.shutdown()
    server.server_close()


def settings(loopback: bool = True) -> BounceSettings:
    return BounceSettings(BOUNCE_TO, sns=SnsSettings(REGION, (TOPIC,), allow_loopback_for_tests=loopback))


def sns_time(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def signed(server: CertServer, message: dict, version: str = "2") -> dict:
    message = {
        "MessageId": "9f3c2a44-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
        "TopicArn": TOPIC,
        "Timestamp": sns_time(datetime.datetime.now(datetime.UTC)),
        "SignatureVersion": version,
        "SigningCertURL": f"{server.base}{server.cert_path}",
        **message,
    }
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = server.key.sign(string_to_sign(message).encode(), padding.PKCS1v15(), digest)
    return {**message, "Signature": base64.b64encode(signature).decode()}


def ses_bounce(bounce_type: str, email: str, status: str, feedback: str, **mail) -> dict:
    event = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "feedbackId": feedback,
            "bouncedRecipients": [
                {
                    "emailAddress": email,
                    "status": status,
                    "action": "failed",
                    "diagnosticCode": f"smtp; 550 {status} <{email}>: Recipient address rejected",
                }  # fmt: skip
            ],
        },
        "mail": {"messageId": mail.get("ses_id", "unknown"), "commonHeaders": mail.get("headers", {})},
    }
    return {"Type": "Notification", "Message": json.dumps(event)}


def body(message: dict) -> bytes:
    return json.dumps(message).encode()


def post(message: dict, engine, server: CertServer, **kwargs) -> tuple[int, str]:
    return handle_sns(body(message), settings(), engine, **kwargs)


@pytest.fixture
def engine(db):
    sent_issue(db, provider_ids={"bounced@example.com": SES_ID})
    return db


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_permanent_bounce_signed_with_either_version_suppresses(engine, cert_server, version):
    message = signed(
        cert_server, ses_bounce("Permanent", "bounced@example.com", "5.1.1", "fb-1", ses_id=SES_ID), version
    )

    assert post(message, engine, cert_server) == (200, "bounced@example.com: suppressed")
    assert is_suppressed(engine, "bounced@example.com")
    assert cert_server.requests == [cert_server.cert_path]  # fetched once, then kept
    headers = {"messageId": SENT["gone@example.com"]}  # our Message-ID, as SES quotes it
    again = signed(
        cert_server, ses_bounce("Permanent", "gone@example.com", "5.1.1", "fb-1b", headers=headers), version
    )
    assert post(again, engine, cert_server) == (200, "gone@example.com: suppressed")
    assert cert_server.requests == [cert_server.cert_path]


def test_a_transient_bounce_is_counted_once_however_often_sns_delivers_it(engine, cert_server):
    headers = {"messageId": SENT["slow@example.net"]}
    message = signed(
        cert_server, ses_bounce("Transient", "slow@example.net", "4.2.2", "fb-2", headers=headers)
    )

    assert post(message, engine, cert_server) == (200, "slow@example.net: counted")
    assert post(message, engine, cert_server) == (200, "slow@example.net: already recorded")
    assert not is_suppressed(engine, "slow@example.net")


def test_a_complaint_suppresses(engine, cert_server):
    event = {
        "notificationType": "Complaint",
        "complaint": {
            "feedbackId": "fb-3",
            "complaintFeedbackType": "abuse",
            "userAgent": "Yahoo!-Mail-Feedback/2.0",
            "complainedRecipients": [{"emailAddress": "complainer@yahoo.com"}],
        },  # fmt: skip
        "mail": {"messageId": "x", "commonHeaders": {"messageId": SENT["complainer@yahoo.com"]}},
    }
    message = signed(cert_server, {"Type": "Notification", "Message": json.dumps(event)})

    assert post(message, engine, cert_server) == (200, "complainer@yahoo.com: suppressed")
    assert is_suppressed(engine, "complainer@yahoo.com")


def test_a_tampered_message_is_refused_and_changes_nothing(engine, cert_server):
    message = signed(
        cert_server, ses_bounce("Transient", "bounced@example.com", "4.2.2", "fb-4", ses_id=SES_ID)
    )
    message["Message"] = message["Message"].replace("Transient", "Permanent")

    assert post(message, engine, cert_server) == (403, "the signature does not verify")
    assert not is_suppressed(engine, "bounced@example.com")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (
            "https://sns.evil.example/SimpleNotificationService-1.pem",
            "SigningCertURL is not an SNS certificate",
        ),
        (
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
            "SigningCertURL is not an SNS",
        ),
        (
            f"http://sns.{REGION}.amazonaws.com/SimpleNotificationService-1.pem",
            "SigningCertURL is not an SNS",
        ),
        (f"https://sns.{REGION}.amazonaws.com.evil.example/x.pem", "SigningCertURL is not an SNS"),
    ],
)
def test_a_certificate_anywhere_but_the_regions_sns_is_never_fetched(engine, cert_server, url, why):
    message = signed(
        cert_server, ses_bounce("Permanent", "bounced@example.com", "5.1.1", "fb-5", ses_id=SES_ID)
    )
    message["SigningCertURL"] = url

    def must_not_fetch(url: str) -> bytes:
        raise AssertionError(f"fetched {url}")

    status, text = post(message, engine, cert_server, fetch_cert=must_not_fetch)
    assert status == 403 and text.startswith(why)


def test_loopback_certificates_are_refused_unless_a_test_allows_them(engine, cert_server):
    message = signed(
        cert_server, ses_bounce("Permanent", "bounced@example.com", "5.1.1", "fb-6", ses_id=SES_ID)
    )
    status, _ = handle_sns(body(message), settings(loopback=False), engine)
    assert status == 403 and cert_server.requests == []


def test_another_topic_or_region_is_refused(engine, cert_server):
    message = signed(cert_server, {**ses_bounce("Permanent", "a@b.example", "5.1.1", "fb-7"),
                                   "TopicArn": "arn:aws:sns:eu-west-1:999999999999:other"})  # fmt: skip
    assert post(message, engine, cert_server) == (403, "the topic is not one in bounces.sns.topic_arns")


def test_the_subscription_is_confirmed_at_the_allowed_host_only(engine, cert_server):
    confirm = {
        "Type": "SubscriptionConfirmation",
        "Token": "2336412f37fb687f5d51e6e2425f004a",
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": f"{cert_server.base}/?Action=ConfirmSubscription&Token=2336412f",
    }
    assert post(signed(cert_server, confirm), engine, cert_server) == (200, f"subscribed to {TOPIC}")
    assert cert_server.requests[-1] == "/?Action=ConfirmSubscription&Token=2336412f"

    elsewhere = signed(
        cert_server, {**confirm, "SubscribeURL": "https://evil.example/?Action=ConfirmSubscription"}
    )
    assert post(elsewhere, engine, cert_server) == (
        403,
        "SubscribeURL is not an SNS address of the configured region",
    )


def test_an_event_naming_only_an_address_is_unverified_even_for_a_real_recipient(engine, cert_server):
    for n, email in enumerate(("stranger@example.net", "loyal@example.org")):
        message = signed(cert_server, ses_bounce("Permanent", email, "5.1.1", f"fb-8{n}", ses_id="not-ours"))
        assert post(message, engine, cert_server) == (
            200,
            f"unverified: no message of ours matches this event ({email}); nothing was changed",
        )
        assert not is_suppressed(engine, email)
    # SES's id for one reader's message cannot suppress another reader it names.
    other = signed(cert_server, ses_bounce("Permanent", "loyal@example.org", "5.1.1", "fb-89", ses_id=SES_ID))
    assert post(other, engine, cert_server) == (
        200,
        "unverified: loyal@example.org did not receive this message",
    )
    assert post(other, engine, cert_server)[0] == 200  # SNS delivers again: counted once
    assert not is_suppressed(engine, "loyal@example.org")
    assert unverified_counts(engine)[1] == 3  # `status` shows them


def test_a_replayed_message_older_than_an_hour_is_refused(engine, cert_server):
    now = datetime.datetime.now(datetime.UTC)
    bounce = ses_bounce("Permanent", "bounced@example.com", "5.1.1", "fb-old", ses_id=SES_ID)
    for moment in (now - datetime.timedelta(days=90), now - datetime.timedelta(minutes=61)):
        old = signed(cert_server, {**bounce, "Timestamp": sns_time(moment)})
        status, text = post(old, engine, cert_server)
        assert status == 403 and "more than an hour" in text
    ahead = signed(cert_server, {**bounce, "Timestamp": sns_time(now + datetime.timedelta(hours=2))})
    assert post(ahead, engine, cert_server)[0] == 403
    assert post(signed(cert_server, {**bounce, "Timestamp": "yesterday"}), engine, cert_server)[0] == 403
    assert not is_suppressed(engine, "bounced@example.com")


def test_an_event_dated_before_the_readers_latest_opt_in_suppresses_nobody(engine, cert_server):
    happened = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=30)
    unsubscribe(engine, "bounced@example.com", "left", source="preferences")
    add_subscriber(engine, "bounced@example.com", list_name="readers", resubscribe=True)  # came back since
    message = ses_bounce("Permanent", "bounced@example.com", "5.1.1", "fb-late", ses_id=SES_ID)
    event = json.loads(message["Message"])
    event["bounce"]["timestamp"] = sns_time(happened)
    late = signed(cert_server, {**message, "Message": json.dumps(event)})
    assert post(late, engine, cert_server) == (200, "bounced@example.com: not acted on")
    assert not is_suppressed(engine, "bounced@example.com")
    event["bounce"].update(timestamp=sns_time(datetime.datetime.now(datetime.UTC)), feedbackId="fb-now")
    fresh = signed(cert_server, {**message, "Message": json.dumps(event)})
    assert post(fresh, engine, cert_server) == (200, "bounced@example.com: suppressed")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b"not json", (400, "not JSON")), (b'{"Type": "Other"}', (400, "not an SNS message"))],
)
def test_what_is_not_an_sns_message_is_a_400(engine, raw, expected):
    assert handle_sns(raw, settings(), engine) == expected


def test_posted_over_loopback_http_through_a_wsgi_route(engine, cert_server):
    def app(environ, start_response):  # how the subscriber service mounts it
        size = int(environ.get("CONTENT_LENGTH") or 0)
        status, text = handle_sns(environ["wsgi.input"].read(size), settings(), engine)
        start_response(f"{status} {'OK' if status == 200 else 'Refused'}", [("Content-Type", "text/plain")])
        return [text.encode()]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/ses/events"
        good = signed(
            cert_server, ses_bounce("Permanent", "bounced@example.com", "5.1.1", "fb-9", ses_id=SES_ID)
        )
        forged = {**good, "Message": good["Message"].replace("bounced@example.com", "loyal@example.org")}
        forged_reply = requests.post(url, data=body(forged), timeout=10)
        good_reply = requests.post(url, data=body(good), timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert (forged_reply.status_code, forged_reply.text) == (403, "the signature does not verify")
    assert (good_reply.status_code, good_reply.text) == (200, "bounced@example.com: suppressed")
    assert not is_suppressed(engine, "loyal@example.org") and is_suppressed(engine, "bounced@example.com")


def test_fetch_url_follows_no_redirect(cert_server):
    assert fetch_url(f"{cert_server.base}/cert.pem").startswith(b"-----BEGIN CERTIFICATE-----")
    with pytest.raises(urllib.error.HTTPError, match="302"):
        fetch_url(f"{cert_server.base}/redirect")
    assert cert_server.requests == ["/cert.pem", "/redirect"]
