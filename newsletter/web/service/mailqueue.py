"""The service's outgoing mail: kept in the state database, handed to the provider by worker threads.

A request never waits for the mail server: it stores the finished message (table `service_mail`)
and answers, so a signup for a known address takes as long as one for a new address (no list
enumeration through timing), and a slow provider never holds a request thread. Stored, not held
in memory: a restart resumes what was waiting, and `/health` can say how long the oldest message
has waited. A transient failure (or a provider that cannot be reached) is tried again after a
growing pause; a permanent refusal, or `unknown` (the server may have it), is logged and not
repeated. A start tries everything waiting at once (the restart may be the fix). A worker claims
a row for `CLAIM` before sending it, so two service processes on one PostgreSQL database never
send the same row at once; a claim left by a dead process expires.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from newsletter.db import schema as t
from newsletter.db.engine import DatabaseError, reading, writing
from newsletter.errors import NewsletterError
from newsletter.providers import OutgoingMessage, Provider, SendResult

log = logging.getLogger("newsletter.service.mail")

BACKOFF = (2.0, 10.0, 60.0, 300.0, 900.0)  # seconds before the 2nd, 3rd... attempt
MAX_QUEUED = 10_000  # messages waiting at most: beyond that a signup is refused (503), not lost silently
CLAIM = timedelta(minutes=15)  # a send takes seconds; a claim older than this belonged to a dead process
POLL = 1.0  # seconds between looks at the table when nothing woke a worker


class QueueFull(NewsletterError):
    """Too much mail waiting: the provider is down or far too slow."""


@dataclass(frozen=True)
class Job:
    id: int
    message: OutgoingMessage
    kind: str  # confirm, welcome: what the log lines say (never the address)
    attempt: int  # this one, counting from 1


class MailQueue:
    """Worker threads over the `service_mail` table, each with its own provider connection."""

    def __init__(
        self,
        engine: Engine,
        open_provider: Callable[[], Provider],
        workers: int = 2,
        attempts: int = 5,
        backoff: tuple[float, ...] = BACKOFF,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._engine = engine
        self._open = open_provider
        self._attempts = attempts
        self._backoff = backoff
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._closing = False
        self.sent = self.given_up = 0
        self._resume()
        self._threads = [
            threading.Thread(target=self._work, name=f"service-mail-{n}", daemon=True) for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _resume(self) -> None:
        """What waits from before a restart is due now; says how much there is."""
        m = t.service_mail
        with writing(self._engine) as connection:
            resumed = connection.execute(
                update(m).where(m.c.claimed_until.is_(None)).values(due_at=self._clock())
            ).rowcount
        if resumed:
            log.info("%d email(s) waiting from before the restart: sending them now", resumed)

    def submit(self, message: OutgoingMessage, kind: str) -> None:
        """Store a message for the workers; QueueFull if the backlog is already at its limit."""
        if self._closing:
            raise QueueFull("the service is shutting down; try again in a moment")
        now = self._clock()
        with writing(self._engine) as connection:
            waiting = connection.execute(select(func.count()).select_from(t.service_mail)).scalar_one()
            if waiting >= MAX_QUEUED:
                raise QueueFull(f"{MAX_QUEUED} emails are waiting for the mail server; try again later")
            connection.execute(
                insert(t.service_mail).values(
                    kind=kind,
                    envelope_from=message.envelope_from,
                    envelope_to=message.envelope_to,
                    message_id=message.message_id,
                    data=message.data,
                    created_at=now,
                    due_at=now,
                )
            )
        self._wake.set()

    def pending(self) -> int:
        """Messages waiting, in flight or due for another attempt."""
        with reading(self._engine) as connection:
            return int(connection.execute(select(func.count()).select_from(t.service_mail)).scalar_one())

    def oldest_wait(self) -> timedelta:
        """How long the oldest waiting message has waited (zero when none waits)."""
        with reading(self._engine) as connection:
            oldest = connection.execute(select(func.min(t.service_mail.c.created_at))).scalar()
        return max(timedelta(0), self._clock() - oldest) if oldest is not None else timedelta(0)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing waits or is in flight (tests, shutdown); False if still busy."""
        deadline = self._clock() + timedelta(seconds=timeout)
        while self.pending() and self._clock() < deadline:
            self._stopping.wait(0.02)
        return not self.pending()

    def close(self, timeout: float = 10.0) -> None:
        """Send what is due (for up to `timeout` seconds), then stop; what is left waits in the database."""
        self._closing = True
        with suppress(DatabaseError, SQLAlchemyError):  # the workers say so; nothing more goes out now
            self.wait_idle(timeout)
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
        try:
            left = self.pending()
        except (DatabaseError, SQLAlchemyError):
            log.warning(
                "stopped; the database is unavailable, so what waits in it goes out after the next start"
            )
            return
        if left:
            log.warning("stopped with %d email(s) waiting; they go out when the service starts again", left)

    def _work(self) -> None:
        provider: Provider | None = None
        database_down = False  # said once per outage, not every second
        while not self._stopping.is_set():
            try:
                job = self._claim()
                database_down = False
            except (DatabaseError, SQLAlchemyError) as exc:
                if not database_down:
                    reason = getattr(exc, "message", type(exc).__name__)
                    log.error("mail queue: the database is unavailable (%s)", reason)
                database_down, job = True, None
            if job is None:
                self._wake.wait(POLL)
                self._wake.clear()
                continue
            try:
                if provider is None:
                    provider = self._open()
                result = provider.send(job.message)
            except NewsletterError as exc:  # the provider cannot be reached or refuses us
                result = SendResult("transient", exc.message)
            except OSError as exc:
                result = SendResult("transient", f"{type(exc).__name__}: {exc}")
            if not result.ok and provider is not None:
                provider.close()  # a fresh connection for the next message
                provider = None
            try:
                self._settle(job, result)
            except (DatabaseError, SQLAlchemyError):  # the claim expires and the row is tried again
                log.error("mail queue: could not record the outcome of a %s email", job.kind)
        if provider is not None:
            provider.close()

    def _claim(self) -> Job | None:
        """The oldest due row no live worker holds, claimed for this one; None if there is none."""
        now = self._clock()
        m = t.service_mail
        with writing(self._engine) as connection:
            row = connection.execute(
                select(
                    m.c.id,
                    m.c.kind,
                    m.c.envelope_from,
                    m.c.envelope_to,
                    m.c.message_id,
                    m.c.data,
                    m.c.attempts,
                )
                .where(m.c.due_at <= now, or_(m.c.claimed_until.is_(None), m.c.claimed_until < now))
                .order_by(m.c.due_at, m.c.id)
                .limit(1)
            ).first()
            if row is None:
                return None
            taken = connection.execute(
                update(m)
                .where(m.c.id == row.id, or_(m.c.claimed_until.is_(None), m.c.claimed_until < now))
                .values(claimed_until=now + CLAIM, attempts=m.c.attempts + 1)
            ).rowcount
        if taken != 1:  # another process took it first
            return None
        message = OutgoingMessage(
            issue_id=f"service-{row.kind}",
            envelope_from=row.envelope_from,
            envelope_to=row.envelope_to,
            message_id=row.message_id,
            data=bytes(row.data),
        )
        return Job(row.id, message, row.kind, row.attempts + 1)

    def _settle(self, job: Job, result: SendResult) -> None:
        m = t.service_mail
        if result.ok:
            log.info("%s email sent (attempt %d)", job.kind, job.attempt)
            with writing(self._engine) as connection:
                connection.execute(delete(m).where(m.c.id == job.id))
            self.sent += 1
            return
        final = result.status in ("permanent", "unknown") or job.attempt >= self._attempts
        if final:
            log.error(
                "%s email given up after attempt %d (%s): %s",
                job.kind,
                job.attempt,
                result.status,
                result.detail,
            )
            with writing(self._engine) as connection:
                connection.execute(delete(m).where(m.c.id == job.id))
            self.given_up += 1
            return
        delay = self._backoff[min(job.attempt - 1, len(self._backoff) - 1)]
        log.warning(
            "%s email failed (%s), trying again in %gs: %s", job.kind, result.status, delay, result.detail
        )
        with writing(self._engine) as connection:
            connection.execute(
                update(m)
                .where(m.c.id == job.id)
                .values(claimed_until=None, due_at=self._clock() + timedelta(seconds=delay))
            )
