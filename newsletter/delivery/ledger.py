"""The delivery ledger: a SQLite file recording, per issue, the send run and each recipient's state.

A recipient moves `pending` -> `sending` -> `sent` | `failed_transient` | `failed_permanent` |
`skipped`, and `sending` left behind by a crash becomes `unknown`. The `sending` row is committed
before a message is handed to the provider and `sent` as soon as the provider accepts it, so after
a crash the ledger knows exactly who may have got a message twice (at most one per connection) and
who surely has not. Only this module writes delivery state.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter.delivery import schema
from newsletter.delivery.records import (
    NOT_SENT,
    TO_SEND,
    Counts,
    Failure,
    NewRecipient,
    RecipientRow,
    RecipientState,
    Run,
    RunState,
    empty_counts,
)
from newsletter.delivery.schema import LedgerError
from newsletter.errors import DeliveryError
from newsletter.store.config import Settings

__all__ = ["Ledger", "LedgerError", "NewRecipient", "ledger_path", "open_existing"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def ledger_path(settings: Settings) -> Path:
    """Where the settings put the ledger (default `.newsletter/ledger.sqlite3` in the workspace)."""
    return settings.path(settings.delivery.ledger)


def open_existing(settings: Settings) -> Ledger | None:
    """The workspace's ledger if it exists, None if nothing was ever sent (nothing is created)."""
    path = ledger_path(settings)
    return Ledger(path) if path.is_file() else None


def _row(r: tuple[Any, ...]) -> RecipientRow:
    topics = tuple(t for t in r[4].split(";") if t)
    return RecipientRow(r[0], r[1], r[2], r[3], topics, r[5], RecipientState(r[6]), r[7], r[8])


def _run(r: tuple[Any, ...]) -> Run:
    return Run(r[0], RunState(r[1]), *r[2:])


