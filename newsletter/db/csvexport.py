"""Export subscribers as CSV (the exchange format): one row per person and list, streamed."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine

from newsletter.db.audience import iter_memberships
from newsletter.db.csvformats import spreadsheet_safe
from newsletter.db.schema import Status
from newsletter.errors import NewsletterError

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


def export_file(
    engine: Engine, path: Path, lists: Iterable[str] | None = None, statuses: Iterable[Status] | None = None
) -> int:
    """`export_csv` into a file, streamed row by row (memory stays flat at any size); returns the rows.

    Written aside and renamed into place, so the file is whole or untouched; readable by its owner
    only (it holds personal data). A folder that cannot be written or a full disk is one line.
    """
    import tempfile

    def failed(exc: OSError) -> NewsletterError:
        reason = exc.strerror or str(exc)
        return NewsletterError(
            f"{path}: cannot write ({reason}); check the folder's permissions and free space"
        )

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise failed(exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            written = export_csv(engine, handle, lists, statuses)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(aside, path)
    except OSError as exc:
        Path(aside).unlink(missing_ok=True)
        raise failed(exc) from None
    except BaseException:
        Path(aside).unlink(missing_ok=True)
        raise
    return written
