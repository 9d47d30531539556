"""The Amazon SES v2 provider against a loopback server that checks the documented request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from message_helpers import reader, tiny_factory

from newsletter.errors import DeliveryError
from newsletter.providers import open_provider
from newsletter.store.config import load_settings

ACCESS, SECRET_KEY, REGION = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-1"


def expected_signature(
    method: str, path: str, headers: dict[str, str], signed: list[str], body: bytes
) -> str:
    """The server's side of Signature V4, written out step by step as AWS documents it."""
    amz_date = headers["x-amz-date"]
    canonical_headers = "".join(f"{h}:{headers[h].strip()}\n" for h in signed)
    canonical_request = "\n".join(
        [method, path, "", canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()]
    )
    scope = f"{amz_date[:8]}/{REGION}/ses/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (amz_date[:8], REGION, "ses", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class FakeSes:
    """A loopback SES v2 endpoint: checks each request, answers from a script of responses."""

    def __init__(self):
        self.requests: list[dict] = []
        self.problems: list[str] = []
        self.script: list[tuple[int, dict, str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.check(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                status, payload, error_type = (
                    fake.script.pop(0) if fake.script else (200, {"MessageId": "m-1"}, None)
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def check(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                self.problems.append(what)

        need(method == "POST", f"method {method}")
        need(path == "/v2/email/outbound-emails", f"path {path}")
        need(headers.get("content-type") == "application/json", "content-type")
        auth = headers.get("authorization", "")
        day = headers.get("x-amz-date", "")[:8]
        prefix = f"AWS4-HMAC-SHA256 Credential={ACCESS}/{day}/{REGION}/ses/aws4_request, "
        need(auth.startswith(prefix), f"authorization {auth}")
        signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";") if "SignedHeaders=" in auth else []
        need({"host", "x-amz-date", "content-type"} <= set(signed), f"signed headers {signed}")
        signature = auth.rpartition("Signature=")[2]
        need(signature == expected_signature(method, path, headers, signed, body), "signature")
        request = json.loads(body)
        self.requests.append(request)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ses(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    fake = FakeSes()
    yield fake
    fake.close()


@pytest.fixture
def outgoing(workspace):
    factory = tiny_factory(workspace)
    return factory.settings, lambda email: factory.build(reader(email))


def test_send_email_raw_request_as_documented(ses, outgoing):
    settings, make = outgoing
    provider = open_provider(f"ses://{REGION}?endpoint={ses.url}", settings)
    message = make("ana@example.com")
    result = provider.send(message)
    second = provider.send(make("ben@example.com"))
    provider.close()
    assert ses.problems == []
    assert result.ok and second.ok and result.provider_id == "m-1"
    request = ses.requests[0]
    assert base64.b64decode(request["Content"]["Raw"]["Data"]) == message.data  # our exact bytes
    assert request["Destination"] == {"ToAddresses": ["ana@example.com"]}
    assert request["FromEmailAddress"] == "roundup@msresearch.example.org"


def test_error_responses_map_to_transient_permanent_or_stop(ses, outgoing):
    settings, make = outgoing
    ses.script = [
        (429, {"message": "Maximum sending rate exceeded."}, "TooManyRequestsException"),
        (400, {"message": "Email address is not verified."}, "MessageRejected"),
        (500, {"message": "Internal failure"}, "InternalFailure"),
        (400, {"message": "Account suspended"}, "AccountSuspendedException"),
    ]
    provider = open_provider(f"ses://{REGION}?endpoint={ses.url}", settings)
    throttled, rejected, broken = (provider.send(make(f"r{i}@example.com")) for i in range(3))
    assert throttled.status == "transient" and "TooManyRequestsException" in throttled.detail
    assert rejected.status == "permanent" and "Email address is not verified." in rejected.detail
    assert broken.status == "transient"
    with pytest.raises(DeliveryError, match="AccountSuspendedException"):
        provider.send(make("r3@example.com"))
    provider.close()
    assert ses.problems == []


def test_keys_come_from_the_credential_chain(monkeypatch, workspace, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(DeliveryError, match="found no AWS credentials"):
        open_provider("ses://eu-west-1", load_settings(workspace))
    with pytest.raises(DeliveryError, match="endpoint must be an https URL"):
        open_provider("ses://eu-west-1?endpoint=http://ses.example.com", load_settings(workspace))


def test_without_the_ses_extra_the_provider_says_how_to_install_it(monkeypatch, workspace):
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` fails as when it is not installed
    with pytest.raises(DeliveryError, match=r"pip install 'newsletter\[ses\]'"):
        open_provider("ses://eu-west-1", load_settings(workspace))


def test_boto3_finds_the_keys_of_a_shared_profile(monkeypatch, tmp_path, outgoing):
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[newsletter]\naws_access_key_id = {ACCESS}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "newsletter")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeSes()
    try:
        settings, make = outgoing
        provider = open_provider(f"ses://{REGION}?endpoint={fake.url}", settings)
        result = provider.send(make("ana@example.com"))
        provider.close()
    finally:
        fake.close()
    assert result.ok and fake.problems == []  # signed with the profile's keys


def test_a_verp_envelope_sender_becomes_the_feedback_address_and_from_stays_the_author(ses, workspace):
    from message_helpers import tiny_factory

    factory = tiny_factory(workspace)
    factory.bounce_to = "bounces@msresearch.example.org"
    provider = open_provider(f"ses://{REGION}?endpoint={ses.url}", factory.settings)
    message = factory.build(reader("ana@example.com"))
    assert provider.send(message).ok
    provider.close()
    request = ses.requests[0]
    assert request["FromEmailAddress"] == "roundup@msresearch.example.org"
    assert request["FeedbackForwardingEmailAddress"] == message.envelope_from
    assert message.envelope_from.startswith("bounces+")
