"""The service's purpose tokens and its settings: what verifies, for how long, with which keys."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer

from newsletter.errors import ConfigError
from newsletter.mail.tokens import make_token as list_token
from newsletter.web.service.tokens import (
    MAX_TOKEN,
    PREVIOUS_ENV,
    SALT,
    Keyring,
    Purpose,
    TokenError,
    TokenProblem,
    is_list_token,
    keyring_from_environment,
    make_token,
    read_token,
    reader_of,
)

OLD, NEW = b"the-old-key-retired-in-june", b"the-new-key-since-june-2026-Kq7vXz3LpW9mRt2Y"
NOW = datetime(2026, 6, 15, tzinfo=UTC)


def problem(keyring: Keyring, token: str, purpose: Purpose = Purpose.CONFIRM, **kw) -> TokenProblem:
    with pytest.raises(TokenError) as caught:
        read_token(keyring, token, purpose, **kw)
    return caught.value.problem


def test_a_token_names_its_purpose_and_reader():
    keyring = Keyring(NEW)
    token = make_token(keyring, Purpose.CONFIRM, "ann@example.org", n="Ann", t=["MRI"])
    data = read_token(keyring, token, Purpose.CONFIRM, timedelta(days=7))
    assert (data.email, data.fields) == ("ann@example.org", {"n": "Ann", "t": ["MRI"]})
    assert problem(keyring, token, Purpose.UNSUBSCRIBE) == TokenProblem.WRONG_PURPOSE
    assert problem(keyring, token, Purpose.PREFERENCES) == TokenProblem.WRONG_PURPOSE


def test_forged_truncated_and_expired_tokens_are_refused():
    keyring = Keyring(NEW)
    token = make_token(keyring, Purpose.CONFIRM, "ann@example.org")
    assert problem(Keyring(b"someone-elses-key-entirely"), token) == TokenProblem.FORGED
    assert problem(keyring, token[:-3]) == TokenProblem.FORGED
    assert problem(keyring, token.rsplit(".", 1)[0]) == TokenProblem.MALFORMED
    assert problem(keyring, "") == TokenProblem.MALFORMED
    assert problem(keyring, "a" * 3000) == TokenProblem.MALFORMED
    later = datetime.now(UTC) + timedelta(days=7, seconds=1)
    assert problem(keyring, token, max_age=timedelta(days=7), now=later) == TokenProblem.EXPIRED


def test_a_retired_key_verifies_until_the_set_moment_then_not():
    before = Keyring(OLD)
    token = make_token(before, Purpose.PREFERENCES, "ann@example.org")
    rotated = Keyring(NEW, (OLD,), previous_until=NOW + timedelta(days=30))
    assert read_token(rotated, token, Purpose.PREFERENCES, now=NOW).email == "ann@example.org"
    assert problem(rotated, token, Purpose.PREFERENCES, now=NOW + timedelta(days=31)) == TokenProblem.FORGED
    fresh = make_token(rotated, Purpose.PREFERENCES, "ann@example.org")  # signed with the new key
    assert problem(Keyring(OLD), fresh, Purpose.PREFERENCES) == TokenProblem.FORGED


def test_the_unsubscribe_token_of_emails_already_sent_is_read_with_either_key():
    emailed = list_token(OLD, "roundup.example.org", "Ann@Example.org")
    rotated = Keyring(NEW, (OLD,), previous_until=NOW + timedelta(days=30))
    assert reader_of(rotated, emailed, Purpose.UNSUBSCRIBE, "roundup.example.org", NOW) == "ann@example.org"
    with pytest.raises(TokenError) as other_list:
        reader_of(rotated, emailed, Purpose.UNSUBSCRIBE, "other.example.org", NOW)
    assert other_list.value.problem == TokenProblem.WRONG_PURPOSE
    with pytest.raises(TokenError):
        reader_of(rotated, emailed, Purpose.UNSUBSCRIBE, "roundup.example.org", NOW + timedelta(days=31))


def test_keys_come_from_the_environment_and_a_retired_key_needs_an_end(monkeypatch):
    monkeypatch.setenv("NEWSLETTER_SECRET", NEW.decode())
    monkeypatch.setenv(PREVIOUS_ENV, OLD.decode())
    with pytest.raises(ConfigError, match="no service.previous_key_until"):
        keyring_from_environment(None, dev_ok=False)
    keyring = keyring_from_environment(NOW, dev_ok=False)
    assert keyring.verifying(NOW - timedelta(days=1)) == [OLD, NEW] and keyring.verifying(NOW) == [NEW]
    monkeypatch.delenv("NEWSLETTER_SECRET")
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET is not set"):
        keyring_from_environment(NOW, dev_ok=False)
    assert keyring_from_environment(NOW, dev_ok=True).development


# Addresses as the forms accept them: up to 254 octets, any script, with or without a long domain.
_local = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=64)
_addresses = st.builds(
    lambda local, domain: f"{local}@{domain}"[:254],
    _local,
    st.sampled_from(
        ("example.org", "ex\u00e4mple.org", "a" * 63 + "." + "b" * 63 + ".example.org", "例え.jp")
    ),
)
_topics = st.lists(
    st.sampled_from(
        (
            "Brain and spinal cord",
            "Immune cells",
            "Gut and microbiome",
            "Relapses",
            "Pregnancy and MS",
            "Symptoms and daily life",
            "Treatments",
            "Diagnosis",
        )
    ),
    unique=True,
)


@settings(max_examples=300, deadline=None)
@given(
    purpose=st.sampled_from(Purpose),
    email=_addresses,
    topics=_topics,
    name=st.text(max_size=100),
    version=st.text(max_size=100),
)
def test_every_token_the_service_makes_reads_back_whatever_its_payload(purpose, email, topics, name, version):
    keyring = Keyring(NEW)
    token = make_token(keyring, purpose, email, n=name, t=topics, v=version)
    assert not token.startswith(".") and token.count(".") == 2 and len(token) <= MAX_TOKEN
    assert token == quote(token, safe="")  # goes into a link as it is
    data = read_token(keyring, token, purpose, timedelta(days=7))
    assert (data.email, data.fields) == (email, {"n": name, "t": topics, "v": version})
    if purpose != Purpose.CONFIRM:
        assert reader_of(keyring, token, purpose, "roundup.example.org") == email
    for other in set(Purpose) - {purpose}:
        assert problem(keyring, token, other) == TokenProblem.WRONG_PURPOSE


def test_a_compressed_token_sent_before_this_change_still_verifies():
    """itsdangerous compressed long payloads behind a leading dot; links made so are still out there."""
    payload = {"p": "confirm", "e": "ann@example.org", "t": ["Immune cells", "Gut and microbiome"] * 3}
    sent = URLSafeTimedSerializer(
        [NEW], salt=SALT, signer_kwargs={"digest_method": hashlib.sha256, "key_derivation": "hmac"}
    ).dumps(payload)
    assert sent.startswith(".")  # the shape the old reader refused
    assert read_token(Keyring(NEW), sent, Purpose.CONFIRM).fields["t"] == payload["t"]
    assert not is_list_token(sent)
    assert problem(Keyring(NEW), sent.rsplit(".", 1)[0]) == TokenProblem.MALFORMED  # cut short
