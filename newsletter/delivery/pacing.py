"""How fast a run sends: its options, evenly spaced send slots, and the backoff before a retry."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryOptions:
    rate: float  # messages per second, across all connections
    concurrency: int  # connections, each in its own thread
    max_attempts: int = 5  # per recipient and run, counting the first
    backoff_base: float = 2.0  # seconds before the first retry; doubles each time
    backoff_max: float = 120.0
    pause_after: int = 10  # consecutive errors (any connection) before the run pauses itself
    page_size: int = 200  # recipients read from the ledger at once
    ramp: int = 0  # `--ramp N`: the first N messages at a tenth of the rate, then the bounce check
    check_every: int = 0  # attempts between two looks at the bounce mailbox (0: never during the send)


RAMP_SLOWER = 10  # a warm-up sends at a tenth of the rate


class RateLimiter:
    """Hands out evenly spaced send slots, `rate` per second, to any number of threads; the first
    `ramp` slots (a warm-up) come at a tenth of that."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic, ramp: int = 0):
        self.interval = 1.0 / rate
        self.clock = clock
        self.ramp = ramp
        self._next = clock()
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        """Block until this caller's slot; False if `stop` was set meanwhile."""
        slot = self.take()
        delay = slot - self.clock()
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()

    def take(self) -> float:
        """Claim the next slot (a time on the limiter's clock) without waiting for it."""
        with self._lock:
            # A limiter idle for a while does not bank a burst: slots start from now at the earliest.
            slot = max(self._next, self.clock())
            slower = self.ramp > 0
            self.ramp -= slower
            self._next = slot + self.interval * (RAMP_SLOWER if slower else 1)
        return slot


def backoff_delay(attempt: int, options: DeliveryOptions, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1-based): exponential, capped, with full jitter.

    Full jitter spreads the retries of several connections so they do not hit a recovering server
    together.
    """
    ceiling = min(options.backoff_max, options.backoff_base * (2 ** (attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)
