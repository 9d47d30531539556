"""The message factory: each recipient's finished message, rendering once per variant of the issue.

An issue is rendered once per variant its readers need (`compose.reader.Variant`: the summaries their
topic preferences pick, and the larger-text edition); each recipient's message is then made by
substituting their values into the bodies encoded once (`mime.QpTemplate`) and joining them with
headers folded by the `email` package's own header machinery. Beside its bytes each message
carries SMTP's DATA payload in pieces: the constant ones dot-stuffed once per variant, the personal
ones per message (`mail.dotstuff`), so the SMTP provider makes no pass over 50 KB per message.
`reference_message` builds the same message the slow, obvious way with `EmailMessage`; the tests
prove the two agree.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from html import escape

from newsletter.compose.reader import Reader, ReaderLike, Variant, reader_of
from newsletter.errors import DeliveryError
from newsletter.mail.dkim import load_signer
from newsletter.mail.dotstuff import END, ends_lines, stuffed
from newsletter.mail.headers import address, check_header, fold, to_header
from newsletter.mail.mime import QpTemplate
from newsletter.mail.outgoing import OutgoingMessage
from newsletter.mail.renderings import (
    FixedRendering,
    IssueRendering,
    RenderedParts,
    Rendering,
)
from newsletter.mail.tokens import make_token
from newsletter.mail.verp import bounce_address
from newsletter.render import personal
from newsletter.store.addresses import address_key, normalise_address
from newsletter.store.config import Settings
from newsletter.store.models import Issue, Summary
from newsletter.store.topics import Taxonomy, load_taxonomy

TEST_PREFIX = "[TEST] "


@dataclass(frozen=True)
class Skeleton:
    """One rendering (an edition) and its bodies encoded once."""

    rendered: RenderedParts
    text: QpTemplate
    html: QpTemplate
    personal_subject: bool  # the subject holds a token (a filtered variant's names the reader's topics)

    @classmethod
    def of(cls, rendered: RenderedParts) -> Skeleton:
        subject = rendered.subject
        personal_subject = any(token in subject for token in personal.TOKENS)
        return cls(rendered, QpTemplate.of(rendered.text), QpTemplate.of(rendered.html), personal_subject)


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
    skeleton: Skeleton

    @property
    def text(self) -> str:
        """The personalised plain-text body, decoded (the message carries it encoded)."""
        return personal.personalize_text(self.skeleton.rendered.text, self.recipient)

    @property
    def html(self) -> str:
        """The personalised HTML body, decoded."""
        return personal.personalize_html(self.skeleton.rendered.html, self.recipient)


class MessageFactory:
    """Builds each recipient's finished message; renders once per variant (edition, text size)."""

    def __init__(
        self,
        settings: Settings,
        rendering: Rendering,
        secret: bytes,
        test: bool = False,
        bounce_to: str | None = None,
    ):
        self.settings = settings
        # `bounces.address`: each message's envelope sender is a VERP address on it (not for proofs,
        # whose bounces concern nobody on the list).
        self.bounce_to = None if test else bounce_to
        self.issue_id = rendering.issue_id
        self.test = test
        self.renders = 0  # how many times the issue was rendered (once per variant)
        self._rendering_source = rendering
        self._secret = secret
        self._skeletons: dict[Variant, Skeleton] = {}
        # Senders' threads share the factory: the first to need a variant renders it, the others wait
        # for it (rendering one takes ~0.1 s of CPU; four workers starting together rendered it four times).
        self._render_lock = threading.Lock()
        self._subjects: dict[str, bytes] = {}
        self._date: tuple[int, str] = (0, "")  # (second, its Date header value): made once a second
        self._domain = settings.sender.domain
        # '=' followed by '_' never occurs in quoted-printable, so the boundary cannot clash.
        self._boundary = f"=_nl_{secrets.token_hex(12)}"
        self._dkim = load_signer(settings)
        self._mailto = (
            f"<mailto:{check_header('unsubscribe.mailto', settings.unsubscribe_mailto)}?subject=unsubscribe>"
            if settings.unsubscribe_mailto
            else ""
        )
        self._common = _common_headers(settings, self.issue_id)
        part = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        # From the end of the personal headers to the text body: the MIME headers, the text part's.
        self._body_head = (
            b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="'
            + self._boundary.encode()
            + b'"\r\n\r\n'
            + f"--{self._boundary}\r\n{part.format('plain')}".encode()
        )
        self._html_head = f"\r\n--{self._boundary}\r\n{part.format('html')}".encode()
        self._end = f"\r\n--{self._boundary}--\r\n".encode()
        # The same constant pieces as SMTP's DATA carries them, dot-stuffed once here. Every piece of
        # a message, constant or personal, ends a line, so each is stuffed on its own (mail.dotstuff).
        self._common_stuffed = stuffed(self._common)
        self._body_head_stuffed = stuffed(self._body_head)
        self._html_head_stuffed = stuffed(self._html_head)
        self._end_stuffed = stuffed(self._end) + END

    @classmethod
    def for_issue(
        cls,
        settings: Settings,
        issue: Issue,
        summaries: dict[str, Summary],
        secret: bytes,
        test: bool = False,
        taxonomy: Taxonomy | None = None,
        bounce_to: str | None = None,
    ) -> MessageFactory:
        """A factory that renders the issue, once per edition its readers need."""
        taxonomy = taxonomy if taxonomy is not None else load_taxonomy(settings.workspace)
        return cls(settings, IssueRendering(settings, issue, summaries, taxonomy), secret, test, bounce_to)

    @classmethod
    def for_rendered(
        cls, settings: Settings, rendered: RenderedParts, secret: bytes, test: bool = False
    ) -> MessageFactory:
        """A factory over an already rendered issue (every recipient gets the same summaries)."""
        return cls(settings, FixedRendering(rendered), secret, test)

    # -- per recipient ---------------------------------------------------------------------------

    def variant_for(self, reader: Reader) -> Variant:
        """The rendering a reader gets: the edition their topics pick, in their text size."""
        return self._rendering_source.variant_for(reader.topics, reader.large_text)

    def _rendering(self, variant: Variant) -> Skeleton:
        skeleton = self._skeletons.get(variant)
        if skeleton is None:
            with self._render_lock:
                skeleton = self._skeletons.get(variant)  # rendered while this thread waited?
                if skeleton is None:
                    rendered = self._rendering_source.render(variant)
                    skeleton = Skeleton.of(rendered)
                    self._skeletons[variant] = skeleton
                    self.renders += 1
        return skeleton

    @staticmethod
    def reader(who: ReaderLike | str) -> Reader:
        """A recipient as a Reader; a bare address (a test send) is a reader of the whole issue."""
        if not isinstance(who, str):
            return reader_of(who)
        try:
            return Reader(normalise_address(who))
        except ValueError as exc:
            raise DeliveryError(f"cannot send to {who!r}: {exc}") from None

    def parts(self, who: ReaderLike | str) -> MessageParts:
        """The values of one recipient's message: for any reader (see compose.reader), or an address."""
        reader = self.reader(who)
        skeleton = self._rendering(self.variant_for(reader))
        token = make_token(self._secret, self.settings.list_id, reader.email)
        unsubscribe_url = self.settings.unsubscribe_url.replace("{token}", token)
        recipient = personal.Recipient(
            email=reader.email,
            name=reader.name,
            unsubscribe_url=unsubscribe_url,
            preferences_url=self.settings.preferences_url.replace("{token}", token),
            first_name=reader.first_name,
            topics=reader.topics,
        )
        # A filtered variant's subject names the reader's topics, through the same tokens.
        subject = skeleton.rendered.subject
        if skeleton.personal_subject:
            subject = personal.personalize_text(subject, recipient)
        subject = check_header("Subject", (TEST_PREFIX if self.test else "") + subject)
        return MessageParts(
            to_name=reader.name,
            to_email=reader.email,
            subject=subject,
            date=self._date_now(),
            message_id=self._message_id(reader.email),
            unsubscribe_url=unsubscribe_url,
            recipient=recipient,
            skeleton=skeleton,
        )

    def _date_now(self) -> str:
        """The Date header's value for now; the header has whole seconds, so one formatting a second."""
        now = datetime.now(UTC).replace(microsecond=0)
        second = int(now.timestamp())
        made, text = self._date
        if made != second:
            text = format_datetime(now)
            self._date = (second, text)  # one assignment: threads see the old pair or the new one
        return text

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
            folded = self._subjects[subject] = fold("Subject", subject)
        return folded

    def serialise(self, parts: MessageParts) -> bytes:
        """The message bytes (CRLF lines), signed with DKIM when settings ask for it."""
        return self._serialised(parts)[0]

    def _serialised(self, parts: MessageParts) -> tuple[bytes, tuple[bytes, ...]]:
        """The message bytes, and SMTP's DATA payload for them in pieces (see OutgoingMessage)."""
        head = b"".join(
            (
                to_header(parts.to_name, parts.to_email),
                self._subject(parts.subject),
                b"Date: " + parts.date.encode("ascii") + b"\r\n",
                b"Message-ID: " + parts.message_id.encode("ascii") + b"\r\n",
                self._list_unsubscribe(parts.unsubscribe_url),
            )
        )
        skeleton = parts.skeleton
        values = self._values(parts.recipient, skeleton.text.tokens | skeleton.html.tokens)
        text, text_stuffed = skeleton.text.fill_pieces(values)
        html, html_stuffed = skeleton.html.fill_pieces(_escaped(values))
        plain = (self._common, head, self._body_head, *text, self._html_head, *html, self._end)
        data = b"".join(plain)
        payload = (
            self._common_stuffed,
            stuffed(head),
            self._body_head_stuffed,
            *text_stuffed,
            self._html_head_stuffed,
            *html_stuffed,
            self._end_stuffed,
        )
        if self._dkim is not None:
            signature = self._dkim(data)
            data = signature + data
            # A signature not ending its line would join the next header's: leave the stuffing to SMTP.
            payload = (stuffed(signature), *payload) if ends_lines(signature) else ()
        return data, payload

    @staticmethod
    def _values(recipient: personal.Recipient, tokens: frozenset[str]) -> dict[str, str]:
        """The value of each token the bodies hold (only those: some take some working out)."""
        return {token: getattr(recipient, personal.TOKENS[token]) for token in tokens}

    def build(self, who: ReaderLike | str) -> OutgoingMessage:
        """One recipient's finished message, ready for a provider."""
        parts = self.parts(who)
        data, payload = self._serialised(parts)
        return OutgoingMessage(
            issue_id=self.issue_id,
            envelope_from=self.envelope_from(parts.to_email),
            envelope_to=parts.to_email,
            message_id=parts.message_id,
            data=data,
            test=self.test,
            from_address=self.settings.sender.email,
            payload_pieces=payload,
        )

    def envelope_from(self, email: str) -> str:
        """The envelope sender (MAIL FROM) for one recipient: a VERP address when bounces are read.

        The receiving server writes it into Return-Path; a later bounce goes to it and names the
        recipient and issue even when the original headers are not quoted. Never set as a header here.
        """
        if self.bounce_to is None:
            return self.settings.sender.email
        return bounce_address(self.bounce_to, self._secret, self.issue_id, email)

    def reference_message(self, parts: MessageParts) -> EmailMessage:
        """The same message built the slow, obvious way; the fast path is tested against it."""
        msg = EmailMessage(policy=SMTP)
        msg["From"] = Address(self.settings.sender.name, addr_spec=self.settings.sender.email)
        if self.settings.reply_to:
            msg["Reply-To"] = self.settings.reply_to
        msg["List-Id"] = f"{self.settings.name} <{self.settings.list_id}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["Precedence"] = "bulk"
        msg["Auto-Submitted"] = "auto-generated"
        msg["Feedback-ID"] = feedback_id(self.settings, self.issue_id)
        msg["To"] = Address(parts.to_name, addr_spec=parts.to_email)
        msg["Subject"] = parts.subject
        msg["Date"] = parts.date
        msg["Message-ID"] = parts.message_id
        unsubscribe = f"<{parts.unsubscribe_url}>" + (f", {self._mailto}" if self._mailto else "")
        msg["List-Unsubscribe"] = unsubscribe
        msg.set_content(parts.text, cte="quoted-printable")
        msg.add_alternative(parts.html, subtype="html", cte="quoted-printable")
        return msg


