"""The SMTP provider against a real aiosmtpd server on loopback: plain, STARTTLS, AUTH, failures."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import re
import socket
import ssl
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hostile_servers import HostileSmtpServer, SmtpBehaviour
from hypothesis import given
from hypothesis import strategies as st
from message_helpers import reader, tiny_factory

from newsletter.errors import DeliveryError
from newsletter.providers import open_provider
from newsletter.providers.base import OutgoingMessage
from newsletter.providers.smtp import SmtpProvider, dot_stuffed


class Handler:
    """Accepts mail, except: busy@ gets 451, gone@ gets 550; can drop the connection once."""

    def __init__(self):
        self.received: list[tuple[str, list[str], bytes, bool, bool]] = []
        self.drop_before_message: int | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("busy@"):
            return "451 4.3.0 Mailbox busy, try again later"
        if address.startswith("gone@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.drop_before_message == len(self.received):
            self.drop_before_message = None
            server.transport.close()  # the server goes away mid-run, without a word
            return "421 closing"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content,
                server.transport.get_extra_info("ssl_object") is not None,  # over TLS
                bool(session.authenticated),
            )
        )
        return "250 2.0.0 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, trusted by the client through SSL_CERT_FILE."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    return cert_file, key_file


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def serve():
    controllers = []

    def start(handler: Handler, **kwargs) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def messages(workspace):
    factory = tiny_factory(workspace)
    return factory.settings, lambda *addresses: [factory.build(reader(a)) for a in addresses]


def test_plain_smtp_reuses_one_connection(serve, messages):
    handler = Handler()
    port = serve(handler)
    settings, make = messages
    provider = open_provider(f"smtp://127.0.0.1:{port}?starttls=no", settings)
    outgoing = make("a@example.com", "b@example.com", "c@example.com")
    results = [provider.send(msg) for msg in outgoing]
    provider.close()
    assert [r.status for r in results] == ["sent", "sent", "sent"]
    assert provider.connections == 1
    assert [r[1] for r in handler.received] == [["a@example.com"], ["b@example.com"], ["c@example.com"]]
    got = message_from_bytes(handler.received[0][2], policy=policy.default)
    assert got["Message-ID"] == outgoing[0].message_id
    assert handler.received[0][0] == "roundup@msresearch.example.org"


def test_starttls_and_auth(serve, messages, certificate, monkeypatch):
    handler = Handler()
    seen = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append(mechanism)
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == b"editor"
            and auth_data.password == b"s3cret"
        )
        return AuthResult(success=ok, handled=False)

    port = serve(
        handler,
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    settings, make = messages
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "s3cret")
    provider = open_provider(f"smtp://editor@127.0.0.1:{port}", settings)
    assert provider.send(make("a@example.com")[0]).ok
    provider.close()
    assert handler.received[0][3:] == (True, True)  # over TLS, authenticated
    assert seen

    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "wrong")
    provider = open_provider(f"smtp://editor@127.0.0.1:{port}", settings)
    with pytest.raises(DeliveryError, match="refused the login of 'editor'"):
        provider.send(make("b@example.com")[0])


def test_implicit_tls_smtps(serve, messages, certificate):
    handler = Handler()
    port = serve(handler, ssl_context=server_context(certificate))
    settings, make = messages
    provider = open_provider(f"smtps://127.0.0.1:{port}", settings)
    assert provider.send(make("a@example.com")[0]).ok
    provider.close()
    assert handler.received[0][3] is True


def test_untrusted_certificate_stops_the_run(serve, messages, certificate, monkeypatch):
    port = serve(Handler(), tls_context=server_context(certificate))
    monkeypatch.delenv("SSL_CERT_FILE")
    settings, make = messages
    provider = open_provider(f"smtp://127.0.0.1:{port}", settings)
    with pytest.raises(DeliveryError, match="TLS with SMTP server 127.0.0.1"):
        provider.send(make("a@example.com")[0])


def test_451_is_transient_550_is_permanent_and_the_connection_carries_on(serve, messages):
    handler = Handler()
    port = serve(handler)
    settings, make = messages
    provider = open_provider(f"smtp://127.0.0.1:{port}?starttls=no", settings)
    busy, gone, fine = (
        provider.send(msg) for msg in make("busy@example.com", "gone@example.com", "ok@example.com")
    )
    provider.close()
    assert (busy.status, gone.status, fine.status) == ("transient", "permanent", "sent")
    assert busy.detail.startswith("451 4.3.0")
    assert gone.detail.startswith("550 5.1.1")
    assert provider.connections == 1
    assert [r[1] for r in handler.received] == [["ok@example.com"]]


def test_a_dropped_connection_is_re_established(serve, messages):
    handler = Handler()
    handler.drop_before_message = 2  # the third message finds the connection gone
    port = serve(handler)
    settings, make = messages
    provider = open_provider(f"smtp://127.0.0.1:{port}?starttls=no", settings)
    addresses = [f"r{i}@example.com" for i in range(5)]
    results = [provider.send(msg) for msg in make(*addresses)]
    provider.close()
    assert all(r.ok for r in results), results
    assert provider.connections == 2
    assert [r[1][0] for r in handler.received] == addresses


def test_a_server_that_is_not_there_is_a_transient_failure(messages):
    settings, make = messages
    provider = open_provider(f"smtp://127.0.0.1:{free_port()}?starttls=no", settings)
    result = provider.send(make("a@example.com")[0])
    assert result.status == "transient"
    assert "127.0.0.1" in result.detail


def test_no_password_in_urls(messages):
    settings, _ = messages
    with pytest.raises(DeliveryError, match="secrets never go in the URL"):
        open_provider("smtp://editor:hunter2@127.0.0.1:25", settings)


# -- the body on the wire: dot-stuffed with one bytes operation ------------------------------------

SMTPLIB_LEADING_DOT = re.compile(rb"(?m)^\.")  # what smtplib's sendmail does to a body


@given(st.lists(st.sampled_from([b".", b"..", b"a", b"\r\n", b"\n", b"\r", b" ."]), max_size=40))
def test_dot_stuffing_matches_smtplib_for_any_lines(pieces):
    data = b"".join(pieces)
    expected = SMTPLIB_LEADING_DOT.sub(b"..", data)
    if not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    assert dot_stuffed(data) == expected + b".\r\n"


def test_lines_starting_with_a_dot_arrive_intact(serve):
    handler = Handler()
    port = serve(handler)
    data = b"Subject: dots\r\n\r\n.hidden\r\n.\r\n..two\r\nend\r\n"
    provider = SmtpProvider("127.0.0.1", port, security="none")
    assert provider.send(outgoing("a@example.com", data)).status == "sent"
    provider.close()
    assert handler.received[0][2] == data


# -- PIPELINING (RFC 2920): MAIL, RCPT and DATA in one write, the same outcomes ------------------


def outgoing(to: str, data: bytes = b"Subject: hi\r\n\r\nHello\r\n") -> OutgoingMessage:
    return OutgoingMessage("2026-06", "roundup@msresearch.example.org", to, "<m@x>", data)


def pipelining_server(**behaviour) -> HostileSmtpServer:
    return HostileSmtpServer(SmtpBehaviour(pipelining=True, **behaviour))


def provider_for(server: HostileSmtpServer) -> SmtpProvider:
    return SmtpProvider("127.0.0.1", server.port, security="none", timeout=2, data_timeout=1)


def test_a_pipelining_server_gets_every_message_once_on_one_connection():
    with pipelining_server() as server:
        provider = provider_for(server)
        results = [provider.send(outgoing(f"r{n}@example.org")) for n in range(3)]
        assert provider.pipelining
        provider.close()
        assert server.received() == {f"r{n}@example.org": 1 for n in range(3)}
    assert [r.status for r in results] == ["sent"] * 3
    assert provider.connections == 1


def test_the_connection_sends_each_write_at_once():
    # Without TCP_NODELAY the body waits for the acknowledgement of the pipelined envelope (Nagle).
    with pipelining_server() as server:
        provider = provider_for(server)
        provider.send(outgoing("r@example.org"))
        assert provider._conn is not None
        assert provider._conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        provider.close()


def test_pipelined_refused_recipient_is_permanent_and_the_next_one_still_goes():
    refused = {"gone@example.org": "550 5.1.1 no such user"}
    with pipelining_server(rcpt_replies=refused) as server:
        provider = provider_for(server)
        gone = provider.send(outgoing("gone@example.org"))
        after = provider.send(outgoing("next@example.org"))
        provider.close()
        assert server.received() == {"next@example.org": 1}
    assert (gone.status, gone.detail) == ("permanent", "550 5.1.1 no such user")
    assert after.status == "sent"


@pytest.mark.parametrize("at", ["mail", "rcpt"])
def test_pipelined_421_before_the_body_is_retried_once_on_a_fresh_connection(at):
    with pipelining_server(reply_421_at=at) as server:
        provider = provider_for(server)
        result = provider.send(outgoing("r@example.org"))
        provider.close()
        assert server.received() == {}
        assert server.connections == 2
    assert result.status == "transient"
    assert "421" in result.detail


def test_pipelined_drop_after_the_final_dot_is_unknown_and_not_retried():
    with pipelining_server(drop_after_final_dot=True) as server:
        provider = provider_for(server)
        result = provider.send(outgoing("r@example.org"))
        provider.close()
        assert server.received() == {"r@example.org": 1}
        assert server.connections == 1
    assert result.status == "unknown"


def test_pipelined_late_final_reply_is_unknown():
    with pipelining_server(final_reply_delay=2.0) as server:
        provider = provider_for(server)
        result = provider.send(outgoing("r@example.org"))
        provider.close()
        assert server.received() == {"r@example.org": 1}
    assert result.status == "unknown"


@pytest.mark.parametrize("pipelining", [True, False])
def test_ready_runs_once_before_the_body_and_while_a_pipelining_server_answers(pipelining):
    said = []
    with HostileSmtpServer(SmtpBehaviour(pipelining=pipelining)) as server:
        provider = provider_for(server)
        # The ledger's `sending` in a real send; here it notes what the server had by then.
        result = provider.send(outgoing("r@example.org"), ready=lambda: said.append(server.received()))
        provider.close()
        assert server.received() == {"r@example.org": 1}
    assert result.status == "sent" and said == [{}]


def test_when_ready_fails_nothing_is_handed_over_and_its_error_comes_out():
    class LedgerDown(Exception):
        pass

    def ready() -> None:
        raise LedgerDown("database is locked")

    with pipelining_server() as server:
        provider = provider_for(server)
        with pytest.raises(LedgerDown, match="database is locked"):
            provider.send(outgoing("r@example.org"), ready=ready)
        after = provider.send(outgoing("next@example.org"))  # on a fresh connection
        provider.close()
        assert server.received() == {"next@example.org": 1}
        assert server.connections == 2
    assert after.status == "sent"


@pytest.mark.parametrize("field", ["envelope_from", "envelope_to"])
def test_a_line_break_in_an_envelope_address_is_refused_and_nothing_is_sent(field):
    smuggled = "a@example.org\r\nRCPT TO:<evil@example.org>"
    message = dataclasses.replace(outgoing("r@example.org"), **{field: smuggled})
    with pipelining_server() as server:
        provider = provider_for(server)
        with pytest.raises(DeliveryError, match="contains a line break"):
            provider.send(message)
        provider.close()
        assert server.received() == {}


# The same refusal, met during the send and read later in a bounce report: one verdict.
SAME_VERDICT = [
    ("550 5.4.4 Unable to route: the domain does not exist", True),
    ("550 5.1.1 <x@example.org>: Recipient address rejected: User unknown", True),
    ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found", True),
    ("550 5.2.1 Mailbox disabled, not accepting messages", True),
    ("554 5.0.0 Service unavailable; the address does not exist", True),
    ("550 Requested action not taken: mailbox unavailable", True),
    ("553 sorry, that domain isn't in my list of allowed rcpthosts", True),
    ("550 5.7.1 Message rejected as spam by Content Filtering", False),
    ("552 5.2.2 Mailbox full", False),
    ("554 Transaction failed", True),  # a server's report of it says 5.0.0, as it says no more
    ("550 5.4.1 Recipient address rejected: Access denied", False),
]


def dsn_reporting(diagnostic: str) -> bytes:
    """A delivery status notification (RFC 3464) for x@example.org carrying this diagnostic alone."""
    return (
        "From: MAILER-DAEMON@example.net\r\nTo: bounces@example.org\r\nSubject: Undelivered Mail\r\n"
        "Message-ID: <dsn-1@example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.0.0\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n--b--\r\n"
    ).encode()


@pytest.mark.parametrize(("reply", "hard"), SAME_VERDICT)
def test_a_refusal_at_the_send_and_the_same_words_in_a_later_report_get_the_same_verdict(reply, hard):
    from newsletter.bounces.classify import Kind
    from newsletter.bounces.notice import read_notice
    from newsletter.providers.replies import is_hard_bounce

    with pipelining_server(rcpt_replies={"x@example.org": reply}) as server:
        provider = provider_for(server)
        result = provider.send(outgoing("x@example.org"))
        provider.close()
    assert result.status == "permanent"
    (failure,) = read_notice(dsn_reporting(reply)).failures
    assert is_hard_bounce(result) is hard
    assert (failure.kind == Kind.HARD) is hard
