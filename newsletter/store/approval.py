"""An issue's approval: who approved it, when, and a digest of exactly what they approved.

The record lives in the issue file itself, as a person could write it:

    approved: {by: Ana, at: 2026-05-29T16:02:11+02:00, digest: 3f1c...}

The digest covers the issue's content (every key but `approved`) and the content of each summary
it names, as data rather than bytes: a comment or re-indentation does not withdraw an approval,
while any change to what subscribers would read does. A stale digest means "approved, then edited":
the approval is withdrawn until someone approves again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from newsletter.errors import ContentError
from newsletter.store import content, issues
from newsletter.store.fileio import load_yaml, parse_yaml

KEY = "approved"
APPROVED_TEXTS = Path(".newsletter") / "approved"  # the files as approved, for "what changed since"


class ApprovalState(StrEnum):
    NONE = "not approved"
    APPROVED = "approved"
    WITHDRAWN = "withdrawn"  # approved, then the issue or one of its summaries changed


@dataclass(frozen=True)
class Approval:
    state: ApprovalState
    by: str = ""
    at: str = ""  # as written in the file (ISO 8601 with its offset)
    digest: str = ""  # of what was approved
    current: str = ""  # of the issue as it is now

    @property
    def approved(self) -> bool:
        return self.state is ApprovalState.APPROVED


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))


def item_ids(issue_data: Any) -> list[str]:
    """The summary ids an issue's raw data names, in order (whatever else is wrong with it)."""
    if not isinstance(issue_data, dict) or not isinstance(issue_data.get("sections"), list):
        return []
    found: list[str] = []
    for section in issue_data["sections"]:
        items = section.get("items") if isinstance(section, dict) else None
        if isinstance(items, list):
            found += [i for i in items if isinstance(i, str) and content.ID_PATTERN.match(i)]
    return found


def content_digest(issue_data: dict, summaries: dict[str, Any]) -> str:
    """The digest of an issue's data without its approval, and of its summaries' data (id -> data)."""
    body = {k: v for k, v in issue_data.items() if k != KEY}
    return hashlib.sha256(_canonical([body, sorted(summaries.items())]).encode("utf-8")).hexdigest()[:32]


def summary_texts(workspace: Path, ids: list[str]) -> dict[str, Any]:
    """Each named summary's raw data (None for a missing file)."""
    summaries: dict[str, Any] = {}
    for sid in ids:
        path = workspace / content.SUMMARIES_DIR / f"{sid}.yaml"
        summaries[sid] = load_yaml(path, path.relative_to(workspace)).data if path.is_file() else None
    return summaries


def issue_texts(workspace: Path, issue_id: str) -> tuple[dict, dict[str, Any]]:
    """The issue's raw data and each named summary's raw data (None for a missing file)."""
    path = issues.issue_path(workspace, issue_id)
    data = load_yaml(path, path.relative_to(workspace)).data
    if not isinstance(data, dict):
        raise ContentError(f"{path.relative_to(workspace)}: expected a mapping")
    return data, summary_texts(workspace, item_ids(data))


def current_digest(workspace: Path, issue_id: str) -> str:
    data, summaries = issue_texts(workspace, issue_id)
    return content_digest(data, summaries)


def approval_of(workspace: Path, issue_id: str) -> Approval:
    """The issue's approval as it stands now: none, approved, or withdrawn by a later edit."""
    data, summaries = issue_texts(workspace, issue_id)
    return approval_from(data, content_digest(data, summaries))


def approval_from(issue_data: dict, current: str) -> Approval:
    """Pure: the approval record in an issue's data, compared with the digest of its content now."""
    record = issue_data.get(KEY)
    if not isinstance(record, dict) or not record.get("digest"):
        return Approval(ApprovalState.NONE, current=current)
    by, at, digest = str(record.get("by") or ""), record.get("at"), str(record["digest"])
    when = at.isoformat() if isinstance(at, datetime) else str(at or "")
    state = ApprovalState.APPROVED if digest == current else ApprovalState.WITHDRAWN
    return Approval(state, by, when, digest, current)


def is_approved(workspace: Path, issue_id: str) -> bool:
    """Whether the issue carries an approval of exactly its present content (for the send gate)."""
    return approval_of(workspace, issue_id).approved


