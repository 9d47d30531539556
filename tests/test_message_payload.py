"""SMTP's DATA payload made by the message factory: the constant pieces dot-stuffed once, the personal
ones per message, and the whole the same bytes as dot-stuffing the finished message."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from newsletter.mail.dotstuff import END, stuffed
from newsletter.mail.factory import MessageFactory
from newsletter.mail.renderings import Rendered
from newsletter.providers.base import OutgoingMessage
from newsletter.providers.outbox import OutboxProvider
from newsletter.providers.smtp import SmtpProvider, dot_stuffed
from newsletter.render import personal
from newsletter.store.config import load_settings
from newsletter.store.subscriber_files import Subscriber

SECRET = b"test-secret-0123456789abcdef"
TOKENS = list(personal.TOKENS)


def stuffed_pieces(pieces: list[bytes]) -> list[bytes]:
    """Each piece stuffed on its own, knowing only whether the bytes before it end a line."""
    out, at_line_start = [], True
    for piece in pieces:
        out.append(stuffed(piece, at_line_start))
        if piece:  # an empty piece leaves the joint as it was
            at_line_start = piece.endswith(b"\n")
    return out


def payload_of(pieces: list[bytes]) -> bytes:
    """What the stuffed pieces make as a DATA payload: joined, the last line ended, the final "."."""
    data = b"".join(pieces)
    return b"".join(stuffed_pieces(pieces)) + (b"" if data.endswith(b"\r\n") else b"\r\n") + END


_PIECES = st.lists(
    st.lists(
        st.sampled_from([b"", b".", b"..", b"a", b"\r\n", b"\n", b"\r", b" .", b".\r\n", b"\r\n."]),
        max_size=8,
    ).map(b"".join),
    max_size=12,
)


@given(_PIECES)
def test_pieces_stuffed_on_their_own_make_the_message_stuffed_whole(pieces):
    assert payload_of(pieces) == dot_stuffed(b"".join(pieces))


def test_a_dot_starts_a_line_only_after_a_line_break():
    assert stuffed(b".5 mg\r\n") == b"..5 mg\r\n"
    assert stuffed(b".5 mg\r\n", at_line_start=False) == b".5 mg\r\n"  # the middle of someone's line
    assert stuffed(b"a\r\n.\r\n", at_line_start=False) == b"a\r\n..\r\n"
    assert stuffed_pieces([b"dose ", b".5 mg\r\n", b".\r\n", b"", b".end\r\n"]) == [
        b"dose ",
        b".5 mg\r\n",
        b"..\r\n",
        b"",
        b"..end\r\n",
    ]


# -- the factory's messages -------------------------------------------------------------------------

# Bodies made of lines that start with dots, lone dots, tokens at the start of a line, and lines
# long enough for quoted-printable to break them (a soft break can put a dot at a line's start).
_FRAGMENTS = st.sampled_from(
    [".", "..", ".5 mg", "\n", "\n.", "\n.\n", " .", "é", "=", "a" * 70, "b" * 74, "x" * 75, *TOKENS]
)
_BODIES = st.lists(_FRAGMENTS, max_size=40).map("".join)
_NAMES = st.sampled_from(["Ana Reader", ".Dot", ". .", "...", "Chloé .Lefèvre", ""])


def reader(name: str, email: str = "dot.reader@example.com") -> Subscriber:
    return Subscriber(email, name, (), "subscribed", "2026-01-01", "readers")


def factory_for(workspace: Path, text: str, html: str) -> MessageFactory:
    rendered = Rendered("2026-06", "June", html, text)
    return MessageFactory.for_rendered(load_settings(workspace), rendered, SECRET)


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_BODIES, html=_BODIES, name=_NAMES)
def test_the_prepared_payload_is_the_message_dot_stuffed(workspace, text, html, name):
    message = factory_for(workspace, text, html).build(reader(name))
    assert message.payload == dot_stuffed(message.data)


@pytest.fixture(scope="module")
def dkim_key() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def test_with_dkim_the_signature_goes_first_in_both(workspace, dkim_key):
    (workspace / "dkim.pem").write_bytes(dkim_key)
    settings_file = workspace / "newsletter.yaml"
    settings_file.write_text(
        settings_file.read_text()
        + "dkim:\n  selector: news\n  domain: msresearch.example.org\n  key_file: dkim.pem\n"
    )
    text = ".5 mg twice a day\n.\n__NL_NAME__\n"
    message = factory_for(workspace, text, "<p>\n.hidden</p>\n").build(reader(".Dot"))
    assert message.data.startswith(b"DKIM-Signature:")
    assert message.payload == dot_stuffed(message.data)
    assert b"\r\n..5 mg twice a day\r\n" in message.payload


# -- over the wire ----------------------------------------------------------------------------------


class Keep:
    """An SMTP server's handler that keeps each message's bytes as they arrived (dots taken off)."""

    def __init__(self):
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.original_content)
        return "250 OK"


@pytest.fixture
def server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def test_dotted_lines_arrive_as_the_outbox_keeps_them(workspace, tmp_path, server):
    handler, port = server
    text = "Hello __NL_NAME__\n.5 mg twice a day\n.\n..\n" + "a" * 75 + ".b\n"
    html = "<p>Hello __NL_NAME__</p>\n.5 mg\n.\n"
    message = factory_for(workspace, text, html).build(reader(".Dot Reader"))
    assert message.payload is not None and b"\r\n..5 mg" in message.payload  # there were dots to double

    smtp = SmtpProvider("127.0.0.1", port, security="none")
    assert smtp.send(message).status == "sent"
    smtp.close()
    outbox = OutboxProvider(tmp_path / "outbox")
    assert outbox.send(message).ok
    kept = outbox.path_for(message).read_bytes()

    assert kept == f"Return-Path: <{message.envelope_from}>\r\n".encode() + handler.received[0]
    # Quoted-printable writes a lone "." as =2E, but leaves other dots at the start of a line, where a
    # soft line break can put one too. (The greeting no longer carries a name's leading dot:
    # newsletter.names greets with the name's words only.)
    for line in (b"\r\n.5 mg twice a day\r\n=2E\r\n..\r\n", b"=\r\n.b\r\n"):
        assert line in handler.received[0]


def test_the_smtp_provider_sends_a_prepared_payload_as_it_is(server):
    handler, port = server
    plain = b"Subject: hi\r\n\r\n.plain\r\n"
    prepared = OutgoingMessage(
        "2026-06",
        "roundup@example.org",
        "r@example.org",
        "<m@x>",
        plain,
        payload_pieces=(b"Subject: hi\r\n\r\n", b"..prepared\r\n", END),
    )
    without = OutgoingMessage("2026-06", "roundup@example.org", "r@example.org", "<n@x>", plain)
    smtp = SmtpProvider("127.0.0.1", port, security="none")
    assert [smtp.send(prepared).status, smtp.send(without).status] == ["sent", "sent"]
    smtp.close()
    # The prepared pieces went as they were, not `data` stuffed again; without them, `data` is stuffed.
    assert handler.received == [b"Subject: hi\r\n\r\n.prepared\r\n", plain]


@given(
    local=st.text(alphabet="aZ09!#$%&'*+/=?^_`{|}~.-", min_size=1, max_size=20),
    domain=st.text(alphabet="ab9.-", min_size=1, max_size=20),
)
@example(local="reader000001", domain="example.org")
def test_the_envelopes_quick_quoting_is_smtplibs(local, domain):
    import smtplib

    from newsletter.providers.smtp import _quoted

    assert _quoted(f"{local}@{domain}") == smtplib.quoteaddr(f"{local}@{domain}")


@pytest.mark.parametrize(
    "address", ["Ann <ann@example.org>", "ann @example.org", "zoë@example.org", '"a b"@x.org', "<>"]
)
def test_other_envelope_addresses_are_quoted_by_smtplib(address):
    import smtplib

    from newsletter.providers.smtp import _quoted

    assert _quoted(address) == smtplib.quoteaddr(address)
