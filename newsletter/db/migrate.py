"""Moving state into the database: once from an old workspace's files, or a whole SQLite database into
PostgreSQL.

The workspace migration reads `subscribers/*.csv` (the lists), `subscribers/suppressed.csv` and the old
ledger file, in one transaction, and reports what moved and what could not (file:line and why). It
never changes or deletes the files; it runs once (a mark in the database says it ran).
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, func, insert, select, text

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.addresses import address_key
from newsletter.db.csvimport import ImportReport, import_into
from newsletter.db.engine import DatabaseError, describe, is_postgresql, reading, writing
from newsletter.db.revisions import check_schema
from newsletter.db.rows import suppression_of
from newsletter.db.schema import EventKind
from newsletter.errors import ContentError
from newsletter.names import split_name

MIGRATED = "workspace_migrated_at"
SUPPRESSED_FILE = "suppressed.csv"
OLD_LEDGER = ".newsletter/ledger.sqlite3"


@dataclass
class MigrationReport:
    already: bool = False  # migrated before: nothing was done
    lists: list[ImportReport] = field(default_factory=list)
    suppressed: int = 0
    suppressed_before: int = 0  # already suppressed (say, by a list's own opt-out row)
    runs: int = 0
    recipients: int = 0
    summaries: int = 0
    files: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if self.already:
            return ["This workspace was migrated into the database before; nothing done."]
        lines = [f"Read {', '.join(self.files) or 'no files'}."]
        for report in self.lists:
            lines += report.lines()
        lines.append(
            f"suppression list: {self.suppressed} moved ({self.suppressed_before} were already there)"
        )
        lines.append(
            f"ledger: {self.runs} runs, {self.recipients} recipients, {self.summaries} carried summaries"
        )
        lines.append(
            "The files are unchanged; once you have checked the database, move subscribers/*.csv out "
            "of the workspace (they hold personal data)."
        )
        return lines


def _old_lists(workspace: Path) -> list[Path]:
    folder = workspace / "subscribers"
    return sorted(p for p in folder.glob("*.csv") if p.name != SUPPRESSED_FILE and not p.name.startswith("."))


def old_files(workspace: Path, ledger_file: Path | None = None) -> list[Path]:
    """The old workspace's files a migration would read (lists, suppression list, old ledger)."""
    others = [workspace / "subscribers" / SUPPRESSED_FILE, ledger_file or workspace / OLD_LEDGER]
    return _old_lists(workspace) + [p for p in others if p.is_file()]


def was_migrated(connection: Connection) -> bool:
    return connection.execute(select(t.meta.c.value).where(t.meta.c.key == MIGRATED)).scalar() is not None


def holds_readers_or_sends(connection: Connection) -> bool:
    """Whether the database is in use: it has subscribers, suppressed addresses or sends."""
    tables = (t.subscribers, t.suppressions, t.runs)
    return any(connection.execute(select(exists().select_from(table))).scalar() for table in tables)


def migrate_workspace(
    engine: Engine,
    workspace: Path,
    vocabulary: Mapping[str, str] | None = None,
    ledger_file: Path | None = None,
    *,
    only_into_new: bool = False,
) -> MigrationReport:
    """Move an old workspace's lists, suppression list and ledger into the database, once, all or nothing.

    `only_into_new`: refuse a database that already holds readers or sends (its own state is newer
    than the files: an old list must not resubscribe someone who unsubscribed there).
    """
    lists = _old_lists(workspace)
    suppressed = workspace / "subscribers" / SUPPRESSED_FILE
    ledger = ledger_file or workspace / OLD_LEDGER
    report = MigrationReport()
    with writing(engine) as connection:
        if is_postgresql(connection):  # several first commands at once: one migrates, the others wait
            connection.execute(text("SELECT pg_advisory_xact_lock(7281001, 1)"))
        if was_migrated(connection):
            return MigrationReport(already=True)
        if only_into_new and holds_readers_or_sends(connection):
            raise DatabaseError(
                f"{describe(engine.url)} already holds readers or sends, so the workspace's old files do "
                "not move into it; add a list on purpose: `newsletter subscribers import FILE --list NAME`"
            )
        if suppressed.is_file():  # first, so a list's opt-out row does not replace the recorded reason
            report.files.append(str(suppressed))
            _move_suppressed(connection, suppressed, report)
        for path in lists:
            report.files.append(str(path))
            report.lists.append(
                import_into(connection, path, path.stem, vocabulary, source="migration", as_is=True)
            )
        if ledger.is_file():
            report.files.append(str(ledger))
            _move_ledger(connection, ledger, report)
        connection.execute(insert(t.meta).values(key=MIGRATED, value=t.now().isoformat()))
    return report


