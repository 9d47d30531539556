"""Export subscribers as CSV (the exchange format): one row per person and list, streamed."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from sqlalchemy import Engine

from newsletter.db.audience import iter_memberships
from newsletter.db.csvformats import spreadsheet_safe
from newsletter.db.schema import Status

FIELDS = (
    "email",
    "first_name",
    "last_name",
    "list",
    "status",
    "topics",
    "subscribed_at",
    "consent_at",
    "consent_source",
    "consent_form_version",
    "large_text",
    "paused_until",
)


def _cell(value: object) -> str:
    return spreadsheet_safe(_text(value))


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ";".join(value)  # topics, as `import` reads them back
    return str(value)


def export_csv(
    engine: Engine, out: TextIO, lists: Iterable[str] | None = None, statuses: Iterable[Status] | None = None
) -> int:
    """Write the chosen lists' memberships (all when None) to `out`; returns the rows written.

    The file imports back unchanged (`import_csv` reads these columns and takes off the apostrophe
    that keeps a cell like `=HYPERLINK(...)` from running as a formula in a spreadsheet).
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    written = 0
    for row in iter_memberships(engine, lists, statuses):
        writer.writerow([_cell(row[name]) for name in FIELDS])
        written += 1
    return written
