"""The To header written directly reads back exactly as the email package's own, for any name."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage

import pytest
from hypothesis import assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from newsletter.errors import DeliveryError
from newsletter.mail.headers import to_header
from newsletter.store.addresses import check_display_name


def reference(name: str, email: str) -> bytes:
    """The To header as EmailMessage (policy=SMTP) writes it."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["To"] = Address(display_name=name, addr_spec=email)
    return msg.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n"


def longest_line(header: bytes) -> int:
    return max(len(line) for line in header.split(b"\r\n"))


def read_back(header: bytes) -> tuple[str, str]:
    """(display name, address) as a mail client's parser reads the header."""
    to = message_from_bytes(header + b"\r\n", policy=policy.default)["To"].addresses
    assert len(to) == 1
    return to[0].display_name, to[0].addr_spec


@pytest.mark.parametrize(
    "name",
    ["Ana Reader", "", "Zoë Ångström", "Nurse, Erin", 'Ann "Nan" Lee', "O'Brien-Smith", "Dr. Who", "张伟",
     "back\\slash", "=?utf-8?q?fake?=", "two  spaces", "Zoë " * 30, "A" * 90],
)  # fmt: skip
def test_reads_back_as_the_email_package_writes_it(name):
    fast = to_header(name, "reader@example.org")
    assert read_back(fast) == read_back(reference(name, "reader@example.org"))
    # Within 78 octets, except for a word too long to fold, which the email package also leaves whole.
    assert longest_line(fast) <= max(78, longest_line(reference(name, "reader@example.org")))


def test_plain_and_encoded_names_are_the_email_package_bytes():
    for name in ("Ana Reader", "Zoë Ångström", ""):
        assert to_header(name, "reader@example.org") == reference(name, "reader@example.org")


_names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=80)


@hsettings(max_examples=300, deadline=None)
@given(name=_names)
def test_any_safe_name_reads_back_the_same(name):
    assume(check_display_name(name) is None)
    fast = to_header(name, "reader@example.org")
    assert read_back(fast) == read_back(reference(name, "reader@example.org"))
    # Within 78 octets, except for a word too long to fold, which the email package also leaves whole.
    assert longest_line(fast) <= max(78, longest_line(reference(name, "reader@example.org")))


def test_a_name_that_would_smuggle_a_recipient_is_refused():
    with pytest.raises(DeliveryError, match="refusing the To header"):
        to_header("Eve <eve@evil.example>, Bob", "reader@example.org")
    with pytest.raises(DeliveryError, match="line break"):
        to_header("Eve\r\nBcc: victim@example.org", "reader@example.org")
