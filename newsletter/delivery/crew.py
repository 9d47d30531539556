"""A send over several worker processes: start them, show one progress line, stop them, end the run.

Threads share one interpreter lock, so past about one core's worth of work (building and writing
each message) more SMTP connections in one process add nothing. `--concurrency N` therefore splits
its N connections over up to one process per core (delivery.workers), each with its share of the
connections and of the rate. The parent has already checked the issue, planned and started the
run; the workers only join it, claiming recipients from the ledger as several `send` processes do.
The parent sums their counts for the progress line and the bounce-rate pause, relays stops (Ctrl-C,
SIGTERM, SIGHUP, a worker's fault or death) to all of them, and records how the run ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from newsletter.bounces.health import bounce_pause
from newsletter.compose.reader import Variant
from newsletter.delivery import signals, workers
from newsletter.delivery.ledger import Ledger, LedgerError
from newsletter.delivery.outcome import RunOutcome, record_end
from newsletter.delivery.records import TO_SEND, RunState
from newsletter.delivery.reporting import Reporter, summed
from newsletter.delivery.workers import Job
from newsletter.mail.renderings import Rendered

# Processes pay off where each message costs CPU in Python while the wire waits little: SMTP. The
# outbox stays in threads: it is bound by the disk's flush, which releases the lock. So does SES:
# HTTP I/O held to a per-second quota far below one core's rate; processes would add start-up and
# memory for nothing.
PROCESS_PROVIDERS = ("smtp",)
NOW_WAIT = 5.0  # seconds a worker told to stop at once has to exit before it is killed


def processes_for(provider: str, connections: int, cpus: int | None = None) -> int:
    """How many processes share `connections`: one per core at most, and one for a single connection."""
    if provider not in PROCESS_PROVIDERS:
        return 1
    return max(1, min(connections, cpus or os.cpu_count() or 1))


def shares(total: float, parts: int) -> list[int]:
    """`total` whole things split over `parts` as evenly as can be (the first ones get the remainder)."""
    base, extra = divmod(int(total), parts)
    return [base + (1 if n < extra else 0) for n in range(parts)]


@dataclass
class _Worker:
    process: BaseProcess
    up: Connection  # the worker's reports
    down: Connection  # what the parent tells it
    counts: tuple[int, ...] = ()
    ready: bool = False  # it has opened its ledger and factory and waits for "go"
    said_end: bool = False  # it sent "done" or "failed" before exiting
    open: bool = True  # its report pipe is still open
    gone: bool = False  # the process has exited and been joined


class Crew:
    """The worker processes of one send, as the parent sees them."""

    def __init__(
        self,
        ledger: Ledger,
        issue_id: str,
        jobs: list[Job],
        reporter: Reporter | None,
        pause_rate: float,
        pause_min_attempts: int,
        progress_interval: float = 1.0,
    ):
        self.ledger, self.issue_id, self.jobs, self.reporter = ledger, issue_id, jobs, reporter
        self.pause_rate, self.pause_min_attempts = pause_rate, pause_min_attempts
        self.progress_interval = progress_interval
        self._workers: list[_Worker] = []
        self._halt: tuple[RunState, str] | None = None
        self._interrupted = False
        self._died = False
        self._total = 0
        self._started = time.monotonic()
        self._going = False
        self._last_end: float | None = None  # when the last worker said it was done (or ended)

    def run(self) -> RunOutcome:
        counts = self.ledger.counts(self.issue_id)
        self._total = sum(counts[s] for s in TO_SEND)
        try:
            with signals.handled(self._on_signal):
                self._start()
                self._watch()
        finally:
            self._end_all()
        if self._died:
            # A killed worker's messages in flight become `unknown` now, as the next send would make them.
            with contextlib.suppress(LedgerError):
                self.ledger.recover_unknown(self.issue_id)
        # The send took from "go" to the last worker's end: its process's exit is not sending time (one
        # process shows its final line as its threads end, too).
        self._started += time.monotonic() - (self._last_end or time.monotonic())
        tally = self._tally()
        if self.reporter and tally.total:
            self.reporter.progress(tally, True)
        stopped = self._halt is not None
        return record_end(self.ledger, self.issue_id, self._halt, stopped, tally.sent, self._started)

    # -- starting and watching -----------------------------------------------------------------

    def _start(self) -> None:
        context = get_context("spawn")  # never fork: this process holds threads and database connections
        for n, job in enumerate(self.jobs):
            up_read, up_write = context.Pipe(duplex=False)
            down_read, down_write = context.Pipe(duplex=False)
            process = context.Process(
                target=workers.work, args=(job, up_write, down_read), name=f"send-worker-{n}", daemon=True
            )
            try:
                with _ignoring_ctrl_c():
                    process.start()
            except OSError as exc:  # out of processes or memory: the ones started stop too
                for end in (up_read, up_write, down_read, down_write):
                    end.close()
                self._stop_all(
                    RunState.PAUSED,
                    f"paused: cannot start a sending process ({exc.strerror or exc}). Fix it, then run"
                    f" `newsletter send {self.issue_id}` again to resume",
                )
                return
            up_write.close()  # only the worker writes there: its exit closes the pipe
            down_read.close()
            self._workers.append(_Worker(process, up_read, down_write))
            if self._halt is not None:  # stopped while starting: tell this one too
                self._tell(self._workers[-1], "stop", self._halt[0].value, self._halt[1])

    def _watch(self) -> None:
        next_progress = time.monotonic() + self.progress_interval
        while not all(w.gone for w in self._workers):
            handles: list[Any] = [w.up for w in self._workers if w.open]
            handles += [w.process.sentinel for w in self._workers if not w.gone]
            for ready in wait(handles, timeout=max(0.0, next_progress - time.monotonic())):
                for worker in self._workers:
                    if ready is worker.up:
                        self._read(worker)
                    elif ready == worker.process.sentinel and not worker.gone:
                        self._ended(worker)
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + self.progress_interval
                tally = self._tally()
                if self.reporter and tally.total and not all(w.gone for w in self._workers):
                    self.reporter.progress(tally, False)

    def _read(self, worker: _Worker) -> None:
        """Take every report the worker has sent so far."""
        while worker.open and worker.up.poll():
            try:
                message = worker.up.recv()
            except (EOFError, OSError):
                worker.open = False
                return
            self._take(worker, message)

    def _take(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self._go_when_ready()
        elif kind == "counts":
            worker.counts = message[1]
            self._check_bounce_rate()
        elif kind == "halt":
            self._stop_all(RunState(message[1]), message[2])
        elif kind == "done":
            worker.said_end, self._last_end = True, time.monotonic()
            worker.counts = message[3] or worker.counts
        elif kind == "failed":
            worker.said_end, self._last_end = True, time.monotonic()
            self._stop_all(
                RunState.PAUSED,
                f"paused: a sending process failed: {message[1]}. Fix it, then run"
                f" `newsletter send {self.issue_id}` again to resume",
            )
            self._go_when_ready()

    def _go_when_ready(self) -> None:
        """Start every worker together once each has opened what it needs (or has ended)."""
        if self._going or not all(w.ready or w.gone or w.said_end for w in self._workers):
            return
        # The rate shown counts from here, as one process's counts from its engine's start.
        self._going, self._started = True, time.monotonic()
        for worker in self._workers:
            self._tell(worker, "go")

    def _ended(self, worker: _Worker) -> None:
        self._read(worker)  # what it said before it exited is all in the pipe
        worker.process.join()
        worker.gone, worker.open = True, False
        self._go_when_ready()  # the others need not wait for it
        if worker.said_end:
            return
        self._died, self._last_end = True, time.monotonic()
        code = worker.process.exitcode or 0
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        self._stop_all(
            RunState.PAUSED,
            f"paused: a sending process (pid {worker.process.pid}) ended unexpectedly ({how}); its messages"
            f" in flight are recorded unknown. Run `newsletter send {self.issue_id}` again to resume",
        )

    # -- stopping ------------------------------------------------------------------------------

    def _stop_all(self, state: RunState, note: str) -> None:
        """Stop every worker after its messages in flight; the first reason is the one recorded."""
        if self._halt is not None:
            return
        self._halt = (state, note)
        for worker in self._workers:
            self._tell(worker, "stop", state.value, note)

    def _check_bounce_rate(self) -> None:
        # The whole send's counts: the same figure, and the same minimum of attempts, as one process.
        tally = self._tally()
        attempts = tally.sent + tally.failed_permanent + tally.unknown
        reason = bounce_pause(attempts, tally.hard_bounces, self.pause_rate, self.pause_min_attempts)
        if reason:
            self._stop_all(RunState.PAUSED, reason)

    def _on_signal(self, sig: signal.Signals) -> None:
        if sig in signals.OPERATOR_SIGNALS:
            # Ctrl-C at a terminal reaches the workers too; this relays it for a SIGINT sent to the
            # parent alone (a "stop" never counts as a worker's own first Ctrl-C).
            if self._interrupted:
                for worker in self._workers:
                    self._tell(worker, "now")
                raise KeyboardInterrupt
            self._interrupted = True
        else:
            for worker in self._workers:  # a service manager may signal the parent alone
                if not worker.gone and worker.process.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(worker.process.pid, sig)
        self._stop_all(*signals.stop_reason(sig, self.issue_id))

    def _tell(self, worker: _Worker, *message: object) -> None:
        if not worker.gone:
            with contextlib.suppress(OSError):  # it has just exited: nothing to tell
                worker.down.send(message)

    def _end_all(self) -> None:
        """On any way out: no worker outlives the send (told to stop at once, then killed)."""
        for worker in self._workers:
            if not worker.gone:
                self._tell(worker, "now")
        deadline = time.monotonic() + NOW_WAIT
        for worker in self._workers:
            if not worker.gone:
                worker.process.join(max(0.0, deadline - time.monotonic()))
                if worker.process.is_alive():
                    worker.process.kill()
                    worker.process.join()
                worker.gone = True
            worker.up.close()
            worker.down.close()
            worker.process.close()

    def _tally(self) -> Any:
        return summed(self._total, self._started, [w.counts for w in self._workers if w.counts])


@contextlib.contextmanager
def _ignoring_ctrl_c() -> Any:
    """A worker starts with Ctrl-C ignored (inherited through exec), so one pressed while it imports
    prints no traceback; it takes Ctrl-C once its engine runs, and the parent relays it meanwhile."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def jobs_for(
    workspace: str,
    issue_id: str,
    provider: str | None,
    rate: float,
    connections: int,
    processes: int,
    max_attempts: int,
    dev_key_ok: bool,
    digest: str,
    rendered: tuple[tuple[Variant, Rendered], ...] = (),
) -> list[Job]:
    """One job per process: the connections split as evenly as can be, and the rate in proportion."""
    return [
        Job(
            workspace,
            issue_id,
            provider,
            rate * n / connections,
            n,
            max_attempts,
            dev_key_ok,
            digest,
            rendered,
        )
        for n in shares(connections, processes)
    ]
