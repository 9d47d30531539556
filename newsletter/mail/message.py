"""One MIME message per recipient: headers, the text and HTML parts, and the unsubscribe token.

An issue is rendered once per distinct set of sections (topic preferences); each recipient's
message is then made by substituting their values into the rendered bodies, quoted-printable
encoding them with `binascii` (C speed) and joining them with headers folded by the `email`
package's own header machinery. `reference_message` builds the same message the slow,
obvious way with `EmailMessage`; the tests prove the two agree.

The unsubscribe token names the list and the address and carries an HMAC-SHA256 over both with
the key from NEWSLETTER_SECRET, so the endpoint knows whom to suppress and nobody can forge one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

from newsletter.errors import ConfigError, DeliveryError
from newsletter.mail.outgoing import OutgoingMessage
from newsletter.render import personal
from newsletter.store.config import Settings
from newsletter.store.models import Issue, Summary
from newsletter.store.subscribers import (
    Subscriber,
    address_key,
    check_display_name,
    normalise_address,
    sections_for,
)
from newsletter.store.topics import Taxonomy, load_taxonomy

SECRET_ENV = "NEWSLETTER_SECRET"
# Used only by the outbox, and said so: links signed with it are for looking at, not for sending.
DEV_SECRET = b"newsletter-development-key: NOT SECRET, outbox only"
MIN_SECRET_LENGTH = 16
TEST_PREFIX = "[TEST] "
# The headers a DKIM signature covers: everything a forwarder must not change, unsubscribe included.
DKIM_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"MIME-Version",
    b"Content-Type",
)
# A display name that needs neither quoting nor encoding: atoms separated by single spaces.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


# --- the signing key and the unsubscribe token --------------------------------------------------


def signing_secret(dev_ok: bool) -> tuple[bytes, bool]:
    """The key that signs unsubscribe links, and whether it is the development key.

    Real mail needs NEWSLETTER_SECRET: a link signed with a published key would let anyone
    unsubscribe anyone. The outbox (dev_ok) may fall back to a clearly labelled development key.
    """
    value = os.environ.get(SECRET_ENV, "")
    if value:
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"{SECRET_ENV} is too short ({len(value)} characters); use at least {MIN_SECRET_LENGTH}, "
                "e.g. the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value.encode("utf-8"), False
    if dev_ok:
        return DEV_SECRET, True
    raise ConfigError(
        f"{SECRET_ENV} is not set: it signs the unsubscribe links and real mail cannot go without it; "
        "set it to a long random value, e.g. export "
        f"{SECRET_ENV}=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )


class InvalidToken(ValueError):
    """An unsubscribe token that is malformed or not signed with our key."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _token_mac(secret: bytes, list_id: str, key: str) -> bytes:
    # The NUL separator keeps ("a.b", "c@d") and ("a.bc", "@d") from signing the same bytes.
    return hmac.new(
        secret, b"unsubscribe\0" + list_id.encode() + b"\0" + key.encode(), hashlib.sha256
    ).digest()


def make_token(secret: bytes, list_id: str, email: str) -> str:
    """A URL-safe token naming the list and the (casefolded) address, signed with HMAC-SHA256."""
    key = address_key(email)
    payload = _b64(f"{list_id}\0{key}".encode())
    return f"{payload}.{_b64(_token_mac(secret, list_id, key))}"


def verify_token(secret: bytes, token: str) -> tuple[str, str]:
    """(list_id, email) from a token; InvalidToken if it is malformed or forged."""
    payload, dot, mac = token.partition(".")
    if not dot or not payload or not mac or len(token) > 2000:
        raise InvalidToken("malformed token")
    try:
        list_id, nul, key = _unb64(payload).decode("utf-8").partition("\0")
        given = _unb64(mac)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidToken("malformed token") from None
    if not nul or not list_id or not key:
        raise InvalidToken("malformed token")
    if not hmac.compare_digest(given, _token_mac(secret, list_id, key)):
        raise InvalidToken("the token's signature does not match")
    return list_id, key


# --- headers ------------------------------------------------------------------------------------


def check_header(name: str, value: str) -> str:
    """Refuse a header value with CR or LF, whoever supplied it: it would start a new header."""
    if "\r" in value or "\n" in value:
        raise DeliveryError(f"refusing the {name} header: its value contains a line break ({value[:60]!r})")
    return value


