"""Import from the desk: a summary page or the site's feed, by its https URL or as an uploaded file.

The same importer as `newsletter import` (importers/), with its rules and limits: only https and
public hosts unless `import.allow_private_hosts`, the fetch's deadline and size limit, and nothing
written unless every page could be read. An upload is read from a temporary folder under its own
file name (the name the summary records as its source), so it is the same as importing that file.
The result lists every summary written, with a link to its form; a refusal is one line on the page.
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, redirect, request, url_for
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from newsletter.errors import NewsletterError
from newsletter.store.models import Summary
from newsletter.web.desk.context import desk
from newsletter.web.desk.edits import EditError
from newsletter.web.desk.pages import page, say

blueprint = Blueprint("imports", __name__)

PAGE_SUFFIXES = (".txt", ".html", ".htm", ".xhtml")  # copied text, or a page saved from a browser
FEED_SUFFIXES = (".xml", ".rss", ".atom", ".json")


@dataclass(frozen=True)
class Row:
    action: str  # created | updated | unchanged | renamed
    summary: Summary
    path: str


@dataclass(frozen=True)
class Result:
    source: str  # what was imported, as the editor gave it
    rows: tuple[Row, ...]
    notes: tuple[str, ...]  # warnings and notes, as `newsletter import` prints them
    total: str  # its last line: the counts


def one_line(message: str) -> str:
    """An importer's refusal ("nothing imported:" and a list) as one line for the page."""
    parts = [line.strip().removeprefix("- ") for line in message.splitlines() if line.strip()]
    if len(parts) > 1 and parts[0].endswith(":"):
        return f"{parts[0]} {'; '.join(parts[1:])}"
    return "; ".join(parts)


def _published(raw: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise EditError(f"published: {raw!r} is not a date (YYYY-MM-DD)") from None


def _upload(file: FileStorage | None, suffixes: tuple[str, ...], folder: Path) -> Path | None:
    """The uploaded file saved under its own (made safe) name in `folder`; None if none was sent."""
    if file is None or not file.filename:
        return None
    name = secure_filename(file.filename)
    if not name or not name.lower().endswith(suffixes):
        raise EditError(f"{file.filename}: expected a file ending in {', '.join(suffixes)}")
    path = folder / name
    file.save(path)
    return path


def _run(form: Any, upload: FileStorage | None, folder: Path) -> Result:
    from newsletter import importers
    from newsletter.importers.feedimport import import_feed

    d = desk()
    kind = form.get("what", "page")
    url = form.get("url", "").strip()
    is_feed = kind == "feed"
    path = _upload(upload, FEED_SUFFIXES if is_feed else PAGE_SUFFIXES, folder)
    if url and path is not None:
        raise EditError("give a URL or a file, not both")
    if is_feed:
        location: str | Path | None = path or url or d.settings.feed_url
        if not location:
            raise EditError("give the feed's https URL or its file (or set feed_url in newsletter.yaml)")
        report = import_feed(
            d.workspace, location, pages=form.get("pages") == "1", fetch_policy=d.fetch_policy
        )
        rows = [Row(str(c.action), c.summary, c.path) for c in report.changes]
        lines, given = report.lines(), str(location)
    else:
        source: str | Path | None = path or url
        if not source:
            raise EditError("give the page's https URL or its file")
        options = importers.PageOptions(published=_published(form.get("published", "")))
        page_report = importers.import_pages(d.workspace, [source], options, fetch_policy=d.fetch_policy)
        rows = [Row(w.action, w.summary, w.path) for w in page_report.written]
        lines, given = page_report.lines(), str(source)
    notes = tuple(line for line in lines[len(rows) : -1] if line.strip())
    return Result(path.name if path else given, tuple(rows), notes, lines[-1])


@blueprint.get("/import")
def form() -> Response:
    d = desk()
    shown = request.args.get("result", "")
    result = d.imports.get(shown) if shown else None
    if shown and result is None:
        say("That import's result is no longer kept; the summaries it wrote are in the list.", "error")
    return page(
        "import.html",
        result=result,
        what=request.args.get("what", "page"),
        url=request.args.get("url", ""),
        feed_url=d.settings.feed_url or "",
        private=d.settings.allow_private_hosts,
    )


@blueprint.post("/import")
def run() -> Response:
    form = request.form
    kept = {"what": form.get("what", "page"), "url": form.get("url", "").strip()}
    if kept["what"] not in ("page", "feed"):
        abort(400, "choose a page or the feed")
    with tempfile.TemporaryDirectory(prefix="desk-import-") as folder:
        try:
            result = _run(form, request.files.get("file"), Path(folder))
        except NewsletterError as exc:  # an upload is named as the editor named it, not by the folder
            say(one_line(exc.message.replace(f"{folder}/", "")), "error")
            return redirect(url_for("imports.form", **kept), 303)  # type: ignore[arg-type, return-value]
    d = desk()
    key = secrets.token_urlsafe(8)
    d.keep_import(key, result)
    say(f"Import done: {len(result.rows)} summary file(s), each linked to its form below.")
    return redirect(url_for("imports.form", result=key, what=kept["what"]), 303)  # type: ignore[return-value]
