"""The delivery engine: stream an issue's recipients from the ledger to the provider, rate-limited.

Workers (one provider connection each) take recipients a page at a time from the ledger, build
each message just before sending it, and record every step in the ledger, so memory stays flat
whatever the list size and a crash at any moment leaves a run that resumes without skipping anyone.
Transient failures are retried with exponential backoff and jitter; too many consecutive errors
pause the run; Ctrl-C (or SIGTERM) stops it after the messages in flight.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from newsletter.delivery import ledger as lg
from newsletter.errors import DeliveryError, ExitStatus, NewsletterError
from newsletter.providers.base import OutgoingMessage, Provider, SendResult


@dataclass(frozen=True)
class DeliveryOptions:
    rate: float  # messages per second, across all connections
    concurrency: int  # connections, each in its own thread
    max_attempts: int = 5  # per recipient and run, counting the first
    backoff_base: float = 2.0  # seconds before the first retry; doubles each time
    backoff_max: float = 120.0
    pause_after: int = 10  # consecutive errors (any connection) before the run pauses itself
    page_size: int = 200  # recipients read from the ledger at once


@dataclass
class Tally:
    """Live counts of this invocation, shared by the workers (guarded by `lock`)."""

    total: int
    sent: int = 0
    failed_permanent: int = 0
    failed_transient: int = 0
    skipped: int = 0
    unknown: int = 0  # handed over, then no answer: maybe delivered, never retried
    retries: int = 0
    consecutive_errors: int = 0
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def done(self) -> int:
        return self.sent + self.failed_permanent + self.failed_transient + self.skipped + self.unknown


@dataclass(frozen=True)
class RunOutcome:
    """How an invocation of the engine ended, with the ledger's counts for the whole run."""

    issue_id: str
    state: str  # a ledger run state
    note: str
    sent_now: int
    counts: dict[str, int]
    elapsed: float

    @property
    def exit_code(self) -> ExitStatus:
        if self.state == lg.PAUSED:
            return ExitStatus.PAUSED
        if self.state == lg.INTERRUPTED:
            return ExitStatus.INTERRUPTED
        if self.state == lg.FINISHED and not self.counts[lg.FAILED_PERMANENT]:
            return ExitStatus.OK
        return ExitStatus.FAILURES


class RateLimiter:
    """Hands out evenly spaced send slots, `rate` per second, to any number of threads."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic):
        self.interval = 1.0 / rate
        self.clock = clock
        self._next = clock()
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        """Block until this caller's slot; False if `stop` was set meanwhile."""
        with self._lock:
            now = self.clock()
            # A limiter idle for a while does not bank a burst: slots start from now at the earliest.
            slot = max(self._next, now)
            self._next = slot + self.interval
        delay = slot - self.clock()
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()


