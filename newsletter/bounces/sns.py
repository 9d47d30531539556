"""Amazon SES events through Amazon SNS: verify the signature, confirm the subscription, decide.

`handle_sns(body, settings, engine)` is independent of any web framework: the subscriber service
mounts it at a route and returns its (status, text). The signing certificate and the subscription
URL are fetched only from `sns.<region>.amazonaws.com` over HTTPS (a test may allow loopback), and
a message is acted on only when its SHA1withRSA (version 1) or SHA256withRSA (version 2)
signature verifies and its signed `Timestamp` is less than an hour old (an old message, however
genuine, is a replay). Bounce Permanent -> suppress; Transient/Undetermined -> count; Complaint ->
suppress; the SES feedback id makes each event count once. An event concerns a recipient only
through SES's id for the message or our Message-ID; one naming only an address is unverified.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import Engine

from newsletter.bounces.classify import Kind
from newsletter.bounces.decide import Limits, decide
from newsletter.bounces.mapping import Match, Recipients
from newsletter.bounces.notice import Failure
from newsletter.bounces.settings import BounceSettings, SnsSettings
from newsletter.bounces.unverified import record_unverified
from newsletter.db.addresses import address_key

Fetch = Callable[[str], bytes]
SOURCE = "ses"
MAX_BODY = 256 * 1024  # SNS messages are at most 256 KB
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_AGE = timedelta(hours=1)  # SNS delivers within seconds and retries for minutes
MAX_AHEAD = timedelta(minutes=5)  # clocks differ a little; a message from the future is forged
_certificates: dict[str, x509.Certificate] = {}  # by URL: SNS signs with few certificates


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # an allowed host must answer itself, not send us elsewhere


def fetch_url(url: str) -> bytes:
    """GET a URL already checked against the allowed hosts (no redirects, 10 s, at most 64 KB)."""
    opener = urllib.request.build_opener(_NoRedirect)
    with opener.open(url, timeout=10) as response:
        return bytes(response.read(64 * 1024))


def allowed_url(url: str, sns: SnsSettings) -> bool:
    """An SNS URL of the configured region over HTTPS (or loopback, when a test allows it)."""
    parts = urlsplit(url)
    if sns.allow_loopback_for_tests and parts.hostname in _LOOPBACK and parts.scheme in ("http", "https"):
        return True
    return (
        parts.scheme == "https" and parts.hostname == f"sns.{sns.region}.amazonaws.com" and not parts.username
    )


def handle_sns(
    body: bytes,
    settings: BounceSettings,
    engine: Engine,
    fetch_cert: Fetch = fetch_url,
    fetch: Fetch = fetch_url,
) -> tuple[int, str]:
    """One POST from SNS -> (HTTP status, text). 403: not from SNS; 400: not an SNS message."""
    sns = settings.sns
    if sns is None:
        return 404, "SES events are not configured (bounces.sns in newsletter.yaml)"
    if len(body) > MAX_BODY:
        return 413, "too large for an SNS message"
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return 400, "not JSON"
    if not isinstance(message, dict) or message.get("Type") not in _SIGNED:
        return 400, "not an SNS message"
    now = datetime.now(UTC)
    problem = verify(message, sns, fetch_cert, now)
    if problem:
        return 403, problem
    kind = message["Type"]
    if kind == "SubscriptionConfirmation":
        url = str(message.get("SubscribeURL", ""))
        if not allowed_url(url, sns):
            return 403, "SubscribeURL is not an SNS address of the configured region"
        try:
            fetch(url)
        except OSError as error:
            return 502, f"could not confirm the subscription ({error}); SNS will send it again"
        return 200, f"subscribed to {message['TopicArn']}"
    if kind == "UnsubscribeConfirmation":
        return 200, "unsubscribe noted"
    return _notification(str(message.get("Message", "")), settings, engine)


def verify(message: dict[str, Any], sns: SnsSettings, fetch_cert: Fetch, now: datetime) -> str:
    """Why the message is not a genuine, fresh SNS message for us, or "" when it is."""
    topic = str(message.get("TopicArn", ""))
    if sns.topic_arns and topic not in sns.topic_arns:
        return "the topic is not one in bounces.sns.topic_arns"
    if topic.split(":")[3:4] != [sns.region]:
        return "the topic is not in the configured region"
    algorithm = _HASHES.get(str(message.get("SignatureVersion", "")))
    if algorithm is None:
        return "unknown SignatureVersion (SNS uses 1 or 2)"
    url = str(message.get("SigningCertURL", ""))
    if not allowed_url(url, sns) or not urlsplit(url).path.endswith(".pem"):
        return "SigningCertURL is not an SNS certificate of the configured region"
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError):
        return "the signature is not base64"
    try:
        certificate = _certificate(url, fetch_cert)
    except (OSError, ValueError) as error:
        return f"cannot get the signing certificate ({error})"
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        return "the signing certificate is not valid now"
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return "the signing certificate has no RSA key"
    try:
        key.verify(signature, string_to_sign(message).encode("utf-8"), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        return "the signature does not verify"
    sent = moment(message.get("Timestamp"))
    if sent is None:
        return "the Timestamp is not an ISO 8601 time"
    if now - sent > MAX_AGE or sent - now > MAX_AHEAD:
        return "the message is dated more than an hour from now (a replay?); nothing was changed"
    return ""


def moment(value: object) -> datetime | None:
    """An ISO 8601 time as SNS and SES write it (`2026-05-01T13:05:00.000Z`) in UTC, else None."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def string_to_sign(message: dict[str, Any]) -> str:
    """The canonical form SNS signs: each present field's name and value, one a line, in a fixed order."""
    fields = _SIGNED[str(message["Type"])]
    return "".join(f"{name}\n{message[name]}\n" for name in fields if name in message)


