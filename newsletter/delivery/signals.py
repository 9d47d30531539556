"""Signals that stop a send after the messages in flight, and who asked: an operator or the system."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from newsletter.db.schema import CORRECTION_RUN
from newsletter.delivery.records import RunState, resume_command

# Ctrl-C is a person at a terminal: the run is held until a person resumes it. SIGTERM and SIGHUP come
# from a service manager or a closed session (systemd stopping `send-due`): the run stays resumable.
OPERATOR_SIGNALS = (signal.SIGINT,)
SYSTEM_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def handled(on_signal: Callable[[signal.Signals], None]) -> Iterator[None]:
    """Route SIGINT, SIGTERM and SIGHUP to `on_signal` while inside; only the main thread can."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        on_signal(signal.Signals(signum))

    saved = {sig: signal.signal(sig, handle) for sig in (*OPERATOR_SIGNALS, *SYSTEM_SIGNALS)}
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


def stop_reason(sig: signal.Signals, issue_id: str) -> tuple[RunState, str]:
    """The run state and note a stop by this signal records."""
    if sig in OPERATOR_SIGNALS:
        return RunState.INTERRUPTED, "stopped by the operator after the messages in flight"
    if issue_id.startswith(CORRECTION_RUN):  # send-due leaves corrections to the person
        return RunState.STOPPED, f"stopped by {sig.name}; `{resume_command(issue_id)}` resumes it"
    return (
        RunState.STOPPED,
        f"stopped by {sig.name} after the messages in flight; the next `newsletter send-due`"
        f" (or `newsletter send {issue_id}`) resumes it",
    )
