"""Plain language, measured: each summary's Flesch-Kincaid reading grade and its hardest sentences.

The grade is textstat's (pinned to 0.7.4, which works offline: its syllables come from pyphen's
bundled dictionaries). It is measured on what the site publishes of a summary (takeaway, what was
found, who should care, considerations; a teaser's blurb), reported beside each card in the preview
and warned about above `check.reading_grade_target` (default 8, NIH's advice for patient material).
The tool reports; it never rewrites.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.check.findings import Finding, Severity
from newsletter.render import reader_text
from newsletter.store.models import Summary

HARDEST_SHOWN = 2  # sentences named in a warning
_FIELDS = ("takeaway", "found", "who_should_care", "considerations")


@dataclass(frozen=True)
class ReadingGrade:
    """One summary's grade and its hardest sentences (grade, sentence), hardest first."""

    summary_id: str
    title: str
    grade: float
    hardest: tuple[tuple[float, str], ...]


def grade_of(text: str) -> float:
    """The Flesch-Kincaid grade of a text: 0.39 words/sentence + 11.8 syllables/word - 15.59."""
    import textstat  # loads pyphen's dictionary: only when a check measures

    return round(float(textstat.flesch_kincaid_grade(text)), 1) if text.strip() else 0.0


def measured_text(summary: Summary) -> str:
    """What a reader reads of a summary on the site: its full text, or a teaser's blurb."""
    parts = [getattr(summary, name) or "" for name in _FIELDS]
    return " ".join(p for p in parts if p) or summary.teaser or ""


def reading_grade(summary: Summary) -> ReadingGrade:
    text = measured_text(summary)
    graded = sorted(((grade_of(s), s) for s in reader_text.sentences(text)), key=lambda g: -g[0])
    return ReadingGrade(summary.id, summary.title, grade_of(text), tuple(graded[:HARDEST_SHOWN]))


def reading_findings(grade: ReadingGrade, target: float, is_teaser: bool) -> list[Finding]:
    """A warning for a full summary above the target grade, naming its hardest sentences; else a note."""
    where = f"summaries/{grade.summary_id}.yaml"
    if grade.grade <= target or is_teaser:
        return [
            Finding(
                Severity.NOTE,
                f"reading grade {grade.grade:.1f} (target {target:g})",
                where,
                "none needed"
                if grade.grade <= target
                else "a teaser is the site's blurb; its page is what counts",
            )
        ]
    hardest = "; ".join(f"{g:.1f}: {_short(s)!r}" for g, s in grade.hardest)
    return [
        Finding(
            Severity.WARNING,
            f"reading grade {grade.grade:.1f}, {grade.grade - target:.1f} above the target of {target:g} "
            f"(hardest sentences, by grade: {hardest})",
            where,
            "shorter sentences and everyday words bring the grade down; the tool never rewrites",
        )
    ]


def _short(sentence: str, limit: int = 90) -> str:
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
