"""The delivery ledger: each issue's send run and every recipient's state, in the state database.

`sending` is committed before a message goes to the provider and `sent` right after it was accepted,
so after a crash the ledger knows exactly who may have got a message (`unknown`) and who surely has
not. The recipients are fixed when the run starts; runs are kept. The per-message writes of a send
go through one writer thread (delivery.writer); the statements themselves are made here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, func, select, union_all, update

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.engine import DatabaseError, reading, writing
from newsletter.db.state import open_state
from newsletter.delivery import writer
from newsletter.delivery.records import (
    IN_DOUBT,
    NOT_SENT,
    PENDING,
    RECIPIENT_STATES,
    ROW_COLUMNS,
    SENDING,
    SENT,
    TO_SEND,
    UNKNOWN,
    Counts,
    Failure,
    RecipientRow,
    RecipientState,
    recipient_row,
)
from newsletter.delivery.runs import RunBook
from newsletter.store.config import Settings

# Every fault of the database (locked, read-only, full, damaged, unreachable) is one line.
LedgerError = DatabaseError

r = t.recipients
_TO_SEND = [state.value for state in TO_SEND]  # plain strings: a driver may bind an Enum by its name


class Ledger(RunBook):
    """The ledger of one state database; safe to share between threads (each call is a transaction)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._salt: str | None = None

    @property
    def salt(self) -> str:
        """The database's salt for address hashes (an erased address is suppressed by its hash)."""
        if self._salt is None:
            self._salt = events.salt_of(self.engine)
        return self._salt

    def close(self) -> None:
        """Nothing is held between calls; kept so a ledger reads well in a `with`."""

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- recipients --------------------------------------------------------------------------------

    def row(self, issue_id: str, email: str) -> RecipientRow | None:
        with reading(self.engine) as connection:
            found = connection.execute(
                select(*ROW_COLUMNS).where(r.c.issue_id == issue_id, r.c.email == email)
            ).first()
        return None if found is None else recipient_row(found)

    def to_send(self, issue_id: str, after_rowid: int = 0, limit: int = 500) -> list[RecipientRow]:
        """The next page to send (pending or failed_transient), in the order added."""
        query = (
            select(*ROW_COLUMNS)
            .where(r.c.issue_id == issue_id, r.c.state.in_(_TO_SEND), r.c.id > after_rowid)
            .order_by(r.c.id)
            .limit(limit)
        )
        with reading(self.engine) as connection:
            return [recipient_row(x) for x in connection.execute(query)]

    def doubt_all(self, issue_id: str) -> int:
        """Every `sending` row of the run becomes `unknown`: the caller holds the issue's exclusive lock,
        so no sender is alive to have those messages in flight (SQLite's one sender per run)."""
        with writing(self.engine) as connection:
            return connection.execute(
                update(r)
                .where(r.c.issue_id == issue_id, r.c.state == SENDING.value)
                .values(state=UNKNOWN.value, last_error=IN_DOUBT, claimed_by=None, updated_at=t.now())
            ).rowcount

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

    def count_known(self, issue_id: str, emails: Iterable[str]) -> int:
        """How many of these addresses the issue's run already holds (in any state)."""
        return sum(n for state, n in self.states_of(issue_id, emails).items() if state is not None)

    # -- single writes (a send batches them in delivery.writer) -------------------------------------

    def mark_sending(self, issue_id: str, email: str, sender: str | None = None) -> bool:
        """`sending`, committed; False (and the row left as it was) when the address is suppressed now."""
        mark = writer.sending_mark(self._row_or_fail(issue_id, email), self.salt, sender, wait=False)
        writer.commit(self.engine, [mark])
        return mark.marked

    def mark_sent(self, issue_id: str, email: str, message_id: str, provider_id: str | None) -> None:
        writer.commit(
            self.engine, [writer.sent_mark(self._row_or_fail(issue_id, email).rowid, message_id, provider_id)]
        )

    def mark_failed(
        self, issue_id: str, email: str, state: str, error: str, sender: str | None = None
    ) -> None:
        rowid = self._row_or_fail(issue_id, email).rowid
        writer.commit(self.engine, [writer.failed_mark(rowid, RecipientState(state), error, sender)])

    def _row_or_fail(self, issue_id: str, email: str) -> RecipientRow:
        row = self.row(issue_id, email)
        if row is None:
            raise ValueError(f"{email} is not a recipient of issue {issue_id}'s run")
        return row

    # -- what a run holds --------------------------------------------------------------------------

    def counts(self, issue_id: str) -> Counts:
        """How many recipients are in each state (every state present, zero if none)."""
        return self.counts_of([issue_id])[issue_id]

    def counts_of(self, issue_ids: Iterable[str]) -> dict[str, Counts]:
        """`counts` of each issue, in one statement: a finished run's as kept when it finished
        (db.schema.run_counts), the others' counted from the ledger's (issue, state) index."""
        found = {issue: dict.fromkeys(RECIPIENT_STATES, 0) for issue in issue_ids}
        kept, run = t.run_counts, t.runs
        settled = select(kept.c.issue_id, kept.c.state, kept.c.recipients).where(
            kept.c.issue_id.in_(list(found))
        )
        counting = (
            select(run.c.issue_id, r.c.state, func.count())
            .join(r, r.c.issue_id == run.c.issue_id)
            .where(
                run.c.issue_id.in_(list(found)),
                ~select(kept.c.issue_id).where(kept.c.issue_id == run.c.issue_id).exists(),
            )
            .group_by(run.c.issue_id, r.c.state)
        )
        with reading(self.engine) as connection:
            for issue, state, n in connection.execute(union_all(settled, counting)):
                found[issue][RecipientState(state)] = n
        return found

    def failures(self, issue_id: str, limit: int | None = None) -> list[Failure]:
        """Recipients not sent for a reason worth showing: failures, unknowns, skips (the first `limit`)."""
        return self.failures_of([issue_id], limit)[issue_id]

    def failures_of(self, issue_ids: Iterable[str], limit: int | None = None) -> dict[str, list[Failure]]:
        """`failures` of each issue, in one query, in the order recipients were added.

        Numbered per issue in a subquery rather than ordered by id: with the ledger's statistics
        (nearly all `sent`) SQLite would otherwise walk the whole table in id order, every issue's rows
        included, instead of the few rows the (issue, state) index holds.
        """
        found: dict[str, list[Failure]] = {issue: [] for issue in issue_ids}
        shown = [state.value for state in NOT_SENT]
        ranked = (
            select(
                r.c.issue_id,
                r.c.email,
                r.c.state,
                r.c.attempts,
                r.c.last_error,
                func.row_number().over(partition_by=r.c.issue_id, order_by=r.c.id).label("n"),
            )
            .where(r.c.issue_id.in_(list(found)), r.c.state.in_(shown))
            .subquery()
        )
        query = select(ranked).order_by(ranked.c.issue_id, ranked.c.n)
        if limit is not None:
            query = query.where(ranked.c.n <= limit)
        with reading(self.engine) as connection:
            for issue, email, state, attempts, why, _ in connection.execute(query):
                found[issue].append(Failure(email, RecipientState(state), attempts, why))
        return found

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


def open_ledger(settings: Settings) -> Ledger:
    """The workspace's ledger (use it in a `with`)."""
    return Ledger(open_state(settings))
