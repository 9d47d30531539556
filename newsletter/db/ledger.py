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

from sqlalchemy import Engine, func, select, update

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.addresses import address_hash, address_key
from newsletter.db.engine import DatabaseError, reading, writing
from newsletter.db.ledger_runs import RunBook
from newsletter.db.ledger_types import (
    FAILED_PERMANENT,
    FAILED_TRANSIENT,
    FINISHED,
    IN_DOUBT,
    INCOMPLETE,
    INTERRUPTED,
    NOT_SENT,
    PAUSED,
    PENDING,
    RECIPIENT_STATES,
    ROW_COLUMNS,
    RUN_STATES,
    RUNNING,
    SENDING,
    SENT,
    SKIPPED,
    TO_SEND,
    UNKNOWN,
    Counts,
    Failure,
    NewRecipient,
    RecipientRow,
    Run,
    r,
    recipient_row,
)
from newsletter.db.ledger_writes import Writes
from newsletter.db.locks import worker_lease
from newsletter.db.schema import RecipientState

__all__ = [  # what newsletter/ledger.py offers, so the swap is a change of import
    "FAILED_PERMANENT",
    "FAILED_TRANSIENT",
    "FINISHED",
    "IN_DOUBT",
    "INCOMPLETE",
    "NOT_SENT",
    "INTERRUPTED",
    "PAUSED",
    "PENDING",
    "RECIPIENT_STATES",
    "RUN_STATES",
    "RUNNING",
    "SENDING",
    "SENT",
    "SKIPPED",
    "TO_SEND",
    "UNKNOWN",
    "Counts",
    "Failure",
    "Ledger",
    "NewRecipient",
    "RecipientRow",
    "Run",
    "carried_summaries",
]


_TO_SEND = [state.value for state in TO_SEND]  # plain strings: a driver may bind an Enum by its name


