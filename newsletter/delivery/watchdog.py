"""The send's watch on its database: a call that does not come back within the limit ends the send.

A PostgreSQL server that is frozen (its processes stopped, its machine hung) keeps its TCP
connections open: `statement_timeout` never fires (the server's clock is stopped with it) nor do TCP
keepalives (the kernel still answers them), so a send would wait for ever. Every database call of the
engine's threads is timed here, and a thread of its own ends the send when one is outstanding for
longer than `delivery.database_timeout`. Nothing is written on the way out, as every further call
would hang too: the messages in flight stay `sending`, and the next start marks them `unknown`, as
after a crash.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

from newsletter.errors import ExitStatus


def abandon(line: str) -> None:
    """Say why in one line and end the process at once, as `Error:` lines end (ExitStatus.PAUSED).

    Not an exception: the main thread may itself be waiting on the database, and the way out of every
    `with` (the issue's lock, the sender's liveness lock) is one more call that would never return.
    The operating system closes the connections; the server drops their locks when it wakes.
    """
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.write(f"Error: {line}\n")
        sys.stderr.flush()
    os._exit(ExitStatus.PAUSED)


class DatabaseWatch:
    """Times the database calls made inside `call()`; `start` a thread that acts on one overdue."""

    def __init__(self, limit: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self.clock = limit, clock
        self._calls: dict[int, float] = {}  # call number -> when it began
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._done = threading.Event()

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        number = next(self._numbers)
        with self._lock:
            self._calls[number] = self.clock()
        try:
            yield
        finally:
            with self._lock:
                del self._calls[number]

    def overdue(self) -> bool:
        """Whether a call has been outstanding for longer than the limit."""
        with self._lock:
            oldest = min(self._calls.values(), default=None)
        return oldest is not None and self.clock() - oldest > self.limit

    def start(self, expired: Callable[[], None]) -> DatabaseWatch:
        """Look a few times per limit until `stop`; call `expired` (it ends the send) on an overdue call."""

        def watch() -> None:
            while not self._done.wait(min(1.0, self.limit / 4)):
                if self.overdue():
                    expired()
                    return

        threading.Thread(target=watch, name="database-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        self._done.set()
