"""The public archive: a static site of past issues (index, one page per issue) and an Atom feed.

Each issue's page sits at `<archive>/<issue id>/index.html`, so it is served at
`{archive_url}{issue id}/`: the address the emails' "view in browser" link already points to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time
from html import escape
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from newsletter import render
from newsletter.delivery.history import sent_record
from newsletter.store import issues
from newsletter.store.config import Settings
from newsletter.store.fileio import atomic_write
from newsletter.store.models import Issue

ARCHIVE_DIR = "archive"
FEED = "feed.xml"
ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class ArchivedIssue:
    issue: Issue
    published: datetime  # when it was sent (or is dated, with --all), with its offset
    web_html: str


@dataclass(frozen=True)
class ArchiveResult:
    out_dir: Path
    issues: tuple[ArchivedIssue, ...]  # newest first
    files: tuple[Path, ...]


def dated(issue: Issue, settings: Settings) -> datetime:
    """An unsent issue's date: its planned send time, else the day printed under its title."""
    if issue.send_at is not None:
        return issue.send_at
    return datetime.combine(render.issue_date(issue, settings), time(9), settings.tz)


def collect(settings: Settings, all_built: bool) -> list[ArchivedIssue]:
    """The issues to publish, rendered, newest first: sent ones, or every issue that renders."""
    sent = sent_record(settings).sent  # issue id -> when its send run started
    chosen = [issue for issue in issues.list_issues(settings.workspace) if all_built or issue.id in sent]
    archived = []
    for issue in chosen:
        _issue, summaries = issues.load_issue_content(settings.workspace, issue.id)
        web = render.render_issue(settings, issue, summaries).web_html
        archived.append(ArchivedIssue(issue, sent.get(issue.id) or dated(issue, settings), web))
    return sorted(archived, key=lambda a: (a.published, a.issue.id), reverse=True)


_NAV = (
    '<nav class="archive-nav" style="font:15px/1.4 sans-serif;padding:8px 16px">'
    '<a href="../">All issues</a> &middot; <a href="../feed.xml">Atom feed</a></nav>'
)


def issue_page(web_html: str) -> str:
    """An issue's web version with a way back to the archive and its feed."""
    feed = '<link rel="alternate" type="application/atom+xml" title="Atom feed" href="../feed.xml">'
    page = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + feed, web_html, count=1)
    body = re.search(r"<body[^>]*>", page)
    if body is None:
        return _NAV + page
    return page[: body.end()] + _NAV + page[body.end() :]


def index_page(settings: Settings, archived: list[ArchivedIssue]) -> str:
    items = "".join(
        f'<li><a href="{escape(a.issue.id)}/">{escape(a.issue.title)}</a>'
        f' <time datetime="{a.published.isoformat()}">{render.long_date(a.published.date())}</time>'
        f"<br><strong>{escape(a.issue.subject)}</strong> {escape(a.issue.preheader)}</li>"
        for a in archived
    )
    listing = f"<ol reversed>{items}</ol>" if archived else "<p>No issues yet.</p>"
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(settings.language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(settings.name)}: past issues</title>"
        f'<link rel="alternate" type="application/atom+xml" title="Atom feed" href="{FEED}">'
        "<style>body{font:16px/1.5 Georgia,serif;max-width:40em;margin:2em auto;padding:0 1em}"
        "li{margin-bottom:1em}</style></head><body>"
        f"<h1>{escape(settings.name)}</h1><p>Every past issue, newest first. "
        f'<a href="{FEED}">Atom feed</a> &middot; <a href="{escape(settings.site_url)}">The site</a></p>'
        f"{listing}</body></html>\n"
    )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom_feed(settings: Settings, archived: list[ArchivedIssue]) -> str:
    """An Atom 1.0 feed (RFC 4287): one entry per issue, linking to its page in the archive."""
    base = settings.archive_url
    updated = _utc(archived[0].published) if archived else _utc(datetime(1970, 1, 1, tzinfo=UTC))
    entries = []
    for a in archived:
        url = f"{base}{a.issue.id}/"
        sections = "".join(f"<li>{escape(s.title)}</li>" for s in a.issue.sections)
        summary_html = f"<p>{escape(a.issue.preheader)}</p><ul>{sections}</ul>"
        entries.append(
            "  <entry>\n"
            f"    <id>{xml_escape(url)}</id>\n"
            f"    <title>{xml_escape(a.issue.title)}: {xml_escape(a.issue.subject)}</title>\n"
            f'    <link rel="alternate" type="text/html" href={quoteattr(url)}/>\n'
            f"    <published>{_utc(a.published)}</published>\n"
            f"    <updated>{_utc(a.published)}</updated>\n"
            f'    <summary type="html">{xml_escape(summary_html)}</summary>\n'
            "  </entry>\n"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="{ATOM}" xml:lang={quoteattr(settings.language)}>\n'
        f"  <id>{xml_escape(base)}</id>\n"
        f"  <title>{xml_escape(settings.name)}</title>\n"
        f"  <updated>{updated}</updated>\n"
        f"  <author><name>{xml_escape(settings.sender.name)}</name></author>\n"
        f'  <link rel="self" type="application/atom+xml" href={quoteattr(base + FEED)}/>\n'
        f'  <link rel="alternate" type="text/html" href={quoteattr(base)}/>\n'
        + "".join(entries)
        + "</feed>\n"
    )


def build_archive(settings: Settings, out_dir: Path | None = None, all_built: bool = False) -> ArchiveResult:
    """Write the archive: index.html, feed.xml and <issue id>/index.html for each issue, atomically."""
    folder = out_dir or settings.workspace / ARCHIVE_DIR
    archived = collect(settings, all_built)
    files = []
    for a in archived:
        path = folder / a.issue.id / "index.html"
        atomic_write(path, issue_page(a.web_html))
        files.append(path)
    for name, body in (("index.html", index_page(settings, archived)), (FEED, atom_feed(settings, archived))):
        atomic_write(folder / name, body)
        files.append(folder / name)
    return ArchiveResult(folder, tuple(archived), tuple(files))