class Ledger(RunBook):
    """The ledger as one worker sees it; safe to share between the threads of one process."""

    def __init__(self, engine: Engine, worker: str | None = None):
        self.engine = engine
        self.worker = worker or uuid.uuid4().hex
        self._writes = Writes(engine)
        self._lease = worker_lease(engine, self.worker)
        self._lease.acquire()

    def close(self) -> None:
        """Commit any `sent` still held back, give back what this worker still holds, then its lease (a
        killed worker's lease just ends)."""
        try:
            self._writes.settle(everyone=True)
            self.release()
        except DatabaseError:
            # A held `sent` stays `sending` (-> unknown); the claims stay this worker's; once its lease
            # is gone the next sender frees them.
            pass
        finally:
            self._lease.release()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- recipients ------------------------------------------------------------------------------

    def claim(self, issue_id: str, limit: int = 1) -> list[RecipientRow]:
        """Reserve the next recipients to send for this worker (none reserved twice, across processes)."""
        w = self._writes
        rows = w.commit(w.step(w.statements.claim, issue=issue_id, limit=limit, worker=self.worker))
        return sorted((recipient_row(x) for x in rows), key=lambda row: row.rowid)  # RETURNING: any order

    def release(self, issue_id: str | None = None) -> int:
        """Give back the recipients this worker holds but did not finish (pending or failed for now)."""
        where = (r.c.claimed_by == self.worker) & r.c.state.in_(_TO_SEND)
        if issue_id is not None:
            where &= r.c.issue_id == issue_id
        with writing(self.engine) as connection:
            return connection.execute(update(r).where(where).values(claimed_by=None)).rowcount

    def _other_holders(self, issue_id: str) -> set[str]:
        """The other workers that hold recipients of this run, live or gone."""
        with reading(self.engine) as connection:
            holders = set(
                connection.execute(
                    select(r.c.claimed_by)
                    .distinct()
                    .where(
                        r.c.issue_id == issue_id, r.c.claimed_by.is_not(None), r.c.claimed_by != self.worker
                    )
                ).scalars()
            )
        return holders

    def others_at_work(self, issue_id: str) -> bool:
        """Whether another live worker holds recipients of this run (several senders share it)."""
        return any(worker_lease(self.engine, w).held_elsewhere() for w in self._other_holders(issue_id))

    def recover_unknown(self, issue_id: str) -> list[str]:
        """Turn the `sending` rows of workers that are gone into `unknown`; return those addresses.

        The reservations of those workers are freed too.

        A worker is gone when its lease is free; a live worker's rows are left alone, so this is safe
        while other processes send the same run.
        """
        holders = self._other_holders(issue_id)
        gone = [w for w in holders if not worker_lease(self.engine, w).held_elsewhere()]
        orphan = r.c.claimed_by.is_(None) | r.c.claimed_by.in_(gone)
        with writing(self.engine) as connection:
            emails = list(
                connection.execute(
                    select(r.c.email)
                    .where(r.c.issue_id == issue_id, r.c.state == SENDING.value, orphan)
                    .order_by(r.c.id)
                ).scalars()
            )
            connection.execute(
                update(r)
                .where(r.c.issue_id == issue_id, r.c.state == SENDING.value, orphan)
                .values(state=UNKNOWN.value, last_error=IN_DOUBT, claimed_by=None, updated_at=t.now())
            )
            if gone:
                connection.execute(
                    update(r)
                    .where(r.c.issue_id == issue_id, r.c.claimed_by.in_(gone))
                    .values(claimed_by=None)
                )
        return emails

    def requeue_unknown(self, issue_id: str) -> int:
        """Make `unknown` recipients pending again (the operator accepts a possible duplicate)."""
        with writing(self.engine) as connection:
            return connection.execute(
                update(r)
                .where(r.c.issue_id == issue_id, r.c.state == UNKNOWN.value)
                .values(state=PENDING.value, updated_at=t.now())
            ).rowcount

    def unknown(self, issue_id: str) -> list[str]:
        with reading(self.engine) as connection:
            return list(
                connection.execute(
                    select(r.c.email)
                    .where(r.c.issue_id == issue_id, r.c.state == UNKNOWN.value)
                    .order_by(r.c.id)
                ).scalars()
            )

    def to_send(self, issue_id: str, after_rowid: int = 0, limit: int = 500) -> list[RecipientRow]:
        """The next page to send (pending or failed_transient) in the order added: one sender per run only;
        several senders use `claim`."""
        query = (
            select(*ROW_COLUMNS)
            .where(r.c.issue_id == issue_id, r.c.state.in_(_TO_SEND), r.c.id > after_rowid)
            .order_by(r.c.id)
            .limit(limit)
        )
        with reading(self.engine) as connection:
            return [recipient_row(x) for x in connection.execute(query)]

    def editions(self, issue_id: str, limit: int) -> list[tuple[tuple[str, ...], bool]]:
        """The (topics, large text) pairs of the recipients still to send, the most common first: what
        decides which rendering of the issue each one gets."""
        count = func.count()
        query = (
            select(r.c.topics, r.c.large_text)
            .where(r.c.issue_id == issue_id, r.c.state.in_(_TO_SEND))
            .group_by(r.c.topics, r.c.large_text)
            .order_by(count.desc(), r.c.topics, r.c.large_text)
            .limit(limit)
        )
        with reading(self.engine) as connection:
            return [
                (tuple(x for x in topics.split(";") if x), bool(large))
                for topics, large in connection.execute(query)
            ]

    def count_known(self, issue_id: str, emails: Iterable[str], batch: int = 500) -> int:
        """How many of these addresses the issue's run already holds (in any state)."""
        known, chunk = 0, []
        with reading(self.engine) as connection:
            for email in [*emails, None]:
                if email is not None:
                    chunk.append(email)
                if chunk and (email is None or len(chunk) == batch):
                    known += connection.execute(
                        select(func.count())
                        .select_from(r)
                        .where(r.c.issue_id == issue_id, r.c.email.in_(chunk))
                    ).scalar_one()
                    chunk = []
        return known

    def states_of(self, issue_id: str, emails: Iterable[str], batch: int = 500) -> dict[str | None, int]:
        """How many of these addresses are in each state in the issue's run (None: not in the run)."""
        found: dict[str | None, int] = {}
        chunk: list[str] = []
        with reading(self.engine) as connection:
            for email in [*emails, None]:
                if email is not None:
                    chunk.append(email)
                if chunk and (email is None or len(chunk) == batch):
                    query = select(r.c.state, func.count()).where(
                        r.c.issue_id == issue_id, r.c.email.in_(chunk)
                    )
                    held = 0
                    for state, n in connection.execute(query.group_by(r.c.state)):
                        found[state] = found.get(state, 0) + n
                        held += n
                    found[None] = found.get(None, 0) + len(chunk) - held
                    chunk = []
        return found

    # -- the per-message writes (ledger_writes: compiled once, one short transaction each) -----------

    def mark_sending(self, issue_id: str, email: str) -> bool:
        """Committed before the message goes to the provider: a crash now leaves `sending` -> `unknown`.

        False, and the row left as it was, when the address is on the suppression list now (someone
        who unsubscribed, bounced or was erased during the run): that message must not go. The same
        transaction commits this thread's held-back `sent` (see `mark_sent`).
        """
        w = self._writes
        step = w.step(
            w.statements.sending,
            issue=issue_id,
            email=email,
            worker=self.worker,
            key=address_key(email),
            hash=address_hash(events.salt_of(self.engine), email),  # an erased address is suppressed by it
        )
        return bool(w.commit(step))

    def mark_sent(
        self, issue_id: str, email: str, message_id: str, provider_id: str | None, *, later: bool = False
    ) -> None:
        """The provider accepted the message. `later`: commit it with this thread's next write (its next
        `mark_sending` or `mark_failed`, or `settle`), saving a transaction per message; until then the
        row stays `sending`, so a crash turns it into `unknown` and never into a lost `sent`."""
        w = self._writes
        step = w.step(
            w.statements.sent, issue=issue_id, email=email, message_id=message_id, provider_id=provider_id
        )
        if later:
            w.hold(step)
        else:
            w.commit(step)

    def mark_failed(self, issue_id: str, email: str, state: str, error: str) -> None:
        """A failure; `failed_transient` stays held by this worker (retried by it, or after it is gone)."""
        state = RecipientState(state)
        if state not in NOT_SENT:
            raise ValueError(f"{state} is not a state of a recipient not sent")
        held = self.worker if state == FAILED_TRANSIENT else None
        w = self._writes
        w.commit(
            w.step(
                w.statements.failed,
                issue=issue_id,
                email=email,
                state=state.value,
                error=error[:500],
                worker=held,
            )
        )

    def settle(self) -> None:
        """Commit the `sent` this thread holds back (a sending thread calls it when it stops)."""
        self._writes.settle()

    def counts(self, issue_id: str) -> Counts:
        """How many recipients are in each state (every state present, zero if none)."""
        counts = dict.fromkeys(RECIPIENT_STATES, 0)
        with reading(self.engine) as connection:
            for state, n in connection.execute(
                select(r.c.state, func.count()).where(r.c.issue_id == issue_id).group_by(r.c.state)
            ):
                counts[RecipientState(state)] = n
        return counts

    def failures(self, issue_id: str, limit: int | None = None) -> list[Failure]:
        """Recipients not sent for a reason worth showing: failures, unknowns and skips."""
        shown = [state.value for state in NOT_SENT]
        query = (
            select(r.c.email, r.c.state, r.c.attempts, r.c.last_error)
            .where(r.c.issue_id == issue_id, r.c.state.in_(shown))
            .order_by(r.c.id)
            .limit(limit)
        )
        with reading(self.engine) as connection:
            return [Failure(e, RecipientState(s), n, why) for e, s, n, why in connection.execute(query)]

    def carried_summaries(self) -> set[str]:
        return carried_summaries(self.engine)


def carried_summaries(engine: Engine) -> set[str]:
    """Summary ids carried by issues that reached at least one recipient (sent, or maybe: unknown)."""
    reached = (
        select(r.c.id)
        .where(r.c.issue_id == t.issue_summaries.c.issue_id, r.c.state.in_((SENT.value, UNKNOWN.value)))
        .exists()
    )
    with reading(engine) as connection:
        return set(
            connection.execute(select(t.issue_summaries.c.summary_id).distinct().where(reached)).scalars()
        )
