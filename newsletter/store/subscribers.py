"""Changing the subscriber lists: add, import, remove, unsubscribe and bounce, under one lock.

Unsubscribing never deletes a row: it sets the status to `unsubscribed` (so history is kept) and
adds the address to the suppression list. Every write is atomic and serialised by a lock file, so
two unsubscribe requests arriving together both land.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from newsletter.errors import ContentError
from newsletter.store.addresses import address_key, normalise_address
from newsletter.store.fileio import atomic_write
from newsletter.store.subscriber_files import (
    LIST_FIELDS,
    OUR_COLUMNS,
    SUBSCRIBERS_DIR,
    SUPPRESSED_FIELDS,
    SUPPRESSED_FILE,
    Aliases,
    Subscriber,
    csv_text,
    folder,
    list_names,
    list_path,
    locked,
    read_list,
    read_table,
    row_subscriber,
    shown,
    suppressed_addresses,
    topic_vocabulary,
)
from newsletter.store.topics import load_taxonomy

# Column names other tools use for our fields (compared case-insensitively), for `import`.
IMPORT_ALIASES: Aliases = {
    "email": ("email", "email address", "e-mail", "e-mail address", "mail"),
    "name": ("name", "full name", "display name"),
    "topics": ("topics", "tags", "interests", "preferences"),
    "status": ("status", "state"),
    "subscribed_at": ("subscribed_at", "subscribed", "created", "created_at", "date", "signup date"),
}


@dataclass(frozen=True)
class ImportReport:
    list_name: str
    added: int
    updated: int
    unchanged: int
    duplicates: list[str]
    invalid: list[str]


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _suppress(workspace: Path, email: str, reason: str) -> bool:
    """Add an address to suppressed.csv (caller holds the lock); False if it was already there."""
    path = folder(workspace) / SUPPRESSED_FILE
    if address_key(email) in suppressed_addresses(workspace):
        return False
    rows: list[dict[str, str]] = []
    fieldnames: tuple[str, ...] = SUPPRESSED_FIELDS
    if path.is_file():
        table = read_table(path, shown(workspace, path), {"email": ("email",)})
        fieldnames, rows = table.fieldnames, list(table.raw)
    one_line = " ".join(reason.split())
    rows.append({"email": address_key(email), "reason": one_line, "date": _today()})
    atomic_write(path, csv_text(fieldnames, rows))
    return True


def _set_status(workspace: Path, email: str, status: str, lists: Iterable[str]) -> list[str]:
    """Set the status of an address's rows in the given lists (caller holds the lock)."""
    key = address_key(email)
    changed: list[str] = []
    for name in lists:
        path = list_path(workspace, name)
        table = read_table(path, shown(workspace, path), OUR_COLUMNS)
        column = next(c for c in table.fieldnames if c.strip().casefold() == "email")
        status_col = next((c for c in table.fieldnames if c.strip().casefold() == "status"), None)
        rows = [dict(r) for r in table.raw]
        hit = False
        for row in rows:
            if address_key(row.get(column) or "") == key:
                hit = True
                if status_col is not None:
                    row[status_col] = status
        if not hit:
            continue
        fieldnames = table.fieldnames if status_col else (*table.fieldnames, "status")
        if status_col is None:
            for row in rows:
                row.setdefault(
                    "status", status if address_key(row.get(column) or "") == key else "subscribed"
                )
        atomic_write(path, csv_text(fieldnames, rows))
        changed.append(name)
    return changed


def unsubscribe(workspace: Path, email: str, reason: str, lists: Iterable[str] | None = None) -> list[str]:
    """Mark an address unsubscribed (rows kept) and suppress it; returns the lists changed."""
    with locked(workspace):
        changed = _set_status(workspace, email, "unsubscribed", lists or list_names(workspace))
        _suppress(workspace, email, reason)
    return changed


def mark_bounced(workspace: Path, email: str, reason: str) -> list[str]:
    """Mark an address bounced in every list and suppress it, so no later issue tries it again."""
    with locked(workspace):
        changed = _set_status(workspace, email, "bounced", list_names(workspace))
        _suppress(workspace, email, f"bounced: {reason}")
    return changed


def add_subscriber(
    workspace: Path, list_name: str, email: str, name: str = "", topics: str = ""
) -> tuple[Subscriber, bool]:
    """Add (or update) one address in a list; returns it and whether it was new.

    A suppressed address is refused: the suppression list records that the person asked to leave,
    and only they can undo that.
    """
    vocabulary = topic_vocabulary(load_taxonomy(workspace))
    row = {"email": email, "name": name, "topics": topics, "status": "subscribed", "subscribed_at": _today()}
    try:
        subscriber = row_subscriber(row, list_name, vocabulary)
    except ValueError as exc:
        raise ContentError(f"cannot add {email!r}: {exc}") from None
    with locked(workspace):
        reason = suppressed_addresses(workspace).get(subscriber.key)
        if reason is not None:
            raise ContentError(
                f"{subscriber.email} is on {SUBSCRIBERS_DIR}/{SUPPRESSED_FILE} "
                f"({reason or 'no reason given'}); "
                "they must subscribe again themselves, or delete that row by hand if they asked you to"
            )
        report = _merge_rows(workspace, list_name, [subscriber])
    return subscriber, report.added == 1


