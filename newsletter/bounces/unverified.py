"""Reports that proved nothing, counted so an operator sees forged bounces and complaints arriving.

Anyone can send a bounce or complaint naming any address; one without our VERP token or Message-ID
changes nobody's state (bounces/mapping.py). Each is still recorded once, as an event linked to no
one (the address only as its salted hash), under the issue sent most recently when it arrived, so
`newsletter status` counts them per issue and in all.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.engine import reading, writing
from newsletter.db.schema import EventKind, ReportIssue

KIND = EventKind.UNVERIFIED_REPORT


def record_unverified(engine: Engine, report_id: str, named: str, source: str, why: str) -> bool:
    """Record one unverified report (once per `report_id`); False if it was recorded before."""
    with writing(engine) as connection:
        seen = connection.execute(
            select(t.events.c.id).where(
                t.events.c.kind == KIND.value, t.events.c.detail["report"].as_string() == report_id
            )
        ).first()
        if seen is not None:
            return False
        latest = connection.execute(
            select(t.runs.c.issue_id).order_by(t.runs.c.started_at.desc()).limit(1)
        ).scalar()
        detail = {"report": report_id, "why": why[:500], **({"issue": latest} if latest else {})}
        events.record(connection, None, named, KIND, source, detail)
    return True


def unverified_counts(engine: Engine) -> tuple[dict[str, int], int]:
    """Unverified reports per issue (the one sent most recently when each arrived) and in all."""
    issue = ReportIssue(t.events.c.detail)
    with reading(engine) as connection:
        rows = connection.execute(
            select(issue, func.count()).where(t.events.c.kind == KIND.value).group_by(issue)
        ).all()
    per_issue = {str(i): n for i, n in rows if i is not None}
    return per_issue, sum(n for _, n in rows)
