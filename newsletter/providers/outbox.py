"""The outbox provider: one `.eml` file per message under `outbox/<issue>/`, for proofing.

A message is `sent` only once its file is durable: written under a temporary name, flushed
(`fsync`), renamed into place, and the folder flushed so the new name survives a crash too.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

from newsletter.providers.base import OutgoingMessage, Ready, SendResult

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


def _fsync(target: Path) -> None:
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write `path` whole under a temporary name, flush it, rename it into place, flush the folder.

    Readers never see half a file, and once this returns the file and its name survive a crash.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # the umask applies
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class OutboxProvider:
    """Writes each message atomically as a file any mail client opens; `sent` once it is durable."""

    name = "outbox"

    def __init__(self, folder: Path):
        self.folder = folder

    def path_for(self, message: OutgoingMessage) -> Path:
        return self.folder / message.issue_id / message_file_name(message)

    def send(self, message: OutgoingMessage, ready: Ready | None = None) -> SendResult:
        path = self.path_for(message)
        if ready is not None:
            ready()
        # As a receiving server would on delivery (RFC 5321 4.4): the envelope sender, where bounces go.
        return_path = f"Return-Path: <{message.envelope_from}>\r\n".encode("ascii", "replace")
        try:
            write_durably(path, return_path + message.data)
        except OSError as exc:
            # A full disk or a read-only folder fixes itself no sooner than the next attempt.
            return SendResult("transient", f"cannot write {path}: {exc.strerror or exc}")
        return SendResult("sent", str(path), provider_id=path.name)

    def close(self) -> None:
        """Nothing to release: each message is its own file, durable before it was reported sent."""
