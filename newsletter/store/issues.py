"""The issue files (`issues/<id>.yaml`): load and validate them."""

from __future__ import annotations

import re
from pathlib import Path

from newsletter.errors import ContentError, problems
from newsletter.store import content
from newsletter.store import validate as v
from newsletter.store.fileio import YamlDocument, load_yaml
from newsletter.store.models import Issue, Section, Summary

ISSUES_DIR = "issues"
_FIELDS = {"title", "subject", "preheader", "window", "send_at", "intro", "sections"} | {
    "filtered_subject",
    "filtered_preheader",
    "approved",  # written by the desk's "approve" (store/approval.py)
}
# What the editor's lines for a reader with topic preferences may say, filled in per reader:
# {topics} "Gut and MRI" (as they chose them), {count} "2", {total} "9", {summaries} "2 summaries".
VARIANT_PLACEHOLDERS = ("topics", "count", "total", "summaries")
_PLACEHOLDER = re.compile(r"\{(?:" + "|".join(VARIANT_PLACEHOLDERS) + r")\}")


def issue_path(workspace: Path, issue_id: str) -> Path:
    return workspace / ISSUES_DIR / f"{issue_id}.yaml"


def issue_problems(doc: YamlDocument, issue_id: str) -> tuple[Issue | None, list[str]]:
    """Validate one issue document on its own (not against the summary store)."""
    data = doc.data
    p = v.Problems(doc)
    if not content.ID_PATTERN.match(issue_id):
        p.add((), "the file name is the issue id: use lowercase letters, digits and hyphens, e.g. 2026-06")
    if not isinstance(data, dict):
        p.add((), "expected a mapping with title, subject, preheader, window, intro, sections")
        return None, p.items
    v.unknown_keys(p, data, _FIELDS)

    def one_line(key: str, what: str, required: bool = True) -> str:
        value = data.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            p.add((key,), f"required: {what}")
            return ""
        if not v.single_line(value.strip()):
            p.add((key,), "must be on one line (a line break would break the email's headers)")
        return value.strip()

    title = one_line("title", "the issue's title, e.g. MS Research Roundup, June 2026")
    subject = one_line("subject", "the email's subject line")
    preheader = one_line("preheader", "the short line inboxes show after the subject", required=False)
    filtered = {
        key: _variant_line(one_line(key, "a line for readers who get some of the issue", False), key, p)
        for key in ("filtered_subject", "filtered_preheader")
    }
    intro = data.get("intro")
    if not isinstance(intro, str) or not intro.strip():
        p.add(("intro",), "required: a short note from the editor")
        intro = ""

    window = data.get("window")
    since = until = None
    if not isinstance(window, dict):
        p.add(("window",), "required: {since: YYYY-MM-DD, until: YYYY-MM-DD}")
    else:
        v.unknown_keys(p, window, {"since", "until"}, ("window",))
        since, until = v.parse_date(window.get("since")), v.parse_date(window.get("until"))
        for key, value in (("since", since), ("until", until)):
            if value is None:
                p.add(("window", key), f"expected a real date as YYYY-MM-DD, got {window.get(key)!r}")
        if since and until and since > until:
            p.add(("window",), f"since ({since}) is after until ({until})")

    send_at = None
    if data.get("send_at") is not None:
        send_at = v.parse_datetime(data["send_at"])
        if send_at is None or send_at.tzinfo is None:
            p.add(("send_at",), "expected a date and time with its offset, e.g. 2026-06-02T09:00:00-04:00")
            send_at = None

    sections = _sections(data.get("sections"), p)
    from newsletter.store.approval import approval_problems  # approval reads issues: import here

    for keys, problem in approval_problems(data.get("approved")):
        p.add(keys, problem)
    if p or since is None or until is None:
        return None, p.items
    fields = (issue_id, title, subject, preheader, since, until, intro.strip(), sections, send_at)
    subject_line, preheader_line = filtered["filtered_subject"], filtered["filtered_preheader"]
    return Issue(*fields, filtered_subject=subject_line, filtered_preheader=preheader_line), []


def _variant_line(line: str, key: str, p: v.Problems) -> str:
    """A filtered_subject/filtered_preheader line; only the known {placeholders} may appear in it."""
    rest = _PLACEHOLDER.sub("", line)
    if "{" in rest or "}" in rest:
        known = ", ".join(f"{{{name}}}" for name in VARIANT_PLACEHOLDERS)
        p.add((key,), f'unknown placeholder; use only {known} (e.g. "{{count}} picks on {{topics}}")')
    return line


