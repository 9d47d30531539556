"""The delivery engine: stream an issue's recipients from the ledger to the provider, rate-limited.

Workers (one provider connection each) take recipients a page at a time from the ledger, build
each message just before sending it, and record every step in the ledger, so memory stays flat
whatever the list size and a crash at any moment leaves a run that resumes without skipping anyone.
Transient failures are retried with exponential backoff and jitter; too many consecutive errors, a
hard-bounce rate over the limit (`bounces.health.bounce_pause`), or a fault in a worker, pause the
run; a signal stops it after the messages in flight.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from newsletter.bounces.health import PAUSE_MIN_ATTEMPTS, PAUSE_RATE, bounce_pause
from newsletter.delivery import signals
from newsletter.delivery.ledger import Ledger, LedgerError
from newsletter.delivery.outcome import OPERATOR_STOP, RunOutcome, record_end
from newsletter.delivery.pacing import DeliveryOptions, RateLimiter, backoff_delay
from newsletter.delivery.queue import RecipientQueue
from newsletter.delivery.records import TO_SEND, RecipientRow, RecipientState, Run, RunState
from newsletter.delivery.reporting import Reporter, Tally
from newsletter.errors import NewsletterError
from newsletter.providers.base import OutgoingMessage, Provider, SendResult
from newsletter.providers.replies import is_hard_bounce

R = RecipientState
CLAIM_PER_CONNECTION = 8  # recipients claimed at a time per provider connection


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

    def __init__(self, error: Exception):
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
    on_halt: Callable[[RunState, str], None] | None = None  # told the first reason to stop, at once
    records_end: bool = True  # False in a worker process: its parent records how the run ended
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._halt_state: RunState | None = None
        self._halt_note = ""
        self._halt_lock = threading.Lock()
        self._run_at_start: Run | None = None
        self._interrupted = False

    def halt(self, state: RunState, note: str) -> None:
        """Stop the run after the messages in flight; the first reason given is the one recorded."""
        with self._halt_lock:
            first = self._halt_state is None
            if first:
                self._halt_state, self._halt_note = state, note
        self.stop.set()
        if first and self.on_halt is not None:
            self.on_halt(state, note)

    def run(self) -> RunOutcome:
        self._run_at_start = self.ledger.run(self.issue_id)
        counts = self.ledger.counts(self.issue_id)
        tally = Tally(total=sum(counts[s] for s in TO_SEND))
        # Claims stay small, so senders sharing a run split it evenly and a killed one strands few rows.
        claim = max(1, min(self.options.page_size, self.options.concurrency * CLAIM_PER_CONNECTION))
        queue = RecipientQueue(self.ledger, self.issue_id, claim)
        limiter = RateLimiter(self.options.rate)
        workers = [
            threading.Thread(target=self._work, args=(queue, limiter, tally), name=f"send-{n}", daemon=True)
            for n in range(self.options.concurrency)
        ]
        with signals.handled(self._on_signal):
            for worker in workers:
                worker.start()
            # The main thread only watches: joining with a timeout keeps it free to take a signal.
            while any(w.is_alive() for w in workers):
                for worker in workers:
                    worker.join(timeout=self.progress_interval / len(workers))
                self._notice_hold()
                # Once the workers are done the final line says it all; nothing to show for 0/0.
                if self.reporter and tally.total and any(w.is_alive() for w in workers):
                    self.reporter.progress(tally, False)
        if self.reporter and tally.total:
            self.reporter.progress(tally, True)
        return self._finish(tally)

    def _on_signal(self, sig: signal.Signals) -> None:
        if sig in signals.OPERATOR_SIGNALS:
            if self._interrupted:
                # A second Ctrl-C means now: the ledger still holds `sending` for those in flight.
                raise KeyboardInterrupt
            # Only a Ctrl-C counts towards the second: a stop asked for otherwise (a hold, a fault, the
            # parent of a worker process relaying the same Ctrl-C) still finishes the messages in flight.
            self._interrupted = True
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
        if self.records_end:
            return record_end(self.ledger, self.issue_id, halt, self.stop.is_set(), tally.sent, tally.started)
        # One of several worker processes: its parent records the run's end from what each one says.
        with contextlib.suppress(LedgerError):
            self.ledger.release(self.issue_id)
        state, note = halt or (RunState.RUNNING, "")
        if halt is None and self.stop.is_set():
            state, note = RunState.INTERRUPTED, OPERATOR_STOP
        return RunOutcome(self.issue_id, state, note, tally.sent, {}, time.monotonic() - tally.started)

    # -- workers ------------------------------------------------------------------------------

    def _work(self, queue: RecipientQueue, limiter: RateLimiter, tally: Tally) -> None:
        provider: Provider | None = None
        try:
            while not self.stop.is_set():
                row = queue.next()
                if row is None:
                    return
                provider = self._deliver_one(row, provider, limiter, tally)
        except Exception as exc:  # noqa: BLE001 - any fault in a worker stops the whole run, recorded
            self.halt(
                RunState.PAUSED,
                f"stopped: a sending thread failed: {_describe(exc)}. Fix it, then run"
                f" `newsletter send {self.issue_id}` again to resume",
            )
        finally:
            # The last `sent` is held back to ride with the next `sending` (one commit per message).
            # If this commit fails that row stays `sending` and becomes `unknown`: in doubt, never lost.
            with contextlib.suppress(LedgerError):
                self.ledger.settle()
            if provider is not None:
                _close_quietly(provider)

    def _build(self, row: RecipientRow, tally: Tally) -> OutgoingMessage | None:
        try:
            return self.build(row)  # the factory renders each variant once, whichever thread asks first
        except Exception as exc:  # noqa: BLE001 - one bad message must not end the run; counted as an error
            self.ledger.mark_failed(self.issue_id, row.email, R.FAILED_TRANSIENT, f"could not build: {exc}")
            self._count_error(tally, f"could not build the message: {exc}", "failed_transient")
            return None

    def _deliver_one(
        self, row: RecipientRow, provider: Provider | None, limiter: RateLimiter, tally: Tally
    ) -> Provider | None:
        """Send to one recipient, retrying transient failures; returns the (possibly new) connection."""
        message = self._build(row, tally)
        if message is None:
            return provider
        for attempt in range(1, self.options.max_attempts + 1):
            if not limiter.wait(self.stop):
                return provider  # stopped: the row stays pending or failed_transient, to resume
            if provider is None:
                try:
                    provider = self.open_provider()
                except NewsletterError as exc:
                    self._fatal(row, exc.message)
                    return None
                except Exception as exc:  # noqa: BLE001 - a server down is a transient failure like any other
                    result = SendResult("transient", f"cannot connect: {exc}")
                    self.ledger.mark_failed(self.issue_id, row.email, R.FAILED_TRANSIENT, result.detail)
                    if self._retry_or_give_up(attempt, result, tally):
                        continue
                    return None
            try:
                result = provider.send(message, ready=lambda: self._mark_sending(row))
            except _Suppressed:
                self.ledger.mark_failed(
                    self.issue_id, row.email, R.SKIPPED, "unsubscribed or suppressed during the run"
                )
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

    def _mark_sending(self, row: RecipientRow) -> None:
        """The provider's `ready`: `sending` committed before the hand-over, or the message stays here."""
        try:
            marked = self.ledger.mark_sending(self.issue_id, row.email)
        except Exception as error:
            raise _NotMarked(error) from None  # told apart from the provider's own faults
        if not marked:
            raise _Suppressed

    def _record(self, row: RecipientRow, message: OutgoingMessage, result: SendResult, tally: Tally) -> bool:
        """Record a send's result; True when it is final (no retry), False for a transient failure."""
        if result.ok:
            # Committed with this worker's next `sending` (or when it stops): at most one row in doubt.
            self.ledger.mark_sent(
                self.issue_id, row.email, message.message_id, result.provider_id, later=True
            )
            with tally.lock:
                tally.sent += 1
                tally.consecutive_errors = 0
            self._check_bounce_rate(tally)
            return True
        if result.status == "unknown":
            # The message was handed over and the answer lost: it may have been accepted. Never retried
            # automatically; `send --resend-unknown` is the operator's decision.
            self.ledger.mark_failed(self.issue_id, row.email, R.UNKNOWN, result.detail)
            self._count_error(tally, result.detail, "unknown")
            return True
        if result.status == "permanent":
            self.ledger.mark_failed(self.issue_id, row.email, R.FAILED_PERMANENT, result.detail)
            if is_hard_bounce(result):
                self.on_bounce(row.email, result.detail)
                with tally.lock:
                    tally.hard_bounces += 1
            self._count_error(tally, result.detail, "failed_permanent")
            self._check_bounce_rate(tally)
            return True
        self.ledger.mark_failed(self.issue_id, row.email, R.FAILED_TRANSIENT, result.detail)
        return False

    def _check_bounce_rate(self, tally: Tally) -> None:
        """Pause the run when, past the minimum of attempts, too many addresses bounced hard:
        an old or bought list, which costs the sender's reputation with every further message."""
        with tally.lock:
            attempts, hard = tally.sent + tally.failed_permanent + tally.unknown, tally.hard_bounces
        reason = bounce_pause(attempts, hard, self.pause_rate, self.pause_min_attempts)
        if reason:
            self.halt(RunState.PAUSED, reason)

    def _fatal(self, row: RecipientRow, message: str) -> None:
        """A problem no retry fixes (a refused login, a failed TLS check): pause the whole run."""
        self.ledger.mark_failed(self.issue_id, row.email, R.FAILED_TRANSIENT, message)
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
