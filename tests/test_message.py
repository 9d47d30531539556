"""One message per recipient, checked against the "what a good newsletter email is" list."""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import replace
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from newsletter.compose.reader import Reader, Variant
from newsletter.db.announce import on_migration
from newsletter.db.audience import load_audience
from newsletter.db.state import open_state
from newsletter.delivery.records import RecipientRow
from newsletter.errors import ConfigError, DeliveryError
from newsletter.mail import tokens
from newsletter.mail.factory import MessageFactory
from newsletter.mail.mime import QpTemplate
from newsletter.mail.renderings import Rendered
from newsletter.store import issues
from newsletter.store.addresses import check_display_name, normalise_address
from newsletter.store.config import load_settings
from newsletter.store.content import load_summaries
from newsletter.store.models import Issue, Section
from newsletter.store.subscriber_files import Subscriber

SECRET = b"test-secret-0123456789abcdef"
TEXT = (
    "Hello __NL_NAME__,\n\nA line with = signs and a trailing space \n"
    + "A very long line " * 20
    + "\n\nUnsubscribe: __NL_UNSUBSCRIBE_URL__\nPreferences: __NL_PREFERENCES_URL__\n"
)
HTML = (
    '<!doctype html><html lang="en"><head><title>Roundup</title></head><body>'
    + '<p style="font-size:16px">Hello __NL_NAME__ &amp; a=b</p>' * 40
    + '<a href="__NL_UNSUBSCRIBE_URL__">Unsubscribe</a></body></html>'
)


def subscriber(
    email: str = "ana.reader@example.com", name: str = "Ana Reader", topics=(), large_text: bool = False
) -> Subscriber:
    return Subscriber(
        email, name, tuple(topics), "subscribed", "2026-01-01", "readers", large_text=large_text
    )


@pytest.fixture
def factory(workspace: Path) -> MessageFactory:
    rendered = Rendered("2026-06", "Microglia, gut bacteria — and B cells", HTML, TEXT)
    return MessageFactory.for_rendered(load_settings(workspace), rendered, SECRET)


def parse(data: bytes):
    return message_from_bytes(data, policy=policy.default)


def assert_good_message(data: bytes, email: str, list_id: str = "roundup.msresearch.example.org"):
    """The checkable list: lines, headers once, parts, encodings, unsubscribe everywhere."""
    assert b"\n" not in data.replace(b"\r\n", b""), "every line ends in CRLF"
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    body = data.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76, "quoted-printable lines <= 76"
    msg = parse(data)
    for name in ("Date", "From", "To", "Subject", "Message-ID", "List-Id", "List-Unsubscribe"):
        assert len(msg.get_all(name)) == 1, name
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Bulk mail says so: vacation responders stay quiet, Gmail's feedback loop can name the issue.
    assert (msg["Precedence"], msg["Auto-Submitted"]) == ("bulk", "auto-generated")
    assert re.fullmatch(r"[a-z0-9-]+:roundup:newsletter:msresearch\.example\.org", msg["Feedback-ID"])
    assert msg["Message-ID"].endswith("@msresearch.example.org>")
    assert msg["To"].addresses[0].addr_spec == email
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    links = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])
    https = [u for u in links if u.startswith("https://")]
    assert len(https) == 1 and any(u.startswith("mailto:") for u in links)
    url = https[0]
    assert url in parts[0].get_content() and url in parts[1].get_content()
    token = url.split("token=")[1]
    assert tokens.verify_token(SECRET, token) == (list_id, email.casefold())
    return msg, token


