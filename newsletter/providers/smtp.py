"""The SMTP provider: one connection reused for many messages, reconnecting when it drops.

The server's reply code decides what a failure means: 4xx (and a connection that cannot be
re-established) is transient, worth retrying later; 5xx is permanent for that recipient. Problems
no retry can fix (a bad password, a certificate that does not verify) stop the run instead.

Where the server offers PIPELINING (RFC 2920) MAIL, RCPT and DATA go out in one write and their
replies are read together; the body goes out as the message factory dot-stuffed it (its constant
pieces once per issue, see `mail.dotstuff`), or dot-stuffed here with one bytes operation: two round
trips a message instead of four, and no pass over 50 KB per message.

The hand-over is the final "." of DATA: once it is sent the server may have the message, so a
timeout or a dropped connection from then on is `unknown`, never retried here. The wait for that
reply follows RFC 5321 section 4.5.3.2.6 (10 minutes); every other step has a shorter timeout,
since a failure there is safe to retry.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import smtplib
import socket
import ssl

from newsletter.errors import DeliveryError
from newsletter.providers.base import OutgoingMessage, Ready, SendResult
from newsletter.text import printable

SECURITIES = ("starttls", "ssl", "none")
COMMAND_TIMEOUT = 60.0  # connect, greeting, EHLO, AUTH, MAIL, RCPT, DATA and writing the body
DATA_TIMEOUT = 600.0  # the reply to the final ".": RFC 5321 4.5.3.2.6


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def result_for_code(code: int, reply: bytes | str) -> SendResult:
    """A failed SMTP reply as a result: 4xx transient, 5xx (and anything odd) permanent."""
    detail = f"{code} {printable(reply)}".strip()
    return SendResult("transient" if 400 <= code < 500 else "permanent", detail)


FINAL_DOT = b".\r\n"  # after the body's last CRLF: the hand-over (RFC 5321 4.1.1.4)


def dot_stuffed(data: bytes) -> bytes:
    """The DATA payload for `data` (CRLF lines): leading dots doubled, ended by the final "."."""
    # A line starts after every LF (as smtplib's own `(?m)^\.` has it); replace() is C over the bytes,
    # about a sixth of the regex's time on a 47 KB message.
    payload = data.replace(b"\n.", b"\n..")
    if payload.startswith(b"."):
        payload = b"." + payload
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    return payload + FINAL_DOT


_Commands = tuple[tuple[bytes, tuple[int, ...]], ...]


def _command(verb: str, address: str, options: str) -> bytes:
    """One envelope command line, as smtplib writes it; a line break in the address is refused."""
    # Checked before quoting: quoteaddr would drop what follows a line break and send to the rest.
    if "\r" in address or "\n" in address:
        raise DeliveryError(f"refusing the envelope address {printable(address)!r}: it contains a line break")
    return f"{verb}{_quoted(address)}{options}\r\n".encode("ascii")


# An address of these characters only is its own path: `smtplib.quoteaddr` (a full RFC 5322 parse,
# tens of microseconds twice a message) would return it in angle brackets unchanged.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+\Z")


def _quoted(address: str) -> str:
    """The address as MAIL FROM and RCPT TO carry it, as `smtplib.quoteaddr` makes it."""
    return f"<{address}>" if _PLAIN_ADDRESS.match(address) else smtplib.quoteaddr(address)


class _NotReady(Exception):
    """`ready` raised: the message must not be handed over; carries its exception out of `send`."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


