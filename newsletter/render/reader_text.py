"""Words the reader sees, made from raw fields: whole sentences and honest counts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from newsletter.store.models import Issue

# Words that end in a full stop without ending a sentence ("et al. (2024)", "e.g. MRI").
# Not "MS": here it is the disease, and "people with MS." often ends a sentence.
_ABBREVIATIONS = frozenset(
    {"e.g", "i.e", "dr", "prof", "vs", "al", "approx", "fig", "cf", "ca", "mr", "mrs", "st"}
)
_END = re.compile(r"[.!?…]+[)\"'”’]*")


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


def topic_list(names: Sequence[str]) -> str:
    """Names as a sentence lists them: "A", "A and B", "A, B and C"."""
    if len(names) <= 2:
        return " and ".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def count_phrase(count: int, noun: str = "summary", plural: str = "summaries") -> str:
    return f"{count} {noun if count == 1 else plural}"


def filtered_line(topics: Sequence[str], shown: int, total: int) -> str:
    """What a reader with topic preferences is told: the topics that picked their summaries, and
    N of the issue's M summaries.

    Empty when the reader gets the whole issue (no topics chosen, or every summary matched).
    """
    if not topics or shown >= total:
        return ""
    chosen = topic_list(topics)
    return f"You chose {chosen}, so this email has {shown} of this issue's {count_phrase(total)}."


def unmatched_line(topics: Sequence[str]) -> str:
    """What a reader is told whose topics pick nothing in the issue: they get all of it."""
    if len(topics) == 1:
        return f"Your topic {topics[0]} has no summary in this issue, so this email has all of it."
    named = topic_list(topics)
    return f"None of your topics ({named}) has a summary in this issue, so this email has all of it."


# Lines for a reader who gets part of the issue, when the issue file has none of its own
# (issues/<id>.yaml filtered_subject / filtered_preheader, with the same placeholders).
FILTERED_SUBJECT = "{edition}: {summaries} on your topics"
FILTERED_PREHEADER = "{summaries} on {topics}, picked from this issue's {total}"
# What {topics} says in the inbox (subject, preheader) unless `editions.name_topics_in_inbox` is
# on: topic choices are health data, and a phone's lock screen shows both lines to anyone.
INBOX_TOPICS = "your topics"
_PLACEHOLDER = re.compile(r"\{(topics|count|total|summaries|edition)\}")


def variant_line(template: str, topics: str, shown: int, total: int, edition: str = "") -> str:
    """A subject or preheader line with its placeholders filled; true for what this reader gets.

    {topics} "Gut and MRI", {count} "2", {total} "9", {summaries} "2 summaries" (and, for the
    tool's own default, {edition} "June 2026").
    """
    values = {
        "topics": topics,
        "count": str(shown),
        "total": str(total),
        "summaries": count_phrase(shown),
        "edition": edition,
    }
    return " ".join(_PLACEHOLDER.sub(lambda m: values[m.group(1)], template).split())


@dataclass(frozen=True)
class VariantWords:
    """The subject, preheader and note of one rendering; the note is "" for the whole issue."""

    subject: str
    preheader: str
    note: str


def variant_words(
    issue: Issue,
    edition: str,
    topics: Sequence[str],
    shown: int,
    total: int,
    unmatched: bool = False,
    name_topics_in_inbox: bool = False,
) -> VariantWords:
    """What an edition of `shown` of the issue's `total` summaries tells its readers.

    The whole issue keeps the editor's subject and preheader (a reader whose topics `unmatched`
    anything is told so in the note). Part of it gets the editor's filtered_subject and
    filtered_preheader, else the tool's own words, so a reader of two summaries is never promised
    nine. `topics` are those that picked the summaries; the inbox lines name them only when
    `name_topics_in_inbox`.
    """
    if unmatched and topics:
        return VariantWords(issue.subject, issue.preheader, unmatched_line(topics))
    note = filtered_line(topics, shown, total)
    if not note:
        return VariantWords(issue.subject, issue.preheader, "")
    inbox = topic_list(topics) if name_topics_in_inbox else INBOX_TOPICS
    subject = variant_line(issue.filtered_subject or FILTERED_SUBJECT, inbox, shown, total, edition)
    preheader = variant_line(issue.filtered_preheader or FILTERED_PREHEADER, inbox, shown, total, edition)
    return VariantWords(subject, preheader, note)
