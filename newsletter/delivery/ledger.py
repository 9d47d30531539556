"""The delivery ledger: a SQLite file recording, per issue, the send run and each recipient's state.

A recipient moves `pending` -> `sending` -> `sent` | `failed_transient` | `failed_permanent` |
`skipped`, and `sending` left behind by a crash becomes `unknown`. The `sending` row is committed
before a message is handed to the provider and `sent` as soon as the provider accepts it, so after
a crash the ledger knows exactly who may have got a message twice (at most one per connection) and
who surely has not. Only this module writes delivery state.

The ledger also holds the per-issue lock: an `fcntl.flock` on a lock file, which the kernel
releases when the holder dies, so a killed run can never leave an issue locked forever.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from newsletter.errors import DeliveryError

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED_TRANSIENT = "failed_transient"
FAILED_PERMANENT = "failed_permanent"
UNKNOWN = "unknown"
SKIPPED = "skipped"  # unsubscribed, bounced or suppressed after the run started
RECIPIENT_STATES = (PENDING, SENDING, SENT, FAILED_TRANSIENT, FAILED_PERMANENT, UNKNOWN, SKIPPED)

# Run states. `interrupted` is an operator's Ctrl-C: the scheduler leaves it for a person to resume.
RUNNING = "running"
PAUSED = "paused"
INTERRUPTED = "interrupted"
INCOMPLETE = "incomplete"  # the pass ended but some recipients failed or are unknown
FINISHED = "finished"
RUN_STATES = (RUNNING, PAUSED, INTERRUPTED, INCOMPLETE, FINISHED)

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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class RecipientRow:
    """One recipient of one issue as the ledger holds it (enough to rebuild the message)."""

    rowid: int
    email: str
    list_name: str
    name: str
    topics: tuple[str, ...]
    subscribed_at: str
    state: str
    attempts: int
    last_error: str


@dataclass(frozen=True)
class NewRecipient:
    """A recipient to add to an issue's run."""

    email: str
    list_name: str = ""
    name: str = ""
    topics: tuple[str, ...] = ()
    subscribed_at: str = ""


@dataclass(frozen=True)
class Run:
    issue_id: str
    state: str
    provider: str
    note: str
    started_at: str
    updated_at: str
    finished_at: str | None


@dataclass(frozen=True)
class Failure:
    email: str
    state: str
    attempts: int
    last_error: str


def ledger_path(settings) -> Path:
    """Where the settings put the ledger (default `.newsletter/ledger.sqlite3` in the workspace)."""
    return settings.path(settings.delivery.ledger)


