"""The Amazon SES v2 provider without boto3: `SendEmail` with our exact MIME bytes, signed with AWS SigV4.

With the `ses` extra installed, `providers.ses_boto` sends instead (the full AWS credential chain);
this hand-written client is the fallback, and the reference the boto3 one is tested against.

Sending the raw message (`Content.Raw.Data`) keeps our headers, DKIM signature and
List-Unsubscribe intact. SES v2 sends one raw message per request (its batch API, SendBulkEmail,
takes templates only), so there is no batching. Keys come from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN when set), never from settings or the URL.

The hand-over is the request body: once all of it is sent, SES may act on it, so a timeout or a
dropped connection while waiting for the answer is `unknown` and never retried here. A request that
did not leave whole (a refused connection, a write that failed) is transient.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import select
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from newsletter.errors import DeliveryError
from newsletter.providers.base import OutgoingMessage, Ready, SendResult
from newsletter.providers.shown import printable, shown_url

SERVICE = "ses"
CONNECT_TIMEOUT = 15.0  # seconds to connect and to write the request
RESPONSE_TIMEOUT = 60.0  # seconds to wait for the answer once the request is sent (the AWS SDKs' default)
PATH = "/v2/email/outbound-emails"
# Errors that say "not now" rather than "never": retrying later can succeed.
_TRANSIENT_TYPES = {
    "TooManyRequestsException",
    "LimitExceededException",
    "InternalFailure",
    "ServiceUnavailable",
}
# Errors that concern the account or the keys, not the recipient: stop the run and say why.
_FATAL_TYPES = {
    "AccountSuspendedException",
    "SendingPausedException",
    "MailFromDomainNotVerifiedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AccessDeniedException",
    "ExpiredTokenException",
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def sign_v4(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    service: str,
    when: datetime,
) -> dict[str, str]:
    """The headers of a request signed with AWS Signature Version 4 (`Authorization`, `X-Amz-Date`).

    `headers` must include Host; every header given is signed. Follows the documented steps:
    canonical request, string to sign, derived signing key, signature.
    """
    parts = urlsplit(url)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    signed["x-amz-date"] = amz_date
    names = sorted(signed)
    query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(
            pair.split("=", 1) if "=" in pair else (pair, "") for pair in parts.query.split("&") if pair
        )
    )
    canonical = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/-_.~"),
            query,
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            _sha256(body),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, _sha256(canonical.encode("utf-8"))])
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    result = dict(headers)
    result["X-Amz-Date"] = amz_date
    result["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return result


def _error_type(response: http.client.HTTPResponse, body: bytes) -> tuple[str, str]:
    """(error type, message) from an SES error response (header x-amzn-ErrorType, JSON body)."""
    kind = (response.getheader("x-amzn-ErrorType") or "").split(":")[0]
    message = ""
    try:
        data = json.loads(body or b"{}")
        message = str(data.get("message") or data.get("Message") or "")
        kind = kind or str(data.get("__type") or "").rpartition("#")[2]
    except (ValueError, AttributeError):
        message = body[:200].decode("utf-8", "replace")
    return printable(kind, 100), printable(message, 300)


class SesProvider:
    """Sends each message with one SES v2 SendEmail request over a reused HTTPS connection."""

    name = "ses"

    def __init__(
        self,
        region: str,
        access_key: str,
        secret_key: str,
        session_token: str | None = None,
        endpoint: str | None = None,
        configuration_set: str | None = None,
        timeout: float = RESPONSE_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ):
        self.region = region
        self.endpoint = (endpoint or f"https://email.{region}.amazonaws.com").rstrip("/")
        parts = urlsplit(self.endpoint)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise DeliveryError(f"SES endpoint '{shown_url(self.endpoint)}' is not an http(s) URL")
        self._parts = parts
        self._access_key, self._secret_key, self._token = access_key, secret_key, session_token
        self.configuration_set = configuration_set
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self._conn: http.client.HTTPConnection | None = None

    def __repr__(self) -> str:
        return f"SesProvider({self.region} at {shown_url(self.endpoint)})"

    def _where(self) -> str:
        return shown_url(self.endpoint)

    def _connection(self) -> http.client.HTTPConnection:
        """The open connection, or a new one; a kept-alive one the server has closed is replaced.

        Checking before the request matters: a request written to a connection the server already
        closed fails only when its answer is read, which would look like a hand-over gone wrong.
        """
        if self._conn is not None and closed_by_server(self._conn):
            self.close()
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self._parts.hostname or "", self._parts.port, timeout=self.connect_timeout)
        return self._conn

    def request_for(
        self, message: OutgoingMessage, when: datetime | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The signed headers and JSON body of the SendEmail request for one message."""
        payload: dict[str, object] = {
            "FromEmailAddress": message.sender,
            "Destination": {"ToAddresses": [message.envelope_to]},
            "Content": {"Raw": {"Data": base64.b64encode(message.data).decode("ascii")}},
        }
        if message.envelope_from != message.sender:  # a VERP address: SES forwards bounce emails there
            payload["FeedbackForwardingEmailAddress"] = message.envelope_from
        if self.configuration_set:
            payload["ConfigurationSetName"] = self.configuration_set
        body = json.dumps(payload).encode("utf-8")
        headers = {"Host": self._parts.netloc, "Content-Type": "application/json"}
        if self._token:
            headers["X-Amz-Security-Token"] = self._token
        signed = sign_v4(
            "POST",
            self.endpoint + PATH,
            headers,
            body,
            access_key=self._access_key,
            secret_key=self._secret_key,
            region=self.region,
            service=SERVICE,
            when=when or datetime.now(UTC),
        )
        return signed, body

    def send(self, message: OutgoingMessage, ready: Ready | None = None) -> SendResult:
        headers, body = self.request_for(message)
        if ready is not None:
            ready()
        last_error = ""
        for _attempt in range(2):
            conn = self._connection()
            try:
                conn.request("POST", self._parts.path.rstrip("/") + PATH, body=body, headers=headers)
            except (http.client.HTTPException, OSError) as exc:
                # The request did not leave whole: SES cannot have acted on it. Try a fresh connection.
                self.close()
                last_error = f"cannot reach {self._where()}: {exc}"
                continue
            try:
                if conn.sock is not None:
                    conn.sock.settimeout(self.timeout)
                response = conn.getresponse()
                data = response.read()
                if conn.sock is not None:
                    conn.sock.settimeout(self.connect_timeout)
            except (http.client.HTTPException, OSError) as exc:
                self.close()
                return SendResult(
                    "unknown",
                    f"no answer from {self._where()} after the request was sent"
                    f" ({exc or type(exc).__name__}); SES may have accepted it, so it is not sent again"
                    " unless you ask (--resend-unknown)",
                )
            break
        else:
            return SendResult("transient", last_error)
        if response.status == 200:
            try:
                message_id = json.loads(data).get("MessageId")
            except (ValueError, AttributeError):
                message_id = None
            return SendResult("sent", f"SES accepted ({response.status})", provider_id=message_id)
        kind, text = _error_type(response, data)
        detail = f"{response.status} {kind}: {text}".strip()
        if kind in _FATAL_TYPES or response.status in (401, 403):
            raise DeliveryError(f"SES refused the request ({detail}); check the AWS keys, region and account")
        if kind in _TRANSIENT_TYPES or response.status == 429 or response.status >= 500:
            return SendResult("transient", detail)
        return SendResult("permanent", detail)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def closed_by_server(conn: http.client.HTTPConnection) -> bool:
    """True when an idle kept-alive connection has been closed (or written to) by the server."""
    if conn.sock is None:
        return True
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)  # idle, nothing is due: readable means end of stream or stray bytes


def from_environment(
    region: str,
    endpoint: str | None,
    configuration_set: str | None,
    timeout: float = RESPONSE_TIMEOUT,
) -> SesProvider:
    """An SES provider with its keys from the environment; a missing key is a clear error."""
    access = os.environ.get("AWS_ACCESS_KEY_ID", "")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not access or not secret:
        raise DeliveryError(
            "the ses provider needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
        )
    return SesProvider(
        region,
        access,
        secret,
        os.environ.get("AWS_SESSION_TOKEN") or None,
        endpoint,
        configuration_set,
        timeout,
    )