class _ServiceClosing(Exception):
    """A 421 before the hand-over: the server is going away; try once more on a fresh connection."""

    def __init__(self, code: int, reply: bytes):
        super().__init__(f"{code} {printable(reply)}")


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
        timeout: float = COMMAND_TIMEOUT,
        require_tls: bool = False,
        data_timeout: float = DATA_TIMEOUT,
    ):
        if security not in SECURITIES:
            raise DeliveryError(f"SMTP security {security!r} is unknown; use one of: {', '.join(SECURITIES)}")
        self.host, self.port, self.security = host, port, security
        self.username, self._password = username, password
        self.timeout, self.data_timeout = timeout, data_timeout
        self.require_tls = (
            require_tls  # settings' `security: starttls` insists; smtp:// URLs upgrade if offered
        )
        self.connections = 0  # how many times we connected (reconnects included)
        self._place = printable(f"{host}:{port}")  # shown in every result: made once
        self._conn: smtplib.SMTP | None = None

    def __repr__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"SmtpProvider({self.security} {printable(user)}{self._where()})"

    def _where(self) -> str:
        return self._place

    def _connect(self) -> smtplib.SMTP:
        # Loading the system's certificates costs milliseconds: only when TLS may be used.
        context = ssl.create_default_context() if self.security != "none" else None
        try:
            if self.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            # Each write is a whole step (the pipelined envelope, the body, a command): Nagle's wait
            # for the previous write's acknowledgement before a small one only delays the server.
            if conn.sock is not None:
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.ehlo()
            secure = self.security == "ssl"
            if context is not None and self.security == "starttls" and conn.has_extn("starttls"):
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
            conn.login(self.username or "", self._password)
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

    def send(self, message: OutgoingMessage, ready: Ready | None = None) -> SendResult:
        """Hand one message to the server; reconnect once if the connection failed before the hand-over."""
        last_error = ""
        for _attempt in range(2):
            try:
                if self._conn is None:
                    self._conn = self._connect()
                return self._transaction(self._conn, message, ready)
            except _NotReady as not_ready:
                raise not_ready.error from None
            except _ServiceClosing as exc:  # "service closing": the server is going away, try afresh
                self._drop()
                last_error = str(exc)
            except (TimeoutError, smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                self._drop()
                last_error = f"connection to {self._where()} lost: {printable(str(exc))}"
            except smtplib.SMTPResponseException as exc:
                self._drop()
                if exc.smtp_code == 421:
                    last_error = f"{exc.smtp_code} {printable(exc.smtp_error)}"
                    continue
                return result_for_code(exc.smtp_code, exc.smtp_error)
            except OSError as exc:
                self._drop()
                last_error = f"cannot reach {self._where()}: {printable(str(exc.strerror or exc))}"
        return SendResult("transient", last_error)

    def _transaction(self, conn: smtplib.SMTP, message: OutgoingMessage, ready: Ready | None) -> SendResult:
        """MAIL, RCPT, DATA and the body, step by step, so that we know when the message left us.

        `smtplib.sendmail` would say "disconnected" alike before and after the final "."; here a
        failure raised before `_final_reply` is one the server cannot have acted on. `ready` is
        called before the envelope, or, when the server pipelines, once the body is sent but for its
        final "." (a DATA never ended delivers nothing: RFC 5321 4.1.1.4), so the ledger's commit
        overlaps the transfer.
        """
        conn.ehlo_or_helo_if_needed()
        options = f" SIZE={len(message.data)}" if conn.has_extn("size") else ""
        commands = (
            (_command("MAIL FROM:", message.envelope_from, options), (250,)),
            (_command("RCPT TO:", message.envelope_to, ""), (250, 251)),
            (b"DATA\r\n", (354,)),
        )
        pipelining = conn.has_extn("pipelining")
        if pipelining:
            refused = self._pipelined(conn, commands)
        else:
            self._call(ready)
            refused = self._one_by_one(conn, commands)
        if refused is not None:
            return refused
        # The factory's messages come dot-stuffed already (mail.dotstuff): no pass over 50 KB here.
        payload = message.payload
        if payload is None:
            payload = dot_stuffed(message.data)
        if pipelining:
            body = memoryview(payload)
            conn.send(body[: -len(FINAL_DOT)])  # all of it, or raises
            self._call(ready)
            conn.send(FINAL_DOT)
        else:
            conn.send(payload)
        return self._final_reply(conn)

    def _one_by_one(self, conn: smtplib.SMTP, commands: _Commands) -> SendResult | None:
        """Each command answered before the next is sent; the refusal, or None if DATA may follow."""
        for line, expected in commands:
            conn.send(line)
            code, reply = conn.getreply()
            if code == 421:
                raise _ServiceClosing(code, reply)
            if code not in expected:
                self._reset()
                return result_for_code(code, reply)
        return None

    def _pipelined(self, conn: smtplib.SMTP, commands: _Commands) -> SendResult | None:
        """The commands in one write, then their replies in order (RFC 2920); as `_one_by_one`."""
        conn.send(b"".join(line for line, _ in commands))
        replies = []
        for _ in commands:
            code, reply = conn.getreply()
            if code == 421:
                raise _ServiceClosing(code, reply)
            replies.append((code, reply))
        for (code, reply), (_, expected) in zip(replies, commands, strict=True):
            if code not in expected:
                if replies[-1][0] == 354:
                    # DATA was accepted after a refusal: end the transaction by hanging up before
                    # any body, so nothing can be delivered; the next message reconnects.
                    self._drop()
                else:
                    self._reset()
                return result_for_code(code, reply)
        return None

    def _call(self, ready: Ready | None) -> None:
        """Call `ready`; if it raises, hang up before any body (so nothing can be delivered) and
        carry its exception out of `send`. The next message reconnects."""
        if ready is None:
            return
        try:
            ready()
        except Exception as error:
            self._drop()
            raise _NotReady(error) from None

    def _final_reply(self, conn: smtplib.SMTP) -> SendResult:
        """The server's answer to the final "." (the message is now with it, whatever comes next)."""
        try:
            if conn.sock is not None:
                conn.sock.settimeout(self.data_timeout)
            code, reply = conn.getreply()
            if conn.sock is not None:
                conn.sock.settimeout(self.timeout)
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return SendResult(
                "unknown",
                f"no reply from {self._where()} to the end of the message ({exc}); it may have been "
                "accepted, so it is not sent again unless you ask (--resend-unknown)",
            )
        if code in (250, 251):
            return SendResult("sent", f"accepted by {self._where()}: {code} {printable(reply)}")
        if 400 <= code < 600:
            if code == 421:
                self._drop()  # the server said it is closing: the connection is no use
            else:
                self._reset()
            return result_for_code(code, reply)
        self._drop()  # a reply that is not SMTP: the server may or may not have kept the message
        return SendResult(
            "unknown",
            f"unreadable reply from {self._where()} to the end of the message: {code} {printable(reply)}",
        )

    def _reset(self) -> None:
        """After a refused transaction, clear it so the connection can carry the next message."""
        try:
            if self._conn is not None:
                self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    @property
    def pipelining(self) -> bool:
        """Whether the open connection's server offered PIPELINING (RFC 2920), so commands go together."""
        return self._conn is not None and bool(self._conn.has_extn("pipelining"))

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()