def _sections(raw: object, p: v.Problems) -> tuple[Section, ...]:
    if not isinstance(raw, list) or not raw:
        p.add(("sections",), "required: a list of {title, items}, each item a summary id")
        return ()
    sections: list[Section] = []
    seen_titles: set[str] = set()
    first_place: dict[str, str] = {}
    for index, item in enumerate(raw):
        keys = ("sections", index)
        if not isinstance(item, dict):
            p.add(keys, "expected a mapping with title and items")
            continue
        v.unknown_keys(p, item, {"title", "intro", "items"}, keys)
        title = item.get("title")
        if not v.text(title) or not v.single_line(title):
            p.add(keys + ("title",), "required: the section's heading, on one line")
            title = ""
        elif title.strip().casefold() in seen_titles:
            p.add(keys + ("title",), f"section {title.strip()!r} appears twice; merge them")
        seen_titles.add(str(title).strip().casefold())
        items = item.get("items")
        if not isinstance(items, list) or not items:
            p.add(keys + ("items",), "empty section: list at least one summary id, or remove the section")
            items = []
        ids: list[str] = []
        for position, summary_id in enumerate(items):
            where = keys + ("items", position)
            if not isinstance(summary_id, str) or not content.ID_PATTERN.match(summary_id):
                p.add(where, f"expected a summary id (a file name in summaries/), got {summary_id!r}")
                continue
            if summary_id in first_place:
                p.add(where, f"{summary_id} is already in the issue ({first_place[summary_id]}); keep one")
                continue
            first_place[summary_id] = f"section {str(title).strip()!r}"
            ids.append(summary_id)
        intro = item.get("intro") or ""
        if not isinstance(intro, str):
            p.add(keys + ("intro",), "expected text: the note's part about this section")
            intro = ""
        sections.append(Section(str(title).strip(), tuple(ids), intro.strip()))
    return tuple(sections)


def _failure(doc: YamlDocument, found: list[str]) -> ContentError:
    # Each problem already starts with file:line; say the file once more only above a list.
    return ContentError(found[0] if len(found) == 1 else problems(str(doc.path), found))


def _load_document(workspace: Path, issue_id: str) -> YamlDocument:
    path = issue_path(workspace, issue_id)
    shown = path.relative_to(workspace)
    if not path.is_file():
        raise ContentError(no_such_issue(shown, issue_id, sorted(p.stem for p in path.parent.glob("*.yaml"))))
    return load_yaml(path, shown)


def no_such_issue(shown: Path, issue_id: str, existing: list[str]) -> str:
    """What to say of an issue id with no file: the nearest existing id for a typo, else how to draft it."""
    import difflib  # here: only a mistyped id needs it

    # A well-formed monthly id names a month not drafted yet, not a typo of its neighbour.
    typo = not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", issue_id)
    near = difflib.get_close_matches(issue_id, existing, n=1, cutoff=0.75) if typo else []
    there = f" (the issues: {', '.join(existing[-8:])})" if existing else ""
    if near:
        return f"{shown}: no such issue; did you mean {near[0]}?{there}"
    return f"{shown}: no such issue{there}; draft it with `newsletter new-issue {issue_id}`"


def load_issue(workspace: Path, issue_id: str) -> Issue:
    """One issue, validated; every problem is reported at once with its file and line."""
    doc = _load_document(workspace, issue_id)
    issue, found = issue_problems(doc, issue_id)
    if issue is None:
        raise _failure(doc, found)
    return issue


def list_issues(workspace: Path) -> list[Issue]:
    """Every issue in the workspace, by id; any invalid file fails the load, all reported at once."""
    folder = workspace / ISSUES_DIR
    if not folder.is_dir():
        return []
    found: list[Issue] = []
    errors: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name.startswith("."):
            continue
        try:
            issue, items = issue_problems(load_yaml(path, path.relative_to(workspace)), path.stem)
        except ContentError as exc:
            errors.append(exc.message)
            continue
        errors.extend(items)
        if issue is not None:
            found.append(issue)
    if errors:
        raise ContentError(problems(f"{ISSUES_DIR}/", errors))
    return found


def load_issue_content(workspace: Path, issue_id: str) -> tuple[Issue, dict[str, Summary]]:
    """An issue and the summaries it carries, each checked; ready to render.

    Only the summaries the issue names are read, so a broken file elsewhere in the store does
    not block this issue, while one in it is reported with its own file and line.
    """
    doc = _load_document(workspace, issue_id)
    issue, found = issue_problems(doc, issue_id)
    if issue is None:
        raise _failure(doc, found)
    p = v.Problems(doc)
    summaries: dict[str, Summary] = {}
    for s_index, section in enumerate(issue.sections):
        for position, summary_id in enumerate(section.items):
            path = workspace / content.SUMMARIES_DIR / f"{summary_id}.yaml"
            if not path.is_file():
                p.add(
                    ("sections", s_index, "items", position),
                    f"no summary {summary_id!r} in {content.SUMMARIES_DIR}/; "
                    "check the id with `newsletter summaries list`",
                )
                continue
            summary, bad = content.summary_problems(load_yaml(path, path.relative_to(workspace)))
            p.items.extend(bad)
            if summary is not None:
                summaries[summary_id] = summary
    if p:
        raise _failure(doc, p.items)
    return issue, summaries
