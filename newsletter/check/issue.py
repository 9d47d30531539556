"""Findings on the issue as assembled: its editor-written lines, its items, what the loader refused."""

from __future__ import annotations

import re
from collections.abc import Mapping

from newsletter.check.fields import control_characters, placeholders
from newsletter.check.findings import Finding, Severity
from newsletter.compose.draft import suggest_subject
from newsletter.compose.ready import SUBJECT_ADVICE
from newsletter.compose.select import DraftSection
from newsletter.errors import NewsletterError
from newsletter.store.fileio import YamlDocument
from newsletter.store.models import Issue, Summary

SUBJECT_MAX = SUBJECT_ADVICE  # most inboxes cut the subject near here, on phones sooner
_MORE = re.compile(r" \+ (\d+) more\Z")


def issue_findings(
    issue: Issue,
    summaries: Mapping[str, Summary],
    doc: YamlDocument,
    intro_todo: str,
    carried: Mapping[str, str | None] | None = None,
    earlier_subjects: Mapping[str, str] | None = None,
) -> list[Finding]:
    """What is wrong with the issue as assembled and loaded (so each item has its summary).

    `carried` maps a summary id to the earlier issue that already sent it (None: only the delivery
    ledger records it, see `compose.draft.carried_before`); `earlier_subjects` maps the subject of
    each earlier issue that went out to its id; `doc` is the issue's YAML, for line numbers.
    """
    found: list[Finding] = []
    carried = carried or {}
    repeats = repeat_findings(issue, carried, earlier_subjects or {}, doc)
    found += repeats

    def add(severity: Severity, keys: tuple, what: str, fix: str) -> None:
        found.append(Finding(severity, what, doc.where(*keys), fix))

    intro_todo_left = not issue.intro.strip() or intro_todo.strip() in issue.intro
    if intro_todo_left:
        add(
            Severity.ERROR,
            ("intro",),
            "the intro is still the TODO text",
            "write a short note from the editor",
        )
    for keys, value in _editor_fields(issue):
        found += field_findings(value, _field_name(keys), doc.where(*keys), intro_todo_left)
    if is_suggested_subject(issue.subject, [summaries[sid] for sid in issue.summary_ids if sid in summaries]):
        add(
            Severity.ERROR,
            ("subject",),
            "the subject is still the one new-issue suggested",
            "write a subject for readers: what is new, most important words first",
        )
    if len(issue.subject) > SUBJECT_MAX:
        add(
            Severity.WARNING,
            ("subject",),
            f"the subject is {len(issue.subject)} characters; inboxes cut it near {SUBJECT_MAX}",
            "shorten it, most important words first",
        )
    if not issue.preheader.strip():
        add(
            Severity.WARNING,
            ("preheader",),
            "the preheader is missing, so inboxes show the email's first words instead",
            "write one line that follows on from the subject",
        )
    # An empty section, a summary twice or one missing from the store: the loader refuses those
    # (`issues.load_issue_content`), and `check_issue` reports its refusal as findings.
    for s_index, section in enumerate(issue.sections):
        for i_index, sid in enumerate(section.items):
            keys = ("sections", s_index, "items", i_index)
            summary = summaries[sid]
            if not issue.since <= summary.published <= issue.until:
                add(
                    Severity.WARNING,
                    keys,
                    f"summary {sid} was published {summary.published}, outside the issue's window "
                    f"{issue.since}..{issue.until}",
                    "check the date, or move it to the issue of its month",
                )
            if sid in carried and not repeats:  # a repeated issue is one error, not one per item
                earlier = carried[sid] or "recorded only in the delivery ledger"
                add(
                    Severity.WARNING,
                    keys,
                    f"summary {sid} was carried by an earlier issue ({earlier})",
                    "remove it unless repeating it is on purpose",
                )
            if summary.needs_review:
                missing = f" (guessed: {', '.join(summary.missing_fields)})" if summary.missing_fields else ""
                add(
                    Severity.ERROR,
                    keys,
                    f"summary {sid} is marked needs_review{missing}",
                    f"check summaries/{sid}.yaml against the site, then remove needs_review",
                )
    return found


REPEAT_FIX = (
    "draft this month's issue with `newsletter new-issue`, or remove what was sent before; "
    'to repeat it on purpose: `newsletter send ID --force --reason "why"`'
)