def _fold(name: str, value: Any) -> bytes:
    """One header, folded and RFC 2047-encoded as the email package does with policy=SMTP."""
    return SMTP.header_factory(name, value).fold(policy=SMTP).encode("ascii")


def _address(name: str, email: str, role: str) -> Address:
    check_header(role, name)
    check_header(role, email)
    bad = check_display_name(name)
    if bad:
        raise DeliveryError(f"refusing the {role} header for {email}: {bad}")
    return Address(display_name=name, addr_spec=email)


def _to_header(name: str, email: str) -> bytes:
    _address(name, email, "To")
    if not name:
        return f"To: {email}\r\n".encode("ascii")
    if len(name) < 60 and _PLAIN_NAME.fullmatch(name):
        return f"To: {name} <{email}>\r\n".encode("ascii")
    return _fold("To", [Address(display_name=name, addr_spec=email)])


def _qp(text: str) -> bytes:
    """Quoted-printable UTF-8 with CRLF line ends, every line <= 76 octets."""
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def _body_text(body: str) -> str:
    """Line ends as LF (encoded as CRLF later), and a final line break, as the email package does."""
    data = body.replace("\r\n", "\n").replace("\r", "\n")
    return data if data.endswith("\n") else data + "\n"


_TOKEN = re.compile("|".join(re.escape(token) for token in personal.TOKENS))
_SOFT_BREAK = b"=\r\n"  # invisible once decoded: lets each piece start a fresh encoded line


def _soft_close(encoded: bytes) -> bytes:
    """End an encoded piece with a soft line break, keeping every line within 76 octets."""
    start = encoded.rfind(b"\n") + 1
    last = encoded[start:]
    if len(last) < 76:
        return encoded + _SOFT_BREAK
    # Break the full last line at 75, but never inside an =XX escape.
    cut = 75
    if last[cut - 1 : cut] == b"=":
        cut -= 1
    elif last[cut - 2 : cut - 1] == b"=":
        cut -= 2
    return encoded[:start] + last[:cut] + _SOFT_BREAK + last[cut:] + _SOFT_BREAK


@dataclass(frozen=True)
class QpTemplate:
    """A body quoted-printable encoded once, with gaps where the personal tokens go.

    Each static piece is encoded on its own and closed with a soft line break, so a recipient's
    values can be encoded and dropped in without re-encoding 30 KB of HTML per message. The
    result decodes to exactly the personalised body.
    """

    pieces: tuple[bytes | str, ...]  # encoded static bytes, or a token

    @classmethod
    def of(cls, body: str) -> QpTemplate:
        data = _body_text(body)
        pieces: list[bytes | str] = []
        position = 0
        for match in _TOKEN.finditer(data):
            if match.start() > position:
                pieces.append(_soft_close(_qp(data[position : match.start()])))
            pieces.append(match.group())
            position = match.end()
        pieces.append(_qp(data[position:]))  # never empty: the body ends with a line break
        return cls(tuple(pieces))

    def fill(self, values: dict[str, str]) -> bytes:
        out = []
        for piece in self.pieces:
            if isinstance(piece, bytes):
                out.append(piece)
            elif values[piece]:
                out.append(_soft_close(_qp(values[piece])))
        return b"".join(out)


@dataclass(frozen=True)
class _Skeleton:
    """One rendering (a set of sections) and its bodies encoded once."""

    rendered: Rendered
    text: QpTemplate
    html: QpTemplate


# --- the factory --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """What the factory needs of a rendered issue (render.RenderedIssue has these fields)."""

    issue_id: str
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class MessageParts:
    """Everything one message holds, before it is serialised."""

    to_name: str
    to_email: str
    subject: str
    date: str
    message_id: str
    unsubscribe_url: str
    recipient: personal.Recipient
    skeleton: _Skeleton

    @property
    def text(self) -> str:
        """The personalised plain-text body, decoded (the message carries it encoded)."""
        return personal.personalize_text(self.skeleton.rendered.text, self.recipient)

    @property
    def html(self) -> str:
        """The personalised HTML body, decoded."""
        return personal.personalize_html(self.skeleton.rendered.html, self.recipient)


