"""The staging tables of a CSV import: every valid row of the file, bulk-loaded as the database takes it
fastest (COPY on PostgreSQL, one `executemany` per batch on SQLite), then merged with set-based
statements (`csvmerge`). Temporary: they live in the import's own transaction and session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Column, Connection, Integer, MetaData, String, Table, Text, text

from newsletter.db.addresses import address_hash, address_key
from newsletter.db.csvformats import ImportRow
from newsletter.db.engine import is_postgresql
from newsletter.db.schema import UTCDateTime

BATCH = 5000
UNKNOWN_SEPARATOR = "\x1f"  # between a row's tags not in topics.yaml (a tag may hold ; or ,)

staging = MetaData()
rows = Table(
    "import_rows",
    staging,
    Column("line", Integer, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False),
    Column("email_hash", String(64), nullable=False),
    Column("first_name", String(200), nullable=False),
    Column("last_name", String(200), nullable=False),
    Column("has_topics", Boolean, nullable=False),
    Column("unknown_topics", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("subscribed_at", UTCDateTime, nullable=True),
    Column("consent_at", UTCDateTime, nullable=True),
    Column("consent_ip", String(64), nullable=True),
    Column("large_text", Boolean, nullable=True),  # NULL: the file does not say
    # Filled by the merge: the first row of each address, what the database holds for it, the decision.
    Column("keep", Boolean, nullable=False, server_default="0"),
    Column("person", Integer, nullable=True),
    Column("held_status", String(20), nullable=True),
    Column("suppressed", Text, nullable=True),  # the suppression's reason, if the address is on the list
    Column("action", String(10), nullable=True),  # new, change, same, skip
    prefixes=["TEMPORARY"],
)
# Made once the rows are in: a bulk load into an unindexed table is several times faster.
INDEXES = (
    "CREATE INDEX ix_import_rows_email_key_line ON import_rows (email_key, line)",
    "CREATE INDEX ix_import_rows_person ON import_rows (person)",  # how the updates find a person's row
)
topics = Table(
    "import_topics",
    staging,
    Column("line", Integer, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("topic", String(200), nullable=False),
    prefixes=["TEMPORARY"],
)
COLUMNS = [c.name for c in rows.columns][:13]


def create(connection: Connection) -> None:
    drop(connection)  # one left by an import this session did not finish
    staging.create_all(connection)


def index(connection: Connection) -> None:
    for ddl in INDEXES:
        connection.execute(text(ddl))
    if is_postgresql(connection):
        # Autovacuum never sees a temporary table: without statistics the planner takes 100,000 staged
        # rows for a few and merges them with nested loops over whole tables (a minute instead of seconds).
        connection.execute(text(f"ANALYZE {rows.name}, {topics.name}"))


def drop(connection: Connection) -> None:
    staging.drop_all(connection, checkfirst=True)


def load(
    connection: Connection,
    parsed: Iterable[ImportRow],
    salt: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Bulk-load the parsed rows (and their topics) into the staging tables; returns how many."""
    loaded = 0
    postgresql = is_postgresql(connection)
    write, moment = (_copy, _as_is) if postgresql else (_insert_many, _sqlite_moment)
    for batch in _batches(parsed):
        write(connection, rows, COLUMNS, [_row(r, salt, moment) for r in batch])
        write(connection, topics, ["line", "position", "topic"], list(_topics(batch)))
        loaded += len(batch)
        if progress:
            progress(loaded)
    index(connection)
    return loaded


def _batches(parsed: Iterable[ImportRow]) -> Iterator[list[ImportRow]]:
    batch: list[ImportRow] = []
    for row in parsed:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _row(r: ImportRow, salt: str, moment: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    return (
        r.line,
        r.email,
        address_key(r.email),
        address_hash(salt, r.email),
        r.first_name,
        r.last_name,
        bool(r.topics),
        UNKNOWN_SEPARATOR.join(r.unknown_topics),
        r.status.value,
        moment(r.subscribed_at),
        moment(r.consent_at),
        r.consent_ip,
        r.large_text,
    )


def _topics(batch: list[ImportRow]) -> Iterator[tuple[Any, ...]]:
    for r in batch:
        for position, topic in enumerate(r.topics):
            yield r.line, position, topic


def _copy(connection: Connection, table: Table, columns: list[str], values: list[tuple[Any, ...]]) -> None:
    """PostgreSQL's COPY through the import's own connection (so inside its transaction)."""
    if not values:
        return
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for value in values:
            copy.write_row(value)


def _insert_many(
    connection: Connection, table: Table, columns: list[str], values: list[tuple[Any, ...]]
) -> None:
    """SQLite: one `executemany` on the driver's cursor (moments already as `_sqlite_moment` writes them)."""
    if not values:
        return
    marks = ", ".join("?" * len(columns))
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", values)


def _as_is(value: datetime | None) -> datetime | None:
    return value


def _sqlite_moment(value: datetime | None) -> str | None:
    """`UTCDateTime` on SQLite: UTC with no offset, in SQLAlchemy's text format (text order is time order)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