def _same_subject(subject: str) -> str:
    return " ".join(subject.casefold().split())


def repeat_findings(
    issue: Issue, carried: Mapping[str, str | None], earlier_subjects: Mapping[str, str], doc: YamlDocument
) -> list[Finding]:
    """An issue that repeats one that went out: the same subject, or most of its items sent before.

    A copied file with a new title and send date would otherwise go to everyone again. Errors, so
    `check` fails and the send gate (`send`, `send-due`) refuses it unless forced with a reason.
    """
    found = []
    by_subject = {_same_subject(subject): issue_id for subject, issue_id in earlier_subjects.items()}
    same = by_subject.get(_same_subject(issue.subject))
    if same is not None and issue.subject.strip():
        found.append(
            Finding(
                Severity.ERROR,
                f"the subject is the one issue {same} was sent with",
                doc.where("subject"),
                REPEAT_FIX,
            )
        )
    items = list(dict.fromkeys(issue.summary_ids))
    sent_before = [sid for sid in items if sid in carried]
    if items and len(sent_before) * 2 > len(items):
        sources = sorted({carried[sid] or "the delivery ledger" for sid in sent_before})
        found.append(
            Finding(
                Severity.ERROR,
                f"{len(sent_before)} of its {len(items)} summaries went out before "
                f"(in {', '.join(sources)}): {', '.join(sent_before)}",
                doc.where("sections"),
                REPEAT_FIX,
            )
        )
    return found


def _editor_fields(issue: Issue) -> list[tuple[tuple, str]]:
    """(key path in the issue file, value) of every line the editor writes."""
    fields: list[tuple[tuple, str]] = [
        (("title",), issue.title),
        (("subject",), issue.subject),
        (("preheader",), issue.preheader),
        (("intro",), issue.intro),
    ]
    for i, section in enumerate(issue.sections):
        fields.append((("sections", i, "title"), section.title))
        if section.intro:  # the note's part only readers of this section get
            fields.append((("sections", i, "intro"), section.intro))
    return fields


def _field_name(keys: tuple) -> str:
    """("sections", 1, "intro") -> "intro of section 2"; ("subject",) -> "subject"."""
    if len(keys) == 3 and keys[0] == "sections":
        return f"{keys[2]} of section {int(keys[1]) + 1}"
    return ".".join(str(k) for k in keys)


def field_findings(value: str, field: str, where: str, skip_placeholders: bool = False) -> list[Finding]:
    """Control characters and placeholder text in one editor-written field."""
    found: list[Finding] = []
    controls = control_characters(value)
    if controls:
        found.append(
            Finding(
                Severity.ERROR,
                f"the {field} contains control characters ({', '.join(controls)})",
                where,
                "delete them; they corrupt the email's headers, the archive and the feed",
            )
        )
    words = [] if skip_placeholders else placeholders(value)
    if words:
        found.append(
            Finding(
                Severity.ERROR,
                f"the {field} still has placeholder text ({', '.join(words)})",
                where,
                "write the real text",
            )
        )
    return found


def is_suggested_subject(subject: str, items: list[Summary]) -> bool:
    """Whether the subject is one `new-issue` would suggest for a lead summary of this issue.

    The suggestion is a study's title, shortened, plus "+ N more"; the editor may have removed
    items since, so N is taken from the subject and each summary is tried as the lead.
    """
    match = _MORE.search(subject)
    more = int(match.group(1)) if match else 0
    for lead in items:
        section = DraftSection("", (lead,) * (more + 1), teasers_only=False)
        if suggest_subject((section,)) == subject:
            return True
    return False


def loader_findings(error: NewsletterError) -> list[Finding]:
    """A file the loaders refuse (an empty section, a summary twice, a missing one) as findings."""
    lines = [line.strip().removeprefix("- ") for line in error.message.splitlines()]
    items = [line for line in lines[1:] if line] if len(lines) > 1 else lines
    findings = []
    for item in items:
        where, _, what = item.partition(": ")
        if not what:
            where, what = "issue", item
        findings.append(
            Finding(Severity.ERROR, what, where, "edit the file as the message says, then check again")
        )
    return findings
