"""The desk's pages and its way of changing files: templates, messages, saves that refuse a conflict.

Every page, error pages included, is a template under templates/desk/ that a workspace may override
(`{% extends "default:desk/base.html" %}` replaces one block). A save reads the file afresh, checks
it is the version the page showed, applies one change, validates the result with the CLI's own
loader and writes it atomically; anything else is a message on the page and nothing written.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from flask import Flask, Response, flash, get_flashed_messages, request
from werkzeug.exceptions import HTTPException

from newsletter import render
from newsletter.errors import NewsletterError
from newsletter.store import content, issues
from newsletter.store.fileio import parse_yaml, read_bytes
from newsletter.store.yamledit import EDIT_LOCK, Conflict, load_document, save_document, version_of
from newsletter.web.desk.context import desk
from newsletter.web.desk.security import csrf_token, editor

log = logging.getLogger("newsletter.desk")
LOCK = EDIT_LOCK


def page(name: str, status: int = 200, **context: Any) -> Response:
    """`templates/desk/<name>` rendered; a broken override is logged and shown as one plain line."""
    d = desk()
    values = {
        "newsletter": _name(),
        "editor": editor(),
        "csrf": csrf_token(),
        "messages": get_flashed_messages(with_categories=True),
        "path": request.path,
        **context,
    }
    try:
        body = render.environment(d.workspace).get_template(f"desk/{name}").render(values)
    except jinja2.TemplateError as exc:
        log.error("desk template %s failed: %s", name, getattr(exc, "message", exc))
        return Response(
            f"the desk's template desk/{name} failed: {getattr(exc, 'message', exc)}\n",
            500,
            content_type="text/plain; charset=utf-8",
        )
    return Response(body, status, content_type="text/html; charset=utf-8")


def _name() -> str:
    try:
        return desk().settings.name
    except NewsletterError:
        return "Newsletter"


def say(message: str, category: str = "done") -> None:
    if message:
        flash(message, category)


def shown(path: Path) -> str:
    return str(path.relative_to(desk().workspace))


def open_file(path: Path) -> str:
    """The version of a file a page shows (its forms send it back); remembered to show a conflict."""
    raw = read_bytes(path, shown(path))
    version = version_of(raw)
    desk().remember(version, raw.decode("utf-8", errors="replace"))
    return version


def change_file(
    path: Path, version: str, change: Callable[[Any], str], validate: Callable[[str], list[str]]
) -> str:
    """Apply `change` to the file if it is still at `version`; return the change's message ("" none)."""
    d = desk()
    doc = load_document(path, shown(path))
    if doc.version != version:
        raise Conflict(path, version, doc.version)
    message = change(doc.data)
    if not message:
        return ""
    text = doc.dump()
    found = validate(text)
    if found:
        raise NewsletterError(f"not saved: {found[0]}")
    new_version = save_document(doc, version, d.workspace / LOCK, text)
    d.remember(new_version, text)
    return message


def issue_validator(issue_id: str) -> Callable[[str], list[str]]:
    def validate(text: str) -> list[str]:
        shown_path = Path(issues.ISSUES_DIR) / f"{issue_id}.yaml"
        return issues.issue_problems(parse_yaml(text, shown_path), issue_id)[1]

    return validate


def summary_validator(summary_id: str) -> Callable[[str], list[str]]:
    def validate(text: str) -> list[str]:
        return content.summary_problems(parse_yaml(text, Path(content.SUMMARIES_DIR) / f"{summary_id}.yaml"))[
            1
        ]

    return validate


def diff_lines(old: str, new: str, old_name: str, new_name: str) -> list[str]:
    return list(
        difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm="", n=2)
    )


def _conflict(error: Conflict) -> Response:
    d = desk()
    before = d.snapshots.get(error.expected)
    try:
        now = error.path.read_text(encoding="utf-8")
    except OSError:
        now = ""
    name = shown(error.path)
    lines = (
        diff_lines(before, now, f"{name} (as the page showed it)", f"{name} (on disk now)") if before else []
    )
    return page(
        "conflict.html",
        409,
        file=name,
        diff=lines,
        known=before is not None,
        back=request.form.get("back") or request.referrer or "/",
    )


def _refused(error: NewsletterError) -> Response:
    back = request.form.get("back") or ""
    if request.method == "POST" and back.startswith("/") and not back.startswith("//"):
        say(error.message, "error")
        return Response(status=303, headers={"Location": back})
    return page("error.html", 400, code=400, problem=error.message)


def _http_error(error: HTTPException) -> Response:
    code = error.code or 500
    return page("error.html", code, code=code, problem=error.description or error.name)


def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _http_error(error)
    log.exception("unexpected error on %s %s", request.method, request.path)
    return page("error.html", 500, code=500, problem="the desk failed; the traceback is in its log")


def install(app: Flask) -> None:
    app.register_error_handler(Conflict, _conflict)
    app.register_error_handler(NewsletterError, _refused)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
