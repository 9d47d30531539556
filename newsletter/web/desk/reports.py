"""`check`'s report of an issue, run in-process and kept until a watched file changes."""

from __future__ import annotations

from newsletter import check
from newsletter.check.findings import CheckReport
from newsletter.web.desk.context import desk
from newsletter.web.live import metadata_key


def report_for(issue_id: str) -> CheckReport:
    """The issue's findings and sample email (SpamAssassin left out: it takes a second or two)."""
    from newsletter.delivery.history import sent_record

    d = desk()
    key = (issue_id, metadata_key(d.workspace))
    found = d.reports.get(key)
    if found is None:
        settings = d.settings
        found = check.check_issue(
            settings,
            issue_id,
            today=d.clock().astimezone(settings.tz).date(),
            spam=False,
            sent=sent_record(settings),
        )
        d.reports.clear()  # one issue's latest report is all a page needs
        d.reports[key] = found
    return found
