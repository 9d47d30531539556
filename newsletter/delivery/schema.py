"""The ledger file: its tables, their upgrade in place, and SQLite faults as one-line errors."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from newsletter.errors import DeliveryError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    issue_id    TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    provider    TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    started_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS recipients (
    issue_id      TEXT NOT NULL,
    email         TEXT NOT NULL,
    list_name     TEXT NOT NULL DEFAULT '',
    name          TEXT NOT NULL DEFAULT '',
    topics        TEXT NOT NULL DEFAULT '',
    subscribed_at TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    provider_id   TEXT,
    message_id    TEXT,
    added_at      TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    sent_at       TEXT,
    PRIMARY KEY (issue_id, email)
);
CREATE INDEX IF NOT EXISTS recipients_by_state ON recipients (issue_id, state);
CREATE TABLE IF NOT EXISTS issue_summaries (
    issue_id   TEXT NOT NULL,
    summary_id TEXT NOT NULL,
    PRIMARY KEY (issue_id, summary_id)
);
"""
# Columns added after the first release; a ledger written by an older version gains them on open.
_ADDED_COLUMNS = {"runs": {"forced_reason": "TEXT NOT NULL DEFAULT ''"}}
RUN_COLUMNS = "issue_id, state, provider, note, started_at, updated_at, finished_at, forced_reason"

# SQLite's words for a fault -> what the operator should do about it.
_ADVICE = (
    ("locked", "another process is writing to the delivery ledger; wait for it to finish and try again"),
    ("readonly", "the delivery ledger is read-only; make the file and its folder writable by this user"),
    ("full", "the disk holding the delivery ledger is full; free some space, then run the command again"),
    ("not a database", "the delivery ledger is damaged; restore it from a backup"),
    ("malformed", "the delivery ledger is damaged; restore it from a backup"),
    ("unable to open", "cannot open the delivery ledger; check that its folder exists and is writable"),
    ("i/o error", "the disk holding the delivery ledger failed a write; check its space and health"),
)


class LedgerError(DeliveryError):
    """The ledger file cannot be read or written (locked, read-only, full, damaged, missing)."""


def fault(path: Path, exc: BaseException) -> LedgerError:
    text = str(exc)
    advice = next((a for key, a in _ADVICE if key in text.lower()), "the delivery ledger cannot be used")
    return LedgerError(f"{path}: {advice} ({text})")


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open (creating if need be) the ledger at `path` with its tables; raises LedgerError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(
            f"{path}: cannot create the delivery ledger's folder ({exc.strerror}); "
            "check the `delivery: ledger:` setting and the folder's permissions"
        ) from None
    # SQLite opens a file it cannot write read-only and fails only at the first write, after making
    # its -wal and -shm files: refuse before touching anything.
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise LedgerError(f"{path}: the delivery ledger is read-only; make it writable by this user")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise LedgerError(
            f"{path.parent}: the delivery ledger's folder is not writable; make it writable by this user"
        )
    try:
        # Autocommit: every state change is one statement, so each is atomic and durable on its own.
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise fault(path, exc) from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL survives any process crash (a kill -9 loses nothing committed); only a
        # power cut can lose the last transitions, which would then be resent, never skipped.
        db.execute("PRAGMA synchronous=NORMAL")
        _migrate(db)
    except sqlite3.Error as exc:
        db.close()
        raise fault(path, exc) from None
    return db


def _migrate(db: sqlite3.Connection) -> None:
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"runs", "recipients", "issue_summaries"} <= tables:
        db.executescript(_SCHEMA)
    for table, columns in _ADDED_COLUMNS.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        for name, decl in columns.items():
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
