"""Who a run sends to: the lists streamed into the ledger, its rows back as subscribers, and
the suppression list watched while the run goes on."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from newsletter.delivery.records import NewRecipient, RecipientRow
from newsletter.store import subscribers
from newsletter.store.addresses import address_key
from newsletter.store.audience import AudienceTally, iter_audience
from newsletter.store.config import Settings
from newsletter.store.subscriber_files import (
    SUBSCRIBERS_DIR,
    SUPPRESSED_FILE,
    Subscriber,
    suppressed_addresses,
)


def recipients(
    settings: Settings,
    lists: tuple[str, ...] | None,
    skip_invalid: bool,
    tally: AudienceTally | None = None,
) -> Iterator[NewRecipient]:
    """The audience of the chosen lists (all when None) as ledger rows, streamed."""
    for s in iter_audience(settings.workspace, lists, tally, skip_invalid):
        yield NewRecipient(s.email, s.list_name, s.name, s.topics, s.subscribed_at)


def emails(
    settings: Settings, lists: tuple[str, ...] | None, skip_invalid: bool, tally: AudienceTally
) -> Iterator[str]:
    """Just the addresses of the audience, streamed (for counting who is already in a run)."""
    for s in iter_audience(settings.workspace, lists, tally, skip_invalid):
        yield s.email


def subscriber_of(row: RecipientRow) -> Subscriber:
    """A ledger row as the subscriber the message factory personalises for."""
    return Subscriber(row.email, row.name, row.topics, "subscribed", row.subscribed_at, row.list_name)


def mark_bounced(settings: Settings, email: str, reason: str) -> None:
    """A hard bounce: the address is marked bounced in its lists and suppressed from then on."""
    subscribers.mark_bounced(settings.workspace, email, reason)


class SuppressionWatch:
    """Is an address suppressed now? Re-reads suppressed.csv only when the file changes.

    Re-reading it for every message would cost a file parse per send; an unsubscribe rewrites the
    file atomically (a new inode and mtime), which the stat below notices at once.
    """

    def __init__(self, settings: Settings):
        self.workspace = settings.workspace
        self.path = self.workspace / SUBSCRIBERS_DIR / SUPPRESSED_FILE
        self._key: tuple[int, int, int] | None | str = "unread"
        self._addresses: set[str] = set()
        self._lock = threading.Lock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def __call__(self, email: str) -> bool:
        key = self._stat()
        with self._lock:
            if key != self._key:
                found = suppressed_addresses(self.workspace) if key else {}
                self._addresses, self._key = set(found), key
            return address_key(email) in self._addresses
