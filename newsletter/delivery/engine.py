"""The delivery engine: one process sends an issue's run, its connections in threads.

N sending threads (one provider connection each) take recipients, build each message just before
sending it, and hand the ledger's marks to one writer thread (delivery.writer), which commits
`sending` before the message's final "." and `sent` after, many to a transaction. On SQLite a reader
thread pages the run's recipients still to send into one in-process queue; on PostgreSQL each
thread claims its next recipient from the database (delivery.claims), so senders on several
machines share the run. Memory stays flat whatever the list size; a crash at any moment leaves a
run that resumes without skipping anyone. Transient failures are retried with backoff and jitter;
too many errors in a row, a hard-bounce rate over the limit, or a fault in a thread pause the run;
a signal or `send --hold` stops it after the messages in flight.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from newsletter.bounces.health import PAUSE_MIN_ATTEMPTS, PAUSE_RATE, bounce_pause
from newsletter.db.engine import reading
from newsletter.db.rows import suppression_of
from newsletter.delivery import claims, signals
from newsletter.delivery.ledger import Ledger, LedgerError
from newsletter.delivery.outcome import RunOutcome, record_end
from newsletter.delivery.pacing import DeliveryOptions, RateLimiter, backoff_delay
from newsletter.delivery.records import TO_SEND, RecipientRow, RecipientState, Run, RunState
from newsletter.delivery.reporting import Reporter, Tally
from newsletter.delivery.writer import Mark, Writer, failed_mark, sending_mark, sent_mark
from newsletter.errors import NewsletterError
from newsletter.providers.base import OutgoingMessage, Provider, SendResult
from newsletter.providers.replies import is_hard_bounce

R = RecipientState


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NewsletterError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return f"{type(exc).__name__}: {exc}"


def _close_quietly(provider: Provider) -> None:
    # Closing a broken connection may fail too; there is nothing more to do about it.
    with contextlib.suppress(Exception):
        provider.close()


class _Suppressed(Exception):
    """The address was suppressed during the run (an unsubscribe, a bounce, an erasure): not sent."""


class _NotMarked(Exception):
    """The ledger could not record `sending`: nothing was handed over; the run stops on `error`."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


def _no_bounce(email: str, reason: str) -> None:
    return None


class _Pages:
    """SQLite: a reader thread pages the run's recipients still to send into one bounded queue."""

    def __init__(self, ledger: Ledger, issue_id: str, page: int, takers: int, stop: threading.Event):
        self.ledger, self.issue_id, self.page, self.takers, self.stop = ledger, issue_id, page, takers, stop
        self.rows: queue.Queue[RecipientRow | None] = queue.Queue(maxsize=2 * page)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, name="ledger-reader", daemon=True)

    def _read(self) -> None:
        after = 0
        try:
            while not self.stop.is_set():
                page = self.ledger.to_send(self.issue_id, after, self.page)
                if not page:
                    break
                for row in page:
                    if not self._put(row):
                        return
                after = page[-1].rowid
        except Exception as error:  # noqa: BLE001 - the engine stops the run on it
            self.error = error
        finally:
            for _ in range(self.takers):
                self._put(None, ending=True)

    def _put(self, row: RecipientRow | None, ending: bool = False) -> bool:
        while ending or not self.stop.is_set():
            try:
                self.rows.put(row, timeout=0.1)
                return True
            except queue.Full:
                if ending and self.stop.is_set():
                    return False
        return False

    def next(self) -> RecipientRow | None:
        while True:
            try:
                return self.rows.get(timeout=0.1)
            except queue.Empty:
                if self.stop.is_set():
                    return None


