"""An old workspace's ledger file (`.newsletter/ledger.sqlite3`, before the state database), written
with its frozen schema: what the workspace migration reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE runs (issue_id TEXT PRIMARY KEY, state TEXT NOT NULL, provider TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '', started_at TEXT NOT NULL, updated_at TEXT NOT NULL, finished_at TEXT,
    forced_reason TEXT NOT NULL DEFAULT '');
CREATE TABLE recipients (issue_id TEXT NOT NULL, email TEXT NOT NULL, list_name TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '', topics TEXT NOT NULL DEFAULT '', subscribed_at TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '', provider_id TEXT, message_id TEXT, added_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, sent_at TEXT, PRIMARY KEY (issue_id, email));
CREATE TABLE issue_summaries (issue_id TEXT NOT NULL, summary_id TEXT NOT NULL,
    PRIMARY KEY (issue_id, summary_id));
"""
T = "2026-05-01T13:00:00.000+00:00"


def old_ledger_with_a_run(workspace: Path, forced_reason: str = "") -> Path:
    """Issue 2026-05 sent to Ana, Ben left `sending` (the old run was killed), marked incomplete."""
    path = workspace / ".newsletter" / "ledger.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.execute(
        "INSERT INTO runs VALUES ('2026-05', 'incomplete', 'smtp', 'killed', ?, ?, NULL, ?)",
        (T, T, forced_reason),
    )
    db.execute("INSERT INTO issue_summaries VALUES ('2026-05', 'cd29')")
    db.execute(
        "INSERT INTO recipients VALUES ('2026-05', 'ana.reader@example.com', 'readers', 'Ana Reader', 'MRI',"
        " '2025-11-03', 'sent', 1, '', 'p-1', '<m1@example.org>', ?, ?, ?)",
        (T, T, T),
    )
    db.execute(
        "INSERT INTO recipients VALUES ('2026-05', 'ben.caregiver@example.org', 'readers', 'Ben Caregiver',"
        " '', '', 'sending', 1, '', NULL, NULL, ?, ?, NULL)",
        (T, T),
    )
    db.commit()
    db.close()
    return path
