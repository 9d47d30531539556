"""The delivery ledger in the state database: each issue's send run and every recipient's state.

The same crash-safety as newsletter/ledger.py: `sending` is committed before a message goes to the
provider and `sent` right after, so after a crash the ledger knows exactly who may have got a message
(`unknown`) and who surely has not; the recipients are fixed when the run starts; runs are kept.

New: several processes (on PostgreSQL, on several machines) can work one run. Each Ledger is a
worker holding a lease (locks.worker_lease) for its life; `claim` reserves recipients for it
(`FOR UPDATE SKIP LOCKED` on PostgreSQL), and `recover_unknown` turns into `unknown` only the
`sending` rows of workers whose lease is gone, so it is safe to call while others send.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, exc, func, insert, select, update

from newsletter.db import schema as t
from newsletter.db.engine import is_postgresql, reading, writing
from newsletter.db.locks import worker_lease
from newsletter.db.schema import RecipientState, RunState
from newsletter.errors import DeliveryError

PENDING, SENDING, SENT = RecipientState.PENDING, RecipientState.SENDING, RecipientState.SENT
FAILED_TRANSIENT, FAILED_PERMANENT = RecipientState.FAILED_TRANSIENT, RecipientState.FAILED_PERMANENT
UNKNOWN, SKIPPED = RecipientState.UNKNOWN, RecipientState.SKIPPED
RECIPIENT_STATES = tuple(RecipientState)
RUNNING, PAUSED, INTERRUPTED = RunState.RUNNING, RunState.PAUSED, RunState.INTERRUPTED
INCOMPLETE, FINISHED = RunState.INCOMPLETE, RunState.FINISHED
RUN_STATES = tuple(RunState)
IN_DOUBT = "the run stopped while this message was with the provider"
_TO_SEND = (PENDING.value, FAILED_TRANSIENT.value)


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
    first_name: str = ""
    large_text: bool = False


@dataclass(frozen=True)
class NewRecipient:
    email: str
    list_name: str = ""
    name: str = ""
    topics: tuple[str, ...] = ()
    subscribed_at: str = ""
    first_name: str = ""
    large_text: bool = False


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


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds")


r = t.recipients
_ROW = (r.c.id, r.c.email, r.c.list_name, r.c.name, r.c.topics, r.c.subscribed_at, r.c.state, r.c.attempts,
        r.c.last_error, r.c.first_name, r.c.large_text)  # fmt: skip


def _recipient(row: Any) -> RecipientRow:
    topics = tuple(x for x in row.topics.split(";") if x)
    return RecipientRow(row.id, row.email, row.list_name, row.name, topics, row.subscribed_at, row.state,
                        row.attempts, row.last_error, row.first_name, bool(row.large_text))  # fmt: skip


class Ledger:
    """The ledger as one worker sees it; safe to share between the threads of one process."""

    def __init__(self, engine: Engine, worker: str | None = None):
        self.engine = engine
        self.worker = worker or uuid.uuid4().hex
        self._lease = worker_lease(engine, self.worker)
        self._lease.acquire()

    def close(self) -> None:
        """Give back what this worker still holds, then its lease (a killed worker's lease just ends)."""
        try:
            self.release()
        finally:
            self._lease.release()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _where(self, issue_id: str, email: str) -> Any:
        return (r.c.issue_id == issue_id) & (r.c.email == email)

    # -- runs ----------------------------------------------------------------------------------------

    def start_run(self, issue_id: str, provider: str, summary_ids: Iterable[str],
                  recipients: Iterable[NewRecipient]) -> int:  # fmt: skip
        """Create the issue's run with its recipients, all pending; return how many there are.

        One transaction: the stream may be of any length, and if it raises nothing is kept. A run is
        created once; `reopen_run` resumes it without adding anyone who subscribed since.
        """
        now = t.now()
        try:
            with writing(self.engine) as connection:
                if connection.execute(select(t.runs.c.issue_id).where(t.runs.c.issue_id == issue_id)).first():
                    raise DeliveryError(f"issue {issue_id} already has a send run; it can only be resumed")
                connection.execute(insert(t.runs).values(issue_id=issue_id, state=RUNNING.value, provider=provider,
                                                         started_at=now, updated_at=now))  # fmt: skip
                summaries = [{"issue_id": issue_id, "summary_id": s} for s in dict.fromkeys(summary_ids)]
                if summaries:
                    connection.execute(insert(t.issue_summaries), summaries)
                added, seen, batch = 0, set(), []
                for person in recipients:
                    if person.email in seen:  # the old ledger's INSERT OR IGNORE
                        continue
                    seen.add(person.email)
                    batch.append({"issue_id": issue_id, "email": person.email, "list_name": person.list_name,
                                  "name": person.name, "first_name": person.first_name,
                                  "topics": ";".join(person.topics), "large_text": person.large_text,
                                  "subscribed_at": person.subscribed_at, "added_at": now, "updated_at": now})  # fmt: skip
                    if len(batch) == 1000:
                        added += len(batch)
                        connection.execute(insert(t.recipients), batch)
                        batch = []
                if batch:
                    connection.execute(insert(t.recipients), batch)
                return added + len(batch)
        except exc.IntegrityError:  # PostgreSQL: another process created the run in the meantime
            raise DeliveryError(f"issue {issue_id} already has a send run; it can only be resumed") from None

    def start_or_join_run(self, issue_id: str, provider: str, summary_ids: Iterable[str],
                          recipients: Iterable[NewRecipient]) -> tuple[int, bool]:  # fmt: skip
        """For several senders starting together: (recipients added, True) for the one that created the run,
        (0, False) for the others, which then work the run it created."""
        try:
            return self.start_run(issue_id, provider, summary_ids, recipients), True
        except DeliveryError:
            if self.run(issue_id) is None:
                raise
            return 0, False

    def reopen_run(self, issue_id: str, provider: str) -> None:
        with writing(self.engine) as connection:
            done = connection.execute(update(t.runs).where(t.runs.c.issue_id == issue_id).values(
                state=RUNNING.value, provider=provider, note="", updated_at=t.now(), finished_at=None))  # fmt: skip
        if done.rowcount != 1:
            raise DeliveryError(f"issue {issue_id} has no send run to resume")

    def set_run_state(self, issue_id: str, state: str, note: str = "") -> None:
        state = RunState(state)
        now = t.now()
        with writing(self.engine) as connection:
            connection.execute(update(t.runs).where(t.runs.c.issue_id == issue_id).values(
                state=state.value, note=note, updated_at=now, finished_at=now if state == FINISHED else None))  # fmt: skip

    def run(self, issue_id: str) -> Run | None:
        found = [run for run in self._runs(issue_id)]
        return found[0] if found else None

    def runs(self) -> list[Run]:
        return self._runs(None)

    def _runs(self, issue_id: str | None) -> list[Run]:
        query = select(t.runs).order_by(t.runs.c.issue_id)
        if issue_id is not None:
            query = query.where(t.runs.c.issue_id == issue_id)
        with reading(self.engine) as connection:
            rows = connection.execute(query).all()
        return [Run(x.issue_id, x.state, x.provider, x.note, _stamp(x.started_at) or "", _stamp(x.updated_at) or "",
                    _stamp(x.finished_at)) for x in rows]  # fmt: skip

    # -- recipients ------------------------------------------------------------------------------

    def claim(self, issue_id: str, limit: int = 1) -> list[RecipientRow]:
        """Reserve the next recipients to send for this worker (none reserved twice, across processes)."""
        query = (select(*_ROW).where(r.c.issue_id == issue_id, r.c.state.in_(_TO_SEND), r.c.claimed_by.is_(None))
                 .order_by(r.c.id).limit(limit))  # fmt: skip
        if is_postgresql(self.engine):
            query = query.with_for_update(skip_locked=True)  # others take the next free rows, never wait
        with writing(self.engine) as connection:
            rows = connection.execute(query).all()
            if rows:
                connection.execute(update(r).where(r.c.id.in_([x.id for x in rows])).values(claimed_by=self.worker))
        return [_recipient(x) for x in rows]

    def release(self, issue_id: str | None = None) -> int:
        """Give back the recipients this worker holds but did not finish (pending or failed for now)."""
        where = (r.c.claimed_by == self.worker) & r.c.state.in_(_TO_SEND)
        if issue_id is not None:
            where &= r.c.issue_id == issue_id
        with writing(self.engine) as connection:
            return connection.execute(update(r).where(where).values(claimed_by=None)).rowcount

    def recover_unknown(self, issue_id: str) -> list[str]:
        """Turn `sending` rows of workers that are gone into `unknown`, free their reservations; their addresses.

        A worker is gone when its lease is free; a live worker's rows are left alone, so this is safe
        while other processes send the same run.
        """
        with reading(self.engine) as connection:
            holders = set(connection.execute(select(r.c.claimed_by).distinct().where(
                r.c.issue_id == issue_id, r.c.claimed_by.is_not(None), r.c.claimed_by != self.worker)).scalars())  # fmt: skip
        gone = [w for w in holders if not worker_lease(self.engine, w).held_elsewhere()]
        orphan = r.c.claimed_by.is_(None) | r.c.claimed_by.in_(gone)
        with writing(self.engine) as connection:
            emails = list(connection.execute(select(r.c.email).where(
                r.c.issue_id == issue_id, r.c.state == SENDING.value, orphan).order_by(r.c.id)).scalars())  # fmt: skip
            connection.execute(update(r).where(r.c.issue_id == issue_id, r.c.state == SENDING.value, orphan)
                               .values(state=UNKNOWN.value, last_error=IN_DOUBT, claimed_by=None, updated_at=t.now()))  # fmt: skip
            if gone:
                connection.execute(update(r).where(r.c.issue_id == issue_id, r.c.claimed_by.in_(gone))
                                   .values(claimed_by=None))  # fmt: skip
        return emails

    def requeue_unknown(self, issue_id: str) -> int:
        """Make `unknown` recipients pending again (the operator accepts a possible duplicate)."""
        with writing(self.engine) as connection:
            return connection.execute(update(r).where(r.c.issue_id == issue_id, r.c.state == UNKNOWN.value)
                                      .values(state=PENDING.value, updated_at=t.now())).rowcount  # fmt: skip

    def unknown(self, issue_id: str) -> list[str]:
        with reading(self.engine) as connection:
            return list(connection.execute(select(r.c.email).where(
                r.c.issue_id == issue_id, r.c.state == UNKNOWN.value).order_by(r.c.id)).scalars())  # fmt: skip

    def to_send(self, issue_id: str, after_rowid: int = 0, limit: int = 500) -> list[RecipientRow]:
        """The next page to send (pending or failed_transient) in the order added: one sender per run only;
        several senders use `claim`."""
        query = (select(*_ROW).where(r.c.issue_id == issue_id, r.c.state.in_(_TO_SEND), r.c.id > after_rowid)
                 .order_by(r.c.id).limit(limit))  # fmt: skip
        with reading(self.engine) as connection:
            return [_recipient(x) for x in connection.execute(query)]

    def count_known(self, issue_id: str, emails: Iterable[str], batch: int = 500) -> int:
        """How many of these addresses the issue's run already holds (in any state)."""
        known, chunk = 0, []
        with reading(self.engine) as connection:
            for email in [*emails, None]:
                if email is not None:
                    chunk.append(email)
                if chunk and (email is None or len(chunk) == batch):
                    known += connection.execute(select(func.count()).select_from(r).where(
                        r.c.issue_id == issue_id, r.c.email.in_(chunk))).scalar_one()  # fmt: skip
                    chunk = []
        return known

    def _set(self, issue_id: str, email: str, **values: Any) -> None:
        with writing(self.engine) as connection:
            connection.execute(update(r).where(self._where(issue_id, email)).values(updated_at=t.now(), **values))

    def mark_sending(self, issue_id: str, email: str) -> None:
        """Committed before the message goes to the provider: a crash now leaves `sending` -> `unknown`."""
        self._set(issue_id, email, state=SENDING.value, attempts=r.c.attempts + 1, claimed_by=self.worker)

    def mark_sent(self, issue_id: str, email: str, message_id: str, provider_id: str | None) -> None:
        self._set(issue_id, email, state=SENT.value, message_id=message_id, provider_id=provider_id, last_error="",
                  sent_at=t.now(), claimed_by=None)  # fmt: skip

    def mark_failed(self, issue_id: str, email: str, state: str, error: str) -> None:
        """A failure; `failed_transient` stays held by this worker (retried by it, or after it is gone)."""
        state = RecipientState(state)
        assert state in (FAILED_TRANSIENT, FAILED_PERMANENT, SKIPPED), state
        held = self.worker if state == FAILED_TRANSIENT else None
        self._set(issue_id, email, state=state.value, last_error=error[:500], claimed_by=held)

    def counts(self, issue_id: str) -> dict[str, int]:
        """How many recipients are in each state (every state present, zero if none)."""
        counts = {state.value: 0 for state in RECIPIENT_STATES}
        with reading(self.engine) as connection:
            for state, n in connection.execute(select(r.c.state, func.count()).where(r.c.issue_id == issue_id)
                                               .group_by(r.c.state)):  # fmt: skip
                counts[state] = n
        return counts

    def failures(self, issue_id: str, limit: int | None = None) -> list[Failure]:
        """Recipients not sent for a reason worth showing: failures, unknowns and skips."""
        shown = (FAILED_TRANSIENT.value, FAILED_PERMANENT.value, UNKNOWN.value, SKIPPED.value)
        query = (select(r.c.email, r.c.state, r.c.attempts, r.c.last_error)
                 .where(r.c.issue_id == issue_id, r.c.state.in_(shown)).order_by(r.c.id).limit(limit))  # fmt: skip
        with reading(self.engine) as connection:
            return [Failure(*row) for row in connection.execute(query)]

    def carried_summaries(self) -> set[str]:
        return carried_summaries(self.engine)


def carried_summaries(engine: Engine) -> set[str]:
    """Summary ids carried by issues that reached at least one recipient (sent, or maybe: unknown)."""
    reached = select(r.c.id).where(r.c.issue_id == t.issue_summaries.c.issue_id,
                                   r.c.state.in_((SENT.value, UNKNOWN.value))).exists()  # fmt: skip
    with reading(engine) as connection:
        return set(connection.execute(select(t.issue_summaries.c.summary_id).distinct().where(reached)).scalars())
