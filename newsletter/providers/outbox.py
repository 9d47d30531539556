"""The outbox provider: one `.eml` file per message under `outbox/<issue>/`, for proofing."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from newsletter.providers.base import OutgoingMessage, SendResult
from newsletter.store.fileio import atomic_write

_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def message_file_name(message: OutgoingMessage) -> str:
    """A stable name per recipient, so a re-run overwrites rather than duplicates.

    The readable part is the address; a short hash keeps two addresses that differ only in
    characters we replace (or in case) from sharing a file. Proofs get a `test-` prefix so that
    a test send never overwrites a subscriber's real message.
    """
    address = message.envelope_to.strip().casefold()
    readable = _UNSAFE.sub("_", address.replace("@", "_at_"))[:80]
    digest = hashlib.sha256(address.encode("utf-8")).hexdigest()[:8]
    prefix = "test-" if message.test else ""
    return f"{prefix}{readable}-{digest}.eml"


class OutboxProvider:
    """Writes each message atomically as a file any mail client opens."""

    name = "outbox"

    def __init__(self, folder: Path):
        self.folder = folder

    def path_for(self, message: OutgoingMessage) -> Path:
        return self.folder / message.issue_id / message_file_name(message)

    def send(self, message: OutgoingMessage) -> SendResult:
        path = self.path_for(message)
        try:
            atomic_write(path, message.data)
        except OSError as exc:
            # A full disk or a read-only folder fixes itself no sooner than the next attempt.
            return SendResult("transient", f"cannot write {path}: {exc.strerror}")
        return SendResult("sent", str(path), provider_id=path.name)

    def close(self) -> None:
        """Nothing to release: each message is its own file."""
