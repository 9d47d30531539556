"""Several senders of one run on PostgreSQL (several machines): claims, liveness and what a dead one left.

A sender claims a recipient and marks it `sending` in one statement (`FOR UPDATE SKIP LOCKED`: two
senders never take one row, and never wait for each other). Each sender holds a session advisory
lock named by its id for its whole life (db.locks, the SENDER kind): the server drops it when the
sender's connection ends, however it ends. A `sending` row whose sender's lock is free was in flight
when its sender died: it becomes `unknown`. On SQLite one process sends a run, under the issue's
exclusive lock, so every `sending` row found at its start is in doubt (Ledger.doubt_all).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, and_, or_, select, update

from newsletter.db import schema as t
from newsletter.db.engine import reading, writing
from newsletter.db.locks import sender_lock
from newsletter.delivery.records import (
    FAILED_TRANSIENT,
    IN_DOUBT,
    PENDING,
    ROW_COLUMNS,
    SENDING,
    UNKNOWN,
    RecipientRow,
    recipient_row,
)

r = t.recipients


@contextmanager
def sender(engine: Engine) -> Iterator[str]:
    """A new sender's id, its liveness lock held while inside."""
    name = uuid.uuid4().hex
    with sender_lock(engine, name):
        yield name


def claim(engine: Engine, issue_id: str, me: str) -> RecipientRow | None:
    """The next recipient to send, taken by this sender and marked `sending`; None when none is left.

    A row that failed for now is left to the sender that tried it (it retries it itself), until
    that sender is gone (`recover`)."""
    free = or_(
        r.c.state == PENDING.value, and_(r.c.state == FAILED_TRANSIENT.value, r.c.claimed_by.is_(None))
    )
    pick = (
        select(r.c.id)
        .where(r.c.issue_id == issue_id, free)
        .order_by(r.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    taken = (
        update(r)
        .where(r.c.id == pick)
        .values(state=SENDING.value, attempts=r.c.attempts + 1, claimed_by=me, updated_at=t.now())
        .returning(*ROW_COLUMNS)
    )
    with writing(engine) as connection:
        row = connection.execute(taken).first()
    return None if row is None else recipient_row(row)


def _holders(engine: Engine, issue_id: str, me: str | None) -> set[str]:
    """The senders that hold rows of this run in flight or to retry (live or gone), other than `me`."""
    held = (r.c.state.in_((SENDING.value, FAILED_TRANSIENT.value)), r.c.claimed_by.is_not(None))
    with reading(engine) as connection:
        found = set(
            connection.execute(
                select(r.c.claimed_by).distinct().where(r.c.issue_id == issue_id, *held)
            ).scalars()
        )
    return found - {me}


def others_at_work(engine: Engine, issue_id: str, me: str) -> bool:
    """Whether another live sender holds rows of this run."""
    return any(sender_lock(engine, other).held_elsewhere() for other in _holders(engine, issue_id, me))


def recover(engine: Engine, issue_id: str, me: str) -> int:
    """Turn the `sending` rows of senders that are gone into `unknown`, and free the rows they had to
    retry; a live sender's rows are left alone, so this is safe while others send. Returns how many
    became `unknown`."""
    gone = [
        other for other in _holders(engine, issue_id, me) if not sender_lock(engine, other).held_elsewhere()
    ]
    orphan = r.c.claimed_by.is_(None) | r.c.claimed_by.in_(gone)
    with writing(engine) as connection:
        doubted = connection.execute(
            update(r)
            .where(r.c.issue_id == issue_id, r.c.state == SENDING.value, orphan)
            .values(state=UNKNOWN.value, last_error=IN_DOUBT, claimed_by=None, updated_at=t.now())
        ).rowcount
        if gone:
            connection.execute(
                update(r).where(r.c.issue_id == issue_id, r.c.claimed_by.in_(gone)).values(claimed_by=None)
            )
    return doubted
