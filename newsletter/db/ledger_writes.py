"""The ledger's per-message writes, made cheap: statements compiled once, run on the driver's own cursor.

A send writes the ledger twice per message (`sending` before the handover, `sent` after it), so these
writes set the pace. They skip SQLAlchemy's per-statement work: each UPDATE is compiled once per
Ledger, and one short transaction runs on a pooled driver connection (SQLite: `BEGIN IMMEDIATE`).
A sending thread may hold its last `sent` back and commit it together with the next `sending`: then
at any moment a connection has at most one recipient in `sending`, and `sent` is still written only
after the provider accepted the message (a crash in between leaves that one `sending` -> `unknown`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, exists, or_, select, update
from sqlalchemy.engine.interfaces import Dialect

from newsletter.db import schema as t
from newsletter.db.engine import DatabaseError, problem_message
from newsletter.db.ledger_types import ROW_COLUMNS, SENDING, SENT, TO_SEND
from newsletter.db.locks import lock_folder

r = t.recipients


@dataclass(frozen=True)
class Statement:
    """One UPDATE compiled for a dialect: its SQL and how to lay out its parameters for the driver."""

    sql: str
    order: tuple[str, ...] | None  # the parameter names in order (qmark, format), or None when named
    defaults: dict[str, Any]  # values SQLAlchemy bound itself (the 1 of `attempts + 1`)

    def parameters(self, values: dict[str, Any]) -> Any:
        merged = {**self.defaults, **values}
        return merged if self.order is None else tuple(merged[name] for name in self.order)


def compile_for(statement: Any, dialect: Dialect) -> Statement:
    compiled = statement.compile(dialect=dialect)
    order = tuple(compiled.positiontup) if compiled.positional else None
    binds = compiled.bind_names.items()
    defaults = {name: bind.effective_value for bind, name in binds if not name.startswith("w_")}
    return Statement(str(compiled), order, defaults)


_THIS_ROW = (r.c.issue_id == bindparam("w_issue")) & (r.c.email == bindparam("w_email"))
# The address is on the suppression list now (by its key, or by its hash once erased).
_SUPPRESSED = exists().where(
    or_(t.suppressions.c.email_key == bindparam("w_key"), t.suppressions.c.email_hash == bindparam("w_hash"))
)


@dataclass(frozen=True)
class Statements:
    """The ledger's hot statements for one database (values are bound by the `w_` names)."""

    sending: Statement  # unless suppressed; returns the row's id when it was marked
    sent: Statement
    failed: Statement
    claim: Statement  # reserve the next rows and return them (RETURNING: no SELECT before the UPDATE)
    stamp: Any  # datetime -> what the driver stores (SQLite: text without offset)

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> Statements:
        at: Any = bindparam("w_at")
        # The suppression list is read in the write's own transaction: an unsubscribe during the run
        # is seen at once, for ~nothing (a query of its own cost a read transaction per message).
        sending = (
            update(r)
            .where(_THIS_ROW, ~_SUPPRESSED)
            .values(
                state=SENDING.value,
                attempts=r.c.attempts + 1,
                claimed_by=bindparam("w_worker"),
                updated_at=at,
            )
            .returning(r.c.id)
        )
        sent = (
            update(r)
            .where(_THIS_ROW)
            .values(
                state=SENT.value,
                message_id=bindparam("w_message_id"),
                provider_id=bindparam("w_provider_id"),
                last_error="",
                sent_at=at,
                claimed_by=None,
                updated_at=at,
            )
        )
        failed = (
            update(r)
            .where(_THIS_ROW)
            .values(
                state=bindparam("w_state"),
                last_error=bindparam("w_error"),
                claimed_by=bindparam("w_worker"),
                updated_at=at,
            )
        )
        if dialect.name == "sqlite":
            stamp: Any = sqlite_stamp  # the text Core would store, made directly
        else:
            stamp = r.c.updated_at.type.bind_processor(dialect) or (lambda moment: moment)
        return cls(
            compile_for(sending, dialect),
            compile_for(sent, dialect),
            compile_for(failed, dialect),
            compile_for(_claim(dialect), dialect),
            stamp,
        )


def sqlite_stamp(moment: datetime) -> str:
    """The text SQLAlchemy's Core stores in SQLite for an aware moment (UTC, no offset), made
    directly: its type machinery cost ~16 µs of every message's write. (The generic type's processor
    used before gave sqlite3 a naive datetime, stored without microseconds when they were 0.)"""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", timespec="microseconds")


def _claim(dialect: Dialect) -> Any:
    # The states as binds with their values: an IN list SQLAlchemy would expand at each execution.
    states: list[Any] = [bindparam(f"to_send_{n}", state.value) for n, state in enumerate(TO_SEND)]
    free = r.c.issue_id == bindparam("w_issue"), r.c.state.in_(states), r.c.claimed_by.is_(None)
    pick = select(r.c.id).where(*free).order_by(r.c.id).limit(bindparam("w_limit"))
    if dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)  # others take the next free rows, never wait
    taken = update(r).where(r.c.id.in_(pick.scalar_subquery())).values(claimed_by=bindparam("w_worker"))
    return taken.returning(*ROW_COLUMNS)


