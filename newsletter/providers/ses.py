"""The Amazon SES v2 provider through boto3 (the `ses` extra): raw MIME, the standard credential chain.

boto3 finds credentials where AWS tools do (environment, shared profiles, SSO, container and
instance roles) and signs each request itself. The message goes as `Content.Raw.Data`, our exact
bytes, so headers, DKIM and List-Unsubscribe are kept. SES v2 sends one raw message per request
(its batch API, SendBulkEmail, takes templates only), so there is no batching.

botocore's own retries are switched off: a retry after a read timeout could send a message twice.
The hand-over is the request body: once all of it is sent, SES may act on it, so a timeout or a
dropped connection while waiting for the answer is `unknown` and never retried here. A request that
never left (a refused connection) is transient.
"""

from __future__ import annotations

from typing import Any

from newsletter.errors import DeliveryError
from newsletter.providers.base import OutgoingMessage, Ready, SendResult
from newsletter.text import printable, shown_url

CONNECT_TIMEOUT = 15.0  # seconds to connect and to write the request
RESPONSE_TIMEOUT = 60.0  # seconds to wait for the answer once the request is sent (the AWS SDKs' default)
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


def send_email_args(message: OutgoingMessage, configuration_set: str | None) -> dict[str, Any]:
    """The SendEmail parameters for one message: raw MIME, and bounces to its envelope sender."""
    args: dict[str, Any] = {
        "FromEmailAddress": message.sender,
        "Destination": {"ToAddresses": [message.envelope_to]},
        "Content": {"Raw": {"Data": message.data}},
    }
    if message.envelope_from != message.sender:
        # A VERP bounce address: SES forwards bounce and complaint emails there (it sets the
        # envelope sender itself).
        args["FeedbackForwardingEmailAddress"] = message.envelope_from
    if configuration_set:
        args["ConfigurationSetName"] = configuration_set
    return args


class SesProvider:
    """Sends each message with one SES v2 SendEmail call of a boto3 client (its own connection pool)."""

    name = "ses"

    def __init__(
        self,
        region: str,
        endpoint: str | None = None,
        configuration_set: str | None = None,
        timeout: float = RESPONSE_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ):
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise DeliveryError(
                "the ses provider needs boto3, which is not installed: pip install 'newsletter[ses]'"
            ) from None

        self.region = region
        self.endpoint = endpoint
        self.configuration_set = configuration_set
        session = boto3.session.Session(region_name=region)
        if session.get_credentials() is None:
            raise DeliveryError(
                "the ses provider found no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE (shared config, SSO), or run with an instance or container role"
            )
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},  # the engine retries, knowing what is safe
            max_pool_connections=1,  # one provider per sending thread, as with the other providers
        )
        self._client: Any = session.client("sesv2", endpoint_url=endpoint, config=config)

    def _where(self) -> str:
        return shown_url(self.endpoint) if self.endpoint else f"https://email.{self.region}.amazonaws.com"

    def __repr__(self) -> str:
        return f"SesProvider({self.region} at {self._where()})"

    def send(self, message: OutgoingMessage, ready: Ready | None = None) -> SendResult:
        from botocore import exceptions as bx

        if ready is not None:
            ready()
        try:
            answer = self._client.send_email(**send_email_args(message, self.configuration_set))
        except bx.ClientError as error:
            return _client_error(error)
        except bx.ConnectionError as error:
            shown = printable(str(error), limit=300)
            # Connecting failed: the request never left, SES cannot have acted on it.
            return SendResult("transient", f"cannot reach {self._where()}: {shown}")
        except bx.HTTPClientError as error:  # a read timeout, a connection closed before the answer
            shown = printable(str(error), limit=300)
            return SendResult(
                "unknown",
                f"no answer from {self._where()} after the request was sent ({shown});"
                " SES may have accepted it, so it is not sent again unless you ask (--resend-unknown)",
            )
        except bx.NoCredentialsError as error:
            raise DeliveryError(f"SES: {error}; see the AWS credential chain") from None
        except bx.ParamValidationError as error:
            shown = printable(str(error), limit=300)
            return SendResult("permanent", f"SES refused the request's form: {shown}")
        return SendResult("sent", "SES accepted (200)", provider_id=answer.get("MessageId"))

    def max_send_rate(self) -> float | None:
        """The account's sending quota in messages per second (SES GetAccount's SendQuota.MaxSendRate),
        or None when it cannot be read (the send then uses delivery.rate)."""
        from botocore import exceptions as bx

        try:
            quota = self._client.get_account().get("SendQuota") or {}
        except (bx.BotoCoreError, bx.ClientError):
            return None
        rate = quota.get("MaxSendRate")
        if isinstance(rate, int | float) and 0 < rate < float("inf"):
            return float(rate)
        return None

    def close(self) -> None:
        self._client.close()


def _client_error(error: Any) -> SendResult:
    """An error answer of SES: fatal for the account or keys, transient for "not now", else permanent."""
    found = error.response.get("Error", {})
    kind = printable(str(found.get("Code", "")), limit=100)
    text = printable(str(found.get("Message", "")), limit=300)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    detail = f"{status} {kind}: {text}".strip()
    if kind in _FATAL_TYPES or status in (401, 403):
        raise DeliveryError(f"SES refused the request ({detail}); check the AWS keys, region and account")
    if kind in _TRANSIENT_TYPES or status == 429 or status >= 500:
        return SendResult("transient", detail)
    return SendResult("permanent", detail)