class MessageFactory:
    """Builds each recipient's finished message; renders once per distinct set of sections."""

    def __init__(
        self,
        settings: Settings,
        issue: Issue,
        summaries: dict[str, Summary],
        secret: bytes,
        test: bool = False,
        taxonomy: Taxonomy | None = None,
    ):
        def render_sections(sections: tuple[str, ...] | None) -> Rendered:
            from newsletter import render  # rendering pulls in MJML; only load it when needed

            return render.render_issue(settings, issue, summaries, sections)

        self._setup(settings, issue.id, render_sections, secret, test)
        self._issue = issue
        self._summaries = summaries
        self._taxonomy = taxonomy if taxonomy is not None else load_taxonomy(settings.workspace)

    @classmethod
    def _from_rendered(
        cls, settings: Settings, rendered: Any, secret: bytes, test: bool = False
    ) -> MessageFactory:
        """A factory over an already rendered issue (every recipient gets the same sections)."""
        factory = cls.__new__(cls)
        factory._setup(settings, rendered.issue_id, lambda _sections: rendered, secret, test)
        factory._issue = None
        factory._summaries = {}
        factory._taxonomy = None
        return factory

    def _setup(
        self,
        settings: Settings,
        issue_id: str,
        render_sections: Callable[[tuple[str, ...] | None], Any],
        secret: bytes,
        test: bool,
    ) -> None:
        self.settings = settings
        self.issue_id = issue_id
        self.test = test
        self.renders = 0  # how many times the issue was rendered (once per distinct set of sections)
        self._render_sections = render_sections
        self._secret = secret
        self._skeletons: dict[tuple[str, ...] | None, _Skeleton] = {}
        self._subjects: dict[str, bytes] = {}
        self._domain = settings.sender.domain
        # '=' followed by '_' never occurs in quoted-printable, so the boundary cannot clash.
        self._boundary = f"=_nl_{secrets.token_hex(12)}"
        self._dkim = _load_dkim(settings)
        self._mailto = (
            f"<mailto:{check_header('unsubscribe.mailto', settings.unsubscribe_mailto)}?subject=unsubscribe>"
            if settings.unsubscribe_mailto
            else ""
        )
        sender = _address(settings.sender.name, settings.sender.email, "From")
        common = [_fold("From", [sender])]
        if settings.reply_to:
            common.append(_fold("Reply-To", [_address("", settings.reply_to, "Reply-To")]))
        list_id = check_header("List-Id", f"{settings.name} <{settings.list_id}>")
        common.append(_fold("List-Id", list_id))
        common.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        self._common = b"".join(common)
        self._mime = (
            b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="'
            + self._boundary.encode()
            + b'"\r\n\r\n'
        )
        part = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        self._text_head = f"--{self._boundary}\r\n{part.format('plain')}".encode()
        self._html_head = f"\r\n--{self._boundary}\r\n{part.format('html')}".encode()
        self._end = f"\r\n--{self._boundary}--\r\n".encode()

    # -- per recipient ---------------------------------------------------------------------------

    def _rendering(self, topics: tuple[str, ...]) -> _Skeleton:
        sections = None
        if topics and self._issue is not None and self._taxonomy is not None:
            sections = sections_for(topics, self._issue, self._summaries, self._taxonomy)
        skeleton = self._skeletons.get(sections)
        if skeleton is None:
            rendered = self._render_sections(sections)
            skeleton = _Skeleton(rendered, QpTemplate.of(rendered.text), QpTemplate.of(rendered.html))
            self._skeletons[sections] = skeleton
            self.renders += 1
        return skeleton

    def parts(self, who: Subscriber | str) -> MessageParts:
        """The values of one recipient's message: for a subscriber, or any address (a test send)."""
        if isinstance(who, Subscriber):
            email, name, topics = who.email, who.name, who.topics
        else:
            try:
                email = normalise_address(who)
            except ValueError as exc:
                raise DeliveryError(f"cannot send to {who!r}: {exc}") from None
            name, topics = "", ()
        skeleton = self._rendering(topics)
        rendered = skeleton.rendered
        subject = check_header("Subject", (TEST_PREFIX if self.test else "") + rendered.subject)
        token = make_token(self._secret, self.settings.list_id, email)
        unsubscribe_url = self.settings.unsubscribe_url.replace("{token}", token)
        recipient = personal.Recipient(
            email=email,
            name=name,
            unsubscribe_url=unsubscribe_url,
            preferences_url=self.settings.preferences_url.replace("{token}", token),
        )
        return MessageParts(
            to_name=name,
            to_email=email,
            subject=subject,
            date=format_datetime(datetime.now(UTC)),
            message_id=self._message_id(email),
            unsubscribe_url=unsubscribe_url,
            recipient=recipient,
            skeleton=skeleton,
        )

    def _message_id(self, email: str) -> str:
        if self.test:
            return f"<{self.issue_id}.test.{secrets.token_hex(8)}@{self._domain}>"
        # The same for every attempt at this recipient, so a retried message is recognisably the
        # same one; keyed, so it does not reveal the address.
        digest = hmac.new(self._secret, f"msgid\0{self.issue_id}\0{address_key(email)}".encode(), "sha256")
        return f"<{self.issue_id}.{digest.hexdigest()[:24]}@{self._domain}>"

    def _list_unsubscribe(self, url: str) -> bytes:
        check_header("List-Unsubscribe", url)
        if self._mailto:
            return f"List-Unsubscribe: <{url}>,\r\n {self._mailto}\r\n".encode("ascii")
        return f"List-Unsubscribe: <{url}>\r\n".encode("ascii")

    def _subject(self, subject: str) -> bytes:
        folded = self._subjects.get(subject)
        if folded is None:
            folded = self._subjects[subject] = _fold("Subject", subject)
        return folded

    def serialise(self, parts: MessageParts) -> bytes:
        """The message bytes (CRLF lines), signed with DKIM when settings ask for it."""
        data = b"".join(
            (
                self._common,
                _to_header(parts.to_name, parts.to_email),
                self._subject(parts.subject),
                b"Date: " + parts.date.encode("ascii") + b"\r\n",
                b"Message-ID: " + parts.message_id.encode("ascii") + b"\r\n",
                self._list_unsubscribe(parts.unsubscribe_url),
                self._mime,
                self._text_head,
                parts.skeleton.text.fill(self._values(parts.recipient, html=False)),
                self._html_head,
                parts.skeleton.html.fill(self._values(parts.recipient, html=True)),
                self._end,
            )
        )
        if self._dkim is not None:
            data = self._dkim(data) + data
        return data

    @staticmethod
    def _values(recipient: personal.Recipient, html: bool) -> dict[str, str]:
        """Each token's value; in HTML escaped as personal.personalize_html does."""
        values = {token: getattr(recipient, attr) for token, attr in personal.TOKENS.items()}
        return {t: escape(v, quote=True) for t, v in values.items()} if html else values

    def build(self, who: Subscriber | str) -> OutgoingMessage:
        """One recipient's finished message, ready for a provider."""
        parts = self.parts(who)
        return OutgoingMessage(
            issue_id=self.issue_id,
            envelope_from=self.settings.sender.email,
            envelope_to=parts.to_email,
            message_id=parts.message_id,
            data=self.serialise(parts),
            test=self.test,
        )

    def reference_message(self, parts: MessageParts) -> EmailMessage:
        """The same message built the slow, obvious way; the fast path is tested against it."""
        msg = EmailMessage(policy=SMTP)
        msg["From"] = Address(self.settings.sender.name, addr_spec=self.settings.sender.email)
        if self.settings.reply_to:
            msg["Reply-To"] = self.settings.reply_to
        msg["List-Id"] = f"{self.settings.name} <{self.settings.list_id}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["To"] = Address(parts.to_name, addr_spec=parts.to_email)
        msg["Subject"] = parts.subject
        msg["Date"] = parts.date
        msg["Message-ID"] = parts.message_id
        unsubscribe = f"<{parts.unsubscribe_url}>" + (f", {self._mailto}" if self._mailto else "")
        msg["List-Unsubscribe"] = unsubscribe
        msg.set_content(parts.text, cte="quoted-printable")
        msg.add_alternative(parts.html, subtype="html", cte="quoted-printable")
        return msg


def _load_dkim(settings: Settings) -> Callable[[bytes], bytes] | None:
    """A signer for the DKIM settings, or None; the key is read once, errors name the setting."""
    if settings.dkim is None:
        return None
    import dkim

    path = Path(settings.dkim.key_file)
    path = path if path.is_absolute() else settings.workspace / path
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"newsletter.yaml: dkim.key_file: cannot read {path} ({exc.strerror})") from None
    if b"PRIVATE KEY" not in key:
        raise ConfigError(f"newsletter.yaml: dkim.key_file: {path} is not a PEM private key")
    selector, domain = settings.dkim.selector.encode(), settings.dkim.domain.encode()

    def sign(data: bytes) -> bytes:
        try:
            return dkim.sign(
                data,
                selector,
                domain,
                key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=list(DKIM_HEADERS),
            )
        except dkim.DKIMException as exc:
            raise ConfigError(f"newsletter.yaml: dkim: cannot sign with {path}: {exc}") from None

    return sign