def _merge_rows(workspace: Path, list_name: str, incoming: list[Subscriber]) -> ImportReport:
    """Merge subscribers into a list file (caller holds the lock): update by address, else append."""
    path = list_path(workspace, list_name)
    fieldnames: tuple[str, ...] = LIST_FIELDS
    rows: list[dict[str, str]] = []
    if path.is_file():
        table = read_table(path, shown(workspace, path), OUR_COLUMNS)
        folded = {c.strip().casefold(): c for c in table.fieldnames}
        missing = [f for f in LIST_FIELDS if f not in folded]
        fieldnames = (*table.fieldnames, *missing)
        rows = [dict(r) for r in table.raw]
        column = {f: folded.get(f, f) for f in LIST_FIELDS}
    else:
        column = {f: f for f in LIST_FIELDS}
    index = {address_key(r.get(column["email"]) or ""): r for r in rows}
    added = updated = unchanged = 0
    for sub in incoming:
        values = {
            column["email"]: sub.email,
            column["name"]: sub.name,
            column["topics"]: ";".join(sub.topics),
            column["status"]: sub.status,
        }
        existing = index.get(sub.key)
        if existing is not None:
            del values[column["email"]]  # keep the address as the list already spells it
        if existing is None:
            row = (
                {f: "" for f in fieldnames}
                | values
                | {column["subscribed_at"]: sub.subscribed_at or _today()}
            )
            rows.append(row)
            index[sub.key] = row
            added += 1
        elif any((existing.get(k) or "") != val for k, val in values.items()):
            existing.update(values)
            updated += 1
        else:
            unchanged += 1
    atomic_write(path, csv_text(fieldnames, rows))
    return ImportReport(list_name, added, updated, unchanged, [], [])


def import_csv(workspace: Path, source: Path, list_name: str) -> ImportReport:
    """Import another tool's CSV into a list: column names any case, a BOM ignored, bad rows reported."""
    vocabulary = topic_vocabulary(load_taxonomy(workspace))
    table = read_table(source, str(source), IMPORT_ALIASES)
    valid: list[Subscriber] = []
    invalid: list[str] = []
    duplicates: list[str] = []
    seen: dict[str, int] = {}
    for line, row in table.rows:
        if not any(value.strip() for value in row.values()):
            continue
        try:
            sub = row_subscriber(row, list_name, vocabulary)
        except ValueError as exc:
            invalid.append(f"{source}:{line}: {exc}")
            continue
        if sub.key in seen:
            duplicates.append(f"{source}:{line}: {sub.email} repeats line {seen[sub.key]}; kept the first")
            continue
        seen[sub.key] = line
        valid.append(sub)
    with locked(workspace):
        report = _merge_rows(workspace, list_name, valid)
    return ImportReport(list_name, report.added, report.updated, report.unchanged, duplicates, invalid)


def remove_subscriber(workspace: Path, email: str, lists: list[str] | None = None) -> list[str]:
    """An editor's removal: like an unsubscribe (row kept, address suppressed); the lists changed."""
    try:
        normalised = normalise_address(email)
    except ValueError as exc:
        raise ContentError(str(exc)) from None
    for name in lists or ():
        if name not in list_names(workspace):
            raise ContentError(f"{SUBSCRIBERS_DIR}/{name}.csv: no such list")
    rows, _invalid = all_rows(workspace, lists)
    if not any(row.key == address_key(normalised) for row in rows):
        where = ", ".join(lists) if lists else "any list"
        raise ContentError(
            f"{normalised} is not in {where}; nothing changed (`newsletter subscribers list` shows who is)"
        )
    return unsubscribe(workspace, normalised, "removed by the editor", lists)


def all_rows(workspace: Path, lists: list[str] | None = None) -> tuple[list[Subscriber], list[str]]:
    """Every valid row of the given lists (all when None), in file order, and the invalid rows."""
    names = lists or list_names(workspace)
    taxonomy = load_taxonomy(workspace)
    rows: list[Subscriber] = []
    invalid: list[str] = []
    for name in names:
        if not list_path(workspace, name).is_file():
            raise ContentError(
                f"{SUBSCRIBERS_DIR}/{name}.csv: no such list (lists: {', '.join(list_names(workspace))})"
            )
        valid, bad = read_list(workspace, name, taxonomy)
        rows.extend(valid)
        invalid.extend(bad)
    return rows, invalid
