"""The quick path for plain addresses: email-validator's own verdict, without loading email-validator.

Any address the quick path accepts must come out of email-validator valid and normalised the same
way; anything else it hands over (None), never a verdict of its own.
"""

from __future__ import annotations

import json
import string
import subprocess
import sys

import email_validator
from email_validator import EmailNotValidError, rfc_constants, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsletter.store import addresses
from newsletter.store.addresses import normalise_address, plain_address, plain_domain


def email_validators_address(value: str) -> str | None:
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return result.ascii_email or result.normalized


# Labels near every edge email-validator checks: hyphens, `ab--`/`xn--`, digits, 63/64 characters,
# the special-use names, case.
LABEL = st.one_of(
    st.text(alphabet="abzAZ09-", min_size=0, max_size=6),
    st.sampled_from(
        ["xn--p1ai", "XN--P1AI", "xn--", "ab--cd", "a--b", "-a", "a-", "q" * 63, "q" * 64, "123", "a_b"]
        + ["test", "TEST", "local", "localhost", "invalid", "onion", "arpa", "example", "é", ""]
    ),
)
DOMAIN = st.lists(LABEL, min_size=0, max_size=5).map(".".join) | st.text(max_size=12)
LOCAL = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-.", max_size=12),
    st.text(alphabet=string.printable + "é\u00a0", max_size=12),
    st.sampled_from(["Postmaster", "INFO", "abuse", "www", "x" * 64, "x" * 65, "y" * 240]),
)
# Mostly plausible addresses, so the quick path is exercised, not just its refusals.
PLAUSIBLE_LABEL = st.text(alphabet="abcXYZ019-", min_size=1, max_size=8)
PLAUSIBLE = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
    st.text(alphabet=string.ascii_letters + "._+-'", min_size=1, max_size=10),
    st.lists(PLAUSIBLE_LABEL, min_size=1, max_size=3),
    st.sampled_from(["org", "COM", "Io", "test", "arpa", "x1", "a-b"]),
)
ADDRESS = st.one_of(PLAUSIBLE, st.builds(lambda a, b: f"{a}@{b}", LOCAL, DOMAIN), st.text(max_size=30))


@settings(max_examples=3000, deadline=None)
@given(ADDRESS)
@example("a@" + ".".join(["q" * 63] * 3) + ".org")  # the domain is 196 characters, the address 198
@example("x" * 240 + "@abcdefgh.org")  # 254 characters: allowed
@example("x" * 241 + "@abcdefgh.org")  # 255: too long
@example("a@xn--p1ai.org")  # Punycode: email-validator's job
@example("a@sub.example.TEST")
@example("a@a.b-c.org\n")
def test_what_the_quick_path_accepts_email_validator_accepts_the_same(value):
    ours = plain_address(value)
    if ours is not None:
        assert ours == email_validators_address(value)


@settings(max_examples=1500, deadline=None)
@given(ADDRESS)
def test_normalise_address_gives_email_validators_verdict_and_message(value):
    try:
        ours: tuple[str, str] = ("valid", normalise_address(value))
    except ValueError as exc:
        ours = ("invalid", str(exc))
    stripped = value.strip()
    if "\r" in stripped or "\n" in stripped:
        assert ours == ("invalid", "the address contains a line break")
        return
    try:
        result = validate_email(stripped, check_deliverability=False, allow_smtputf8=False)
        theirs = ("valid", result.ascii_email or result.normalized)
    except EmailNotValidError as exc:
        theirs = ("invalid", f"{stripped!r} is not a valid email address: {exc}")
    assert ours == theirs


def test_typical_addresses_take_the_quick_path():
    assert plain_address("Ana.Reader@Example.COM") == "Ana.Reader@example.com"
    assert plain_address("Postmaster@Mail.Example.org") == "postmaster@mail.example.org"
    assert plain_address("first.o'brien+news@sub-1.example.co.uk") == "first.o'brien+news@sub-1.example.co.uk"


def test_the_quick_path_hands_over_what_it_does_not_decide():
    for value in ('"quoted"@example.org', "zoë@example.org", "a@münchen.de", "a@xn--mnchen-3ya.de",
                  "a@example.test", "a@localhost", "a@example", "a@ab--cd.org", "a@-a.org", "a@a..org",
                  "a@1.23", "a..b@example.org", "Ana <a@example.org>", "a@[127.0.0.1]"):  # fmt: skip
        assert plain_address(value) is None, value


def test_our_copies_of_email_validators_constants_agree_for_ascii():
    for char in map(chr, range(128)):
        for text in (char, f"a{char}b", f"a.{char}"):
            ours = addresses.DOT_ATOM_TEXT.match(text) is not None
            assert ours == (rfc_constants.DOT_ATOM_TEXT.match(text) is not None), repr(text)
    assert set(rfc_constants.CASE_INSENSITIVE_MAILBOX_NAMES) == addresses.CASE_INSENSITIVE_MAILBOX_NAMES
    assert addresses.EMAIL_MAX_LENGTH == rfc_constants.EMAIL_MAX_LENGTH
    assert addresses.DOMAIN_MAX_LENGTH == rfc_constants.DOMAIN_MAX_LENGTH
    assert addresses.DNS_LABEL_LENGTH_LIMIT == rfc_constants.DNS_LABEL_LENGTH_LIMIT
    assert set(email_validator.SPECIAL_USE_DOMAIN_NAMES) == addresses.SPECIAL_USE_DOMAIN_NAMES


def test_plain_domains_are_lower_cased_as_email_validator_does():
    assert plain_domain("Mail.EXAMPLE.org") == "mail.example.org"
    assert plain_domain("x" * 64 + ".org") is None


CHECK_SETTINGS_ADDRESSES = """
import json, sys
from newsletter.store.addresses import is_valid_address, normalise_address
ok = [is_valid_address(a) for a in ("news@example.org", "Reply.To@Example.com", "bounce+x@mail.example.net")]
print(json.dumps([ok, normalise_address("Ana@Example.ORG"), "email_validator" in sys.modules]))
"""


def test_plain_addresses_are_decided_without_loading_email_validator():
    done = subprocess.run(
        [sys.executable, "-c", CHECK_SETTINGS_ADDRESSES],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout) == [[True, True, True], "Ana@example.org", False]
