"""The send's one writer: a thread that commits the ledger's per-message marks, many to a transaction.

Sending threads hand it `sending` as they start a message, then `sent` or a failure, and go on;
the writer holds what it is handed until a sender waits for its `sending` (just before the message's
final ".") or every sender has one held, and then commits all it holds (or after `HOLD_OUTCOMES`
seconds of quiet, or at the end).
So a transaction carries a message's `sent` and the next one's `sending` at least, many messages'
marks under load (a group commit), and the database sees one writer. A mark not committed when the
process dies leaves its row `sending`, which becomes `unknown`: in doubt, never lost.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, exists, or_, select, update

from newsletter.db import schema as t
from newsletter.db.addresses import address_hash, address_key
from newsletter.db.engine import writer_connection, writing
from newsletter.delivery.records import NOT_SENT, SENDING, SENT, RecipientRow, RecipientState

r, s = t.recipients, t.suppressions
BATCH = 512  # marks at most in one transaction
HOLD_OUTCOMES = 0.05  # Writer.quiet's default
_WAKE = object()  # queued by a sender about to wait for its `sending`: commit what is held now

# The statements take their values by name, so one execution carries a whole batch (executemany).
_SENDING = (
    update(r)
    .where(
        r.c.id == bindparam("b_id"),
        ~exists().where(or_(s.c.email_key == bindparam("b_key"), s.c.email_hash == bindparam("b_hash"))),
    )
    .values(
        state=SENDING.value,
        attempts=r.c.attempts + 1,
        claimed_by=bindparam("b_by"),
        updated_at=bindparam("b_at"),
    )
)
_SENT = (
    update(r)
    .where(r.c.id == bindparam("b_id"))
    .values(
        state=SENT.value,
        message_id=bindparam("b_message_id"),
        provider_id=bindparam("b_provider_id"),
        last_error="",
        sent_at=bindparam("b_at"),
        claimed_by=None,
        updated_at=bindparam("b_at"),
    )
)
_FAILED = (
    update(r)
    .where(r.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        last_error=bindparam("b_error"),
        claimed_by=bindparam("b_by"),
        updated_at=bindparam("b_at"),
    )  # fmt: skip
)


@dataclass
class Mark:
    """One row's change: `sending`, `sent` or a failure, with its values."""

    kind: str  # "sending", "sent", "failed"
    values: dict[str, Any]
    done: threading.Event | None = None  # set once committed (or failed), for a caller that waits
    marked: bool = False  # `sending` only: the row was marked (not suppressed)
    error: BaseException | None = None


def sending_mark(row: RecipientRow, salt: str, sender: str | None, wait: bool = True) -> Mark:
    values = {
        "b_id": row.rowid,
        "b_key": address_key(row.email),
        "b_hash": address_hash(salt, row.email),
        "b_by": sender,
    }
    return Mark("sending", values, threading.Event() if wait else None)


def sent_mark(rowid: int, message_id: str, provider_id: str | None) -> Mark:
    return Mark("sent", {"b_id": rowid, "b_message_id": message_id, "b_provider_id": provider_id})


def failed_mark(rowid: int, state: RecipientState, error: str, sender: str | None) -> Mark:
    """A failure; `failed_transient` stays with its sender (PostgreSQL: retried by it, or once it is gone)."""
    state = RecipientState(state)
    if state not in NOT_SENT:
        raise ValueError(f"{state} is not a state of a recipient not sent")
    held = sender if state == RecipientState.FAILED_TRANSIENT else None
    return Mark("failed", {"b_id": rowid, "b_state": state.value, "b_error": error[:500], "b_by": held})


def commit(engine: Engine, marks: list[Mark]) -> None:
    """Commit these marks in one transaction, and tell each `sending` whether its row was marked."""
    with writing(engine) as connection:
        commit_on(connection, marks)


def commit_on(connection: Connection, marks: list[Mark]) -> None:
    """The marks' statements, in the transaction open on `connection`, one executemany per kind.

    A row's marks keep their order: a `sending` that a later failure of the same row overtakes (the
    connection failed before the sender waited for it) goes before the failures, every other `sending`
    after them, so a row retried in the same batch ends `sending`. A `sent` always comes first in its
    batch for its row: it follows the commit of its `sending`.
    """
    at = t.now()
    last_failure = {mark.values["b_id"]: n for n, mark in enumerate(marks) if mark.kind == "failed"}
    overtaken: list[Mark] = []
    groups: dict[str, list[Mark]] = {"sent": [], "failed": [], "sending": []}
    for n, mark in enumerate(marks):
        mark.values["b_at"] = at
        if mark.kind == "sending" and last_failure.get(mark.values["b_id"], -1) > n:
            overtaken.append(mark)  # nobody waits for it: the sender has moved on
        else:
            groups[mark.kind].append(mark)
    if overtaken:
        connection.execute(_SENDING, [mark.values for mark in overtaken])
    for kind, statement in (("sent", _SENT), ("failed", _FAILED)):
        if groups[kind]:
            connection.execute(statement, [mark.values for mark in groups[kind]])
    sending = groups["sending"]
    if sending:
        marked = connection.execute(_SENDING, [mark.values for mark in sending]).rowcount
        if marked == len(sending):  # the usual case: nobody suppressed since the run began
            for mark in sending:
                mark.marked = True
        else:
            _learn_marked(connection, sending)