class Ledger:
    """One open ledger file. Safe to share between the threads of one run (writes are serialised)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit: every state change is one statement, so each is atomic and durable on its own.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL survives any process crash (a kill -9 loses nothing committed); only a
            # power cut can lose the last transitions, which would then be resent, never skipped.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DeliveryError(f"{path}: cannot open the delivery ledger ({exc})") from None
        self._mutex = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exec(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._mutex:
            return self._db.execute(sql, params)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- runs ---------------------------------------------------------------------------------

    def start_run(
        self, issue_id: str, provider: str, summary_ids: Iterable[str], recipients: Iterable[NewRecipient]
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
                "INSERT INTO runs (issue_id, state, provider, started_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (issue_id, RUNNING, provider, now, now),
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

    def reopen_run(self, issue_id: str, provider: str) -> None:
        """Mark an existing run running again (a resume); its recipients stay exactly as they were."""
        now = _now()
        cur = self._exec(
            "UPDATE runs SET state = ?, provider = ?, note = '', updated_at = ?, finished_at = NULL"
            " WHERE issue_id = ?",
            (RUNNING, provider, now, issue_id),
        )
        if cur.rowcount != 1:
            raise DeliveryError(f"issue {issue_id} has no send run to resume")

    def set_run_state(self, issue_id: str, state: str, note: str = "") -> None:
        assert state in RUN_STATES, state
        now = _now()
        finished = now if state == FINISHED else None
        self._exec(
            "UPDATE runs SET state = ?, note = ?, updated_at = ?, finished_at = ? WHERE issue_id = ?",
            (state, note, now, finished, issue_id),
        )

    def run(self, issue_id: str) -> Run | None:
        row = self._exec(
            "SELECT issue_id, state, provider, note, started_at, updated_at, finished_at FROM runs"
            " WHERE issue_id = ?",
            (issue_id,),
        ).fetchone()
        return Run(*row) if row else None

    def runs(self) -> list[Run]:
        rows = self._exec(
            "SELECT issue_id, state, provider, note, started_at, updated_at, finished_at FROM runs"
            " ORDER BY issue_id"
        ).fetchall()
        return [Run(*row) for row in rows]

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
                    (issue_id, SENDING),
                )
            ]
            db.execute(
                "UPDATE recipients SET state = ?, last_error = ?, updated_at = ?"
                " WHERE issue_id = ? AND state = ?",
                (
                    UNKNOWN,
                    "the run stopped while this message was with the provider",
                    _now(),
                    issue_id,
                    SENDING,
                ),
            )
        return emails

    def requeue_unknown(self, issue_id: str) -> int:
        """Make `unknown` recipients pending again (the operator accepts a possible duplicate)."""
        cur = self._exec(
            "UPDATE recipients SET state = ?, updated_at = ? WHERE issue_id = ? AND state = ?",
            (PENDING, _now(), issue_id, UNKNOWN),
        )
        return cur.rowcount

    def unknown(self, issue_id: str) -> list[str]:
        rows = self._exec(
            "SELECT email FROM recipients WHERE issue_id = ? AND state = ? ORDER BY rowid",
            (issue_id, UNKNOWN),
        ).fetchall()
        return [row[0] for row in rows]

    def to_send(self, issue_id: str, after_rowid: int = 0, limit: int = 500) -> list[RecipientRow]:
        """The next page of recipients to send (pending or failed_transient), in the order they were added."""
        rows = self._exec(
            "SELECT rowid, email, list_name, name, topics, subscribed_at, state, attempts, last_error"
            " FROM recipients WHERE issue_id = ? AND state IN (?, ?) AND rowid > ? ORDER BY rowid LIMIT ?",
            (issue_id, PENDING, FAILED_TRANSIENT, after_rowid, limit),
        ).fetchall()
        return [
            RecipientRow(
                r[0], r[1], r[2], r[3], tuple(t for t in r[4].split(";") if t), r[5], r[6], r[7], r[8]
            )
            for r in rows
        ]

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
        row = self._exec(
            f"SELECT COUNT(*) FROM recipients WHERE issue_id = ? AND email IN ({marks})",  # noqa: S608 - only marks
            (issue_id, *emails),
        ).fetchone()
        return row[0]

    def mark_sending(self, issue_id: str, email: str) -> None:
        """Committed before the message goes to the provider: a crash now leaves `sending` -> `unknown`."""
        self._exec(
            "UPDATE recipients SET state = ?, attempts = attempts + 1, updated_at = ?"
            " WHERE issue_id = ? AND email = ?",
            (SENDING, _now(), issue_id, email),
        )

    def mark_sent(self, issue_id: str, email: str, message_id: str, provider_id: str | None) -> None:
        now = _now()
        self._exec(
            "UPDATE recipients SET state = ?, message_id = ?, provider_id = ?, last_error = '',"
            " updated_at = ?, sent_at = ? WHERE issue_id = ? AND email = ?",
            (SENT, message_id, provider_id, now, now, issue_id, email),
        )

    def mark_failed(self, issue_id: str, email: str, state: str, error: str) -> None:
        assert state in (FAILED_TRANSIENT, FAILED_PERMANENT, SKIPPED, UNKNOWN), state
        self._exec(
            "UPDATE recipients SET state = ?, last_error = ?, updated_at = ?"
            " WHERE issue_id = ? AND email = ?",
            (state, error[:500], _now(), issue_id, email),
        )

    def counts(self, issue_id: str) -> dict[str, int]:
        """How many recipients are in each state (every state present, zero if none)."""
        counts = dict.fromkeys(RECIPIENT_STATES, 0)
        for state, n in self._exec(
            "SELECT state, COUNT(*) FROM recipients WHERE issue_id = ? GROUP BY state", (issue_id,)
        ):
            counts[state] = n
        return counts

    def failures(self, issue_id: str, limit: int | None = None) -> list[Failure]:
        """Recipients not sent for a reason worth showing: failures, unknowns and skips."""
        sql = (
            "SELECT email, state, attempts, last_error FROM recipients WHERE issue_id = ?"
            " AND state IN (?, ?, ?, ?) ORDER BY rowid"
        )
        params: tuple = (issue_id, FAILED_TRANSIENT, FAILED_PERMANENT, UNKNOWN, SKIPPED)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        return [Failure(*row) for row in self._exec(sql, params)]

    def carried_summaries(self) -> set[str]:
        """Summary ids carried by issues that reached at least one recipient."""
        rows = self._exec(
            "SELECT DISTINCT s.summary_id FROM issue_summaries s WHERE EXISTS"
            " (SELECT 1 FROM recipients r WHERE r.issue_id = s.issue_id AND r.state IN (?, ?))",
            (SENT, UNKNOWN),
        )
        return {row[0] for row in rows}


def carried_summaries(where) -> set[str]:
    """Summaries already sent in some issue (for `new-issue`'s "already sent" rule).

    `where` is the Settings, a workspace folder, or the ledger file. No ledger yet means nothing sent.
    """
    if isinstance(where, Path | str):
        where = Path(where)
        if where.is_dir():
            from newsletter.store.config import load_settings

            path = ledger_path(load_settings(where))
        else:
            path = where
    else:
        path = ledger_path(where)
    if not path.is_file():
        return set()
    with Ledger(path) as ledger:
        return ledger.carried_summaries()


class IssueLock:
    """At most one send per issue (or one scheduler) at a time, held with `fcntl.flock`.

    The kernel drops the lock when the holding process exits in any way, including SIGKILL, so no
    stale lock ever needs breaking; the pid and host written inside only make the refusal readable.
    """

    def __init__(self, path: Path, what: str):
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now or raise DeliveryError naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise LockedError(
                f"{self.what} is already running ({holder}); wait for it to finish", holder
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {_now()}".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays for the next holder
            self._fd = None

    def __enter__(self) -> IssueLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class LockedError(DeliveryError):
    """Another process holds the lock; `holder` says which (pid, host, since when)."""

    def __init__(self, message: str, holder: str = ""):
        super().__init__(message)
        self.holder = holder


def issue_lock(settings, issue_id: str) -> IssueLock:
    return IssueLock(
        ledger_path(settings).parent / "locks" / f"{issue_id}.lock", f"a send of issue {issue_id}"
    )


def scheduler_lock(settings) -> IssueLock:
    return IssueLock(ledger_path(settings).parent / "locks" / "send-due.lock", "send-due")


# -- `newsletter status` ------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueStatus:
    run: Run
    counts: dict[str, int]
    failures: list[Failure]

    def as_dict(self) -> dict:
        return {
            "issue": self.run.issue_id,
            "state": self.run.state,
            "note": self.run.note,
            "provider": self.run.provider,
            "started_at": self.run.started_at,
            "updated_at": self.run.updated_at,
            "finished_at": self.run.finished_at,
            "counts": self.counts,
            "failures": [
                {"email": f.email, "state": f.state, "attempts": f.attempts, "error": f.last_error}
                for f in self.failures
            ],
        }


def issue_status(settings, issue_id: str | None = None) -> list[IssueStatus]:
    """The send runs in the ledger (one issue's, or all), with counts and failures."""
    from newsletter.errors import NewsletterError

    path = ledger_path(settings)
    runs: list[Run] = []
    if path.is_file():
        with Ledger(path) as ledger:
            runs = ledger.runs() if issue_id is None else [r for r in [ledger.run(issue_id)] if r]
            found = [IssueStatus(r, ledger.counts(r.issue_id), ledger.failures(r.issue_id)) for r in runs]
    if issue_id is not None and not runs:
        raise NewsletterError(
            f"issue {issue_id} has not been sent yet (no run in {path.name}); see `newsletter send`"
        )
    return found if runs else []


def status_lines(statuses: list[IssueStatus], failures_shown: int = 20) -> list[str]:
    if not statuses:
        return ["No issue has been sent yet."]
    lines: list[str] = []
    for status in statuses:
        run = status.run
        counts = ", ".join(f"{n} {state}" for state, n in status.counts.items() if n)
        when = f"finished {run.finished_at}" if run.finished_at else f"last active {run.updated_at}"
        lines.append(f"{run.issue_id}: {run.state} ({when}, via {run.provider}): {counts or 'no recipients'}")
        if run.note:
            lines.append(f"  {run.note}")
        for f in status.failures[:failures_shown]:
            lines.append(f"  {f.email}: {f.state} after {f.attempts} attempt(s): {f.last_error}")
        if len(status.failures) > failures_shown:
            lines.append(f"  ... and {len(status.failures) - failures_shown} more (use --json for all)")
    return lines
