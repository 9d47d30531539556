"""People's names: the greeting never says "Hi Dr.," or "Hi J.,", and a split name loses nothing."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.db.addresses import display_name
from newsletter.names import greeting, greeting_name, split_name


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        ("Erin Nurse", "Hi Erin,"),
        ("Nurse, Erin", "Hi Erin,"),  # family name first, as a spreadsheet export writes it
        ("Dr. Zoë Ångström", "Hi Dr. Ångström,"),
        ("dr zoë ångström", "Hi Dr. Ångström,"),
        ("Prof. Ana Reader", "Hi Prof. Reader,"),
        ("Dr. Ångström", "Hi Dr. Ångström,"),
        ("Sir Paul McCartney", "Hi Sir Paul,"),
        ("J. R. R. Tolkien", "Hi there,"),  # initials are no name to greet by; nor is a bare surname
        ("Tolkien, J.R.R.", "Hi there,"),
        ("J. Robert Oppenheimer", "Hi Robert,"),
        ("Ana Reader, PhD", "Hi Ana,"),
        ("ana reader", "Hi Ana,"),
        ("ZOË ÅNGSTRÖM", "Hi Zoë,"),
        ("Jean-Luc Picard", "Hi Jean-Luc,"),
        ("O'Neil", "Hi O'Neil,"),
        ('Zoë "Z" <O\'Neil>', "Hi Zoë,"),
        ("", "Hi there,"),
        ("   ", "Hi there,"),
        ("ana@example.org", "Hi there,"),
        ("J.", "Hi there,"),
        ("Dr.", "Hi there,"),
        ("1234", "Hi there,"),
    ],
)
def test_a_full_name_greets_by_given_name_or_title_and_family_name(raw: str, line: str):
    assert greeting(greeting_name("", raw)) == line


def test_a_first_name_field_wins_over_the_full_name_and_keeps_its_double_name():
    assert greeting_name("Erin", "Nurse, Erin") == "Erin"
    assert greeting_name("mary ann", "Mary Ann Smith") == "Mary Ann"
    assert greeting_name("ZOË", "") == "Zoë"
    assert greeting_name("erin@example.org", "Dev Patel") == "Dev"  # a misplaced address is no name
    assert greeting_name("J.", "Dr. Zoë Ångström") == "Dr. Ångström"  # an initial is no first name


@pytest.mark.parametrize(
    ("raw", "first", "last"),
    [
        ("Zoë Ångström", "Zoë", "Ångström"),
        ("Nurse, Erin", "Erin", "Nurse"),
        ("Ana Reader, PhD", "Ana", "Reader, PhD"),
        # Not plainly a given name first: kept whole, read by the greeting when it is sent.
        ("Dr. Zoë Ångström", "", "Dr. Zoë Ångström"),
        ("J. R. R. Tolkien", "", "J. R. R. Tolkien"),
    ],
)
def test_a_one_field_name_is_split_only_where_the_first_name_is_plain(raw, first, last):
    assert split_name(raw) == (first, last)


TITLES = st.sampled_from(["Dr.", "Dr", "dr.", "Prof.", "Prof", "Mr.", "Mrs", "Ms.", "Mx", "Rev."])
INITIALS = st.sampled_from(["J.", "R.", "J.R.R.", "A", "Z."])
WORD = st.text(st.characters(categories=["Lu", "Ll"]), min_size=2, max_size=10)
NOT_NAMES = {"dr", "doctor", "prof", "professor", "mr", "mrs", "ms", "mx", "miss", "rev", "sir", "dame"}
NOT_NAMES |= {"jr", "sr", "ii", "iii", "iv", "phd", "md", "do", "rn", "msc", "mph", "dphil"}
NAME = st.builds(lambda w: w[0].upper() + w[1:].lower(), WORD).filter(lambda w: w.casefold() not in NOT_NAMES)
ANY_NAME = st.lists(st.one_of(TITLES, INITIALS, NAME, st.text(max_size=6)), max_size=5).map(" ".join)


@given(ANY_NAME, st.text(max_size=12))
def test_a_greeting_is_never_a_bare_title_an_initial_or_an_address(full: str, first: str):
    line = greeting(greeting_name(first, full))
    assert line.startswith("Hi ") and line.endswith(",")
    named = line[3:-1]
    assert named and "@" not in named and "\n" not in named
    words = named.split(" ")
    assert words[-1].rstrip(".").casefold() not in {"dr", "prof", "mr", "mrs", "ms", "mx", "rev"}
    assert not (len(words[-1].rstrip(".")) == 1 and named != "there")


@given(TITLES, st.lists(INITIALS, max_size=2), NAME, NAME)
def test_a_titled_name_greets_by_title_and_family_name(title, initials, given_name, family):
    full = " ".join([title, *initials, given_name, family])
    # The name as written, in its composed form (a decomposed "Zoë" greets as the composed one).
    assert greeting(greeting_name("", full)).endswith(f" {unicodedata.normalize('NFC', family)},")
    assert greeting(greeting_name("", full)).startswith(("Hi Dr. ", "Hi Prof. ", "Hi M", "Hi Rev. "))


@given(st.lists(INITIALS, min_size=1, max_size=3), NAME)
def test_initials_and_a_family_name_greet_nobody_by_a_letter(initials, family):
    assert greeting(greeting_name("", " ".join([*initials, family]))) == "Hi there,"


@given(ANY_NAME)
def test_a_split_name_joins_back_to_the_name_as_given_and_its_first_name_greets(full: str):
    first, last = split_name(full)
    normal = " ".join(full.split())
    if "," in normal and first:
        assert (first, last) == tuple(p.strip() for p in reversed(normal.split(",", 1)))
    else:
        assert display_name(first, last) == normal
    if first:
        assert greeting_name(first, "") != ""