def _learn_marked(connection: Connection, marks: list[Mark]) -> None:
    # One executemany gives one row count for all: the rows now `sending` are the ones marked (a row
    # to mark is pending or failed, and a suppressed one is left as it was).
    ids = [mark.values["b_id"] for mark in marks]
    now_sending = set(
        connection.execute(select(r.c.id).where(r.c.id.in_(ids), r.c.state == SENDING.value)).scalars()
    )
    for mark in marks:
        mark.marked = mark.values["b_id"] in now_sending


@dataclass
class Writer:
    """The thread that commits a send's marks (start it, hand it marks, `close` it at the end)."""

    engine: Engine
    quiet: float = HOLD_OUTCOMES  # seconds of quiet after which what is held goes, nobody waiting
    senders: int = 1  # sending threads: once each has a `sending` held, none can come before a wait
    watched: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext  # DatabaseWatch.call
    _queue: queue.SimpleQueue[Mark | object | None] = field(default_factory=queue.SimpleQueue)
    _thread: threading.Thread | None = None
    _connection: Connection | None = None  # the writer thread's own, for the whole send
    error: BaseException | None = None  # the first failure: later marks fail at once with it

    def start(self) -> Writer:
        self._thread = threading.Thread(target=self._loop, name="ledger-writer", daemon=True)
        self._thread.start()
        return self

    def submit(self, mark: Mark) -> Mark:
        """Queue a `sending` without waiting: a sender goes on with its envelope and body meanwhile and
        calls `marked` before the final ".", which is when the writer commits it (with all queued since)."""
        self._queue.put(mark)
        return mark

    def marked(self, mark: Mark) -> bool:
        """Wait for a submitted `sending`: True once committed, False if the address is suppressed now;
        raises the database's error if it could not be written."""
        assert mark.done is not None
        if not mark.done.is_set():
            self._queue.put(_WAKE)  # after the mark: the batch the writer commits for it holds it
        mark.done.wait()
        if mark.error is not None:
            raise mark.error
        return mark.marked

    def sending(self, mark: Mark) -> bool:
        """`submit` and `marked` at once."""
        return self.marked(self.submit(mark))

    def now(self, mark: Mark) -> None:
        """An outcome committed before this returns (PostgreSQL: the claim, not the writer, marks the next
        row `sending`, so no later mark would carry this one); raises the database's error."""
        mark.done = threading.Event()
        self._queue.put(mark)
        self._queue.put(_WAKE)
        mark.done.wait()
        if mark.error is not None:
            raise mark.error

    def later(self, mark: Mark) -> None:
        """An outcome, committed with the next batch: until then the row stays `sending` (-> unknown)."""
        self._queue.put(mark)

    def close(self) -> BaseException | None:
        """Commit what is queued and end the thread; returns the first failure, if any."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        return self.error

    def _loop(self) -> None:
        try:
            with self.watched():
                self._connection = writer_connection(self.engine)
        except Exception as error:  # noqa: BLE001 - every mark fails with it; the run stops on it
            self.error = error
        try:
            self._take_marks()
        finally:
            if self._connection is not None:
                with contextlib.suppress(Exception):  # a broken connection: nothing more to do with it
                    self._connection.close()

    def _take_marks(self) -> None:
        batch: list[Mark] = []  # marks held until a sender waits for one, then whatever else has queued
        held = 0  # `sending` marks in the batch: with one from every sender, nothing more is coming
        ending = False
        while not ending:
            try:
                item = self._queue.get(timeout=self.quiet if batch else None)
            except queue.Empty:  # quiet: what is held goes now
                self._commit(batch)
                batch, held = [], 0
                continue
            awaited = False
            while True:  # what else queued meanwhile goes along
                if isinstance(item, Mark):
                    batch.append(item)
                    held += item.kind == "sending"
                elif item is _WAKE:
                    awaited = True
                else:
                    ending = True
                if ending or len(batch) >= BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if ending or awaited or held >= self.senders or len(batch) >= BATCH:
                self._commit(batch)
                batch, held = [], 0

    def _commit(self, batch: list[Mark]) -> None:
        if batch and self.error is None and self._connection is not None:
            try:
                with self.watched(), self._connection.begin():
                    commit_on(self._connection, batch)
            except Exception as error:  # noqa: BLE001 - told to every sender waiting; the run stops on it
                self.error = error
        for mark in batch:
            if self.error is not None:
                mark.error = self.error
            if mark.done is not None:
                mark.done.set()
