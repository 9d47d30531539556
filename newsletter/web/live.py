"""The preview's live state: watch the workspace, render again on a change, score spam in the background.

A watcher thread waits for the operating system to report a change (`watchfiles`: inotify on Linux,
so an idle preview costs no CPU); only when the bytes of a watched file really changed is the issue
rendered and checked again (without SpamAssassin, which takes about a second). The new state is
published at once to everyone waiting for it, and SpamAssassin then scores that message in a worker
thread; its finding joins the state when ready, unless a newer render has replaced it by then.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import TracebackType

import watchfiles

from newsletter import check, render
from newsletter.check.findings import CheckReport, Finding, SampleEmail, Severity, SpamScore, sorted_findings
from newsletter.check.spam import SpamFailure, score_message, spam_findings
from newsletter.delivery.history import sent_record
from newsletter.errors import NewsletterError
from newsletter.store.config import load_settings

# What the preview watches, relative to the workspace; the packaged templates are watched too.
WATCHED = ("newsletter.yaml", "topics.yaml", "issues", "summaries", "subscribers", "templates")
WATCH_DEBOUNCE_MS = 50  # a burst of saves within this is one change
SPAM_SETTLE = 0.3  # seconds without a newer render before SpamAssassin starts: a burst of saves scores once
SPAM_NICENESS = 19  # SpamAssassin's second of CPU must not slow the render of the next save


def watched_files(workspace: Path) -> list[Path]:
    """Every watched file, in a stable order; hidden files (editors' swap files) are left out."""
    roots = [workspace / name for name in WATCHED] + [render.PACKAGED_TEMPLATES]
    found: list[Path] = []
    for root in roots:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        found += [p for p in files if not p.name.startswith(".")]
    return found


def fingerprint(workspace: Path) -> str:
    """A hash of every watched file's name and bytes: any edit changes it."""
    digest = hashlib.sha256()
    for path in watched_files(workspace):
        digest.update(str(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"unreadable")  # missing or mid-save; the next look sees the final file
    return digest.hexdigest()[:16]


def is_watched(workspace: Path, path: Path) -> bool:
    """Whether a changed path is one of the preview's inputs (hidden files, such as swap files, are not)."""
    for root in (workspace, render.PACKAGED_TEMPLATES.resolve()):
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            continue
        if any(part.startswith(".") for part in parts):
            return False
        return root != workspace or (bool(parts) and parts[0] in WATCHED)
    return False


def changes(workspace: Path, stop: threading.Event) -> Iterator[None]:
    """Yields once per burst of changes to the watched files, until `stop` is set.

    The workspace folder is watched as a whole (so a `templates/` made later is seen) and changes
    elsewhere in it (the state database, the outbox) are filtered out.
    """
    workspace = workspace.resolve()  # the watcher reports real paths
    roots = [workspace] + ([render.PACKAGED_TEMPLATES] if render.PACKAGED_TEMPLATES.is_dir() else [])
    for _found in watchfiles.watch(
        *roots,
        watch_filter=lambda _change, path: is_watched(workspace, Path(path)),
        debounce=WATCH_DEBOUNCE_MS,
        stop_event=stop,
        raise_interrupt=False,
    ):
        yield None


class SpamStatus(StrEnum):
    OFF = "off"  # not asked for (spam=False) or nothing to score (the issue did not render)
    PENDING = "pending"  # SpamAssassin is scoring this render's message
    DONE = "done"  # its finding is in the report


@dataclass(frozen=True)
class PreviewState:
    """One rendering of the issue (or the error that stopped it), for one fingerprint of its inputs."""

    version: str
    report: CheckReport | None
    error: str | None
    spam: SpamStatus = SpamStatus.OFF

    @property
    def token(self) -> str:
        """What the page compares to learn of any change: a new render, or its spam score arriving."""
        return f"{self.version}.{self.spam}"

    @property
    def sample(self) -> SampleEmail | None:
        """The email as the sample recipient gets it; None when there is an error to show instead."""
        if self.error is not None or self.report is None:
            return None
        return self.report.sample


def render_state(workspace: Path, issue_id: str, recipient: str | None, version: str) -> PreviewState:
    """The issue rendered and checked, without SpamAssassin; an error becomes the state, never raises."""
    try:
        settings = load_settings(workspace)
        report = check.check_issue(
            settings, issue_id, recipient=recipient, spam=False, sent=sent_record(settings)
        )
    except NewsletterError as exc:
        return PreviewState(version, None, exc.message)
    except Exception:  # noqa: BLE001 - a bug must show on the page, not stop the server
        return PreviewState(version, None, "internal error:\n" + traceback.format_exc())
    if report.sample is None:
        return PreviewState(version, report, "\n".join(str(f) for f in report.errors))
    return PreviewState(version, report, None)


def with_spam(state: PreviewState, score: SpamScore | SpamFailure | None) -> PreviewState:
    """The state with SpamAssassin's finding (or the advice to install it) among the others."""
    assert state.report is not None
    findings = sorted_findings(state.report.findings + tuple(spam_findings(score)))
    scored = score if isinstance(score, SpamScore) else None  # a failure is among the findings
    return replace(state, report=replace(state.report, findings=findings, spam=scored), spam=SpamStatus.DONE)


class Previewer:
    """Renders and checks the issue when its inputs change; safe to call from many threads.

    Use it as a context manager (or call start() and close()) to have the workspace watched and
    spam scored in the background; without that, each state() call still looks at the files.
    """

    def __init__(self, workspace: Path, issue_id: str, recipient: str | None = None, spam: bool = True):
        self.workspace = workspace
        self.issue_id = issue_id
        self.recipient = recipient
        self.spam = spam
        self._render_lock = threading.Lock()  # one render at a time; the others wait for its result
        self._changed = threading.Condition()  # guards _state; notified on every new state
        self._state: PreviewState | None = None
        self._closed = threading.Event()
        self._spam_job: PreviewState | None = None  # the newest state waiting for a spam score
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Previewer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Render now, then watch the workspace (and score spam) in daemon threads until close()."""
        self.state()
        workers = [self._watch] + ([self._score_spam] if self.spam else [])
        self._threads = [
            threading.Thread(target=w, name=f"preview-{w.__name__}", daemon=True) for w in workers
        ]
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        """Stop watching; wakes every request waiting for a change so it can end."""
        self._closed.set()
        with self._changed:
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=1)  # a SpamAssassin run still going is left to end on its own (daemon)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def state(self) -> PreviewState:
        """The state for the workspace as it is now, rendered again first if an input changed."""
        with self._render_lock:
            version = fingerprint(self.workspace)
            if self._state is not None and self._state.version == version:
                return self._state  # touched, not changed: nothing to render
            fresh = render_state(self.workspace, self.issue_id, self.recipient, version)
            if self.spam and fresh.sample is not None:
                fresh = replace(fresh, spam=SpamStatus.PENDING)
            self._publish(fresh)
            return fresh

    def current(self) -> PreviewState:
        """The latest state without looking at the files: for the frames of a page just rendered."""
        with self._changed:
            if self._state is not None and self._threads:
                return self._state
        return self.state()  # nobody is watching, or nothing was rendered yet

    def wait_for_change(self, seen: str | None, timeout: float) -> PreviewState | None:
        """The current state once its token differs from `seen` (or after `timeout`); None once closed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self.closed:
                if self._state is not None and self._state.token != seen:
                    return self._state
                left = deadline - time.monotonic()
                if left <= 0:
                    return self._state
                self._changed.wait(left)
        return None

    def _publish(self, fresh: PreviewState) -> None:
        with self._changed:
            self._state = fresh
            if fresh.spam is SpamStatus.PENDING:
                self._spam_job = fresh
            self._changed.notify_all()

    def _watch(self) -> None:
        for _ in changes(self.workspace, self._closed):
            self.state()

    def _next_spam_job(self) -> PreviewState | None:
        """The newest render to score, once no newer one came for SPAM_SETTLE; None once closed."""
        with self._changed:
            while self._spam_job is None and not self.closed:
                self._changed.wait()
            job = self._spam_job
        while job is not None and not self._closed.wait(SPAM_SETTLE):
            with self._changed:
                if self._spam_job is job:
                    self._spam_job = None
                    return job
                job = self._spam_job
        return None

    def _score_spam(self) -> None:
        _lower_this_threads_priority()  # SpamAssassin, started from this thread, yields the CPU to renders
        while (job := self._next_spam_job()) is not None:
            assert job.report is not None and job.report.sample is not None
            try:
                scored = with_spam(job, score_message(job.report.sample.message))
            except Exception as exc:  # noqa: BLE001 - a failed scoring shows on the page, the preview goes on
                scored = replace(
                    job, report=_with_note(job, f"SpamAssassin did not run ({exc})"), spam=SpamStatus.DONE
                )
            with self._changed:
                if self._state is job:  # a newer render makes this score stale: drop it
                    self._state = scored
                    self._changed.notify_all()


def _lower_this_threads_priority() -> None:
    """Run this thread, and so the processes it starts, only on CPU time nothing else wants.

    On Linux the scheduling policy is per thread and inherited by a child process; elsewhere (or if
    refused) the thread keeps the usual priority.
    """
    tid = threading.get_native_id()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        return
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, tid, SPAM_NICENESS)


def _with_note(state: PreviewState, what: str) -> CheckReport:
    assert state.report is not None
    finding = Finding(Severity.WARNING, what, "email", "check that `spamassassin -L -t` runs")
    return replace(state.report, findings=sorted_findings((*state.report.findings, finding)))
