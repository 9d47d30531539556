"""What the check reports: findings with a severity, where and how to fix, and the whole report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsletter.check.reading import ReadingGrade

GMAIL_CLIP_BYTES = 102 * 1024  # Gmail hides everything past this under "[Message clipped]"


class Severity(StrEnum):
    ERROR = "error"  # subscribers would suffer: `check` fails
    WARNING = "warning"  # worth a look: `check --strict` fails
    NOTE = "note"  # for information


@dataclass(frozen=True)
class Finding:
    """One problem: how bad, what is wrong, where (file, field or summary id) and how to fix it."""

    severity: Severity
    what: str
    where: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.what}. Fix: {self.fix}"


@dataclass(frozen=True)
class SpamScore:
    score: float
    required: float
    rules: tuple[tuple[str, float], ...]  # (rule name, points), as SpamAssassin listed them


@dataclass(frozen=True)
class SampleEmail:
    """The email as the sample recipient gets it: what an inbox shows, and both bodies."""

    recipient: str
    from_name: str
    subject: str
    preheader: str
    html: str
    text: str
    message: bytes  # the serialised message, as a provider would get it
    summary_ids: tuple[str, ...]  # the summaries this recipient's email carries (topic preferences)


@dataclass(frozen=True)
class CheckReport:
    issue_id: str
    findings: tuple[Finding, ...]
    html_bytes: int  # the HTML part as transmitted (quoted-printable), which is what Gmail counts
    spam: SpamScore | None  # None when SpamAssassin is not installed, was not run or failed
    sample: SampleEmail | None = None  # None when the issue could not be rendered
    grades: tuple[ReadingGrade, ...] = ()  # each summary's reading grade, in the issue's order
    grade_target: float = 8.0  # `check.reading_grade_target`

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == Severity.WARNING)

    def failed(self, strict: bool = False) -> bool:
        return bool(self.errors) or (strict and bool(self.warnings))

    def summary_line(self) -> str:
        size = (
            f"HTML {self.html_bytes / 1024:.1f} KB as sent, of Gmail's {GMAIL_CLIP_BYTES // 1024} KB"
            if self.sample
            else "not rendered"
        )
        return f"{self.issue_id}: {len(self.errors)} error(s), {len(self.warnings)} warning(s); {size}" + (
            f"; SpamAssassin {self.spam.score:.1f} of {self.spam.required:.1f}" if self.spam else ""
        )


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}


def sorted_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Errors first, then warnings, then notes; in the order found within each."""
    return tuple(sorted(findings, key=lambda f: _RANK[f.severity]))
