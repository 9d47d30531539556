"""The issue editor: one page with the issue's lines, its sections and items, the window's candidates,
`check`'s findings linked to their fields, and the email's preview beside it.

Every button is a form that POSTs one change and comes back to the page (no script needed); the
small script only adds keyboard moves, live character counts and keeps the focus where it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, redirect, request, url_for

from newsletter.check.findings import Finding
from newsletter.compose.ready import SUBJECT_ADVICE
from newsletter.errors import NewsletterError
from newsletter.store import content, issues
from newsletter.store.approval import (
    ApprovalState,
    approval_from,
    changes_since_approval,
    content_digest,
    item_ids,
    summary_texts,
)
from newsletter.store.fileio import YamlDocument, load_yaml
from newsletter.store.models import Summary
from newsletter.web.desk import edits
from newsletter.web.desk.context import desk
from newsletter.web.desk.pages import change_file, issue_validator, open_file, page, say
from newsletter.web.desk.reports import cached_report, report_for
from newsletter.web.preview import force_dark

blueprint = Blueprint("editor", __name__)

CANDIDATES_SHOWN = 40  # newest first; the filters narrow a long window down
PREHEADER_ADVICE = 90  # characters an inbox shows after the subject, roughly, on a desktop


@dataclass(frozen=True)
class Located:
    """A finding and where on the page (or which summary's form) its field is."""

    finding: Finding
    href: str
    label: str


def _field_at(doc: YamlDocument, line: int) -> tuple:
    """The key path of the issue file's line `line`: the last key starting at or before it."""
    best: tuple = ()
    best_line = 0
    for keys, at in doc.lines.items():
        if best_line <= at <= line:
            best, best_line = keys, at
    return best


def locate_finding(finding: Finding, issue_id: str, doc: YamlDocument | None, data: Any) -> Located:
    """Pure but for the document: a finding's `where` as a link to the field it concerns."""
    where = finding.where
    summary = re.match(r"summaries/([a-z0-9-]+)\.yaml(?::\d+)?(?: \((\w+)\))?", where)
    if summary:
        sid, field = summary.group(1), summary.group(2) or "title"
        return Located(finding, url_for("summaries.edit", summary_id=sid) + f"#f-{field}", f"{sid}: {field}")
    line = re.match(rf"issues/{re.escape(issue_id)}\.yaml:(\d+)", where)
    keys: tuple = ()
    if line and doc is not None:
        keys = _field_at(doc, int(line.group(1)))
    elif where in ("title", "subject", "preheader", "intro"):
        keys = (where,)
    if keys and keys[0] in ("title", "subject", "preheader", "intro"):
        return Located(finding, f"#f-{keys[0]}", str(keys[0]))
    if len(keys) >= 4 and keys[0] == "sections" and keys[2] == "items":
        try:
            sid = data["sections"][keys[1]]["items"][keys[3]]
            return Located(finding, f"#item-{sid}", str(sid))
        except (KeyError, IndexError, TypeError):
            pass
    if len(keys) >= 3 and keys[0] == "sections" and keys[2] in ("intro", "title"):
        target = f"f-section-intro-{keys[1]}" if keys[2] == "intro" else f"rename-{keys[1]}"
        return Located(finding, f"#{target}", f"section {int(keys[1]) + 1} {keys[2]}")
    if len(keys) >= 2 and keys[0] == "sections":
        return Located(finding, f"#section-{keys[1]}", f"section {int(keys[1]) + 1}")
    if where.startswith("email") or "html" in where.lower():
        return Located(finding, "#preview", "the email")
    return Located(finding, "#findings", where)


def _candidates(window: tuple, in_issue: set[str], store: dict[str, Summary], args: Any) -> list[Summary]:
    since, until = window
    topic = (args.get("topic") or "").strip()
    kind = args.get("kind") or "all"
    review = args.get("review") == "1"
    found = [
        s
        for s in content.filter_summaries(store.values(), since, until, topic or None)
        if s.id not in in_issue
        and (kind == "all" or (kind == "teaser") == s.is_teaser)
        and (not review or s.needs_review)
    ]
    return found


@blueprint.get("/issues/<issue_id>")
def edit(issue_id: str) -> Response:
    d = desk()
    path = issues.issue_path(d.workspace, issue_id)
    if not content.ID_PATTERN.match(issue_id) or not path.is_file():
        abort(404, f"no issue {issue_id}; draft one on the issues page")
    version = open_file(path)
    try:
        parsed = load_yaml(path, path.relative_to(d.workspace))
        issue, found = issues.issue_problems(parsed, issue_id)
        ids = item_ids(parsed.data)
        texts = summary_texts(d.workspace, ids)
        if issue is None:
            raise NewsletterError(found[0] if len(found) == 1 else "\n".join(found))
    except NewsletterError as exc:
        text = d.snapshots.get(version, "")
        return page("issue_broken.html", 422, issue_id=issue_id, problem=exc.message, text=text)
    store = d.summaries()
    approval = approval_from(parsed.data, content_digest(parsed.data, texts))
    since = changes_since_approval(d.workspace, issue_id) if approval.state is ApprovalState.WITHDRAWN else []
    report = cached_report(issue_id)  # None: `check` runs while the page is read (`findings`)
    located = [locate_finding(f, issue_id, parsed, parsed.data) for f in report.findings] if report else []
    window = (issue.since, issue.until)
    candidates = _candidates(window, set(ids), store, request.args)
    shown_candidates = candidates[:CANDIDATES_SHOWN]
    topics = sorted(
        {t for s in store.values() if issue.since <= s.published <= issue.until for t in s.topics}
    )
    return page(
        "issue.html",
        issue=issue,
        issue_id=issue_id,
        data=parsed.data,
        version=version,
        store=store,
        approval=approval,
        since_approval=since,
        report=report,
        findings=located,
        candidates=shown_candidates,
        more_candidates=len(candidates) - len(shown_candidates),
        topics=topics,
        filters={k: request.args.get(k, "") for k in ("topic", "kind", "review")},
        subject_limit=SUBJECT_ADVICE,
        preheader_limit=PREHEADER_ADVICE,
        tz=d.settings.timezone,
        send_local=issue.send_at.astimezone(d.settings.tz).strftime("%Y-%m-%dT%H:%M")
        if issue.send_at
        else "",
    )


@blueprint.get("/issues/<issue_id>/findings")
def findings(issue_id: str) -> Response:
    """`check`'s findings on the issue as it is now: the issue page fetches this panel after a change
    (and links to it, for a browser without scripts); it waits for `check` to finish."""
    d = desk()
    path = issues.issue_path(d.workspace, issue_id)
    if not content.ID_PATTERN.match(issue_id) or not path.is_file():
        abort(404, f"no issue {issue_id}")
    report = report_for(issue_id)
    try:
        parsed: YamlDocument | None = load_yaml(path, path.relative_to(d.workspace))
    except NewsletterError:
        parsed = None  # the report names the file's problem; its findings link to the list
    data = parsed.data if parsed is not None else None
    located = [locate_finding(f, issue_id, parsed, data) for f in report.findings]
    # Its own page links to the issue page's fields; the panel fetched into that page, to its own.
    link_base = "" if request.args.get("panel") else f"/issues/{issue_id}"
    return page("findings.html", issue_id=issue_id, report=report, findings=located, link_base=link_base)


def _after(issue_id: str, message: str, focus: str = "") -> Response:
    say(message or "Nothing to change.")
    target = url_for("editor.edit", issue_id=issue_id, focus=focus or None, **_kept_filters())  # type: ignore[arg-type]
    return redirect(target + (f"#{focus}" if focus else ""), 303)  # type: ignore[return-value]


def _kept_filters() -> dict[str, str]:
    return {k: v for k in ("topic", "kind", "review") if (v := request.form.get(k, ""))}


def _change(issue_id: str, change: Any) -> str:
    path = issues.issue_path(desk().workspace, issue_id)
    if not path.is_file():
        abort(404, f"no issue {issue_id}")
    return change_file(path, request.form.get("version", ""), change, issue_validator(issue_id))


def _summary(sid: str) -> Summary:
    found = desk().summaries().get(sid)
    if found is None:
        raise edits.EditError(f"no summary {sid} in summaries/")
    return found


@blueprint.post("/issues/<issue_id>/lines")
def lines(issue_id: str) -> Response:
    form = request.form

    def change(data: Any) -> str:
        said = [edits.set_line(data, key, form[key]) for key in edits.LINE_FIELDS if key in form]
        if "intro" in form:
            said.append(edits.set_intro(data, form["intro"]))
        if "send_at" in form:
            said.append(edits.set_send_at(data, form["send_at"], desk().settings.tz))
        return " ".join(s for s in said if s)

    return _after(issue_id, _change(issue_id, change), form.get("focus", ""))


@blueprint.post("/issues/<issue_id>/items/<sid>")
def item(issue_id: str, sid: str) -> Response:
    action = request.form.get("action", "")
    if action in ("up", "down"):
        message = _change(issue_id, lambda data: edits.move_item(data, sid, action))
        return _after(issue_id, message, f"{action}-{sid}")
    if action == "move":
        to = _index(request.form.get("section"))
        return _after(
            issue_id, _change(issue_id, lambda data: edits.move_to_section(data, sid, to)), f"item-{sid}"
        )
    if action == "remove":
        return _after(issue_id, _change(issue_id, lambda data: edits.remove_item(data, sid)), "items")
    if action == "add":
        summary, to = _summary(sid), _index(request.form.get("section"))
        return _after(
            issue_id, _change(issue_id, lambda data: edits.add_item(data, summary, to)), f"item-{sid}"
        )
    abort(400, f"unknown action {action!r}")


def _index(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        raise edits.EditError("choose a section") from None


@blueprint.post("/issues/<issue_id>/sections")
def sections(issue_id: str) -> Response:
    form = request.form
    action = form.get("action", "")
    if action == "add":
        first = _summary(form.get("first", ""))
        title = form.get("title", "")
        return _after(
            issue_id, _change(issue_id, lambda data: edits.add_section(data, title, first)), "sections"
        )
    index = _index(form.get("index"))
    if action in ("up", "down"):
        target = index - 1 if action == "up" else index + 1
        return _after(
            issue_id,
            _change(issue_id, lambda data: edits.move_section(data, index, action)),
            f"s{action}-{target}",
        )
    if action == "rename":
        title = form.get("title", "")
        return _after(
            issue_id,
            _change(issue_id, lambda data: edits.rename_section(data, index, title)),
            f"section-{index}",
        )
    if action == "intro":
        text = form.get("intro", "")
        return _after(
            issue_id,
            _change(issue_id, lambda data: edits.set_section_intro(data, index, text)),
            f"f-section-intro-{index}",
        )
    if action == "delete":
        return _after(issue_id, _change(issue_id, lambda data: edits.delete_section(data, index)), "sections")
    abort(400, f"unknown action {action!r}")


@blueprint.get("/issues/<issue_id>/email.html")
def email(issue_id: str) -> Response:
    return _email(issue_id, dark=False)


@blueprint.get("/issues/<issue_id>/email-dark.html")
def email_dark(issue_id: str) -> Response:
    return _email(issue_id, dark=True)


def _email(issue_id: str, dark: bool) -> Response:
    if not content.ID_PATTERN.match(issue_id) or not issues.issue_path(desk().workspace, issue_id).is_file():
        abort(404, f"no issue {issue_id}")
    sample = report_for(issue_id).sample
    if sample is None:
        return page("email_broken.html", 200, issue_id=issue_id)
    html = force_dark(sample.html) if dark else sample.html
    response = Response(html, content_type="text/html; charset=utf-8")
    # The email's own inline styles and images; no scripts; shown only inside the desk.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; frame-ancestors 'self'"
    )
    return response
