"""The SMTP provider: one connection reused for many messages, reconnecting when it drops.

The server's reply code decides what a failure means: 4xx (and a connection that cannot be
re-established) is transient, worth retrying later; 5xx is permanent for that recipient. Problems
no retry can fix (a bad password, a certificate that does not verify) stop the run instead.
"""

from __future__ import annotations

import contextlib
import ipaddress
import smtplib
import ssl

from newsletter.errors import DeliveryError
from newsletter.providers.base import OutgoingMessage, SendResult

SECURITIES = ("starttls", "ssl", "none")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def result_for_code(code: int, reply: bytes | str) -> SendResult:
    """A failed SMTP reply as a result: 4xx transient, 5xx (and anything odd) permanent."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    detail = f"{code} {text}".strip()
    return SendResult("transient" if 400 <= code < 500 else "permanent", detail)


class SmtpProvider:
    """Sends over SMTP: plain (upgraded with STARTTLS when offered), STARTTLS, or implicit TLS."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        require_tls: bool = False,
    ):
        if security not in SECURITIES:
            raise DeliveryError(f"SMTP security {security!r} is unknown; use one of: {', '.join(SECURITIES)}")
        self.host, self.port, self.security = host, port, security
        self.username, self._password = username, password
        self.timeout = timeout
        self.require_tls = (
            require_tls  # settings' `security: starttls` insists; smtp:// URLs upgrade if offered
        )
        self.connections = 0  # how many times we connected (reconnects included)
        self._conn: smtplib.SMTP | None = None

    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        try:
            if self.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            conn.ehlo()
            secure = self.security == "ssl"
            if self.security == "starttls" and conn.has_extn("starttls"):
                conn.starttls(context=context)
                conn.ehlo()
                secure = True
            if self.security == "starttls" and self.require_tls and not secure:
                conn.close()
                raise DeliveryError(
                    f"SMTP server {self._where()} does not offer STARTTLS; set smtp.security: none "
                    "in newsletter.yaml only if the server is on a trusted network"
                )
            if self.username:
                self._login(conn, secure)
        except ssl.SSLError as exc:
            raise DeliveryError(f"TLS with SMTP server {self._where()} failed: {exc.reason or exc}") from None
        self.connections += 1
        return conn

    def _login(self, conn: smtplib.SMTP, secure: bool) -> None:
        if not secure and not _is_loopback(self.host):
            conn.close()
            raise DeliveryError(
                f"refusing to send the SMTP password to {self._where()} without TLS; "
                "use security starttls or ssl (smtps://)"
            )
        if not self._password:
            conn.close()
            raise DeliveryError(
                f"SMTP user {self.username!r} is set but NEWSLETTER_SMTP_PASSWORD is not; "
                "set it in the environment"
            )
        try:
            conn.login(self.username, self._password)
        except smtplib.SMTPAuthenticationError as exc:
            conn.close()
            raise DeliveryError(
                f"SMTP server {self._where()} refused the login of {self.username!r} ({exc.smtp_code}); "
                "check the user name and NEWSLETTER_SMTP_PASSWORD"
            ) from None
        except smtplib.SMTPNotSupportedError:
            conn.close()
            raise DeliveryError(
                f"SMTP server {self._where()} does not support AUTH; remove the user name"
            ) from None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def send(self, message: OutgoingMessage) -> SendResult:
        """Hand one message to the server; reconnect once if the connection was dropped."""
        last_error = ""
        for _attempt in range(2):
            try:
                if self._conn is None:
                    self._conn = self._connect()
                self._conn.sendmail(message.envelope_from, [message.envelope_to], message.data)
                return SendResult("sent", f"accepted by {self._where()}")
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = exc.recipients.get(message.envelope_to, (550, b"recipient refused"))
                return result_for_code(code, reply)
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                self._reset()
                return result_for_code(exc.smtp_code, exc.smtp_error)
            except (TimeoutError, smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                self._drop()
                last_error = f"connection to {self._where()} lost: {exc}"
            except smtplib.SMTPResponseException as exc:
                self._drop()
                if exc.smtp_code == 421:  # "service closing": the server is going away, try afresh
                    last_error = f"{exc.smtp_code} {exc.smtp_error!r}"
                    continue
                return result_for_code(exc.smtp_code, exc.smtp_error)
            except OSError as exc:
                self._drop()
                last_error = f"cannot reach {self._where()}: {exc.strerror or exc}"
        return SendResult("transient", last_error)

    def _reset(self) -> None:
        """After a refused transaction, clear it so the connection can carry the next message."""
        try:
            if self._conn is not None:
                self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()