def _certificate(url: str, fetch_cert: Fetch) -> x509.Certificate:
    if url not in _certificates:
        _certificates[url] = x509.load_pem_x509_certificate(fetch_cert(url))
    return _certificates[url]


def _notification(text: str, settings: BounceSettings, engine: Engine) -> tuple[int, str]:
    try:
        event = json.loads(text)
    except json.JSONDecodeError:
        return 400, "the notification's Message is not JSON"
    if not isinstance(event, dict):
        return 400, "the notification's Message is not an SES event"
    kind = event.get("notificationType") or event.get("eventType")  # notifications vs. event publishing
    if kind not in ("Bounce", "Complaint"):
        return 200, f"ignored: {kind or 'unknown'} event"
    failures, feedback_id = _failures(event)
    if not feedback_id:
        return 400, "the SES event has no feedbackId"
    given = event.get("mail")
    mail: dict[str, Any] = given if isinstance(given, dict) else {}
    recipients = Recipients(engine, b"", settings.address)
    limits = Limits(settings.soft_limit, settings.soft_window_issues)
    found = _find(recipients, mail)
    if found is None:  # never a guess; SNS is answered 200 so it does not retry what cannot match later
        named = ", ".join(f.email or "a redacted recipient" for f in failures)
        why = f"unverified: no message of ours matches this event ({named}); nothing was changed"
        first = next((f.email for f in failures if f.email), "")
        record_unverified(engine, f"ses:{feedback_id}", first, SOURCE, why)
        return 200, why
    happened = _event_time(event, mail)
    done = []
    for failure in failures:  # SES names each recipient of the message; ours have one
        if failure.email and address_key(failure.email) != address_key(found[1]):
            why = f"unverified: {failure.email} did not receive this message"
            record_unverified(
                engine, f"ses:{feedback_id}:{address_key(failure.email)}", failure.email, SOURCE, why
            )
            done.append(why)
            continue
        decision = decide(
            engine, Match(failure, found[0], found[1], "ses"), f"ses:{feedback_id}", SOURCE, limits, happened
        )
        done.append(f"{decision.email}: {decision.outcome}")
    return 200, "; ".join(done) or "nothing to do"


def _failures(event: dict[str, Any]) -> tuple[list[Failure], str]:
    if event.get("notificationType", event.get("eventType")) == "Bounce":
        bounce = event.get("bounce") or {}
        kind = Kind.HARD if bounce.get("bounceType") == "Permanent" else Kind.SOFT
        default = "5.0.0" if kind == Kind.HARD else "4.0.0"
        failures = [
            Failure(
                str(r.get("emailAddress", "")),
                kind,
                str(r.get("status") or default),
                " ".join(str(r.get("diagnosticCode") or f"SES {bounce.get('bounceSubType', '')}").split())[
                    :500
                ],
            )
            for r in bounce.get("bouncedRecipients") or []
            if isinstance(r, dict)
        ]
        return failures, str(bounce.get("feedbackId", ""))
    complaint = event.get("complaint") or {}
    feedback = str(complaint.get("complaintFeedbackType") or "abuse")
    if feedback == "not-spam":
        return [], str(complaint.get("feedbackId", ""))
    agent = str(complaint.get("userAgent") or "SES complaint")
    failures = [
        Failure(str(r.get("emailAddress", "")), Kind.COMPLAINT, feedback, agent)
        for r in complaint.get("complainedRecipients") or []
        if isinstance(r, dict)
    ]
    return failures, str(complaint.get("feedbackId", ""))


def _event_time(event: dict[str, Any], mail: dict[str, Any]) -> datetime | None:
    """When SES says the bounce or complaint happened, else when it sent the message."""
    report = event.get("bounce") or event.get("complaint")
    given = report.get("timestamp") if isinstance(report, dict) else None
    return moment(given) or moment(mail.get("timestamp"))


def _find(recipients: Recipients, mail: dict[str, Any]) -> tuple[str, str] | None:
    """The message's recipient: by SES's message id (the provider id we stored), else our Message-ID."""
    if mail.get("messageId"):
        found = recipients.by_provider_id(str(mail["messageId"]))
        if found:
            return found
    given = mail.get("commonHeaders")
    common: dict[str, Any] = given if isinstance(given, dict) else {}
    if common.get("messageId"):
        found = recipients.by_message_id(str(common["messageId"]))
        if found:
            return found
    return None