def backoff_delay(attempt: int, options: DeliveryOptions, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1-based): exponential, capped, with full jitter.

    Full jitter spreads the retries of several connections so they do not hit a recovering server
    together.
    """
    ceiling = min(options.backoff_max, options.backoff_base * (2 ** (attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY_CODE = re.compile(r"^\s*(\d{3})\b")


def is_hard_bounce(result: SendResult) -> bool:
    """A permanent failure about the recipient's address, not about the message or the sender.

    With an enhanced status code (RFC 3463) only 5.1.x (bad address) and 5.2.1 (mailbox disabled)
    count: a 550 5.7.1 spam rejection must not unsubscribe a reader. Without one, 550, 551 and 553.
    """
    if result.status != "permanent":
        return False
    enhanced = _ENHANCED.search(result.detail)
    if enhanced:
        return enhanced.group(1) == "5" and (enhanced.group(2) == "1" or enhanced.group(2, 3) == ("2", "1"))
    code = _REPLY_CODE.match(result.detail)
    return bool(code) and code.group(1) in ("550", "551", "553")


class _RecipientQueue:
    """Recipients to send, paged from the ledger on demand so at most one page is in memory."""

    def __init__(self, ledger: lg.Ledger, issue_id: str, page_size: int):
        self.ledger = ledger
        self.issue_id = issue_id
        self.page_size = page_size
        self._page: list[lg.RecipientRow] = []
        self._after = 0
        self._exhausted = False
        self._lock = threading.Lock()

    def next(self) -> lg.RecipientRow | None:
        with self._lock:
            if not self._page and not self._exhausted:
                page = self.ledger.to_send(self.issue_id, self._after, self.page_size)
                if not page:
                    self._exhausted = True
                else:
                    self._after = page[-1].rowid
                    self._page = page[::-1]  # pop() from the end keeps ledger order
            return self._page.pop() if self._page else None


@dataclass
class Engine:
    """One invocation of delivery for one issue. The caller holds the issue's lock."""

    ledger: lg.Ledger
    issue_id: str
    build: Callable[[lg.RecipientRow], OutgoingMessage]
    open_provider: Callable[[], Provider]
    options: DeliveryOptions
    is_suppressed: Callable[[str], bool] = lambda email: False
    on_bounce: Callable[[str, str], None] = lambda email, reason: None
    progress: Callable[[Tally, bool], None] | None = None
    progress_interval: float = 1.0
    stop: threading.Event = field(default_factory=threading.Event)
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._pause_note = ""
        self._note_lock = threading.Lock()
        self._stopped_by_signal = False

    def run(self) -> RunOutcome:
        counts = self.ledger.counts(self.issue_id)
        tally = Tally(total=counts[lg.PENDING] + counts[lg.FAILED_TRANSIENT])
        queue = _RecipientQueue(self.ledger, self.issue_id, self.options.page_size)
        limiter = RateLimiter(self.options.rate)
        workers = [
            threading.Thread(target=self._work, args=(queue, limiter, tally), name=f"send-{n}", daemon=True)
            for n in range(self.options.concurrency)
        ]
        with self._signals():
            for worker in workers:
                worker.start()
            # The main thread only watches: joining with a timeout keeps it free to take Ctrl-C.
            while any(w.is_alive() for w in workers):
                for worker in workers:
                    worker.join(timeout=self.progress_interval / len(workers))
                # Once the workers are done the final line below says it all; nothing to show for 0/0.
                if self.progress and tally.total and any(w.is_alive() for w in workers):
                    self.progress(tally, False)
        if self.progress and tally.total:
            self.progress(tally, True)
        return self._finish(tally)

    def _finish(self, tally: Tally) -> RunOutcome:
        counts = self.ledger.counts(self.issue_id)
        if self._pause_note:
            state, note = lg.PAUSED, self._pause_note
        elif self._stopped_by_signal or self.stop.is_set():
            state, note = lg.INTERRUPTED, "stopped by the operator after the messages in flight"
        elif any(counts[s] for s in (lg.PENDING, lg.SENDING, lg.FAILED_TRANSIENT, lg.UNKNOWN)):
            state, note = lg.INCOMPLETE, "some recipients failed or are unknown; see `newsletter status`"
        else:
            state, note = lg.FINISHED, ""
        self.ledger.set_run_state(self.issue_id, state, note)
        return RunOutcome(self.issue_id, state, note, tally.sent, counts, time.monotonic() - tally.started)

    def _signals(self):
        engine = self

        class _Handlers:
            def __enter__(self):
                self.saved = {}
                if threading.current_thread() is not threading.main_thread():
                    return self
                for sig in (signal.SIGINT, signal.SIGTERM):
                    self.saved[sig] = signal.signal(sig, self.handle)
                return self

            def handle(self, signum, frame):
                if engine.stop.is_set():
                    # A second Ctrl-C means now: the ledger still holds `sending` for those in flight.
                    raise KeyboardInterrupt
                engine._stopped_by_signal = True
                engine.stop.set()

            def __exit__(self, *exc):
                for sig, handler in self.saved.items():
                    signal.signal(sig, handler)

        return _Handlers()

    # -- workers ------------------------------------------------------------------------------

    def _work(self, queue: _RecipientQueue, limiter: RateLimiter, tally: Tally) -> None:
        provider: Provider | None = None
        try:
            while not self.stop.is_set():
                row = queue.next()
                if row is None:
                    return
                provider = self._deliver_one(row, provider, limiter, tally)
        finally:
            if provider is not None:
                _close_quietly(provider)

    def _deliver_one(
        self, row: lg.RecipientRow, provider: Provider | None, limiter: RateLimiter, tally: Tally
    ) -> Provider | None:
        """Send to one recipient, retrying transient failures; returns the (possibly new) connection."""
        if self.is_suppressed(row.email):
            self.ledger.mark_failed(
                self.issue_id, row.email, lg.SKIPPED, "unsubscribed or suppressed during the run"
            )
            with tally.lock:
                tally.skipped += 1
            return provider
        try:
            message = self.build(row)
        except Exception as exc:  # noqa: BLE001 - one bad message must not end the run; counted as an error
            self.ledger.mark_failed(self.issue_id, row.email, lg.FAILED_TRANSIENT, f"could not build: {exc}")
            self._count_error(tally, f"could not build the message: {exc}", "failed_transient")
            return provider
        for attempt in range(1, self.options.max_attempts + 1):
            if not limiter.wait(self.stop):
                return provider  # stopped: the row stays pending or failed_transient, to resume
            if provider is None:
                try:
                    provider = self.open_provider()
                except NewsletterError as exc:
                    return self._fatal(row, exc.message)
                except Exception as exc:  # noqa: BLE001 - a server down is a transient failure like any other
                    result = SendResult("transient", f"cannot connect: {exc}")
                    self.ledger.mark_failed(self.issue_id, row.email, lg.FAILED_TRANSIENT, result.detail)
                    if self._retry_or_give_up(attempt, result, tally):
                        continue
                    return None
            self.ledger.mark_sending(self.issue_id, row.email)
            try:
                result = provider.send(message)
            except NewsletterError as exc:
                _close_quietly(provider)
                return self._fatal(row, exc.message)
            except Exception as exc:  # noqa: BLE001 - a provider should return results, but a dropped line may raise
                result = SendResult("transient", f"{type(exc).__name__}: {exc}")
            if not result.ok:
                # A failed connection may be in any state: open a fresh one for the next message.
                _close_quietly(provider)
                provider = None
            if result.ok:
                self.ledger.mark_sent(self.issue_id, row.email, message.message_id, result.provider_id)
                with tally.lock:
                    tally.sent += 1
                    tally.consecutive_errors = 0
                return provider
            if result.status == "unknown":
                # Lost after the hand-over: the server may have it. Never retried here; the operator
                # sees it in `status` and may resend with --resend-unknown.
                self.ledger.mark_failed(self.issue_id, row.email, lg.UNKNOWN, result.detail)
                self._count_error(tally, result.detail, "unknown")
                return provider
            if result.status == "permanent":
                self.ledger.mark_failed(self.issue_id, row.email, lg.FAILED_PERMANENT, result.detail)
                if is_hard_bounce(result):
                    self.on_bounce(row.email, result.detail)
                self._count_error(tally, result.detail, "failed_permanent")
                return provider
            self.ledger.mark_failed(self.issue_id, row.email, lg.FAILED_TRANSIENT, result.detail)
            if not self._retry_or_give_up(attempt, result, tally):
                return provider
        return provider

    def _fatal(self, row: lg.RecipientRow, message: str) -> None:
        """A problem no retry fixes (a refused login, a failed TLS check): pause the whole run."""
        self.ledger.mark_failed(self.issue_id, row.email, lg.FAILED_TRANSIENT, message)
        with self._note_lock:
            if not self._pause_note:
                self._pause_note = f"paused: {message}. Fix it, then run `newsletter send` again to resume"
        self.stop.set()
        return None

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
            if tally.consecutive_errors >= self.options.pause_after and not self._pause_note:
                self._pause_note = (
                    f"paused after {tally.consecutive_errors} errors in a row; last: {detail}. "
                    "Fix the cause, then run `newsletter send` again to resume"
                )
                self.stop.set()
            return bool(self._pause_note)


