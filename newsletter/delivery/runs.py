"""The runs half of the delivery ledger: one run per issue, created once with its fixed recipients, kept."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import Connection, Engine, delete, exc, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.db import schema as t
from newsletter.db.audience import iter_audience
from newsletter.db.engine import is_postgresql, reading, writing
from newsletter.db.schema import RunState
from newsletter.delivery.records import FINISHED, RUNNING, NewRecipient, Run, stamp
from newsletter.errors import DeliveryError


class RunBook:
    """Runs, as the Ledger has them (a base class so `ledger.start_run(...)` reads as before)."""

    engine: Engine

    def start_run(
        self,
        issue_id: str,
        provider: str,
        summary_ids: Iterable[str],
        recipients: Iterable[NewRecipient],
        forced_reason: str = "",
    ) -> int:
        """Create the issue's run with its recipients, all pending; return how many there are.

        One transaction: the stream may be of any length, and if it raises nothing is kept. A run is
        created once; `reopen_run` resumes it without adding anyone who subscribed since.
        """
        now = t.now()
        try:
            with writing(self.engine) as connection:
                if connection.execute(select(t.runs.c.issue_id).where(t.runs.c.issue_id == issue_id)).first():
                    raise DeliveryError(f"issue {issue_id} already has a send run; it can only be resumed")
                connection.execute(
                    insert(t.runs).values(
                        issue_id=issue_id,
                        state=RUNNING.value,
                        provider=provider,
                        started_at=now,
                        updated_at=now,
                        forced_reason=forced_reason,
                    )
                )
                summaries = [{"issue_id": issue_id, "summary_id": s} for s in dict.fromkeys(summary_ids)]
                if summaries:
                    connection.execute(insert(t.issue_summaries), summaries)
                # An address twice in the stream is added once (the run's unique key), in SQL: nothing
                # held in memory but a batch, whatever the list's size.
                adding = _insert_or_skip(connection)
                batch = []
                for person in recipients:
                    batch.append(person.as_row(issue_id, now))
                    if len(batch) == 1000:
                        connection.execute(adding, batch)
                        batch = []
                if batch:
                    connection.execute(adding, batch)
                held = (
                    select(func.count()).select_from(t.recipients).where(t.recipients.c.issue_id == issue_id)
                )
                return int(connection.execute(held).scalar_one())
        except exc.IntegrityError:  # PostgreSQL: another process created the run in the meantime
            raise DeliveryError(f"issue {issue_id} already has a send run; it can only be resumed") from None

    def start_or_join_run(
        self,
        issue_id: str,
        provider: str,
        summary_ids: Iterable[str],
        recipients: Iterable[NewRecipient],
        forced_reason: str = "",
    ) -> tuple[int, bool]:
        """For several senders starting together: (recipients added, True) for the one that created the run,
        (0, False) for the others, which then work the run it created."""
        try:
            return self.start_run(issue_id, provider, summary_ids, recipients, forced_reason), True
        except DeliveryError:
            if self.run(issue_id) is None:
                raise
            return 0, False

    def reopen_run(self, issue_id: str, provider: str, forced_reason: str = "") -> None:
        """Mark an existing run running again (a resume); its recipients stay exactly as they were.

        A `forced_reason` given now replaces the one stored (a resume forced past `check` again).
        """
        values = {"state": RUNNING.value, "provider": provider, "note": "", "updated_at": t.now()}
        if forced_reason:
            values["forced_reason"] = forced_reason
        with writing(self.engine) as connection:
            done = connection.execute(
                update(t.runs).where(t.runs.c.issue_id == issue_id).values(finished_at=None, **values)
            )
            connection.execute(delete(t.run_counts).where(t.run_counts.c.issue_id == issue_id))
        if done.rowcount != 1:
            raise DeliveryError(f"issue {issue_id} has no send run to resume")

    def set_run_state(self, issue_id: str, state: str, note: str = "") -> None:
        state = RunState(state)
        now = t.now()
        with writing(self.engine) as connection:
            connection.execute(
                update(t.runs)
                .where(t.runs.c.issue_id == issue_id)
                .values(
                    state=state.value,
                    note=note,
                    updated_at=now,
                    finished_at=now if state == FINISHED else None,
                )
            )
            connection.execute(delete(t.run_counts).where(t.run_counts.c.issue_id == issue_id))
            if state == FINISHED:  # its rows are settled: keep their counts (db.schema.run_counts)
                r = t.recipients
                counted = (
                    select(r.c.issue_id, r.c.state, func.count())
                    .where(r.c.issue_id == issue_id)
                    .group_by(r.c.issue_id, r.c.state)
                )
                connection.execute(
                    insert(t.run_counts).from_select(["issue_id", "state", "recipients"], counted)
                )

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
        return [
            Run(
                x.issue_id,
                RunState(x.state),
                x.provider,
                x.note,
                stamp(x.started_at) or "",
                stamp(x.updated_at) or "",
                stamp(x.finished_at),
                x.forced_reason,
            )
            for x in rows
        ]


def _insert_or_skip(connection: Connection) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of recipients that skips an address the run already holds."""
    dialect = postgresql if is_postgresql(connection) else sqlite
    return dialect.insert(t.recipients).on_conflict_do_nothing()


def from_audience(engine: Engine, lists: tuple[str, ...] | None) -> Iterator[NewRecipient]:
    """The audience of the chosen lists (all when None) as the rows that fix what each message carries."""
    for m in iter_audience(engine, lists):
        yield NewRecipient(
            m.email, m.list_name, m.name, m.topics, m.subscribed_at, m.first_name, m.large_text
        )