def test_message_is_good_for_every_sample_subscriber(factory):
    names = {"Ana Reader": "Ana", "Chloé Lefèvre": "Chloé", "Nurse, Erin": "Erin", "": "there"}
    for name, greeted in names.items():
        out = factory.build(subscriber(name=name))
        msg, _ = assert_good_message(out.data, "ana.reader@example.com")
        assert msg["To"].addresses[0].display_name == name
        assert out.envelope_to == "ana.reader@example.com"
        assert out.envelope_from == "roundup@msresearch.example.org"
        assert out.message_id == msg["Message-ID"]
        # {{ greeting }} is whom the email greets, never the raw field ("Hello Nurse, Erin,").
        assert f"Hello {greeted}," in list(msg.iter_parts())[0].get_content()
    assert msg["Subject"] == "Microglia, gut bacteria — and B cells"
    assert msg["From"].addresses[0].display_name == "MS Research Roundup"
    assert msg["Reply-To"] == "editor@msresearch.example.org"


def test_message_id_is_stable_per_recipient_and_distinct_between_them(factory):
    first = factory.build(subscriber()).message_id
    assert factory.build(subscriber()).message_id == first
    assert factory.build(subscriber(email="dev.patel@example.org")).message_id != first


def test_forged_and_tampered_tokens_are_rejected(factory):
    _, token = assert_good_message(factory.build(subscriber()).data, "ana.reader@example.com")
    payload, mac = token.split(".")
    other = tokens.make_token(SECRET, "roundup.msresearch.example.org", "eve@example.com").split(".")[0]
    for bad in (
        f"{other}.{mac}",  # someone else's address under Ana's signature
        f"{payload}.{mac[:-2]}AA",
        tokens.make_token(
            b"another key entirely 123", "roundup.msresearch.example.org", "ana.reader@example.com"
        ),
        "",
        "no-dot",
        "!!!.???",
    ):
        with pytest.raises(tokens.InvalidToken):
            tokens.verify_token(SECRET, bad)


def test_test_send_to_any_address(factory, workspace):
    rendered = Rendered("2026-06", "June issue", HTML, TEXT)
    proof = MessageFactory.for_rendered(load_settings(workspace), rendered, SECRET, test=True)
    out = proof.build("Editor@Elsewhere.example.net")
    msg, _ = assert_good_message(out.data, "Editor@elsewhere.example.net")
    assert msg["Subject"] == "[TEST] June issue"
    assert out.test is True
    assert ".test." in out.message_id
    with pytest.raises(DeliveryError, match="cannot send to 'nobody'"):
        proof.build("nobody")


def test_header_injection_is_refused(factory, workspace):
    with pytest.raises(DeliveryError, match="line break"):
        factory.build(subscriber(name="Ana\r\nBcc: victim@example.com"))
    with pytest.raises(DeliveryError, match="contains <, > or @"):
        factory.build(subscriber(name="Eve <eve@evil.example>, Bob"))
    rendered = Rendered("2026-06", "Subject\nBcc: victim@example.com", HTML, TEXT)
    bad = MessageFactory.for_rendered(load_settings(workspace), rendered, SECRET)
    with pytest.raises(DeliveryError, match="refusing the Subject header"):
        bad.build(subscriber())


def compare_with_reference(factory: MessageFactory, who: Subscriber) -> None:
    parts = factory.parts(who)
    fast = parse(factory.serialise(parts))
    slow = parse(factory.reference_message(parts).as_bytes())
    for name in ("From", "Reply-To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe-Post"):
        assert str(fast[name]) == str(slow[name]), name
    for name in ("Precedence", "Auto-Submitted", "Feedback-ID"):
        assert str(fast[name]) == str(slow[name]) != "None", name
    assert " ".join(str(fast["List-Unsubscribe"]).split()) == " ".join(str(slow["List-Unsubscribe"]).split())
    f_to, s_to = fast["To"].addresses[0], slow["To"].addresses[0]
    assert (f_to.display_name, f_to.addr_spec) == (s_to.display_name, s_to.addr_spec)
    f_parts, s_parts = list(fast.iter_parts()), list(slow.iter_parts())
    assert [p.get_content_type() for p in f_parts] == [p.get_content_type() for p in s_parts]
    for f, s in zip(f_parts, s_parts, strict=True):
        assert f.get_content() == s.get_content()


