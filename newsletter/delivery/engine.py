"""The delivery engine: one process sends an issue's run, its connections in threads.

N sending threads (one provider connection each) take recipients (delivery.source: SQLite pages or
PostgreSQL claims), build each message just before sending it, and hand the ledger's marks to one
writer thread (delivery.writer), which commits `sending` before the message's final "." and `sent`
after, many to a transaction. The main thread watches: progress, `send --hold`, the bounce checks
between batches, signals. Memory stays flat whatever the list size; a crash at any moment leaves a
run that resumes without skipping anyone. What to retry and when to pause is delivery.policy's;
a database that stops answering ends the send (delivery.watchdog).
"""

from __future__ import annotations

import contextlib
import functools
import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from newsletter.bounces.health import PAUSE_MIN_ATTEMPTS, PAUSE_RATE
from newsletter.db.engine import describe, reading
from newsletter.db.rows import suppression_of
from newsletter.delivery import claims, signals
from newsletter.delivery.ledger import Ledger, LedgerError
from newsletter.delivery.outcome import RunOutcome, record_end
from newsletter.delivery.pacing import DeliveryOptions, RateLimiter
from newsletter.delivery.policy import Policy, attempts
from newsletter.delivery.records import TO_SEND, RecipientRow, RecipientState, Run, RunState, resume_command
from newsletter.delivery.reporting import Reporter, Tally
from newsletter.delivery.source import Claims, Pages, Source
from newsletter.delivery.watchdog import DatabaseWatch, abandon
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
    database_timeout: float = 30.0  # seconds a database call may take before the send is abandoned
    on_stuck: Callable[[str], None] = abandon  # given the one line; ends the process (watchdog.abandon)

    def __post_init__(self) -> None:
        self._halt_state: RunState | None = None
        self._halt_note = ""
        self._halt_lock = threading.Lock()
        self._run_at_start: Run | None = None
        self._interrupted = False
        self._watch = DatabaseWatch(self.database_timeout)
        self._writer = Writer(self.ledger.engine, watched=self._watch.call, senders=self.options.concurrency)
        self._source: Source = (
            Pages(self.ledger, self.issue_id, self.options.page_size, self._watch.call)
            if self.sender is None
            else Claims(self.ledger, self.issue_id, self.sender, self._watch.call)
        )

    def halt(self, state: RunState, note: str) -> None:
        """Stop the run after the messages in flight; the first reason given is the one recorded."""
        with self._halt_lock:
            if self._halt_state is None:
                self._halt_state, self._halt_note = state, note
        self.stop.set()

    def run(self) -> RunOutcome:
        self._watch.start(self._stuck)
        try:
            return self._run()
        finally:
            self._watch.stop()

    def _run(self) -> RunOutcome:
        with self._watch.call():
            self._run_at_start = self.ledger.run(self.issue_id)
            counts = self.ledger.counts(self.issue_id)
            self.ledger.salt  # noqa: B018 - read once here, where it is watched, not in a sending thread
        tally = Tally(total=sum(counts[s] for s in TO_SEND))
        policy = Policy(
            self.options, tally, self.halt, self.stop, self.pause_rate, self.pause_min_attempts, self.rng
        )
        limiter = RateLimiter(self.options.rate, ramp=self.options.ramp)
        threads = [
            threading.Thread(target=self._work, args=(limiter, policy), name=f"send-{n}", daemon=True)
            for n in range(self.options.concurrency)
        ]
        self._writer.start()
        next_check = self.options.check_every
        with signals.handled(self._on_signal):
            for thread in threads:
                thread.start()
            # The main thread only watches: joining with a timeout keeps it free to take a signal.
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(timeout=self.progress_interval / len(threads))
                self._notice_hold()
                if next_check and attempts(tally) >= next_check:
                    next_check = attempts(tally) + self.options.check_every
                    self._check_later_bounces(policy)
                if self.reporter and tally.total and any(t.is_alive() for t in threads):
                    self.reporter.progress(tally, False)
        failure = self._writer.close()
        if failure is not None:
            self.halt(RunState.PAUSED, f"paused: the ledger could not be written: {_describe(failure)}")
        if self.reporter and tally.total:
            self.reporter.progress(tally, True)
        with self._watch.call():
            return self._finish(tally)

    def _stuck(self) -> None:
        """The watchdog's verdict: a database call outstanding past the limit. Ends the send."""
        self.on_stuck(
            f"{describe(self.ledger.engine.url)}: the database did not answer within"
            f" {self.database_timeout:g} s (delivery.database_timeout), so the send stopped; the messages"
            " in flight become `unknown` at the next start. Check the database server, then run"
            f" `{resume_command(self.issue_id)}` again to resume"
        )

    def _on_signal(self, sig: signal.Signals) -> None:
        if sig in signals.OPERATOR_SIGNALS:
            if self._interrupted:
                # A second Ctrl-C means now: the ledger still holds `sending` for those in flight.
                raise KeyboardInterrupt
            self._interrupted = True  # only a Ctrl-C counts towards the second
        self.halt(*signals.stop_reason(sig, self.issue_id))

    def _notice_hold(self) -> None:
        """`send --hold` from another process marks the run interrupted: stop here too."""
        with contextlib.suppress(LedgerError), self._watch.call():
            run = self.ledger.run(self.issue_id)
            # Only a change made during this run counts: the engine itself writes the run's state at the end.
            if run is not None and run.state == RunState.INTERRUPTED and run != self._run_at_start:
                self.halt(RunState.INTERRUPTED, run.note or "held by the operator")

    def _check_later_bounces(self, policy: Policy) -> None:
        """Between batches: the bounces reported since the run began count as those refused at once."""
        if self.later_bounces is None:
            return
        try:
            tried, hard = self.later_bounces()
        except NewsletterError as exc:  # a fetch already running, the mailbox down: the send goes on
            if self.reporter:
                self.reporter.note(f"note: could not check the bounces reported so far: {exc.message}")
            return
        policy.check_reported(tried, hard)

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

    def _work(self, limiter: RateLimiter, policy: Policy) -> None:
        provider: Provider | None = None
        try:
            while not self.stop.is_set():
                if self.sender is not None and not limiter.wait(self.stop):
                    return  # PostgreSQL: claim only when this thread may send (the claim marks `sending`)
                row = self._source.next()
                if row is None:
                    return
                provider = self._deliver_one(row, provider, limiter, policy)
        except Exception as exc:  # noqa: BLE001 - any fault in a thread stops the whole run, recorded
            self.halt(
                RunState.PAUSED,
                f"stopped: a sending thread failed: {_describe(exc)}. Fix it, then run"
                f" `{resume_command(self.issue_id)}` again to resume",
            )
        finally:
            if provider is not None:
                _close_quietly(provider)

    def _fail(self, row: RecipientRow, state: RecipientState, detail: str) -> None:
        self._outcome(failed_mark(row.rowid, state, detail, self.sender))

    def _outcome(self, mark: Mark) -> None:
        """SQLite: the outcome rides with the writer's next batch. PostgreSQL: committed now, as the next
        claim commits `sending` on its own; either way a thread has one row in doubt at most."""
        if self.sender is None:
            self._writer.later(mark)
        else:
            self._writer.now(mark)

    def _build(self, row: RecipientRow, policy: Policy) -> OutgoingMessage | None:
        try:
            return self.build(row)  # the factory renders each variant once, whichever thread asks first
        except Exception as exc:  # noqa: BLE001 - one bad message must not end the run; counted as an error
            self._fail(row, R.FAILED_TRANSIENT, f"could not build: {exc}")
            policy.error(f"could not build the message: {exc}", "failed_transient")
            return None

    def _deliver_one(
        self, row: RecipientRow, provider: Provider | None, limiter: RateLimiter, policy: Policy
    ) -> Provider | None:
        """Send to one recipient, retrying transient failures; returns the (possibly new) connection."""
        message = self._build(row, policy)
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
                    detail = f"cannot connect: {exc}"
                    self._fail(row, R.FAILED_TRANSIENT, detail)
                    if policy.retry(attempt, detail):
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
                policy.skipped()
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
            if self._record(row, message, result, policy) or not policy.retry(attempt, result.detail):
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
            with self._watch.call(), reading(self.ledger.engine) as connection:
                gone = suppression_of(connection, row.email) is not None
        except Exception as error:
            raise _NotMarked(error) from None
        if gone:
            raise _Suppressed

    def _record(
        self, row: RecipientRow, message: OutgoingMessage, result: SendResult, policy: Policy
    ) -> bool:
        """Record a send's result; True when it is final (no retry), False for a transient failure."""
        if result.ok:
            # Committed with the writer's next batch: until then the row stays `sending` (-> unknown).
            self._outcome(sent_mark(row.rowid, message.message_id, result.provider_id))
            policy.sent()
            return True
        if result.status == "unknown":
            # The message was handed over and the answer lost: it may have been accepted. Never retried
            # automatically; `send --resend-unknown` is the operator's decision.
            self._fail(row, R.UNKNOWN, result.detail)
            policy.error(result.detail, "unknown")
            return True
        if result.status == "permanent":
            self._fail(row, R.FAILED_PERMANENT, result.detail)
            hard = is_hard_bounce(result)
            if hard:
                with self._watch.call():
                    self.on_bounce(row.email, result.detail)
            policy.refused(result.detail, hard)
            return True
        self._fail(row, R.FAILED_TRANSIENT, result.detail)
        return False

    def _fatal(self, row: RecipientRow, message: str) -> None:
        """A problem no retry fixes (a refused login, a failed TLS check): pause the whole run."""
        self._fail(row, R.FAILED_TRANSIENT, message)
        self.halt(RunState.PAUSED, f"paused: {message}. Fix it, then run `newsletter send` again to resume")
