"""Where a sending thread takes its next recipient: SQLite pages, or PostgreSQL claims.

On SQLite one process sends a run: its threads take the recipients still to send in the order they
were added, a page at a time, the thread that empties a page reading the next (so memory stays flat
whatever the list size, and no thread or queue stands between them). On PostgreSQL each thread claims
its next recipient from the database, marking it `sending` in the same statement (delivery.claims),
so senders on several machines share the run.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from newsletter.delivery import claims
from newsletter.delivery.ledger import Ledger
from newsletter.delivery.records import RecipientRow

Watched = Callable[[], contextlib.AbstractContextManager[None]]  # DatabaseWatch.call


class Source(Protocol):
    def next(self) -> RecipientRow | None:
        """The next recipient to send, or None when there is none left."""
        ...


class Pages:
    """SQLite: the run's recipients still to send, paged from the ledger, shared by the threads."""

    def __init__(self, ledger: Ledger, issue_id: str, page: int, watched: Watched):
        self.ledger, self.issue_id, self.page, self.watched = ledger, issue_id, page, watched
        self._rows: Iterator[RecipientRow] = iter(())
        self._after = 0  # the last row id read
        self._lock = threading.Lock()

    def next(self) -> RecipientRow | None:
        with self._lock:
            row = next(self._rows, None)
            if row is None:
                with self.watched():
                    page = self.ledger.to_send(self.issue_id, self._after, self.page)
                if not page:
                    return None
                self._after = page[-1].rowid
                self._rows = iter(page)
                row = next(self._rows)
            return row


class Claims:
    """PostgreSQL: each call claims one recipient for this sender, marked `sending` as it is taken."""

    def __init__(self, ledger: Ledger, issue_id: str, sender: str, watched: Watched):
        self.ledger, self.issue_id, self.sender, self.watched = ledger, issue_id, sender, watched

    def next(self) -> RecipientRow | None:
        with self.watched():
            return claims.claim(self.ledger.engine, self.issue_id, self.sender)
