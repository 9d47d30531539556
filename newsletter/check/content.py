"""Findings on the summaries an issue carries: what a careful reader of medical research would miss."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date

from newsletter.check.findings import Finding, Severity
from newsletter.check.issue import field_findings
from newsletter.store.models import NONE_ON_THE_SITE, Summary

URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
# The fields an editor (or the importer, for the editor to check) writes in a summary file.
EDITOR_FIELDS = (
    "title",
    "journal",
    "takeaway",
    "found",
    "who_should_care",
    "considerations",
    "who_should_care_short",
    "considerations_short",
    "teaser",
)
# Where run-together tags meet: lower then upper ("diseaseBrain"), or an upper-case run then a
# capitalised word ("Vitamin DRelapses"); "BAMs" or "DMTs" end in one lower-case letter and pass.
# Words of "who should care" or the considerations that a phone shows on about one screen (~7 words
# a line at 375 px, ~30 lines). Past it the email is long, but it still carries the whole text:
# shortening medical text is the editor's decision, never the tool's.
LONG_FIELD_WORDS = 60
_GLUED = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z]{2})")


def summary_findings(summary: Summary, today: date, vocabulary: Collection[str] = ()) -> list[Finding]:
    """What is wrong with one summary; `vocabulary` holds the known tags, casefolded."""
    where = f"summaries/{summary.id}.yaml"
    found: list[Finding] = []
    shown = summary.takeaway or summary.teaser
    if not shown:
        # The email falls back to the site's teaser blurb (render.card), else shows only the title.
        found.append(
            Finding(
                Severity.WARNING if summary.is_teaser else Severity.ERROR,
                "no takeaway, so the email shows only the title",
                f"{where} (takeaway)",
                "add a one- or two-sentence takeaway",
            )
        )
    elif not summary.takeaway:
        # A teaser needs only what the email shows of it (title, link, blurb); a full summary more.
        found.append(
            Finding(
                Severity.NOTE if summary.is_teaser else Severity.ERROR,
                "no takeaway, so the email shows the site's short teaser, cut to a word",
                f"{where} (takeaway)",
                "add a one- or two-sentence takeaway",
            )
        )
    if not summary.is_teaser and not summary.considerations:
        found.append(
            Finding(
                Severity.ERROR,
                "a full summary without its considerations; readers of research need its limits",
                f"{where} (considerations)",
                f"copy the page's \"Important considerations\" into {where}, or if the site's page has "
                f"none, acknowledge it with the line `considerations: {NONE_ON_THE_SITE}`",
            )
        )
    if not summary.is_teaser:
        found += long_field_findings(summary, where)
    for field_name in EDITOR_FIELDS:
        value = getattr(summary, field_name) or ""
        found += field_findings(value, field_name, f"{where} ({field_name})")
    for field_name in ("url", *EDITOR_FIELDS):
        value = getattr(summary, field_name) or ""
        for url in URL.findall(value):
            if not url.lower().startswith("https://"):
                found.append(
                    Finding(
                        Severity.ERROR,
                        f"the link {url} is not https",
                        f"{where} ({field_name})",
                        "use the https address",
                    )
                )
    found += _tag_findings(summary, vocabulary, where)
    if summary.published > today:
        found.append(
            Finding(
                Severity.ERROR,
                f"published {summary.published} is in the future (today is {today})",
                f"{where} (published)",
                "correct the date from the site's page",
            )
        )
    return found


def long_field_findings(summary: Summary, where: str) -> list[Finding]:
    """Which of a full summary's medical texts make its card long, and by how many words."""
    found = []
    for field_name in ("who_should_care", "considerations"):
        words = len((getattr(summary, field_name) or "").split())
        # The editor's short wording is what the email shows: measure that instead of the whole.
        short = getattr(summary, f"{field_name}_short")
        if short is not None:
            if len(" ".join(short.split())) >= len(" ".join((getattr(summary, field_name) or "").split())):
                found.append(
                    Finding(
                        Severity.WARNING,
                        f"{field_name}_short is not shorter than {field_name} (the site's text may have"
                        " been shortened since), so the email shows more than it needs to",
                        f"{where} ({field_name}_short)",
                        f"remove {field_name}_short to show the whole text, or shorten it",
                    )
                )
            field_name, words = f"{field_name}_short", len(short.split())
        if words > LONG_FIELD_WORDS:
            found.append(
                Finding(
                    Severity.NOTE,
                    f"{field_name} is {words} words, {words - LONG_FIELD_WORDS} over the "
                    f"{LONG_FIELD_WORDS} a phone shows on one screen; the email carries it whole",
                    f"{where} ({field_name})",
                    _shorten_advice(field_name),
                )
            )
    return found


def _shorten_advice(field_name: str) -> str:
    if field_name.endswith("_short"):
        return f"shorten {field_name} further, or remove it to show the whole text (the tool never cuts it)"
    return (
        f"if the card is too long, write a shorter `{field_name}_short:` for the email (it links to the "
        f"whole text, which the web page and archive keep showing); the tool never cuts it"
    )


def glued_parts(tag: str) -> list[str]:
    """A tag split where run-together tags meet; one part when it does not look glued."""
    return [part.strip() for part in _GLUED.split(tag) if part.strip()]


def _tag_findings(summary: Summary, vocabulary: Collection[str], where: str) -> list[Finding]:
    found: list[Finding] = []
    for tag in summary.topics:
        found += field_findings(tag, "topics", f"{where} (topics)")
        parts = glued_parts(tag)
        if len(parts) > 1 and tag.casefold() not in vocabulary:
            found.append(
                Finding(
                    Severity.WARNING,
                    f"the topic tag {tag!r} looks like several tags run together",
                    f"{where} (topics)",
                    f"write them as separate tags, e.g. [{', '.join(parts)}], or add {tag!r} to "
                    "topics.yaml if it is one tag",
                )
            )
    return found
