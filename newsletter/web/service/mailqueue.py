"""The service's outgoing mail: handed to the provider at once by worker threads, retried if it fails.

A request never waits for the mail server: it queues the message and answers, so a signup for a
known address takes as long as one for a new address (no list enumeration through timing), and a
slow provider never holds a request thread. A transient failure (or a provider that cannot be
reached) is tried again after a growing pause; a permanent refusal, or `unknown` (the server may
have it), is logged and not repeated.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from newsletter.errors import NewsletterError
from newsletter.providers import OutgoingMessage, Provider, SendResult

log = logging.getLogger("newsletter.service.mail")

BACKOFF = (2.0, 10.0, 60.0, 300.0, 900.0)  # seconds before the 2nd, 3rd... attempt
MAX_QUEUED = 10_000  # messages waiting at most: beyond that a signup is refused (503), not lost silently


class QueueFull(NewsletterError):
    """Too much mail waiting: the provider is down or far too slow."""


@dataclass(frozen=True)
class Job:
    message: OutgoingMessage
    kind: str  # confirm, welcome: what the log lines say (never the address)
    attempt: int = 1


class MailQueue:
    """Worker threads, each with its own provider connection (opened when first needed)."""

    def __init__(
        self,
        open_provider: Callable[[], Provider],
        workers: int = 2,
        attempts: int = 5,
        backoff: tuple[float, ...] = BACKOFF,
    ):
        self._open = open_provider
        self._attempts = attempts
        self._backoff = backoff
        self._ready: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0  # queued, in flight or waiting to be retried
        self._timers: set[threading.Timer] = set()
        self._closing = False
        self.sent = self.given_up = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"service-mail-{n}", daemon=True) for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, message: OutgoingMessage, kind: str) -> None:
        """Queue a message; QueueFull if the backlog is already at its limit."""
        with self._lock:
            if self._closing:
                raise QueueFull("the service is shutting down; try again in a moment")
            if self._waiting >= MAX_QUEUED:
                raise QueueFull(f"{MAX_QUEUED} emails are waiting for the mail server; try again later")
            self._waiting += 1
        self._ready.put(Job(message, kind))

    def pending(self) -> int:
        with self._lock:
            return self._waiting

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or in flight (tests, shutdown); False if still busy."""
        deadline = time.monotonic() + timeout
        while self.pending() and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.pending()

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (for up to `timeout` seconds), then stop; says how much was left."""
        with self._lock:
            self._closing = True
            timers = list(self._timers)
        for timer in timers:
            timer.cancel()
        with self._lock:
            self._waiting -= len(timers)
            self._timers.clear()
        self.wait_idle(timeout)
        for _ in self._threads:
            self._ready.put(None)
        for thread in self._threads:
            thread.join(timeout=1.0)
        left = self.pending()
        if left:
            log.warning("stopped with %d email(s) not sent (the readers may ask again)", left)

    def _work(self) -> None:
        provider: Provider | None = None
        while True:
            job = self._ready.get()
            if job is None:
                break
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
            self._settle(job, result)
        if provider is not None:
            provider.close()

    def _settle(self, job: Job, result: SendResult) -> None:
        if result.ok:
            log.info("%s email sent (attempt %d)", job.kind, job.attempt)
            with self._lock:
                self._waiting -= 1
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
            with self._lock:
                self._waiting -= 1
                self.given_up += 1
            return
        delay = self._backoff[min(job.attempt - 1, len(self._backoff) - 1)]
        log.warning(
            "%s email failed (%s), trying again in %gs: %s", job.kind, result.status, delay, result.detail
        )
        retry = Job(job.message, job.kind, job.attempt + 1)
        timer = threading.Timer(delay, self._requeue, args=(retry,))
        timer.daemon = True
        with self._lock:
            if self._closing:
                self._waiting -= 1
                return
            self._timers.add(timer)
        timer.start()

    def _requeue(self, job: Job) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        self._ready.put(job)
