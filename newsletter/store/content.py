"""The summary store: one YAML file per summary in `summaries/`, loaded and validated."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from newsletter.errors import ContentError, problems
from newsletter.store import validate as v
from newsletter.store.fileio import YamlDocument, atomic_write, dump_yaml, load_yaml
from newsletter.store.models import NONE_ON_THE_SITE, Correction, Summary

SUMMARIES_DIR = "summaries"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")

_TEXT_FIELDS = (
    "takeaway",
    "journal",
    "found",
    "who_should_care",
    "considerations",
    "who_should_care_short",
    "considerations_short",
    "teaser",
)
# The editor's shorter email wording of a long field, and the field it shortens.
SHORT_FIELDS = {"who_should_care_short": "who_should_care", "considerations_short": "considerations"}
_FIELDS = {
    "title",
    "url",
    "published",
    "topics",
    "needs_review",
    "missing_fields",
    "sources",
    "corrections",
    *_TEXT_FIELDS,
}
# The order fields are written in: what an editor reads first comes first.
FIELD_ORDER = (
    "title",
    "url",
    "published",
    "journal",
    "topics",
    "takeaway",
    "found",
    "who_should_care",
    "considerations",
    "who_should_care_short",
    "considerations_short",
    "teaser",
    "needs_review",
    "missing_fields",
    "sources",
    "corrections",
)


def summary_problems(doc: YamlDocument) -> tuple[Summary | None, list[str]]:
    """Validate one summary document; return the summary (if valid) and the problems found."""
    data = doc.data
    p = v.Problems(doc)
    summary_id = doc.path.stem
    if not ID_PATTERN.match(summary_id):
        p.add((), "the file name is the summary id: use lowercase letters, digits and hyphens")
    if not isinstance(data, dict):
        p.add((), "expected a mapping of fields (title, url, published, takeaway, ...)")
        return None, p.items
    v.unknown_keys(p, data, _FIELDS)
    title = data.get("title")
    if not v.text(title) or not v.single_line(title):
        p.add(("title",), "required: the summary's title, on one line")
    if not v.https_url(data.get("url")):
        p.add(("url",), f"expected an absolute https URL, got {data.get('url')!r}")
    published = v.parse_date(data.get("published"))
    if published is None:
        p.add(("published",), f"expected a real date as YYYY-MM-DD, got {data.get('published')!r}")
    for key in _TEXT_FIELDS:
        if key in data and data[key] is not None and not isinstance(data[key], str):
            p.add((key,), "expected text")
    if not v.text(data.get("takeaway")) and not v.text(data.get("teaser")):
        p.add(("takeaway",), "required: the key takeaway (or, for a teaser, its teaser text)")
    topics = data.get("topics") or []
    if not isinstance(topics, list) or not all(v.text(t) for t in topics):
        p.add(("topics",), "expected a list of tags, e.g. [B cells, Biomarkers]")
        topics = []
    for key in ("missing_fields", "sources"):
        if key in data and not (isinstance(data[key], list) and all(v.text(x) for x in data[key])):
            p.add((key,), "expected a list of names")
    if "needs_review" in data and not isinstance(data["needs_review"], bool):
        p.add(("needs_review",), "expected true or false")
    corrections = corrections_of(data.get("corrections"), p)
    _short_field_problems(data, p)
    if p:
        return None, p.items

    def opt(key: str) -> str | None:
        value = data.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    assert isinstance(title, str) and published is not None  # no problems: both were checked above
    summary = Summary(
        id=summary_id,
        title=title.strip(),
        url=data["url"],
        published=published,
        takeaway=opt("takeaway"),
        journal=opt("journal"),
        topics=tuple(t.strip() for t in topics),
        found=opt("found"),
        who_should_care=opt("who_should_care"),
        considerations=opt("considerations"),
        who_should_care_short=opt("who_should_care_short"),
        considerations_short=opt("considerations_short"),
        teaser=opt("teaser"),
        needs_review=bool(data.get("needs_review", False)),
        missing_fields=tuple(data.get("missing_fields") or ()),
        sources=tuple(data.get("sources") or ()),
        corrections=corrections,
    )
    return summary, []


def _short_field_problems(data: dict, p: v.Problems) -> None:
    """An editor's short wording needs the whole field it shortens (the email links to it). One that
    is not shorter is `check`'s to note: a re-import may shorten the site's text under it."""
    for short, full in SHORT_FIELDS.items():
        short_text, full_text = data.get(short), data.get(full)
        if not isinstance(short_text, str) or not short_text.strip():
            continue
        whole = " ".join(full_text.split()) if isinstance(full_text, str) else ""
        if not whole or whole.casefold() == NONE_ON_THE_SITE:
            p.add((short,), f"set without `{full}:`; write the whole {full} too, or remove {short}")


def corrections_of(value: object, p: v.Problems) -> tuple[Correction, ...]:
    """`corrections:` as `newsletter correct` writes it: a list of {date: YYYY-MM-DD, note: text}."""
    if value is None:
        return ()
    if not isinstance(value, list):
        p.add(("corrections",), "expected a list of {date: YYYY-MM-DD, note: what changed}")
        return ()
    found = []
    for n, item in enumerate(value):
        day = v.parse_date(item.get("date")) if isinstance(item, dict) else None
        note = item.get("note") if isinstance(item, dict) else None
        if day is None or not v.text(note) or set(item) - {"date", "note"}:
            p.add(("corrections", n), "expected {date: YYYY-MM-DD, note: what changed}")
            continue
        found.append(Correction(day, " ".join(note.split())))
    return tuple(found)


def load_summary(path: Path, display: Path | None = None) -> Summary:
    summary, found = summary_problems(load_yaml(path, display))
    if summary is None:
        raise ContentError(problems("", found))
    return summary


def load_summaries(workspace: Path) -> dict[str, Summary]:
    """Every summary in the workspace by id; any invalid file fails the load, all reported at once."""
    folder = workspace / SUMMARIES_DIR
    if not folder.is_dir():
        return {}
    found: dict[str, Summary] = {}
    errors: list[str] = []
    seen_lower: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".yaml", ".yml") or path.name.startswith("."):
            continue
        shown = path.relative_to(workspace)
        key = path.stem.lower()
        if key in seen_lower:
            # summaries/x.yaml and summaries/x.yml would both claim the id "x".
            errors.append(
                f"{shown}: duplicate id {path.stem!r}, also in {seen_lower[key]}; rename or remove one"
            )
            continue
        seen_lower[key] = shown
        try:
            summary, items = summary_problems(load_yaml(path, shown))
        except ContentError as exc:
            errors.append(exc.message)
            continue
        errors.extend(items)
        if summary is not None:
            found[summary.id] = summary
    if errors:
        raise ContentError(problems(f"{SUMMARIES_DIR}/", errors))
    return found


def summary_to_yaml(summary: Summary) -> str:
    """The YAML an editor would write for this summary (empty optional fields left out)."""
    data: dict[str, object] = {}
    for key in FIELD_ORDER:
        value = getattr(summary, key)
        if key == "corrections":
            value = tuple({"date": c.date, "note": c.note} for c in value)
        if isinstance(value, tuple):
            value = list(value)
            if not value and key != "topics":
                continue
        if value is None or (key == "needs_review" and value is False):
            continue
        data[key] = value
    return dump_yaml(data)


def write_summary(workspace: Path, summary: Summary) -> Path:
    path = workspace / SUMMARIES_DIR / f"{summary.id}.yaml"
    atomic_write(path, summary_to_yaml(summary))
    return path


def filter_summaries(
    summaries: Iterable[Summary],
    since: date | None = None,
    until: date | None = None,
    topic: str | None = None,
) -> list[Summary]:
    """Summaries inside [since, until] (inclusive) carrying `topic` (any case), newest first."""
    wanted = topic.casefold() if topic else None
    chosen = [
        s
        for s in summaries
        if (since is None or s.published >= since)
        and (until is None or s.published <= until)
        and (wanted is None or wanted in (t.casefold() for t in s.topics))
    ]
    return list(newest_first(chosen))


def newest_first(summaries: Iterable[Summary]) -> tuple[Summary, ...]:
    """Newest first; the id breaks ties, so the same summaries always come out in the same order."""
    return tuple(sorted(summaries, key=lambda s: (-s.published.toordinal(), s.id)))
