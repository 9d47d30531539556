"""Words the reader sees, made from raw fields: whole sentences, a natural greeting, honest counts."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Words that end in a full stop without ending a sentence ("et al. (2024)", "e.g. MRI").
# Not "MS": here it is the disease, and "people with MS." often ends a sentence.
_ABBREVIATIONS = frozenset(
    {"e.g", "i.e", "dr", "prof", "vs", "al", "approx", "fig", "cf", "ca", "mr", "mrs", "st"}
)
_END = re.compile(r"[.!?…]+[)\"'”’]*")
_TITLES = frozenset({"dr", "mr", "mrs", "ms", "mx", "miss", "prof", "sir", "dame", "rev", "nurse"})


def _ends_sentence(text: str, start: int, end: int) -> bool:
    """Whether the punctuation text[start:end] closes a sentence, judged by its neighbours."""
    word = re.search(r"[\w.]*$", text[:start])
    before = word.group(0).casefold() if word else ""
    # Abbreviations, initialisms ("U.S.") and initials ("J. Smith") rarely end a sentence; keeping
    # two sentences together is harmless, splitting one is not.
    if before in _ABBREVIATIONS or re.fullmatch(r"(\w\.)+\w|[^\W\d_]", before):
        return False
    rest = text[end:]
    if not rest:
        return True
    if rest[0].isspace():
        following = rest.lstrip()
        return not following or not following[0].islower()
    # The site's pages often run sentences together ("fear.If"); an initialism ("U.S.") does not count.
    return rest[0].isupper() and text[start] == "."


def sentences(text: str) -> list[str]:
    """The text's sentences, whitespace collapsed, each with its closing punctuation."""
    text = " ".join(text.split())
    found, start = [], 0
    for match in _END.finditer(text):
        if _ends_sentence(text, match.start(), match.end()):
            found.append(text[start : match.end()].strip())
            start = match.end()
    if text[start:].strip():
        found.append(text[start:].strip())
    return found


def first_sentences(text: str | None, limit: int = 300) -> str:
    """As many whole sentences from the start as fit in `limit` characters, and always the first.

    Medical text is never cut mid-sentence: a first sentence longer than `limit` comes whole.
    """
    chosen: list[str] = []
    for sentence in sentences(text or ""):
        if chosen and len(" ".join([*chosen, sentence])) > limit:
            break
        chosen.append(sentence)
    return " ".join(chosen)


def first_name(full_name: str) -> str:
    """The given name in a list's name field, or "" when there is none to address the reader by.

    "Nurse, Erin" (family name first) gives "Erin"; "Dr. Ana Reader" gives "Ana"; an address or a
    field of initials gives "".
    """
    name = " ".join(full_name.split())
    if "@" in name:
        return ""
    if "," in name:
        family, _, given = name.partition(",")
        name = given.strip() or family.strip()
    words = [w for w in re.split(r"\s+", name) if w.strip(".").casefold() not in _TITLES]
    if not words:
        return ""
    word = words[0].strip("\"'“”‘’()<>[]")
    if not re.fullmatch(r"[^\W\d_][\w'’.-]*", word) or len(word.rstrip(".")) < 2:
        return ""
    return word.capitalize() if word.isupper() or word.islower() else word


def greeting(given_name: str) -> str:
    """The email's first line: "Hi Erin," or, without a name, "Hello,"."""
    return f"Hi {given_name}," if given_name else "Hello,"


def topic_list(names: Sequence[str]) -> str:
    """Names as a sentence lists them: "A", "A and B", "A, B and C"."""
    if len(names) <= 2:
        return " and ".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def count_phrase(count: int, noun: str = "summary", plural: str = "summaries") -> str:
    return f"{count} {noun if count == 1 else plural}"


def filtered_line(topics: Sequence[str], shown: int, total: int) -> str:
    """What a reader with topic preferences is told: which topics, and N of the issue's M summaries.

    Empty when the reader gets the whole issue (no topics chosen, or every summary matched).
    """
    if not topics or shown >= total:
        return ""
    chosen = topic_list(topics)
    return f"You chose {chosen}, so this email has {shown} of this issue's {count_phrase(total)}."