class Ledger:
    """One open ledger file. Safe to share between the threads of one run (writes are serialised).

    Every SQLite fault (locked, read-only, full, damaged) is raised as a one-line LedgerError.
    """

    def __init__(self, path: Path, busy_timeout: float = 10.0):
        self.path = path
        self._mutex = threading.Lock()
        self._db = schema.connect(path, busy_timeout)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise schema.fault(self.path, exc) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._mutex, self._guard():
            return self._db.execute(sql, params).fetchall()

    def _change(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self._mutex, self._guard():
            return self._db.execute(sql, params).rowcount

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- runs ---------------------------------------------------------------------------------

    def start_run(
        self,
        issue_id: str,
        provider: str,
        summary_ids: Iterable[str],
        recipients: Iterable[NewRecipient],
        forced_reason: str = "",
    ) -> int:
        """Create the issue's run with its recipients, all pending; return how many there are.

        This fixes the recipients: a run is created once, and `reopen_run` resumes it without adding
        anyone who subscribed since. `recipients` is consumed inside one transaction, so it may be a
        stream of any length, and if it raises (say, an invalid row found at the end of a list)
        nothing is kept.
        """
        now = _now()
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM runs WHERE issue_id = ?", (issue_id,)).fetchone():
                raise DeliveryError(f"issue {issue_id} already has a send run; it can only be resumed")
            db.execute(
                "INSERT INTO runs (issue_id, state, provider, started_at, updated_at, forced_reason)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (issue_id, RunState.RUNNING, provider, now, now, forced_reason),
            )
            db.executemany(
                "INSERT OR IGNORE INTO issue_summaries (issue_id, summary_id) VALUES (?, ?)",
                ((issue_id, s) for s in summary_ids),
            )
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO recipients (issue_id, email, list_name, name, topics, subscribed_at,"
                " added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (issue_id, r.email, r.list_name, r.name, ";".join(r.topics), r.subscribed_at, now, now)
                    for r in recipients
                ),
            )
            return db.total_changes - before

    def reopen_run(self, issue_id: str, provider: str, forced_reason: str = "") -> None:
        """Mark an existing run running again (a resume); its recipients stay exactly as they were.

        A `forced_reason` given now replaces the one stored (a resume forced past `check` again).
        """
        changed = self._change(
            "UPDATE runs SET state = ?, provider = ?, note = '', updated_at = ?, finished_at = NULL,"
            " forced_reason = CASE WHEN ? = '' THEN forced_reason ELSE ? END WHERE issue_id = ?",
            (RunState.RUNNING, provider, _now(), forced_reason, forced_reason, issue_id),
        )
        if changed != 1:
            raise DeliveryError(f"issue {issue_id} has no send run to resume")

    def set_run_state(self, issue_id: str, state: RunState, note: str = "") -> None:
        now = _now()
        finished = now if state == RunState.FINISHED else None
        self._change(
            "UPDATE runs SET state = ?, note = ?, updated_at = ?, finished_at = ? WHERE issue_id = ?",
            (RunState(state), note, now, finished, issue_id),
        )

    def run(self, issue_id: str) -> Run | None:
        rows = self._exec(f"SELECT {schema.RUN_COLUMNS} FROM runs WHERE issue_id = ?", (issue_id,))
        return _run(rows[0]) if rows else None

    def runs(self) -> list[Run]:
        return [_run(r) for r in self._exec(f"SELECT {schema.RUN_COLUMNS} FROM runs ORDER BY issue_id")]

    # -- recipients ---------------------------------------------------------------------------

    def recover_unknown(self, issue_id: str) -> list[str]:
        """Turn `sending` rows left by a dead run into `unknown`; return their addresses.

        Call only while holding the issue's lock: then no live process is sending them.
        """
        with self._transaction() as db:
            emails = [
                row[0]
                for row in db.execute(
                    "SELECT email FROM recipients WHERE issue_id = ? AND state = ? ORDER BY rowid",
                    (issue_id, RecipientState.SENDING),
                )
            ]
            db.execute(
                "UPDATE recipients SET state = ?, last_error = ?, updated_at = ?"
                " WHERE issue_id = ? AND state = ?",
                (
                    RecipientState.UNKNOWN,
                    "the run stopped while this message was with the provider",
                    _now(),
                    issue_id,
                    RecipientState.SENDING,
                ),
            )
        return emails

    def requeue_unknown(self, issue_id: str) -> int:
        """Make `unknown` recipients pending again (the operator accepts a possible duplicate)."""
        return self._change(
            "UPDATE recipients SET state = ?, updated_at = ? WHERE issue_id = ? AND state = ?",
            (RecipientState.PENDING, _now(), issue_id, RecipientState.UNKNOWN),
        )

    def unknown(self, issue_id: str) -> list[str]:
        rows = self._exec(
            "SELECT email FROM recipients WHERE issue_id = ? AND state = ? ORDER BY rowid",
            (issue_id, RecipientState.UNKNOWN),
        )
        return [row[0] for row in rows]

    def to_send(self, issue_id: str, after_rowid: int = 0, limit: int = 500) -> list[RecipientRow]:
        """The next page of recipients to send (pending or failed_transient), in the order they were added."""
        rows = self._exec(
            "SELECT rowid, email, list_name, name, topics, subscribed_at, state, attempts, last_error"
            " FROM recipients WHERE issue_id = ? AND state IN (?, ?) AND rowid > ? ORDER BY rowid LIMIT ?",
            (issue_id, *TO_SEND, after_rowid, limit),
        )
        return [_row(r) for r in rows]

    def count_known(self, issue_id: str, emails: Iterable[str], batch: int = 500) -> int:
        """How many of these addresses the issue's run already holds (in any state)."""
        known, chunk = 0, []
        for email in emails:
            chunk.append(email)
            if len(chunk) == batch:
                known += self._count_in(issue_id, chunk)
                chunk = []
        return known + (self._count_in(issue_id, chunk) if chunk else 0)

    def _count_in(self, issue_id: str, emails: list[str]) -> int:
        marks = ",".join("?" * len(emails))
        rows = self._exec(
            f"SELECT COUNT(*) FROM recipients WHERE issue_id = ? AND email IN ({marks})",  # noqa: S608 - only marks
            (issue_id, *emails),
        )
        return int(rows[0][0])

    def mark_sending(self, issue_id: str, email: str) -> None:
        """Committed before the message goes to the provider: a crash now leaves `sending` -> `unknown`."""
        self._change(
            "UPDATE recipients SET state = ?, attempts = attempts + 1, updated_at = ?"
            " WHERE issue_id = ? AND email = ?",
            (RecipientState.SENDING, _now(), issue_id, email),
        )

    def mark_sent(self, issue_id: str, email: str, message_id: str, provider_id: str | None) -> None:
        now = _now()
        self._change(
            "UPDATE recipients SET state = ?, message_id = ?, provider_id = ?, last_error = '',"
            " updated_at = ?, sent_at = ? WHERE issue_id = ? AND email = ?",
            (RecipientState.SENT, message_id, provider_id, now, now, issue_id, email),
        )

    def mark_failed(self, issue_id: str, email: str, state: RecipientState, error: str) -> None:
        """Record a recipient not sent: a failure, a skip, or `unknown` (the provider may have it)."""
        if state not in NOT_SENT:
            raise ValueError(f"{state} is not a state of a recipient not sent")
        self._change(
            "UPDATE recipients SET state = ?, last_error = ?, updated_at = ?"
            " WHERE issue_id = ? AND email = ?",
            (state, error[:500], _now(), issue_id, email),
        )

    def counts(self, issue_id: str) -> Counts:
        """How many recipients are in each state (every state present, zero if none)."""
        counts = empty_counts()
        for state, n in self._exec(
            "SELECT state, COUNT(*) FROM recipients WHERE issue_id = ? GROUP BY state", (issue_id,)
        ):
            counts[RecipientState(state)] = n
        return counts

    def failures(self, issue_id: str, limit: int | None = None) -> list[Failure]:
        """Recipients not sent for a reason worth showing: failures, unknowns and skips."""
        sql = (
            "SELECT email, state, attempts, last_error FROM recipients WHERE issue_id = ?"
            " AND state IN (?, ?, ?, ?) ORDER BY rowid"
        )
        params: tuple[Any, ...] = (issue_id, *NOT_SENT)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        return [Failure(r[0], RecipientState(r[1]), r[2], r[3]) for r in self._exec(sql, params)]

    def carried_summaries(self) -> set[str]:
        """Summary ids carried by issues that reached at least one recipient (sent, or maybe: unknown)."""
        rows = self._exec(
            "SELECT DISTINCT s.summary_id FROM issue_summaries s WHERE EXISTS"
            " (SELECT 1 FROM recipients r WHERE r.issue_id = s.issue_id AND r.state IN (?, ?))",
            (RecipientState.SENT, RecipientState.UNKNOWN),
        )
        return {row[0] for row in rows}
