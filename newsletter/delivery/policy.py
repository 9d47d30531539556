"""When a send retries, gives up on a recipient, or pauses itself: the counts and rules of one invocation.

A transient failure is retried with backoff and jitter, up to `max_attempts`; too many errors in a
row, or a hard-bounce rate over the limit (counted as servers refuse, and from the reports that
arrived since, between batches), pause the run. The policy only decides and counts; the engine stops
its threads when it is told to halt.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from newsletter.bounces.health import PAUSE_MIN_ATTEMPTS, PAUSE_RATE, bounce_pause
from newsletter.delivery.pacing import DeliveryOptions, backoff_delay
from newsletter.delivery.records import RunState
from newsletter.delivery.reporting import Tally

Halt = Callable[[RunState, str], None]


def attempts(tally: Tally) -> int:
    """Messages this invocation tried to the end: sent, refused for good, or in doubt."""
    return tally.sent + tally.failed_permanent + tally.unknown


@dataclass
class Policy:
    """The rules of one invocation, over its live counts; `halt` stops the run with a reason."""

    options: DeliveryOptions
    tally: Tally
    halt: Halt
    stop: threading.Event
    pause_rate: float = PAUSE_RATE  # hard bounces per attempt that pause the run ...
    pause_min_attempts: int = PAUSE_MIN_ATTEMPTS  # ... once this invocation made at least this many
    rng: random.Random = field(default_factory=random.Random)

    def sent(self) -> None:
        with self.tally.lock:
            self.tally.sent += 1
            self.tally.consecutive_errors = 0
        self.check_bounce_rate()

    def skipped(self) -> None:
        with self.tally.lock:
            self.tally.skipped += 1

    def refused(self, detail: str, hard_bounce: bool) -> None:
        """A permanent refusal; a hard bounce counts towards the bounce rate."""
        if hard_bounce:
            with self.tally.lock:
                self.tally.hard_bounces += 1
        self.error(detail, "failed_permanent")
        self.check_bounce_rate()

    def error(self, detail: str, kind: str) -> None:
        """Count one recipient's failure (`kind` is the Tally's field) and one error in a row."""
        with self.tally.lock:
            setattr(self.tally, kind, getattr(self.tally, kind) + 1)
        self._in_a_row(detail)

    def retry(self, attempt: int, detail: str) -> bool:
        """After a transient failure: wait and say True to retry, or count the failure and say False."""
        if attempt >= self.options.max_attempts:
            self.error(detail, "failed_transient")
            return False
        with self.tally.lock:
            self.tally.retries += 1
        if self._in_a_row(detail):
            return False
        return not self.stop.wait(backoff_delay(attempt, self.options, self.rng))

    def _in_a_row(self, detail: str) -> bool:
        """Count one error in a row; pause the run (True) when there have been too many."""
        with self.tally.lock:
            self.tally.consecutive_errors += 1
            errors = self.tally.consecutive_errors
        if errors >= self.options.pause_after:
            self.halt(
                RunState.PAUSED,
                f"paused after {errors} errors in a row; last: {detail}. "
                "Fix the cause, then run `newsletter send` again to resume",
            )
            return True
        return self.stop.is_set()

    def check_bounce_rate(self) -> None:
        """Pause the run when, past the minimum of attempts, too many addresses bounced hard: an old
        or bought list, which costs the sender's reputation with every further message. A warm-up
        (`--ramp N`) checks once its first N are sent, whatever the usual minimum."""
        with self.tally.lock:
            tried, hard = attempts(self.tally), self.tally.hard_bounces
        minimum = self.pause_min_attempts
        if self.options.ramp:
            minimum = min(minimum, self.options.ramp)
        reason = bounce_pause(tried, hard, self.pause_rate, minimum)
        if reason:
            self.halt(RunState.PAUSED, reason)

    def check_reported(self, tried: int, hard: int) -> None:
        """Between batches: the whole run's attempts and hard bounces, those reported since included."""
        reason = bounce_pause(tried, hard, self.pause_rate, self.pause_min_attempts)
        if reason:
            self.halt(RunState.PAUSED, reason)
