"""Import a CSV of subscribers (ours or another tool's export) into a list, in one transaction.

Two passes over the file, so memory stays flat: the first finds every address with an opt-out row
(any case, anywhere in the file: an opt-out wins over a subscribe), the second merges the rows a
batch at a time. A suppressed or erased address is never resubscribed; empty cells never blank what
is stored. The report says what was added, updated, unchanged, opted out, refused and invalid, each
refusal and invalid row with file:line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, or_, select, update

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.addresses import address_key
from newsletter.db.csvformats import ImportRow, parse_row, read_rows
from newsletter.db.engine import writing
from newsletter.db.rows import DEFAULT_LIST, list_id, set_topics, suppress_in
from newsletter.db.schema import OPTED_OUT, EventKind, Status

BATCH = 1000
SHOWN = 20  # refusals and invalid rows listed; the rest counted


@dataclass
class ImportReport:
    list_name: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    opted_out: int = 0  # rows saying unsubscribed/cleaned/complained: recorded and suppressed
    suppressed: list[str] = field(default_factory=list)  # "file:line: address is suppressed (reason)"
    invalid: list[str] = field(default_factory=list)  # "file:line: reason"
    duplicates: list[str] = field(default_factory=list)
    unknown_topics: Counter[str] = field(default_factory=Counter)

    @property
    def valid_rows(self) -> int:
        """Rows that were good enough to act on (a duplicate or a suppressed address included)."""
        counted = self.added + self.updated + self.unchanged + self.opted_out
        return counted + len(self.suppressed) + len(self.duplicates)

    def lines(self) -> list[str]:
        head = (
            f"{self.list_name}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.opted_out} opted out, {len(self.suppressed)} suppressed (not resubscribed), "
            f"{len(self.invalid)} invalid, {len(self.duplicates)} duplicate rows"
        )
        lines = [head]
        for problems in (self.invalid, self.suppressed, self.duplicates):
            lines += [f"  {p}" for p in problems[:SHOWN]]
            if len(problems) > SHOWN:
                lines.append(f"  ... and {len(problems) - SHOWN} more")
        if self.unknown_topics:
            tags = ", ".join(f"{tag} ({n})" for tag, n in self.unknown_topics.most_common(10))
            lines.append(f"  tags not in topics.yaml, not kept as topics: {tags}")
        return lines


def _parsed(
    path: Path, vocabulary: Mapping[str, str] | None, keep_ip: bool, report: ImportReport | None
) -> Iterator[ImportRow]:
    for line, values in read_rows(path):
        try:
            yield parse_row(line, values, vocabulary, keep_ip)
        except ValueError as exc:
            if report is not None:
                report.invalid.append(f"{path}:{line}: {exc}")


def import_csv(
    engine: Engine,
    path: Path,
    list_name: str = DEFAULT_LIST,
    vocabulary: Mapping[str, str] | None = None,
    keep_ip: bool = False,
    source: str = "import",
) -> ImportReport:
    """Merge a CSV file into a list (created if new); all of it or, on an error, none of it."""
    with writing(engine) as connection:
        return import_into(connection, path, list_name, vocabulary, keep_ip, source)


def import_into(
    connection: Connection,
    path: Path,
    list_name: str,
    vocabulary: Mapping[str, str] | None = None,
    keep_ip: bool = False,
    source: str = "import",
    as_is: bool = False,
) -> ImportReport:
    """`import_csv` inside the caller's transaction (the workspace migration imports every list in one).

    `as_is` (the migration only) records rows of suppressed addresses as the file says, so nothing is
    lost; the suppression still keeps them out of every audience.
    """
    report = ImportReport(list_name)
    opted_out = {
        address_key(r.email): r.status
        for r in _parsed(path, vocabulary, keep_ip, None)
        if r.status in OPTED_OUT
    }
    seen: dict[str, int] = {}
    lst = list_id(connection, list_name)
    batch: list[ImportRow] = []
    for row in _parsed(path, vocabulary, keep_ip, report):
        key = address_key(row.email)
        if key in seen:
            report.duplicates.append(
                f"{path}:{row.line}: {row.email} repeats line {seen[key]}; kept the first"
            )
            continue
        seen[key] = row.line
        report.unknown_topics.update(row.unknown_topics)
        if key in opted_out and row.status not in OPTED_OUT:
            row = ImportRow(**{**row.__dict__, "status": opted_out[key]})
        batch.append(row)
        if len(batch) == BATCH:
            _merge(connection, lst, batch, report, path, source, as_is)
            batch = []
    _merge(connection, lst, batch, report, path, source, as_is)
    return report


def _merge(
    connection: Connection,
    lst: int | None,
    rows: list[ImportRow],
    report: ImportReport,
    path: Path,
    source: str,
    as_is: bool = False,
) -> None:
    """Merge one batch of rows (distinct addresses) with what the database holds."""
    if not rows:
        return
    keys = [address_key(r.email) for r in rows]
    hashes = {events.hash_of(connection, r.email): address_key(r.email) for r in rows}
    s, m = t.subscribers, t.memberships
    people = {
        r.email_key: r
        for r in connection.execute(
            select(s.c.id, s.c.email_key, s.c.first_name, s.c.last_name, s.c.large_text, m.c.status)
            .outerjoin(m, (m.c.subscriber_id == s.c.id) & (m.c.list_id == lst))
            .where(s.c.email_key.in_(keys))
        )
    }
    suppressed: dict[str, str] = {}
    for key, digest, reason in connection.execute(
        select(t.suppressions.c.email_key, t.suppressions.c.email_hash, t.suppressions.c.reason).where(
            or_(t.suppressions.c.email_key.in_(keys), t.suppressions.c.email_hash.in_(list(hashes)))
        )
    ):
        suppressed[key or hashes[digest]] = reason or "no reason given"
    topics: dict[int, tuple[str, ...]] = {}
    for person, topic in connection.execute(
        select(t.topic_preferences.c.subscriber_id, t.topic_preferences.c.topic)
        .where(t.topic_preferences.c.subscriber_id.in_([p.id for p in people.values()]))
        .order_by(t.topic_preferences.c.subscriber_id, t.topic_preferences.c.position)
    ):
        topics[person] = (*topics.get(person, ()), topic)
    now = t.now()
    new: list[ImportRow] = []
    changes: list[tuple[ImportRow, Any]] = []
    for row in rows:
        key = address_key(row.email)
        held = people.get(key)
        if row.status in OPTED_OUT:
            report.opted_out += 1
        elif not as_is and (key in suppressed or (held is not None and held.status in OPTED_OUT)):
            reason = suppressed.get(key, f"{held.status if held else ''} in this list")
            report.suppressed.append(
                f"{path}:{row.line}: {row.email} is suppressed ({reason}); not resubscribed"
            )
            continue
        if held is None:
            new.append(row)
            report.added += row.status not in OPTED_OUT
        elif _differs(row, held, topics.get(held.id, ())):
            changes.append((row, held))
            report.updated += row.status not in OPTED_OUT
        else:
            report.unchanged += row.status not in OPTED_OUT
        if row.status in OPTED_OUT and key not in suppressed:
            suppress_in(connection, row.email, f"{row.status} in {path.name}", source)
    _insert_new(connection, lst, new, now, path, source)
    _apply_changes(connection, lst, changes, now, path, source)


def _differs(row: ImportRow, held: Any, held_topics: tuple[str, ...]) -> bool:
    return (
        (row.first_name and row.first_name != held.first_name)
        or (row.last_name and row.last_name != held.last_name)
        or (row.topics and row.topics != held_topics)
        or (row.large_text is not None and row.large_text != bool(held.large_text))
        or row.status != held.status
    )


def _membership(
    row: ImportRow, lst: int | None, person: int, now: Any, path: Path, source: str
) -> dict[str, Any]:
    return {
        "subscriber_id": person,
        "list_id": lst,
        "status": row.status.value,
        "subscribed_at": row.subscribed_at,
        "consent_at": row.consent_at,
        "consent_source": source,
        "consent_form_version": path.name[:100],
        "consent_ip": row.consent_ip,
        "updated_at": now,
    }


def _event(
    connection: Connection, row: ImportRow, person: int, kind: EventKind, path: Path, source: str
) -> dict:
    if row.status in OPTED_OUT:
        kind = {Status.UNSUBSCRIBED: EventKind.UNSUBSCRIBED, Status.BOUNCED: EventKind.BOUNCED}.get(
            row.status, EventKind.COMPLAINED
        )
    return events.event_row(
        connection,
        person,
        row.email,
        kind,
        source,
        {"file": path.name, "line": row.line, "status": row.status.value},
    )


def _insert_new(
    connection: Connection, lst: int | None, rows: list[ImportRow], now: Any, path: Path, source: str
) -> None:
    if not rows:
        return
    ids = connection.execute(
        insert(t.subscribers).returning(
            t.subscribers.c.id, t.subscribers.c.email_key, sort_by_parameter_order=True
        ),
        [
            {
                "email": r.email,
                "email_key": address_key(r.email),
                "first_name": r.first_name,
                "last_name": r.last_name,
                "large_text": bool(r.large_text),
                "created_at": r.consent_at or now,
                "updated_at": now,
            }
            for r in rows
        ],
    ).all()
    person = {key: pid for pid, key in ids}
    connection.execute(
        insert(t.memberships),
        [_membership(r, lst, person[address_key(r.email)], now, path, source) for r in rows],
    )
    prefs = [
        {"subscriber_id": person[address_key(r.email)], "topic": topic, "position": n}
        for r in rows
        for n, topic in enumerate(r.topics)
    ]
    if prefs:
        connection.execute(insert(t.topic_preferences), prefs)
    events.record_many(
        connection,
        [
            _event(connection, r, person[address_key(r.email)], EventKind.SUBSCRIBED, path, source)
            for r in rows
        ],
    )


def _apply_changes(
    connection: Connection,
    lst: int | None,
    changes: list[tuple[ImportRow, Any]],
    now: Any,
    path: Path,
    source: str,
) -> None:
    if not changes:
        return
    s = t.subscribers
    connection.execute(
        update(s)
        .where(s.c.id == bindparam("pid"))
        .values(
            first_name=bindparam("first"),
            last_name=bindparam("last"),
            large_text=bindparam("large"),
            updated_at=now,
        ),
        [
            {
                "pid": held.id,
                "first": row.first_name or held.first_name,
                "last": row.last_name or held.last_name,
                "large": bool(held.large_text) if row.large_text is None else row.large_text,
            }
            for row, held in changes
        ],
    )
    for row, held in changes:
        if held.status is None:
            connection.execute(insert(t.memberships), [_membership(row, lst, held.id, now, path, source)])
        elif held.status != row.status.value:
            connection.execute(
                update(t.memberships)
                .where((t.memberships.c.subscriber_id == held.id) & (t.memberships.c.list_id == lst))
                .values(status=row.status.value, updated_at=now)
            )
        if row.topics:
            set_topics(connection, held.id, row.topics)
    events.record_many(
        connection,
        [_event(connection, row, held.id, EventKind.UPDATED, path, source) for row, held in changes],
    )
