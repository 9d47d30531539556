"""The public archive: a static site of past issues (index, one page per issue) and an Atom feed.

Each issue's page sits at `<archive>/<issue id>/index.html`, so it is served at
`{archive_url}{issue id}/`: the address the emails' "view in browser" link already points to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path

import feedgenerator

from newsletter import render
from newsletter.delivery.history import sent_record
from newsletter.store import issues
from newsletter.store.config import Settings
from newsletter.store.fileio import atomic_write
from newsletter.store.models import Issue
from newsletter.web.pages import render_page

ARCHIVE_DIR = "archive"
FEED = "feed.xml"
# What XML 1.0 forbids (a YAML string may hold any of them, written as escapes such as "\a").
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


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


def issue_page(settings: Settings, web_html: str) -> str:
    """An issue's web version with a way back to the archive and its feed (pages/archive_nav.html)."""
    nav = render_page(settings.workspace, "archive_nav.html", feed=FEED).strip()
    feed = f'<link rel="alternate" type="application/atom+xml" title="Atom feed" href="../{FEED}">'
    page = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + feed, web_html, count=1)
    body = re.search(r"<body[^>]*>", page)
    if body is None:
        return nav + page
    return page[: body.end()] + nav + page[body.end() :]


def index_page(settings: Settings, archived: list[ArchivedIssue]) -> str:
    """The archive's front page (templates/pages/archive_index.html): every issue, newest first."""
    listed = [
        {
            "id": a.issue.id,
            "title": a.issue.title,
            "subject": a.issue.subject,
            "preheader": a.issue.preheader,
            "published": a.published.isoformat(),
            # The date its own page prints under its title (render.issue_date), so the two agree.
            "date": render.long_date(render.issue_date(a.issue, settings)),
        }
        for a in archived
    ]
    return render_page(settings.workspace, "archive_index.html", settings=settings, issues=listed, feed=FEED)


def xml_text(text: str) -> str:
    """Text that XML 1.0 can carry: control characters (other than tab and newlines) removed."""
    return _NOT_XML.sub("", text)


def _utc(moment: datetime) -> datetime:
    # A naive UTC time is what feedgenerator writes with a "Z", as RFC 4287's examples do.
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def atom_feed(settings: Settings, archived: list[ArchivedIssue]) -> str:
    """An Atom 1.0 feed (RFC 4287): one entry per issue, linking to its page in the archive.

    Each entry's summary is templates/pages/feed_entry.html; feedgenerator writes and escapes the XML.
    """
    base = settings.archive_url
    feed = feedgenerator.Atom1Feed(
        title=xml_text(settings.name),
        link=base,
        description="",
        feed_url=base + FEED,
        feed_guid=base,
        language=settings.language,
        author_name=xml_text(settings.sender.name),
    )
    for a in archived:
        url = f"{base}{a.issue.id}/"
        summary = render_page(settings.workspace, "feed_entry.html", issue=a.issue, settings=settings)
        feed.add_item(
            title=xml_text(f"{a.issue.title}: {a.issue.subject}"),
            link=url,
            unique_id=url,
            description=xml_text(summary.strip()),
            pubdate=_utc(a.published),
            updateddate=_utc(a.published),
        )
    return feed.writeString("utf-8") + "\n"


def build_archive(settings: Settings, out_dir: Path | None = None, all_built: bool = False) -> ArchiveResult:
    """Write the archive: index.html, feed.xml and <issue id>/index.html for each issue, atomically."""
    folder = out_dir or settings.workspace / ARCHIVE_DIR
    archived = collect(settings, all_built)
    files = []
    for a in archived:
        path = folder / a.issue.id / "index.html"
        atomic_write(path, issue_page(settings, a.web_html))
        files.append(path)
    for name, body in (("index.html", index_page(settings, archived)), (FEED, atom_feed(settings, archived))):
        atomic_write(folder / name, body)
        files.append(folder / name)
    return ArchiveResult(folder, tuple(archived), tuple(files))