@dataclass
class Engine:
    """One invocation of delivery for one issue. The caller holds the issue's lock."""

    ledger: Ledger
    issue_id: str
    build: Callable[[RecipientRow], OutgoingMessage]
    open_provider: Callable[[], Provider]
    options: DeliveryOptions
    on_bounce: Callable[[str, str], None] = _no_bounce
    reporter: Reporter | None = None
    pause_rate: float = PAUSE_RATE  # hard bounces per attempt that pause the run ...
    pause_min_attempts: int = PAUSE_MIN_ATTEMPTS  # ... once this invocation made at least this many
    progress_interval: float = 1.0
    stop: threading.Event = field(default_factory=threading.Event)
    sender: str | None = None  # PostgreSQL: this sender's id, and its threads claim rows; None: SQLite
    # Called by the watching thread every `options.check_every` attempts: the whole run's attempts and
    # hard bounces, those reported since (`bounces fetch` between batches) included, for the pause rule.
    later_bounces: Callable[[], tuple[int, int]] | None = None
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._halt_state: RunState | None = None
        self._halt_note = ""
        self._halt_lock = threading.Lock()
        self._run_at_start: Run | None = None
        self._interrupted = False
        self._writer = Writer(self.ledger.engine)
        self._pages: _Pages | None = None

    def halt(self, state: RunState, note: str) -> None:
        """Stop the run after the messages in flight; the first reason given is the one recorded."""
        with self._halt_lock:
            if self._halt_state is None:
                self._halt_state, self._halt_note = state, note
        self.stop.set()

    def run(self) -> RunOutcome:
        self._run_at_start = self.ledger.run(self.issue_id)
        counts = self.ledger.counts(self.issue_id)
        tally = Tally(total=sum(counts[s] for s in TO_SEND))
        limiter = RateLimiter(self.options.rate, ramp=self.options.ramp)
        threads = [
            threading.Thread(target=self._work, args=(limiter, tally), name=f"send-{n}", daemon=True)
            for n in range(self.options.concurrency)
        ]
        self._writer.start()
        if self.sender is None:
            self._pages = _Pages(self.ledger, self.issue_id, self.options.page_size, len(threads), self.stop)
            self._pages.thread.start()
        next_check = self.options.check_every
        with signals.handled(self._on_signal):
            for thread in threads:
                thread.start()
            # The main thread only watches: joining with a timeout keeps it free to take a signal.
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(timeout=self.progress_interval / len(threads))
                self._notice_hold()
                if next_check and _attempts(tally) >= next_check:
                    next_check = _attempts(tally) + self.options.check_every
                    self._check_later_bounces(tally)
                if self.reporter and tally.total and any(t.is_alive() for t in threads):
                    self.reporter.progress(tally, False)
        failure = self._writer.close()
        if failure is not None:
            self.halt(RunState.PAUSED, f"paused: the ledger could not be written: {_describe(failure)}")
        if self._pages is not None and self._pages.error is not None:
            self.halt(
                RunState.PAUSED, f"paused: the ledger could not be read: {_describe(self._pages.error)}"
            )
        if self.reporter and tally.total:
            self.reporter.progress(tally, True)
        return self._finish(tally)

    def _on_signal(self, sig: signal.Signals) -> None:
        if sig in signals.OPERATOR_SIGNALS:
            if self._interrupted:
                # A second Ctrl-C means now: the ledger still holds `sending` for those in flight.
                raise KeyboardInterrupt
            self._interrupted = True  # only a Ctrl-C counts towards the second
        self.halt(*signals.stop_reason(sig, self.issue_id))

    def _notice_hold(self) -> None:
        """`send --hold` from another process marks the run interrupted: stop here too."""
        with contextlib.suppress(LedgerError):
            run = self.ledger.run(self.issue_id)
            # Only a change made during this run counts: the engine itself writes the run's state at the end.
            if run is not None and run.state == RunState.INTERRUPTED and run != self._run_at_start:
                self.halt(RunState.INTERRUPTED, run.note or "held by the operator")

    def _finish(self, tally: Tally) -> RunOutcome:
        halt = None if self._halt_state is None else (self._halt_state, self._halt_note)
        others = False
        if self.sender is not None:
            with contextlib.suppress(LedgerError):
                claims.recover(self.ledger.engine, self.issue_id, self.sender)  # what a dead sender left
                others = claims.others_at_work(self.ledger.engine, self.issue_id, self.sender)
        return record_end(
            self.ledger, self.issue_id, halt, self.stop.is_set(), tally.sent, tally.started, others
        )

    # -- sending threads ---------------------------------------------------------------------------

    def _next(self) -> RecipientRow | None:
        if self._pages is not None:
            return self._pages.next()
        assert self.sender is not None
        return claims.claim(self.ledger.engine, self.issue_id, self.sender)

    def _work(self, limiter: RateLimiter, tally: Tally) -> None:
        provider: Provider | None = None
        try:
            while not self.stop.is_set():
                if self.sender is not None and not limiter.wait(self.stop):
                    return  # PostgreSQL: claim only when this thread may send (the claim marks `sending`)
                row = self._next()
                if row is None:
                    return
                provider = self._deliver_one(row, provider, limiter, tally)
        except Exception as exc:  # noqa: BLE001 - any fault in a thread stops the whole run, recorded
            self.halt(
                RunState.PAUSED,
                f"stopped: a sending thread failed: {_describe(exc)}. Fix it, then run"
                f" `newsletter send {self.issue_id}` again to resume",
            )
        finally:
            if provider is not None:
                _close_quietly(provider)

    def _fail(self, row: RecipientRow, state: RecipientState, detail: str) -> None:
        self._outcome(failed_mark(row.rowid, state, detail, self.sender))

    def _outcome(self, mark: Mark) -> None:
        """SQLite: the outcome rides with this thread's next `sending`. PostgreSQL: committed now, as the
        next claim commits `sending` on its own; either way a thread has one row in doubt at most."""
        if self.sender is None:
            self._writer.later(mark)
        else:
            self._writer.now(mark)

    def _build(self, row: RecipientRow, tally: Tally) -> OutgoingMessage | None:
        try:
            return self.build(row)  # the factory renders each variant once, whichever thread asks first
        except Exception as exc:  # noqa: BLE001 - one bad message must not end the run; counted as an error
            self._fail(row, R.FAILED_TRANSIENT, f"could not build: {exc}")
            self._count_error(tally, f"could not build the message: {exc}", "failed_transient")
            return None

    def _deliver_one(
        self, row: RecipientRow, provider: Provider | None, limiter: RateLimiter, tally: Tally
    ) -> Provider | None:
        """Send to one recipient, retrying transient failures; returns the (possibly new) connection."""
        message = self._build(row, tally)
        if message is None:
            return provider
        claimed = row.state == R.SENDING  # PostgreSQL: the claim marked it `sending` already
        for attempt in range(1, self.options.max_attempts + 1):
            if not (claimed and attempt == 1) and not limiter.wait(self.stop):
                return provider  # stopped: the row stays pending or failed_transient, to resume
            if provider is None:
                try:
                    provider = self.open_provider()
                except NewsletterError as exc:
                    self._fatal(row, exc.message)
                    return None
                except Exception as exc:  # noqa: BLE001 - a server down is a transient failure like any other
                    result = SendResult("transient", f"cannot connect: {exc}")
                    self._fail(row, R.FAILED_TRANSIENT, result.detail)
                    if self._retry_or_give_up(attempt, result, tally):
                        continue
                    return None
            if claimed and attempt == 1:
                ready = functools.partial(self._still_wanted, row)
            else:  # committed while the envelope and the body go out; awaited before the final "."
                mark = self._writer.submit(sending_mark(row, self.ledger.salt, self.sender))
                ready = functools.partial(self._await_sending, mark)
            try:
                result = provider.send(message, ready=ready)
            except _Suppressed:
                self._fail(row, R.SKIPPED, "unsubscribed or suppressed during the run")
                with tally.lock:
                    tally.skipped += 1
                return provider
            except _NotMarked as not_marked:
                raise not_marked.error from None  # the ledger failed: this thread stops the run
            except NewsletterError as exc:
                _close_quietly(provider)
                self._fatal(row, exc.message)
                return None
            except Exception as exc:  # noqa: BLE001 - a provider should return results, but a dropped line may raise
                result = SendResult("transient", f"{type(exc).__name__}: {exc}")
            if not result.ok:
                # A failed connection may be in any state: open a fresh one for the next message.
                _close_quietly(provider)
                provider = None
            if self._record(row, message, result, tally):
                return provider
            if not self._retry_or_give_up(attempt, result, tally):
                return provider
        return provider

    def _await_sending(self, mark: Mark) -> None:
        """The provider's `ready`: `sending` committed before the hand-over, or the message stays here."""
        try:
            marked = self._writer.marked(mark)
        except Exception as error:
            raise _NotMarked(error) from None  # told apart from the provider's own faults
        if not marked:
            raise _Suppressed

    def _still_wanted(self, row: RecipientRow) -> None:
        """PostgreSQL's `ready` for a row its claim marked `sending`: not sent if suppressed since."""
        try:
            with reading(self.ledger.engine) as connection:
                gone = suppression_of(connection, row.email) is not None
        except Exception as error:
            raise _NotMarked(error) from None
        if gone:
            raise _Suppressed

    def _record(self, row: RecipientRow, message: OutgoingMessage, result: SendResult, tally: Tally) -> bool:
        """Record a send's result; True when it is final (no retry), False for a transient failure."""
        if result.ok:
            # Committed with the writer's next batch: until then the row stays `sending` (-> unknown).
            self._outcome(sent_mark(row.rowid, message.message_id, result.provider_id))
            with tally.lock:
                tally.sent += 1
                tally.consecutive_errors = 0
            self._check_bounce_rate(tally)
            return True
        if result.status == "unknown":
            # The message was handed over and the answer lost: it may have been accepted. Never retried
            # automatically; `send --resend-unknown` is the operator's decision.
            self._fail(row, R.UNKNOWN, result.detail)
            self._count_error(tally, result.detail, "unknown")
            return True
        if result.status == "permanent":
            self._fail(row, R.FAILED_PERMANENT, result.detail)
            if is_hard_bounce(result):
                self.on_bounce(row.email, result.detail)
                with tally.lock:
                    tally.hard_bounces += 1
            self._count_error(tally, result.detail, "failed_permanent")
            self._check_bounce_rate(tally)
            return True
        self._fail(row, R.FAILED_TRANSIENT, result.detail)
        return False

    def _check_bounce_rate(self, tally: Tally) -> None:
        """Pause the run when, past the minimum of attempts, too many addresses bounced hard: an old
        or bought list, which costs the sender's reputation with every further message. A warm-up
        (`--ramp N`) checks once its first N are sent, whatever the usual minimum."""
        with tally.lock:
            attempts, hard = _attempts(tally), tally.hard_bounces
        minimum = self.pause_min_attempts
        if self.options.ramp:
            minimum = min(minimum, self.options.ramp)
        reason = bounce_pause(attempts, hard, self.pause_rate, minimum)
        if reason:
            self.halt(RunState.PAUSED, reason)

    def _check_later_bounces(self, tally: Tally) -> None:
        """Between batches: the bounces reported since the run began count as those refused at once."""
        if self.later_bounces is None:
            return
        try:
            attempts, hard = self.later_bounces()
        except NewsletterError as exc:  # a fetch already running, the mailbox down: the send goes on
            if self.reporter:
                self.reporter.note(f"note: could not check the bounces reported so far: {exc.message}")
            return
        reason = bounce_pause(attempts, hard, self.pause_rate, self.pause_min_attempts)
        if reason:
            self.halt(RunState.PAUSED, reason)

    def _fatal(self, row: RecipientRow, message: str) -> None:
        """A problem no retry fixes (a refused login, a failed TLS check): pause the whole run."""
        self._fail(row, R.FAILED_TRANSIENT, message)
        self.halt(RunState.PAUSED, f"paused: {message}. Fix it, then run `newsletter send` again to resume")

    def _retry_or_give_up(self, attempt: int, result: SendResult, tally: Tally) -> bool:
        """After a transient failure: wait and say True to retry, or count the failure and say False."""
        if attempt >= self.options.max_attempts:
            self._count_error(tally, result.detail, "failed_transient")
            return False
        with tally.lock:
            tally.retries += 1
        if self._count_consecutive(tally, result.detail):
            return False
        return not self.stop.wait(backoff_delay(attempt, self.options, self.rng))

    def _count_error(self, tally: Tally, detail: str, kind: str) -> None:
        with tally.lock:
            setattr(tally, kind, getattr(tally, kind) + 1)
        self._count_consecutive(tally, detail)

    def _count_consecutive(self, tally: Tally, detail: str) -> bool:
        """Count one error in a row; pause the run (True) when there have been too many."""
        with tally.lock:
            tally.consecutive_errors += 1
            errors = tally.consecutive_errors
        if errors >= self.options.pause_after:
            self.halt(
                RunState.PAUSED,
                f"paused after {errors} errors in a row; last: {detail}. "
                "Fix the cause, then run `newsletter send` again to resume",
            )
        return self._halt_state is not None


def _attempts(tally: Tally) -> int:
    return tally.sent + tally.failed_permanent + tally.unknown
