"""The append-only event log per person (what happened, when, how, from where) and the hash salt."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from newsletter.db import schema as t
from newsletter.db.addresses import address_hash
from newsletter.db.schema import EventKind

_salts: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Event:
    kind: str
    at: datetime
    source: str
    detail: dict[str, Any]


def salt(connection: Connection) -> str:
    """The database's own salt for address hashes (made by the first migration, copied with the data)."""
    engine = connection.engine
    if engine not in _salts:
        value = connection.execute(select(t.meta.c.value).where(t.meta.c.key == "hash_salt")).scalar_one()
        _salts[engine] = value
    return _salts[engine]


def salt_of(engine: Engine) -> str:
    """`salt` where no connection is at hand (a send asks once per message): read once per database."""
    if engine not in _salts:
        with engine.connect() as connection:
            return salt(connection)
    return _salts[engine]


def hash_of(connection: Connection, email: str) -> str:
    return address_hash(salt(connection), email)


def record(
    connection: Connection,
    subscriber_id: int | None,
    email: str,
    kind: EventKind,
    source: str,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one event; `email` is kept only as its salted hash (the subscriber row holds the address)."""
    record_many(connection, [event_row(connection, subscriber_id, email, kind, source, detail, at)])


def event_row(
    connection: Connection,
    subscriber_id: int | None,
    email: str,
    kind: EventKind,
    source: str,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """An event as a row, for `record_many` (an import appends thousands at once)."""
    return {
        "subscriber_id": subscriber_id,
        "email_hash": hash_of(connection, email),
        "kind": kind.value,
        "at": at or t.now(),
        "source": source,
        "detail": detail or {},
    }


def record_many(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(t.events.insert(), rows)


def history(connection: Connection, subscriber_id: int) -> list[Event]:
    """A person's events, oldest first."""
    rows = connection.execute(
        select(t.events.c.kind, t.events.c.at, t.events.c.source, t.events.c.detail)
        .where(t.events.c.subscriber_id == subscriber_id)
        .order_by(t.events.c.at, t.events.c.id)
    )
    return [Event(*row) for row in rows]


def count(engine: Engine, kind: EventKind, since: datetime | None = None) -> int:
    """How many events of a kind (since a moment): for issue health (unsubscribes since a send)."""
    from sqlalchemy import func

    query = select(func.count()).select_from(t.events).where(t.events.c.kind == kind.value)
    if since is not None:
        query = query.where(t.events.c.at >= since)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())
