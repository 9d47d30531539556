"""People's names: whom an email greets, and how a one-field name is kept as first and last name.

One rule for every source (CSV import, `subscribers add --name`, the migration, the greeting):
a first-name field is used as given; from a full name, honorifics and initials are never taken
for a first name ("Dr. Zoë Ångström" greets "Hi Dr. Ångström,", "J. R. R. Tolkien" "Hi there,").
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

# Honorifics, casefolded without their full stop, and how a greeting writes them.
_TITLES = {
    "dr": "Dr.",
    "doctor": "Dr.",
    "prof": "Prof.",
    "professor": "Prof.",
    "mr": "Mr.",
    "mrs": "Mrs.",
    "ms": "Ms.",
    "mx": "Mx.",
    "miss": "Miss",
    "rev": "Rev.",
    "sir": "Sir",
    "dame": "Dame",
}
# Titles that go with the given name ("Sir Paul"), not the family name ("Dr. Ångström").
_WITH_GIVEN = frozenset({"Sir", "Dame"})
# Letters after a name: never a family name to greet by.
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "do", "rn", "msc", "mph", "dphil"})
_QUOTES = "\"'“”‘’()<>[]"
_INNER = "'’.-"  # inside a name: "O'Brien", "Jean-Luc", "St.John"
NO_NAME = "there"  # "Hi there,": the greeting of a reader whose name we do not know


class Parsed(NamedTuple):
    title: str  # "Dr." or ""
    given: str  # the first real given name, or ""
    family: str  # the last real word of the name, or ""


def _word(token: str) -> str:
    return token.strip(_QUOTES).rstrip(",")


def _is_initial(word: str) -> bool:
    """ "J", "J." or "J.R.R.": letters standing for names, never a name to greet by."""
    return bool(re.fullmatch(r"(?:[^\W\d_]\.)+[^\W\d_]?|[^\W\d_]", word))


def _letter(char: str) -> bool:
    return char.isalpha() or unicodedata.category(char).startswith("M")  # a combining accent too


def _is_name(word: str) -> bool:
    """A word that is a name: letters (accents in any form), inner apostrophes, hyphens or dots."""
    return (
        len(word) > 0
        and word[0].isalpha()
        and _letter(word[-1])
        and all(_letter(c) or c in _INNER for c in word)
        and not _is_initial(word)
    )


def _mended(word: str) -> str:
    """A name in its own case, or capitalised when written all in one case ("ZOË", "zoë")."""
    if word.isupper() or word.islower():
        return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))
    return word


def parse(full: str) -> Parsed:
    """A one-field name read as a person would: "Nurse, Erin" is Erin Nurse; titles and initials set aside."""
    name = unicodedata.normalize("NFC", " ".join(full.split()))
    if not name or "@" in name:
        return Parsed("", "", "")
    if name.count(",") == 1:
        family, _, given = (part.strip() for part in name.partition(","))
        if given.strip(" .").casefold() in _SUFFIXES:
            name = family  # "Ana Reader, PhD"
        elif given and family:
            name = f"{given} {family}"  # "Nurse, Erin"
    title = ""
    words: list[str] = []
    for token in name.split(" "):
        word = _word(token)
        key = word.rstrip(".").casefold()
        if not words and key in _TITLES:
            title = title or _TITLES[key]  # "Prof. Dr. Müller": the first title is enough
        elif key in _SUFFIXES and words:
            break  # "Ana Reader, PhD": what follows is letters after the name
        elif word:
            words.append(word)
    real = [n for n, w in enumerate(words) if _is_name(w) and w.rstrip(".").casefold() not in _TITLES]
    if not real:
        return Parsed(title, "", "")
    # With a title, one word is the family name ("Dr. Ångström"); otherwise the given name ("Zoë").
    # A lone real word after initials is a family name too ("J. R. R. Tolkien").
    last = len(words) - 1
    family = _mended(words[last]) if real[-1] == last and (last > 0 or title) else ""
    given_at = real[0] if real[0] == 0 or len(real) > 1 else None
    given = _mended(words[given_at]) if given_at is not None and not (title and last == 0) else ""
    return Parsed(title, given, family)


def greeting_name(first: str, full: str) -> str:
    """Whom to greet: a first-name field as given (case mended), else what a full name allows.

    "Dr. Zoë Ångström" -> "Dr. Ångström"; "Zoë Ångström" -> "Zoë"; "J. R. R. Tolkien" -> "".
    """
    given = parse(first) if "@" not in first else Parsed("", "", "")
    if given.given and not given.title:
        # The whole field, double names included ("Mary Ann"), without initials or stray marks.
        return " ".join(_mended(w) for w in map(_word, first.split()) if _is_name(w))
    parsed = parse(full)
    return _titled(parsed) or parsed.given or _titled(given)


def _titled(parsed: Parsed) -> str:
    if not parsed.title:
        return ""
    name = parsed.given if parsed.title in _WITH_GIVEN else parsed.family
    return f"{parsed.title} {name}" if name else ""


def greeting(name: str) -> str:
    """The email's first line: "Hi Erin," or, without a name, "Hi there,"."""
    return f"Hi {name or NO_NAME},"


def split_name(full: str) -> tuple[str, str]:
    """A one-field name as (first, last) for a list that keeps both; joined again they read as given.

    The first name is set only when it is plainly the given name ("Zoë Ångström", "Nurse, Erin");
    otherwise ("Dr. Zoë Ångström", "J. R. R. Tolkien") the whole name is kept as the last name and
    the greeting reads it at send time (`greeting_name`), so nothing is lost or guessed.
    """
    name = " ".join(full.split())
    parsed = parse(name)
    if not parsed.given or parsed.title:
        return "", name
    if name.count(",") == 1:
        family, _, given = (part.strip() for part in name.partition(","))
        if family and given and _mended(_word(given.split(" ")[0])) == parsed.given:
            return given, family  # "Nurse, Erin"
    first, _, last = name.partition(" ")
    return (first, last) if _mended(first) == parsed.given else ("", name)
