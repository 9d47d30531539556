"""Findings on every edition that will be sent: no promise an edition does not keep, no caution cut.

An edition (`compose.reader.Variant`) is what one group of readers gets: the summaries their topic
preferences pick, in their text size. Its inbox lines, its note and the parts of the editor's
intro it shows must name no section or topic it does not carry (a reader of gut studies told
"four summaries look at microglia"), and every sentence of its full summaries' cautions must be
in both bodies. The editions are the audience's distinct topic and text-size combinations, as
the send finds them, plus the whole issue in both sizes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from newsletter.check.findings import Finding, Severity
from newsletter.compose.reader import Variant, edition_for
from newsletter.render import reader_text
from newsletter.store.models import Issue, Summary
from newsletter.store.topics import Taxonomy

# Words that promise the "In brief" list of teasers.
_PREVIEWS = re.compile(r"\b(previews?|in brief)\b", re.IGNORECASE)


@dataclass(frozen=True)
class EditionWords:
    """What an edition says about itself, as its readers see it."""

    subject: str
    preheader: str
    note: str
    intro: tuple[str, ...]  # the paragraphs of the editor's note it shows
    html_text: str  # the HTML part's visible text, whitespace collapsed
    text: str  # the text part, whitespace collapsed


def editions_to_check(
    readers: Iterable[tuple[Sequence[str], bool]],
    issue: Issue,
    summaries: dict[str, Summary],
    taxonomy: Taxonomy,
) -> list[Variant]:
    """The distinct editions these readers (topics, large text) get, and the whole issue in both sizes."""
    found = {Variant(): None, Variant(large_text=True): None}
    for topics, large_text in readers:
        found[edition_for(topics, issue, summaries, taxonomy, large_text)] = None
    return list(found)


def edition_label(edition: Variant) -> str:
    """How a finding names an edition: "edition for Gut and microbiome, larger text"."""
    size = ", larger text" if edition.large_text else ""
    if not edition.topics:
        return f"edition of the whole issue{size}"
    matched = " (matching nothing)" if edition.unmatched else ""
    return f"edition for {reader_text.topic_list(edition.topics)}{matched}{size}"


def _terms(issue: Issue, taxonomy: Taxonomy) -> dict[str, str]:
    """The section titles and their tags a text could name, casefolded -> as written.

    Not topics.yaml's loose `tags` (Brain, Multiple sclerosis): every edition is about them.
    """
    names = [s.title for s in issue.sections] + [s.title for s in taxonomy.sections]
    names += [tag for s in taxonomy.sections for tag in s.tags]
    return {name.casefold(): name for name in names if name.strip()}


def _named(text: str, terms: dict[str, str]) -> set[str]:
    """The terms a text names, the longest first: "Gut microbiome" is not also "Microbiome"."""
    folded, named = text.casefold(), set()
    for key in sorted(terms, key=len, reverse=True):
        pattern = re.compile(rf"(?<!\w){re.escape(key)}(?!\w)")
        if pattern.search(folded):
            named.add(key)
            folded = pattern.sub(" ", folded)
    return named


def carried_terms(edition: Variant, issue: Issue, summaries: dict[str, Summary]) -> set[str]:
    """The section titles and tags an edition carries (casefolded): its sections and its summaries' tags."""
    items = set(issue.summary_ids if edition.items is None else edition.items)
    carried = {s.title.casefold() for s in issue.sections if items & set(s.items)}
    carried |= {t.casefold() for i in items if i in summaries for t in summaries[i].topics}
    return carried


def promise_findings(
    edition: Variant,
    words: EditionWords,
    issue: Issue,
    summaries: dict[str, Summary],
    taxonomy: Taxonomy,
) -> list[Finding]:
    """Sections or topics an edition's subject, preheader, note or intro name that it does not carry."""
    terms = _terms(issue, taxonomy)
    carried = carried_terms(edition, issue, summaries)
    label = edition_label(edition)
    found: list[Finding] = []
    parts = [("subject", words.subject), ("preheader", words.preheader), ("intro", " ".join(words.intro))]
    if not edition.unmatched:  # that note names the topics precisely because the issue lacks them
        parts.append(("note", words.note))
    items = issue.summary_ids if edition.items is None else edition.items
    has_teasers = any(i in summaries and summaries[i].is_teaser for i in items)
    for part, text in parts:
        missing = sorted(terms[key] for key in _named(text, terms) - carried)
        if missing:
            found.append(
                Finding(
                    Severity.ERROR,
                    f"the {part} names {reader_text.topic_list(missing)}, which this edition does not carry",
                    f"{label} ({part})",
                    _fix(part),
                )
            )
        if not has_teasers and _PREVIEWS.search(text):
            found.append(
                Finding(
                    Severity.ERROR,
                    f"the {part} promises previews, and this edition has no teaser",
                    f"{label} ({part})",
                    _fix(part),
                )
            )
    return found


def _fix(part: str) -> str:
    if part == "intro":
        return "move what the intro says about one section into that section's `intro:` in the issue file"
    if part in ("subject", "preheader"):
        return "word filtered_subject / filtered_preheader in the issue file without naming sections"
    return "check the templates: the note should name only the topics that picked summaries"


def caution_findings(edition: Variant, words: EditionWords, carried: Sequence[Summary]) -> list[Finding]:
    """Sentences of a carried full summary's considerations or "who should care" missing from a body."""
    found: list[Finding] = []
    for summary in carried:
        if summary.is_teaser:
            continue
        for field_name in ("considerations", "who_should_care"):
            # The editor's short wording, where written, is what the email carries (with a link).
            shown = getattr(summary, f"{field_name}_short") or getattr(summary, field_name)
            for sentence in reader_text.sentences(shown or ""):
                lacking = [
                    part
                    for part, body in (("HTML", words.html_text), ("text", words.text))
                    if sentence not in body
                ]
                if lacking:
                    parts = " and ".join(lacking)
                    found.append(
                        Finding(
                            Severity.ERROR,
                            f"the {parts} part lacks a sentence of {field_name}: {sentence[:60]!r}",
                            f"{edition_label(edition)} (summary {summary.id})",
                            "show the whole field in the templates (card.keep_in_mind, card.who_should_care)",
                        )
                    )
                    break
    return found
