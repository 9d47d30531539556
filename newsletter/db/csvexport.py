"""Export subscribers as CSV (the exchange format): one row per person and list, streamed."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine, Select

from newsletter.db import schema as t
from newsletter.db.audience import check_lists, in_order, membership_rows, topics_column
from newsletter.db.csvformats import spreadsheet_safe
from newsletter.db.engine import is_postgresql, reading
from newsletter.db.schema import Status
from newsletter.errors import NewsletterError

BATCH = 5000  # rows fetched at a time: memory stays flat whatever the list size

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


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _safe(value: str | None) -> str:
    return "" if value is None else spreadsheet_safe(value)


def _flag(value: object) -> str:
    return "true" if value else "false"


def _moment(value: object) -> str:
    """A moment as the export writes it (ISO 8601 to the second, UTC): from PostgreSQL's datetime or
    SQLite's stored text ("2024-01-02 09:00:00.000000", UTC), without building a datetime per cell."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    text = str(value)
    return f"{text[:10]}T{text[11:19]}+00:00"


def _topics(value: str | None) -> str:
    """A person's topics from their gathered string, `;`-joined in their order, as `import` reads them."""
    return spreadsheet_safe(";".join(in_order(value))) if value else ""


# How each column of the query is written, in FIELDS order (topics are the query's last column).
_FORMATS = (_safe, _safe, _safe, _safe, _text, _topics, _moment, _moment, _safe, _safe, _flag, _moment)


def _query(lists: list[str] | None, statuses: Iterable[Status] | None) -> Select[Any]:
    s, m, lst = t.subscribers, t.memberships, t.lists
    columns = (
        s.c.email,
        s.c.first_name,
        s.c.last_name,
        lst.c.name,
        m.c.status,
        topics_column(s.c.id),
        m.c.subscribed_at,
        m.c.consent_at,
        m.c.consent_source,
        m.c.consent_form_version,
        s.c.large_text,
        s.c.paused_until,
    )
    return membership_rows(columns, lists, statuses)


def export_csv(
    engine: Engine, out: TextIO, lists: Iterable[str] | None = None, statuses: Iterable[Status] | None = None
) -> int:
    """Write the chosen lists' memberships (all when None) to `out`; returns the rows written.

    The file imports back unchanged (`import_csv` reads these columns and takes off the apostrophe
    that keeps a cell like `=HYPERLINK(...)` from running as a formula in a spreadsheet).

    One query, streamed from the driver's own cursor (a server-side one on PostgreSQL) a few
    thousand rows at a time, each row's topics gathered by the database: Python only writes cells.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    written = 0
    with reading(engine) as connection:
        chosen = check_lists(connection, None if lists is None else list(lists))
        compiled = _query(chosen, statuses).compile(
            dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
        )
        raw = connection.connection.driver_connection
        assert raw is not None
        if is_postgresql(connection):
            cursor = raw.cursor(name="newsletter_export")  # server-side: rows come as they are read
            cursor.execute(str(compiled), compiled.params)
        else:
            cursor = raw.cursor()
            cursor.execute(str(compiled), [compiled.params[name] for name in compiled.positiontup or ()])
        while batch := cursor.fetchmany(BATCH):
            writer.writerows([[f(v) for f, v in zip(_FORMATS, row, strict=True)] for row in batch])
            written += len(batch)
        cursor.close()
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
