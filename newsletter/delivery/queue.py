"""The recipients a send's workers take, claimed from the ledger a few at a time."""

from __future__ import annotations

import threading

from newsletter.delivery.ledger import Ledger
from newsletter.delivery.records import RecipientRow


class RecipientQueue:
    """Recipients to send, claimed from the ledger a page at a time so at most one page is in memory.

    A claim reserves the rows for this process's worker (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so
    several `send` processes working one run never take the same recipient.
    """

    def __init__(self, ledger: Ledger, issue_id: str, page_size: int):
        self.ledger = ledger
        self.issue_id = issue_id
        self.page_size = page_size
        self._page: list[RecipientRow] = []
        self._exhausted = False
        self._lock = threading.Lock()

    def next(self) -> RecipientRow | None:
        with self._lock:
            if not self._page and not self._exhausted:
                page = self.ledger.claim(self.issue_id, self.page_size)
                if not page:
                    self._exhausted = True
                else:
                    self._page = page[::-1]  # pop() from the end keeps ledger order
            return self._page.pop() if self._page else None
