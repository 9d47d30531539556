"""`check`'s report of an issue, run in-process and kept until one of its input files changes.

A change answers at once: its page shows the report kept for the files as they are now, or says
`check` is running and fetches the findings when they are ready (`/issues/<id>/findings`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from newsletter import check
from newsletter.check.findings import CheckReport
from newsletter.store import content
from newsletter.store.issues import ISSUES_DIR
from newsletter.web.desk.context import desk

INPUTS = ("newsletter.yaml", "topics.yaml", ISSUES_DIR, content.SUMMARIES_DIR, "templates", "subscribers")


def inputs_key(workspace: Path) -> str:
    """The stat of every file the issue's check reads: any save (atomic or not) changes it.

    The files are the settings, the taxonomy, every issue (what earlier issues carried), the
    summaries (a stat costs less than reading the issue to know which), the workspace's templates.
    Atomic saves make a new inode, so even an edit within one tick of the clock that keeps the size
    is seen.
    """
    digest = hashlib.sha256()
    paths: list[Path] = []
    for name in INPUTS:
        root = workspace / name
        paths += sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for path in paths:
        try:
            s = path.stat()
            digest.update(f"{path}\0{s.st_size}\0{s.st_mtime_ns}\0{s.st_ino}\0".encode())
        except OSError:
            digest.update(f"{path}\0gone\0".encode())
    return digest.hexdigest()


def cached_report(issue_id: str) -> CheckReport | None:
    """The issue's report if `check` already ran on its files as they are now, else None (no waiting)."""
    d = desk()
    return d.reports.get((issue_id, inputs_key(d.workspace)))


def report_for(issue_id: str) -> CheckReport:
    """The issue's findings and sample email (SpamAssassin left out: it takes a second or two).

    The findings panel and the preview frame ask at once after a change: one runs `check`, the
    other waits for its report rather than running it a second time.
    """
    from newsletter.delivery.history import sent_record

    d = desk()
    with d.checking:
        key = (issue_id, inputs_key(d.workspace))
        found = d.reports.get(key)
        if found is None:
            settings = d.settings
            today = d.clock().astimezone(settings.tz).date()
            found = check.check_issue(settings, issue_id, today=today, spam=False, sent=sent_record(settings))
            d.reports = {key: found}  # one issue's latest report is all a page needs
    return found