def _escaped(values: dict[str, str]) -> dict[str, str]:
    """Values for HTML, escaped as personal.personalize_html does (they land in href attributes too)."""
    return {token: escape(value, quote=True) for token, value in values.items()}


def feedback_id(settings: Settings, issue_id: str) -> str:
    """Gmail's feedback-loop identifiers, the sender's id last: issue, list, kind of mail, domain.

    "2026-06:roundup:newsletter:msresearch.example.org": the list is named without the domain that
    ends the value anyway, which keeps the header on one line.
    """
    domain = settings.sender.domain
    list_name = settings.list_id.removesuffix(f".{domain}") or settings.list_id
    return check_header("Feedback-ID", f"{issue_id}:{list_name}:newsletter:{domain}")


def _common_headers(settings: Settings, issue_id: str) -> bytes:
    """The headers every message of the issue shares, folded once."""
    sender = address(settings.sender.name, settings.sender.email, "From")
    common = [fold("From", [sender])]
    if settings.reply_to:
        common.append(fold("Reply-To", [address("", settings.reply_to, "Reply-To")]))
    list_id = check_header("List-Id", f"{settings.name} <{settings.list_id}>")
    common.append(fold("List-Id", list_id))
    common.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
    # Bulk mail, said so: vacation responders stay quiet (RFC 3834) and bulk filters sort it fairly.
    common.append(b"Precedence: bulk\r\nAuto-Submitted: auto-generated\r\n")
    common.append(fold("Feedback-ID", feedback_id(settings, issue_id)))
    return b"".join(common)
