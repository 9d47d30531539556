"""Summaries: a filtered list, a form per summary, and "mark reviewed" for what the importer guessed."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, redirect, request, url_for
from ruamel.yaml.scalarstring import ScalarString

from newsletter.store import content
from newsletter.store.fileio import load_yaml
from newsletter.store.topics import load_taxonomy
from newsletter.store.yamledit import text_scalar
from newsletter.web.desk.context import desk
from newsletter.web.desk.edits import EditError
from newsletter.web.desk.pages import change_file, open_file, page, say, summary_validator

blueprint = Blueprint("summaries", __name__)

LINES = ("title", "url", "published", "journal")
TEXTS = (
    "takeaway",
    "found",
    "who_should_care",
    "who_should_care_short",
    "considerations",
    "considerations_short",
    "teaser",
)
LABELS = {
    "title": "Title",
    "url": "Link (https)",
    "published": "Published (YYYY-MM-DD)",
    "journal": "Journal",
    "topics": "Topics",
    "takeaway": "Takeaway",
    "found": "What they found",
    "who_should_care": "Who should care",
    "considerations": "Important considerations",
    # Optional, and only ever the editor's: the email shows it with a link to the whole text.
    "who_should_care_short": "Who should care, shorter for the email (optional)",
    "considerations_short": "Important considerations, shorter for the email (optional)",
    "teaser": "Teaser",
}


def months(summaries: Any) -> list[str]:
    return sorted({f"{s.published:%Y-%m}" for s in summaries}, reverse=True)


@blueprint.get("/summaries")
def index() -> Response:
    store = desk().summaries()
    args = request.args
    month, topic, review = args.get("month", ""), args.get("topic", "").strip(), args.get("review") == "1"
    chosen = [
        s
        for s in content.filter_summaries(store.values(), topic=topic or None)
        if (not month or f"{s.published:%Y-%m}" == month) and (not review or s.needs_review)
    ]
    topics = sorted({t for s in store.values() for t in s.topics}, key=str.casefold)
    return page(
        "summaries.html",
        summaries=chosen,
        total=len(store),
        months=months(store.values()),
        topics=topics,
        filters={"month": month, "topic": topic, "review": "1" if review else ""},
    )


def _path(summary_id: str) -> Any:
    path = desk().workspace / content.SUMMARIES_DIR / f"{summary_id}.yaml"
    if not content.ID_PATTERN.match(summary_id) or not path.is_file():
        abort(404, f"no summary {summary_id}")
    return path


@blueprint.get("/summaries/<summary_id>")
def edit(summary_id: str) -> Response:
    path = _path(summary_id)
    version = open_file(path)
    doc = load_yaml(path, path.relative_to(desk().workspace))
    summary, found = content.summary_problems(doc)
    if summary is None:
        return page("error.html", 422, code=422, problem="; ".join(found) + " (fix it in a text editor)")
    vocabulary = load_taxonomy(desk().workspace).vocabulary
    known = {t.casefold() for t in vocabulary}
    return page(
        "summary.html",
        summary=summary,
        data=doc.data,
        version=version,
        labels=LABELS,
        lines=LINES,
        texts=TEXTS,
        vocabulary=vocabulary,
        chosen={t.casefold() for t in summary.topics},
        free_tags=", ".join(t for t in summary.topics if t.casefold() not in known),
        back=request.args.get("back", ""),
    )


def _set(data: Any, key: str, value: Any) -> bool:
    old = data.get(key)
    if value in (None, "", []):
        if key in data:
            del data[key]
            return True
        return False
    if key == "published":
        if str(old) == value:
            return False
        data[key] = date.fromisoformat(value) if _is_date(value) else value
        return True
    if isinstance(value, list):
        if list(old or []) == value:
            return False
        if old is not None and hasattr(old, "fa"):
            del old[:]
            old.extend(value)
        else:
            data[key] = value
        return True
    if isinstance(old, str) and " ".join(old.split()) == " ".join(value.split()):
        return False
    if key in TEXTS:
        data[key] = text_scalar(value, old)
    else:
        data[key] = type(old)(value) if isinstance(old, ScalarString) else value
    return True


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _topics(form: Any) -> list[str]:
    chosen = form.getlist("topic")
    free = [t.strip() for t in form.get("free_tags", "").split(",") if t.strip()]
    seen: dict[str, str] = {}
    for tag in (*chosen, *free):
        seen.setdefault(tag.casefold(), " ".join(tag.split()))
    return list(seen.values())


@blueprint.post("/summaries/<summary_id>")
def save(summary_id: str) -> Response:
    path = _path(summary_id)
    form = request.form

    def change(data: Any) -> str:
        changed = [key for key in LINES if key in form and _set(data, key, " ".join(form[key].split()))]
        changed += [
            key for key in TEXTS if key in form and _set(data, key, form[key].replace("\r\n", "\n").strip())
        ]
        if "topics-shown" in form and _set(data, "topics", _topics(form)):
            changed.append("topics")
        return f"Saved: {', '.join(LABELS[k].lower() for k in changed)}." if changed else ""

    message = change_file(path, form.get("version", ""), change, summary_validator(summary_id))
    say(message or "Nothing changed.")
    return redirect(url_for("summaries.edit", summary_id=summary_id), 303)  # type: ignore[return-value]


@blueprint.post("/summaries/<summary_id>/reviewed")
def reviewed(summary_id: str) -> Response:
    """Clear needs_review, only once every field the importer guessed was confirmed as looked at."""
    path = _path(summary_id)
    form = request.form
    looked = set(form.getlist("looked"))

    def change(data: Any) -> str:
        if not data.get("needs_review"):
            return ""
        guessed = [str(f) for f in data.get("missing_fields") or ()]
        unseen = [f for f in guessed if f not in looked]
        if unseen:
            names = ", ".join(LABELS.get(f, f).lower() for f in unseen)
            raise EditError(f"not marked reviewed: confirm you looked at {names} first")
        del data["needs_review"]
        data.pop("missing_fields", None)
        return "Marked reviewed." + (f" Checked: {', '.join(guessed)}." if guessed else "")

    message = change_file(path, form.get("version", ""), change, summary_validator(summary_id))
    say(message or "Already reviewed.")
    return redirect(url_for("summaries.edit", summary_id=summary_id), 303)  # type: ignore[return-value]