def test_fast_path_matches_the_email_package(factory):
    for name in ("Ana Reader", "Chloé Lefèvre", "Nurse, Erin", "O'Brien-Smith", "张伟", "Zoë " * 30, ""):
        compare_with_reference(factory, subscriber(name=name.strip()))


_names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=60).map(
    lambda s: " ".join(s.split())
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_names, email=st.emails(), body=st.text(max_size=300))
# The HTML's last encoded line full, then a space: binascii (and the email package) write it as
# 77 octets ("...=20"); ours breaks it again.
@example(name="Ana Reader", email="ana@example.org", body="x" * 43 + " ")
def test_fast_path_matches_for_any_name_address_and_body(factory, name, email, body):
    assume(check_display_name(name) is None)
    try:
        email = normalise_address(email)
    except ValueError:
        assume(False)
    rendered = Rendered("2026-06", "Subject = ü", HTML + body, body + TEXT + body)
    fresh = MessageFactory.for_rendered(factory.settings, rendered, SECRET)
    who = subscriber(email=email, name=name)
    compare_with_reference(fresh, who)
    body = fresh.build(who).data.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


def test_signing_secret_from_the_environment(monkeypatch):
    monkeypatch.delenv(tokens.SECRET_ENV, raising=False)
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET is not set"):
        tokens.signing_secret(dev_ok=False)
    assert tokens.signing_secret(dev_ok=True) == (tokens.DEV_SECRET, True)
    monkeypatch.setenv(tokens.SECRET_ENV, "short-Key9")
    with pytest.raises(ConfigError, match="too weak"):
        tokens.signing_secret(dev_ok=True)
    monkeypatch.setenv(tokens.SECRET_ENV, "a-long-enough-random-secret-Gx7Kq2Zp9Lm4Wv8Rt")
    assert tokens.signing_secret(dev_ok=False) == (b"a-long-enough-random-secret-Gx7Kq2Zp9Lm4Wv8Rt", False)