def approval_problems(record: Any) -> list[tuple[tuple[str, ...], str]]:
    """What is wrong with an `approved:` value: (key path, problem) pairs for the issue loader."""
    if record is None:
        return []
    if not isinstance(record, dict):
        return [((KEY,), "expected {by: NAME, at: DATE-TIME, digest: TEXT}, as `approve` writes it")]
    found: list[tuple[tuple[str, ...], str]] = []
    unknown = set(record) - {"by", "at", "digest"}
    if unknown:
        found.append(((KEY,), f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; keep by, at, digest"))
    if not isinstance(record.get("by"), str) or not record["by"].strip():
        found.append(((KEY, "by"), "required: who approved the issue"))
    if not isinstance(record.get("digest"), str) or not record["digest"].strip():
        found.append(((KEY, "digest"), "required: the digest of what was approved; approve again"))
    return found


def approve(workspace: Path, issue_id: str, by: str, at: datetime, expected: str | None = None) -> str:
    """Write `approved: {by, at, digest}` into the issue file (comments and layout kept).

    `expected` is the file's version the approver looked at (store/yamledit.py): a file changed
    since is refused with yamledit.Conflict. Returns the new version. The caller decides whether the
    issue may be approved (`check` finds no errors).
    """
    from ruamel.yaml.comments import CommentedMap

    from newsletter.store import yamledit

    by = " ".join(by.split())
    if not by:
        raise ContentError("say who approves the issue")
    path = issues.issue_path(workspace, issue_id)
    shown = path.relative_to(workspace)
    if not path.is_file():
        issues.load_issue(workspace, issue_id)  # raises the loader's "no such issue" advice
    doc = yamledit.load_document(path, shown)
    if expected is not None and doc.version != expected:
        raise yamledit.Conflict(path, expected, doc.version)
    data, summaries = issue_texts(workspace, issue_id)
    record = CommentedMap([("by", by), ("at", yamledit.Moment.of(at.replace(microsecond=0))), ("digest", "")])
    record["digest"] = content_digest(data, summaries)
    record.fa.set_flow_style()
    doc.data[KEY] = record
    text = doc.dump()
    _, found = issues.issue_problems(parse_yaml(text, shown), issue_id)
    if found:
        raise ContentError(found[0])
    version = yamledit.save_document(doc, doc.version, workspace / yamledit.EDIT_LOCK, text)
    _keep_approved_texts(workspace, issue_id, text, list(summaries))
    return version


def _approved_texts_path(workspace: Path, issue_id: str) -> Path:
    return workspace / APPROVED_TEXTS / f"{issue_id}.json"


def _files(workspace: Path, issue_id: str, issue_text: str, ids: list[str]) -> dict[str, str]:
    files = {f"{issues.ISSUES_DIR}/{issue_id}.yaml": _without_record(issue_text)}
    for sid in ids:
        path = workspace / content.SUMMARIES_DIR / f"{sid}.yaml"
        files[f"{content.SUMMARIES_DIR}/{sid}.yaml"] = (
            path.read_text(encoding="utf-8") if path.is_file() else ""
        )
    return files


def _without_record(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(f"{KEY}:"))


def _keep_approved_texts(workspace: Path, issue_id: str, issue_text: str, ids: list[str]) -> None:
    """The files as approved, so a withdrawn approval can show what changed since (state, not content)."""
    from newsletter.store.fileio import atomic_write

    files = _files(workspace, issue_id, issue_text, ids)
    atomic_write(_approved_texts_path(workspace, issue_id), json.dumps(files, ensure_ascii=False, indent=1))


def changes_since_approval(workspace: Path, issue_id: str) -> list[str]:
    """A unified diff of the issue and its summaries now against the files as approved ([] if unknown)."""
    import difflib

    try:
        before = json.loads(_approved_texts_path(workspace, issue_id).read_text(encoding="utf-8"))
        now_text = issues.issue_path(workspace, issue_id).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return []
    data = load_yaml(issues.issue_path(workspace, issue_id), f"{issues.ISSUES_DIR}/{issue_id}.yaml").data
    ids = [
        i
        for i in dict.fromkeys(
            [
                *item_ids(data),
                *(k.split("/", 1)[1][:-5] for k in before if k.startswith(content.SUMMARIES_DIR)),
            ]
        )
    ]
    now = _files(workspace, issue_id, now_text, ids)
    lines: list[str] = []
    for name in sorted(set(before) | set(now)):
        old, new = before.get(name, ""), now.get(name, "")
        if old != new:
            lines += difflib.unified_diff(
                old.splitlines(), new.splitlines(), f"{name} (approved)", f"{name} (now)", lineterm="", n=1
            )
    return lines