def _close_quietly(provider: Provider) -> None:
    # Closing a broken connection may fail too; there is nothing more to do about it.
    with contextlib.suppress(Exception):
        provider.close()


# -- progress output ----------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def progress_line(tally: Tally) -> str:
    elapsed = max(time.monotonic() - tally.started, 1e-6)
    rate = tally.done / elapsed
    left = (tally.total - tally.done) / rate if rate > 0 else 0
    failed = tally.failed_permanent + tally.failed_transient
    return (
        f"{tally.done}/{tally.total}  sent {tally.sent}  failed {failed}  skipped {tally.skipped}"
        f"  {rate:.1f}/s  {_duration(left)} left"
    )


class ProgressPrinter:
    """A bar redrawn in place on a terminal; otherwise (logs, cron) a plain line every `every` seconds
    and one at the end, never the same count twice."""

    def __init__(self, stream: IO[str] | None = None, tty: bool | None = None, every: float = 10.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every
        self._last: float | None = None
        self._last_done: int | None = None

    def __call__(self, tally: Tally, final: bool) -> None:
        if self.tty:
            width = 24
            filled = int(width * tally.done / tally.total) if tally.total else width
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {progress_line(tally)}\x1b[K" + ("\n" if final else ""))
            self.stream.flush()
            return
        now = time.monotonic()
        if final and tally.done == self._last_done:
            return  # the last periodic line already showed the end
        # The first periodic line comes `every` seconds in: a short run logs only its final line.
        since = self._last if self._last is not None else tally.started
        if final or now - since >= self.every:
            self._last, self._last_done = now, tally.done
            self.stream.write(progress_line(tally) + "\n")
            self.stream.flush()


# -- `newsletter send`: the plan, the confirmation, the run ---------------------------------------


@dataclass(frozen=True)
class SendRequest:
    """What the operator asked of `newsletter send`; None means "from newsletter.yaml"."""

    issue_id: str
    lists: tuple[str, ...] | None = None
    provider: str | None = None
    rate: float | None = None
    concurrency: int | None = None
    resend_unknown: bool = False
    skip_invalid: bool = False
    dry_run: bool = False
    yes: bool = False
    interactive: bool = False  # a person at a terminal can confirm


@dataclass(frozen=True)
class SendPlan:
    """Who will get the issue now, who will not and why, and how long it should take."""

    issue_id: str
    subject: str
    audience: int  # subscribed, not suppressed, deduplicated, in the chosen lists
    suppressed: int
    unsubscribed: int
    bounced: int
    invalid: int
    duplicates: int
    already_sent: int
    not_included: int  # subscribed after the issue's run started: the recipients were fixed then
    unknown: int  # may have got it: the last run stopped while their message was with the provider
    to_send: int
    provider: str
    rate: float
    concurrency: int

    def lines(self) -> list[str]:
        minutes = self.to_send / self.rate / 60
        estimate = (
            f"about {minutes:.0f} minutes" if minutes >= 1 else f"about {self.to_send / self.rate:.0f} s"
        )
        lines = [
            f"Issue {self.issue_id}: {self.subject}",
            f"  recipients: {self.audience} subscribed"
            f" (left out: {self.suppressed} suppressed, {self.unsubscribed} unsubscribed,"
            f" {self.bounced} bounced, {self.invalid} invalid, {self.duplicates} duplicate rows)",
            f"  already sent this issue: {self.already_sent}",
        ]
        if self.not_included:
            lines.append(f"  {self.not_included} subscribed after this run started: not included")
        if self.unknown:
            lines.append(f"  unknown (the last run stopped mid-send): {self.unknown}")
        lines += [
            f"  to send now: {self.to_send}",
            f"  provider: {self.provider}, {self.rate:g} messages/s, {self.concurrency} connection(s),"
            f" {estimate}",
        ]
        return lines


class SuppressionWatch:
    """Is an address suppressed now? Re-reads suppressed.csv only when the file changes.

    Re-reading it for every message would cost a file parse per send; an unsubscribe rewrites the
    file atomically (a new inode and mtime), which the stat below notices at once.
    """

    def __init__(self, workspace):
        from newsletter.store import subscriber_files
        from newsletter.store.addresses import address_key

        self._subscribers = subscriber_files
        self._address_key = address_key
        self.workspace = workspace
        self.path = workspace / subscriber_files.SUBSCRIBERS_DIR / subscriber_files.SUPPRESSED_FILE
        self._key: tuple | None = ()
        self._addresses: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, email: str) -> bool:
        try:
            stat = self.path.stat()
            key: tuple | None = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            key = None
        with self._lock:
            if key != self._key:
                found = self._subscribers.suppressed_addresses(self.workspace) if key else {}
                self._addresses, self._key = set(found), key
            return self._address_key(email) in self._addresses


def _spec(settings, request_provider: str | None) -> str:
    return request_provider or settings.provider


def _open_provider(spec: str, settings) -> Provider:
    from newsletter import providers

    return providers.open_provider(spec, settings)


def _signing_secret(provider: Provider, echo: Callable[[str], None]) -> bytes:
    from newsletter.mail.tokens import signing_secret

    # Only the outbox, which reaches nobody, may sign with the development key.
    secret, development = signing_secret(dev_ok=provider.name == "outbox")
    if development:
        echo("note: NEWSLETTER_SECRET is not set; the outbox uses the development key for unsubscribe links")
    return secret


def _load_ready_issue(settings, issue_id: str):
    """The issue and its summaries, refusing a draft whose intro is still the TODO."""
    from newsletter.compose.ready import require_finished_intro
    from newsletter.store import issues

    issue, summaries = issues.load_issue_content(settings.workspace, issue_id)
    require_finished_intro(issue, "before sending")
    return issue, summaries


def _subscriber(row: lg.RecipientRow):
    from newsletter.store.subscriber_files import Subscriber

    return Subscriber(row.email, row.name, row.topics, "subscribed", row.subscribed_at, row.list_name)


def send_issue(
    settings,
    request: SendRequest,
    echo: Callable[[str], None],
    confirm: Callable[[str], bool],
    progress: Callable[[Tally, bool], None] | None = None,
) -> RunOutcome | None:
    """`newsletter send`: plan, confirm, then send or resume the issue's run. None if nothing was sent.

    The recipients are fixed when the run starts: the audience streams into the ledger as pending
    (memory stays flat whatever the list size); a later `send` of the same issue resumes that run,
    adds nobody who subscribed since, and never resends `sent`.
    """
    from newsletter.mail.factory import MessageFactory
    from newsletter.store import subscribers
    from newsletter.store.audience import iter_audience

    workspace = settings.workspace
    issue, summaries = _load_ready_issue(settings, request.issue_id)
    spec = _spec(settings, request.provider)
    probe = _open_provider(spec, settings)  # a bad provider spec is reported before anything else
    provider_name = getattr(probe, "name", spec)
    secret = _signing_secret(probe, echo)
    _close_quietly(probe)
    rate = request.rate or settings.delivery.rate
    concurrency = request.concurrency or settings.delivery.concurrency
    lists = list(request.lists) if request.lists else None
    lock = lg.issue_lock(settings, issue.id)
    if not request.dry_run:
        lock.acquire()  # before the plan, so the plan's counts cannot change under it
    try:
        with lg.Ledger(lg.ledger_path(settings)) as ledger:
            plan, tally, resuming = _plan(
                ledger, settings, issue, lists, request, (provider_name, rate, concurrency)
            )
            for line in plan.lines():
                echo(line)
            for problem in tally.invalid_rows:
                echo(f"  skipped invalid row: {problem}")
            if tally.invalid > len(tally.invalid_rows):
                echo(f"  ... and {tally.invalid - len(tally.invalid_rows)} more invalid rows")
            if request.dry_run:
                echo("Dry run: nothing sent.")
                return None
            if not request.yes:
                if not request.interactive:
                    raise DeliveryError(
                        "not sending: nobody at a terminal can confirm; add --yes to send without asking"
                    )
                if not confirm(f"Send issue {issue.id} to {plan.to_send} recipients?"):
                    echo("Not sent.")
                    return None
            if resuming:
                ledger.reopen_run(issue.id, provider_name)
            else:
                added = ledger.start_run(
                    issue.id,
                    provider_name,
                    issue.summary_ids,
                    (
                        lg.NewRecipient(s.email, s.list_name, s.name, s.topics, s.subscribed_at)
                        for s in iter_audience(workspace, lists, skip_invalid=request.skip_invalid)
                    ),
                )
                if added != plan.audience:
                    echo(f"note: the lists changed since the plan; the run starts with {added} recipients")
            _report_unknown(ledger, issue.id, request.resend_unknown, echo)
            factory = MessageFactory.for_issue(settings, issue, summaries, secret)
            engine = Engine(
                ledger,
                issue.id,
                build=lambda row: factory.build(_subscriber(row)),
                open_provider=lambda: _open_provider(spec, settings),
                options=DeliveryOptions(rate, concurrency, settings.delivery.max_attempts),
                is_suppressed=SuppressionWatch(workspace),
                on_bounce=lambda email, reason: subscribers.mark_bounced(workspace, email, reason),
                progress=progress,
            )
            outcome = engine.run()
            for line in outcome_lines(outcome, ledger.failures(issue.id, limit=20)):
                echo(line)
            return outcome
    finally:
        lock.release()


def _plan(ledger: lg.Ledger, settings, issue, lists, request: SendRequest, how: tuple[str, float, int]):
    """The plan, the audience's counts, and whether a run exists to resume; one pass over the lists.

    `how` is what the plan says of the sending: (provider name, messages per second, connections).

    Nothing is held per subscriber: for a new run only counts are kept; for an existing one each
    current subscriber is looked up in the run, page by page, to count who joined since it started.
    Invalid rows raise ContentError here unless `--skip-invalid`.
    """
    from newsletter.store.audience import AudienceTally, iter_audience

    tally = AudienceTally()
    audience = iter_audience(settings.workspace, lists, tally, request.skip_invalid)
    resuming = ledger.run(issue.id) is not None
    if resuming:
        in_run = ledger.count_known(issue.id, (s.email for s in audience))
    else:
        in_run = sum(1 for _ in audience)
    counts = ledger.counts(issue.id)
    unknown = counts[lg.UNKNOWN] + counts[lg.SENDING]
    to_send = counts[lg.PENDING] + counts[lg.FAILED_TRANSIENT] if resuming else tally.recipients
    plan = SendPlan(
        issue.id,
        issue.subject,
        tally.recipients,
        tally.suppressed,
        tally.unsubscribed,
        tally.bounced,
        tally.invalid,
        tally.duplicates,
        counts[lg.SENT],
        tally.recipients - in_run if resuming else 0,
        unknown,
        to_send + (unknown if request.resend_unknown else 0),
        *how,
    )
    return plan, tally, resuming


def _report_unknown(ledger: lg.Ledger, issue_id: str, resend: bool, echo: Callable[[str], None]) -> None:
    ledger.recover_unknown(issue_id)
    unknown = ledger.unknown(issue_id)
    if not unknown:
        return
    if resend:
        ledger.requeue_unknown(issue_id)
        echo(
            f"Sending again to {len(unknown)} recipient(s) whose earlier message is unknown"
            " (--resend-unknown)."
        )
        return
    echo(
        f"{len(unknown)} recipient(s) may have got the issue already (the last run stopped while their "
        "message was with the provider); not sent again unless you add --resend-unknown:"
    )
    for email in unknown[:20]:
        echo(f"  {email}")
    if len(unknown) > 20:
        echo(f"  ... and {len(unknown) - 20} more (see `newsletter status {issue_id}`)")


def outcome_lines(outcome: RunOutcome, failures: list[lg.Failure]) -> list[str]:
    c = outcome.counts
    lines = [
        f"Issue {outcome.issue_id}: {outcome.state}. Sent {outcome.sent_now} in this run"
        f" ({outcome.elapsed:.1f} s). Totals: {c[lg.SENT]} sent, {c[lg.FAILED_PERMANENT]} failed permanently,"
        f" {c[lg.FAILED_TRANSIENT]} failed for now, {c[lg.UNKNOWN]} unknown, {c[lg.SKIPPED]} skipped,"
        f" {c[lg.PENDING]} pending."
    ]
    if outcome.note:
        lines.append(f"  {outcome.note}")
    for f in failures:
        lines.append(f"  {f.email}: {f.state} after {f.attempts} attempt(s): {f.last_error}")
    if outcome.state in (lg.PAUSED, lg.INTERRUPTED, lg.INCOMPLETE):
        lines.append(
            f"  Run `newsletter send {outcome.issue_id}` again to resume; sent recipients are not resent."
        )
    return lines


def send_test(
    settings, issue_id: str, addresses: list[str], provider: str | None, echo: Callable[[str], None]
) -> int:
    """`send --test-to`: a proof with [TEST] in the subject to any addresses, recorded nowhere.

    Returns the exit code: 0 if every proof was accepted.
    """
    from newsletter.mail.factory import MessageFactory

    issue, summaries = _load_ready_issue(settings, issue_id)
    connection = _open_provider(_spec(settings, provider), settings)  # connects on the first send
    failed = 0
    try:
        secret = _signing_secret(connection, echo)
        factory = MessageFactory.for_issue(settings, issue, summaries, secret, test=True)
        messages = [factory.build(address) for address in addresses]  # a bad address fails before any send
        for outgoing in messages:
            result = connection.send(outgoing)
            if result.ok:
                echo(f"test sent to {outgoing.envelope_to}: {result.detail}")
            else:
                failed += 1
                echo(f"test NOT sent to {outgoing.envelope_to}: {result.status}: {result.detail}")
    finally:
        _close_quietly(connection)
    return ExitStatus.OK if not failed else ExitStatus.FAILURES