def test_dkim_signature_covers_list_unsubscribe_and_verifies(workspace):
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    (workspace / "dkim.pem").write_bytes(pem)
    settings_file = workspace / "newsletter.yaml"
    settings_file.write_text(
        settings_file.read_text()
        + "dkim:\n  selector: news\n  domain: msresearch.example.org\n  key_file: dkim.pem\n"
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + __import__("base64").b64encode(public)

    def dns(name, timeout=5):
        return record if name == b"news._domainkey.msresearch.example.org." else None

    rendered = Rendered("2026-06", "June", HTML, TEXT)
    data = MessageFactory.for_rendered(load_settings(workspace), rendered, SECRET).build(subscriber()).data
    assert data.startswith(b"DKIM-Signature:")
    signed_headers = parse(data)["DKIM-Signature"]
    assert "list-unsubscribe:list-unsubscribe-post" in "".join(signed_headers.split()).lower()
    assert dkim.verify(data, dnsfunc=dns)
    tampered = data.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_factory_renders_once_per_distinct_set_of_sections(workspace):
    """Through the real renderer: topic preferences pick sections; each set is rendered once."""
    summaries = load_summaries(workspace)
    may = sorted(s for s, v in summaries.items() if v.published >= date(2026, 5, 1) and not v.is_teaser)
    assert len(may) >= 2
    issue = Issue(
        id="2026-06",
        title="MS Research Roundup, June 2026",
        subject="June: new research",
        preheader="New studies in plain language",
        since=date(2026, 5, 1),
        until=date(2026, 5, 31),
        intro="A note from the editor.",
        sections=(Section("Diagnosis and monitoring", (may[0],)), Section("More research", tuple(may[1:]))),
    )
    factory = MessageFactory.for_issue(load_settings(workspace), issue, summaries, SECRET)
    everyone = factory.build(subscriber())
    again = factory.build(subscriber(email="dev.patel@example.org", name="Dev Patel"))
    picky = factory.build(subscriber(email="ben@example.org", topics=["Diagnosis and monitoring"]))
    picky2 = factory.build(subscriber(email="bo@example.org", topics=["diagnosis and monitoring"]))
    assert factory.renders == 2
    for out in (everyone, again, picky, picky2):
        assert_good_message(out.data, out.envelope_to)
    full_text = list(parse(everyone.data).iter_parts())[0].get_content()
    picky_text = list(parse(picky.data).iter_parts())[0].get_content()
    assert summaries[may[0]].title.split(":")[0] in picky_text
    assert summaries[may[1]].title.split(":")[0] in full_text
    assert summaries[may[1]].title.split(":")[0] not in picky_text
    assert "__NL_" not in full_text and b"__NL_" not in everyone.data


@pytest.mark.parametrize("tail", ["", "é", "=", " ", "é=x"])
def test_encoded_pieces_stay_within_76_octets_and_decode_exactly(tail):
    import binascii

    for n in range(60, 160):
        body = "a" * n + tail + "__NL_NAME__" + "b" * n + tail + "__NL_EMAIL__\n"
        template = QpTemplate.of(body)
        values = {"__NL_NAME__": "Zoë = Ångström " * 6, "__NL_EMAIL__": "x@example.com"}
        encoded = template.fill(values)
        assert max(len(line) for line in encoded.split(b"\r\n")) <= 76, n
        expected = body.replace("__NL_NAME__", values["__NL_NAME__"]).replace("__NL_EMAIL__", "x@example.com")
        assert binascii.a2b_qp(encoded.replace(b"\r\n", b"\n")).decode() == expected


def text_of(data: bytes) -> str:
    return list(parse(data).iter_parts())[0].get_content()


def test_each_reader_gets_their_variant_rendered_once_not_once_per_reader(workspace):
    """Whole issue, part of it, and each in larger text: four renderings for any number of readers."""
    issue, summaries = issues.load_issue_content(workspace, "2026-06")
    factory = MessageFactory.for_issue(load_settings(workspace), issue, summaries, SECRET)
    gut_mri = ["Gut and microbiome", "Diagnosis and monitoring"]
    people = [
        subscriber(email=f"r{n}@example.org", topics=gut_mri if n % 2 else (), large_text=n % 3 == 0)
        for n in range(12)
    ]
    sent = {p.email: factory.build(p) for p in people}
    assert factory.renders == 4
    assert_good_message(sent["r0@example.org"].data, "r0@example.org")
    # "Diagnosis and monitoring" picks its section and the spinal-fluid (biomarker) teasers elsewhere.
    whole, picky = parse(sent["r2@example.org"].data), parse(sent["r1@example.org"].data)
    assert whole["Subject"] == "Microglia, gut signals and what follows PML"
    assert picky["Subject"] == "June 2026: 4 summaries on your topics"
    html = list(picky.iter_parts())[1].get_content()
    assert "4 summaries on your topics, picked from this issue's 9" in html  # no topic on a lock screen
    assert "Nine new studies" not in html
    picky_text = " ".join(text_of(sent["r1@example.org"].data).split())
    assert "You chose Gut and microbiome and Diagnosis and monitoring, so this email has 4 of" in picky_text
    large = list(parse(sent["r3@example.org"].data).iter_parts())[1].get_content()
    assert "font-size:20px" in large.replace(" ", "") and "font-size:20px" not in html.replace(" ", "")


def test_the_editors_subject_for_filtered_readers_names_topics_only_when_turned_on(workspace):
    path = workspace / "issues" / "2026-06.yaml"
    path.write_text(path.read_text() + 'filtered_subject: "Your {count} June picks: {topics}"\n')
    issue, summaries = issues.load_issue_content(workspace, "2026-06")
    settings = load_settings(workspace)
    reader = Reader("ben@example.org", topics=("optic neuritis",))
    out = MessageFactory.for_issue(settings, issue, summaries, SECRET).build(reader)
    assert parse(out.data)["Subject"] == "Your 1 June picks: your topics"
    factory = MessageFactory.for_issue(replace(settings, name_topics_in_inbox=True), issue, summaries, SECRET)
    assert parse(factory.build(reader).data)["Subject"] == "Your 1 June picks: Optic neuritis"
    compare_with_reference(factory, reader)


def test_a_list_with_first_name_and_large_text_columns_greets_and_sizes_each_reader(workspace):
    (workspace / "subscribers" / "readers.csv").write_text(
        "email,name,first_name,topics,status,subscribed_at,large_text\n"
        'erin@example.org,"Nurse, Erin",,,subscribed,2026-01-02,yes\n'
        "mary@example.org,Mary Ann Smith,Mary Ann,,subscribed,2026-01-02,\n"
        "nobody@example.org,,,,subscribed,2026-01-02,no\n"
        "bad@example.org,Bad,,,subscribed,2026-01-02,maybe\n"
    )
    settings = load_settings(workspace)
    said: list[str] = []
    on_migration(said.extend)
    engine = open_state(settings)  # the first open moves the list into the database, and says so
    assert any("readers.csv:5: large_text 'maybe' is not yes or no" in line for line in said), said
    readers = sorted(load_audience(engine)[0], key=lambda m: m.email)
    assert [(r.email, r.large_text) for r in readers] == [
        ("erin@example.org", True),
        ("mary@example.org", False),
        ("nobody@example.org", False),
    ]
    issue, summaries = issues.load_issue_content(workspace, "2026-06")
    factory = MessageFactory.for_issue(settings, issue, summaries, SECRET)
    firsts = [text_of(factory.build(r).data).splitlines()[4] for r in readers]
    assert firsts == ["Hi Erin,", "Hi Mary Ann,", "Hi there,"]
    assert factory.renders == 2  # the larger-text edition and the standard one


def test_a_ledger_row_is_a_reader_as_it_is(workspace):
    """The factory reads email, name, topics, first_name and large_text of whatever it is given."""
    row = RecipientRow(1, "erin@example.org", "readers", "Erin Nurse", (), "", "pending", 0, "", "Erin", True)
    issue, summaries = issues.load_issue_content(workspace, "2026-06")
    factory = MessageFactory.for_issue(load_settings(workspace), issue, summaries, SECRET)
    parts = factory.parts(row)
    assert parts.recipient.salutation == "Hi Erin," and parts.skeleton.rendered.large_text
    assert parse(factory.build(row).data)["To"].addresses[0].display_name == "Erin Nurse"


def test_senders_starting_together_render_a_variant_once(workspace):
    both_rendering = threading.Barrier(2, timeout=0.5)
    renders = []

    class Rendering:
        issue_id = "2026-06"

        def variant_for(self, topics, large_text):
            return Variant(large_text=large_text)

        def render(self, variant):
            renders.append(variant)
            # A second sender rendering the same variant would meet this one here.
            with contextlib.suppress(threading.BrokenBarrierError):
                both_rendering.wait()
            return Rendered("2026-06", "June", HTML, TEXT)

    factory = MessageFactory(load_settings(workspace), Rendering(), SECRET)
    people = [subscriber(email=f"r{n}@example.org") for n in range(2)]
    senders = [threading.Thread(target=factory.build, args=(who,)) for who in people]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert len(renders) == factory.renders == 1


@given(text=st.text(alphabet=st.sampled_from("ab =é.\t\n"), max_size=400))
@example(text="a" * 74 + " \n")  # binascii alone: "aaa...a=20", 77 octets
@example(text="a" * 73 + " \t\nmore\n")  # binascii alone: 78 octets
def test_quoted_printable_lines_stay_within_76_octets_and_decode_to_the_text(text):
    import binascii

    from newsletter.mail.mime import qp

    encoded = qp(text)
    assert max(len(line) for line in encoded.split(b"\r\n")) <= 76
    assert binascii.a2b_qp(encoded.replace(b"\r\n", b"\n")) == text.encode("utf-8")
