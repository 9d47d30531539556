"""Small text repairs and parsers for the site's pages: dates, glued sentences, slugs, titles."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from newsletter.errors import PageError

SITE_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_GLUED = re.compile(r"([.!?])(?=[A-Z“‘(])")
_JOURNAL = re.compile(r"respected medical journals like\s+(.+?)\s+often range")
# Words that say nothing about which study a blurb or title is about; left out of ids.
_ID_STOPWORDS_TEXT = (
    "a an the and or of in on to for with that this these how what why when can may might is are be "
    "its it as by from about study studies finds found shows showed learn discover researchers new "
    "we you your"
)
_ID_STOPWORDS = frozenset(_ID_STOPWORDS_TEXT.split())


def parse_site_date(value: str, where: str) -> date:
    """The site writes dates as M/D/YYYY; an impossible date is refused naming the page and line."""
    match = SITE_DATE.match(value.strip())
    if not match:
        raise PageError(f"{where}: expected a date as M/D/YYYY, got {value.strip()!r}")
    month, day, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise PageError(f"{where}: {value.strip()!r} is not a real date (M/D/YYYY)") from None


def is_site_date(value: str) -> bool:
    return bool(SITE_DATE.match(value.strip()))


def restore_sentence_spaces(text: str) -> str:
    """Put back the space the site's layout B drops between sentences (`studies.These`).

    A one-letter word before the full stop is an abbreviation (`e.g.`, `U.S.`), so it is left
    alone; so is a full stop followed by a lowercase letter or a digit (`1.5`, `Node.js`).
    """

    def fix(match: re.Match[str]) -> str:
        start = match.start()
        before = text[:start]
        word = re.search(r"[^\W\d_]+$", before)
        if word and len(word.group()) < 2:
            return match.group(1)
        if not before or not (before[-1].isalnum() or before[-1] in ")]’”\"'%"):
            return match.group(1)
        return match.group(1) + " "

    return _GLUED.sub(fix, text)


def journal_named(text: str) -> str | None:
    """The journal the closing boilerplate names ("published in respected medical journals like X")."""
    match = _JOURNAL.search(text)
    return match.group(1).strip() if match else None


def _words(text: str) -> list[str]:
    # Apostrophes join a word (people’s -> peoples); every other non-alphanumeric splits words.
    # Any other punctuation, symbol or space (a non-breaking hyphen, an em dash) separates words.
    spaced = "".join(
        " " if unicodedata.category(c)[0] in "PSZ" else c for c in text.replace("’", "").replace("'", "")
    )
    plain = unicodedata.normalize("NFKD", spaced)
    plain = plain.encode("ascii", "ignore").decode("ascii").lower()
    return re.findall(r"[a-z0-9]+", plain)


def url_slug(title: str) -> str:
    """The slug of a title as the site makes it: every word, lowercase, joined by hyphens."""
    return "-".join(_words(title)) or "summary"


def id_words(text: str, count: int = 5) -> str:
    """A short, readable id part: the first `count` words that say what the study is about."""
    words = [w for w in _words(text) if w not in _ID_STOPWORDS] or _words(text)
    return "-".join(words[:count]) or "summary"


def provisional_title(text: str, limit: int = 70) -> str:
    """A stand-in title cut from a takeaway or blurb, at a word boundary, for the editor to replace."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line.rstrip(".")
    cut = line[:limit].rsplit(" ", 1)[0].rstrip(",;:—–- ")
    return cut + "…"