def _move_suppressed(connection: Connection, path: Path, report: MigrationReport) -> None:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                row = {(k or "").strip().casefold(): (v or "") for k, v in row.items()}
                raw = row.get("email", "").strip()
                if not raw:
                    continue
                if suppression_of(connection, raw) is not None:
                    report.suppressed_before += 1
                    continue
                # The address as written, even if malformed: erring towards not sending, as the old list did.
                connection.execute(
                    insert(t.suppressions).values(
                        email_key=address_key(raw),
                        email_hash=events.hash_of(connection, raw),
                        reason=row.get("reason", ""),
                        source="migration",
                        created_at=_day(row.get("date", "")),
                    )
                )
                events.record(
                    connection,
                    None,
                    raw,
                    EventKind.SUPPRESSED,
                    "migration",
                    {"reason": row.get("reason", ""), "file": path.name, "line": line},
                )
                report.suppressed += 1
    except UnicodeDecodeError as exc:
        raise ContentError(
            f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8 and migrate again"
        ) from None


def _day(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return t.now()
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _moment(value: str | None) -> datetime | None:
    return None if not value else _day(value)


def _move_ledger(connection: Connection, path: Path, report: MigrationReport) -> None:
    """Copy the old ledger's runs, recipients (in their order) and carried summaries."""
    try:
        old = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        columns = {row[1] for row in old.execute("PRAGMA table_info(runs)")}
        forced = "forced_reason" if "forced_reason" in columns else "''"  # added to the old ledger late
        runs = old.execute(
            f"SELECT issue_id, state, provider, note, started_at, updated_at, finished_at, {forced} FROM runs"
        ).fetchall()
        summaries = old.execute("SELECT issue_id, summary_id FROM issue_summaries").fetchall()
        recipients = old.execute(
            "SELECT issue_id, email, list_name, name, topics, subscribed_at, state, attempts, last_error,"
            " provider_id, message_id, added_at, updated_at, sent_at FROM recipients ORDER BY rowid"
        )
    except sqlite3.DatabaseError as exc:
        raise ContentError(
            f"{path}: cannot read the old ledger ({exc}); restore it, or pass another file"
        ) from None
    connection.execute(
        insert(t.runs),
        [
            {
                "issue_id": r[0],
                "state": r[1],
                "provider": r[2],
                "note": r[3],
                "started_at": _moment(r[4]),
                "updated_at": _moment(r[5]),
                "finished_at": _moment(r[6]),
                "forced_reason": r[7] or "",
            }
            for r in runs
        ],
    )
    report.runs = len(runs)
    if summaries:
        connection.execute(
            insert(t.issue_summaries), [{"issue_id": i, "summary_id": s} for i, s in summaries]
        )
    report.summaries = len(summaries)
    while batch := recipients.fetchmany(1000):
        connection.execute(
            insert(t.recipients),
            [
                {
                    "issue_id": r[0],
                    "email": r[1],
                    "list_name": r[2],
                    "name": r[3],
                    "first_name": split_name(r[3])[0],
                    "topics": r[4],
                    "subscribed_at": r[5],
                    "state": r[6],
                    "attempts": r[7],
                    "last_error": r[8],
                    "provider_id": r[9],
                    "message_id": r[10],
                    "added_at": _moment(r[11]),
                    "updated_at": _moment(r[12]),
                    "sent_at": _moment(r[13]),
                }
                for r in batch
            ],
        )
        report.recipients += len(batch)
    old.close()


# -- SQLite to PostgreSQL ------------------------------------------------------------------------------


def copy_database(source: Engine, target: Engine, batch: int = 1000) -> dict[str, int]:
    """Copy every row of an upgraded database into an upgraded, empty one (the move to PostgreSQL).

    One transaction on the target: it ends up with all of it or none. The hash salt travels too, so
    erased addresses stay suppressed. Returns the rows copied per table.
    """
    check_schema(source)
    check_schema(target)
    copied: dict[str, int] = {}
    with reading(source) as reader, writing(target) as writer:
        held = {
            table.name: writer.execute(select(func.count()).select_from(table)).scalar_one()
            for table in t.TABLES
            if table is not t.meta
        }
        if any(held.values()):
            busy = ", ".join(f"{n} {name}" for name, n in held.items() if n)
            raise DatabaseError(
                f"{describe(target.url)} already holds data ({busy}); copy into an empty database"
            )
        writer.execute(delete(t.meta))
        for table in t.TABLES:
            copied[table.name] = 0
            rows = reader.execution_options(yield_per=batch).execute(select(table))
            for part in rows.partitions():
                writer.execute(insert(table), [dict(row._mapping) for row in part])
                copied[table.name] += len(part)
        if is_postgresql(writer):
            _reset_sequences(writer)
    events._salts.pop(target, None)
    return copied


def _reset_sequences(connection: Connection) -> None:
    """Rows copied with their ids leave the id sequences behind: move each past its table's largest id."""
    for table in t.TABLES:
        if "id" in table.c and table.c.id.primary_key:
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), COALESCE(MAX(id), 1), "
                    f"MAX(id) IS NOT NULL) FROM {table.name}"
                )
            )


def table_counts(engine: Engine) -> dict[str, Any]:
    with reading(engine) as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in t.TABLES
        }