Step = tuple[Statement, dict[str, Any]]


@dataclass
class _Held:
    """What one sending thread has not committed yet (its last `sent`)."""

    steps: list[Step] = field(default_factory=list)


class Writes:
    """Short write transactions on the driver's cursor, and each thread's held-back outcome."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.statements = Statements.for_dialect(engine.dialect)
        self._sqlite = engine.dialect.name == "sqlite"
        self._local = threading.local()
        self._all_held: list[_Held] = []
        self._lock = threading.Lock()
        self._queue = writer_queue(engine) if self._sqlite else None

    def step(self, statement: Statement, **values: Any) -> Step:
        """A statement with its values (bound by their `w_` names), stamped with the time now."""
        bound = {f"w_{name}": value for name, value in values.items()}
        bound["w_at"] = self.statements.stamp(t.now())
        return statement, bound

    def _held(self) -> _Held:
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = _Held()
            with self._lock:
                self._all_held.append(held)
        return held

    def hold(self, step: Step) -> None:
        """Keep a step for this thread's next transaction (its next `commit` or `settle`)."""
        self._held().steps.append(step)

    def commit(self, *steps: Step) -> list[Any]:
        """One transaction: this thread's held steps, then these; nothing is kept if it fails.

        Returns the rows the last statement returned (none for a plain UPDATE).
        """
        held = self._held()
        rows = self._run([*held.steps, *steps])
        held.steps.clear()
        return rows

    def settle(self, everyone: bool = False) -> None:
        """Commit what this thread (or, at the end, every thread) holds back."""
        for held in list(self._all_held) if everyone else [self._held()]:
            if held.steps:
                self._run(held.steps)
                held.steps.clear()

    def _run(self, steps: list[Step]) -> list[Any]:
        rows, error, gone = self._transaction(steps)
        if error is not None and gone:
            # The server went away since the pool last checked (a restart): run it again on a fresh
            # connection. Safe: the UPDATEs set the same values again (only `attempts` may count one
            # more, and a claim whose commit got through keeps its rows until `release`).
            rows, error, gone = self._transaction(steps)
        if error is None:
            return rows
        message = problem_message(self.engine.url, error)
        if message:
            raise DatabaseError(message) from None
        raise error

    def _transaction(self, steps: list[Step]) -> tuple[list[Any], Exception | None, bool]:
        """Run the steps in one transaction: the last one's rows, or the driver's error and whether the
        line dropped."""
        # Everything that needs no lock is done before this process's turn to write: the other
        # senders wait while a turn lasts.
        prepared = [(statement.sql, statement.parameters(values)) for statement, values in steps]
        connection = self.engine.raw_connection()  # a pooled connection each time: ~6 us, never held
        try:
            with self._queue.turn() if self._queue is not None else contextlib.nullcontext():
                return self._transaction_on(connection, prepared)
        finally:
            connection.close()

    def _transaction_on(
        self, connection: Any, prepared: list[tuple[str, Any]]
    ) -> tuple[list[Any], Exception | None, bool]:
        cursor = None
        try:
            cursor = connection.cursor()
            if self._sqlite:  # the driver leaves transactions to us (engine.py); take the write lock first
                cursor.execute("BEGIN IMMEDIATE")
            for sql, parameters in prepared:
                cursor.execute(sql, parameters)
            rows = list(cursor.fetchall()) if cursor.description else []
            connection.commit()
            return rows, None, False
        except self.engine.dialect.loaded_dbapi.Error as error:
            gone = self.engine.dialect.is_disconnect(error, connection.dbapi_connection, cursor)
            if gone:
                connection.invalidate()
            else:
                _rollback_quietly(connection)
            return [], error, gone


class _WriterQueue:
    """SQLite: the ledger's writers in all processes take turns on a lock file before BEGIN IMMEDIATE.

    SQLite's own wait for its write lock sleeps 1, 2, 5, 10... ms between tries, far longer than a
    ledger write (~0.1 ms); with several sending processes that sleep set the pace. A blocking
    `flock` wakes the next writer as soon as the lock is free. Threads queue on a lock in-process,
    then hold the process's one descriptor of the file. Other writers (the service, an import)
    still meet SQLite's busy wait, as before.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None
        self._threads = threading.Lock()

    def _descriptor(self) -> int | None:
        if self._fd is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                return None  # a read-only folder: SQLite's own busy wait still keeps writes apart
        return self._fd

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        with self._threads:
            fd = self._descriptor()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)


_QUEUES: dict[tuple[int, Path], _WriterQueue] = {}  # one per database file and process
_QUEUES_LOCK = threading.Lock()


def writer_queue(engine: Engine) -> _WriterQueue:
    """The process's writer queue for this SQLite database (one descriptor, however many Ledgers)."""
    key = (os.getpid(), lock_folder(engine) / "ledger-writes.lock")
    with _QUEUES_LOCK:
        queue = _QUEUES.get(key)
        if queue is None:
            queue = _QUEUES[key] = _WriterQueue(key[1])
        return queue


def _rollback_quietly(connection: Any) -> None:
    # If even the rollback fails the connection is broken; returning it to the pool resets it.
    with contextlib.suppress(Exception):
        connection.rollback()
