"""The outbox provider: one `.eml` file per message under `outbox/<issue>/`, for proofing.

A message is `sent` only once its file is durable (its bytes and its name survive a crash), but the
files are not synced one by one: each is written and renamed into place, then waits for the next
sync of the whole folder's filesystem (`syncfs`), which one worker runs for every file written
before it began (a group commit). Four workers then share one disk flush instead of paying four.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import threading
from collections.abc import Callable
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


def _libc_syncfs() -> Callable[[int], int] | None:
    """Linux's syncfs(2) (not in the os module): flushes one filesystem's data and metadata."""
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs  # ctypes releases the GIL during the call
    except (OSError, AttributeError):
        return None


_SYNCFS = _libc_syncfs()


def sync_files(paths: list[Path]) -> None:
    """Make these files and their names durable: one syncfs, or an fsync of each file and folder."""
    if not paths:
        return
    if _SYNCFS is not None:
        fd = os.open(paths[0].parent, os.O_RDONLY)
        try:
            if _SYNCFS(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
        finally:
            os.close(fd)
        return
    for target in [*paths, *{p.parent for p in paths}]:
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class GroupSync:
    """Group commit for one outbox: each caller waits for a sync that began after its write."""

    def __init__(self, sync: Callable[[list[Path]], None] = sync_files):
        self._sync = sync
        self._cond = threading.Condition()
        self._pending: list[Path] = []
        self._begun = 0  # syncs started
        self._finished = 0  # syncs finished (in order: one runs at a time)
        self._running = False
        self._errors: dict[int, OSError] = {}
        self.syncs = 0

    def durable(self, path: Path) -> None:
        """Return once `path` (already written and renamed) is durable; OSError if its sync failed."""
        with self._cond:
            self._pending.append(path)
            ticket = self._begun + 1  # the first sync to begin from now on covers this file
            while self._finished < ticket:
                if self._running:
                    self._cond.wait()
                    continue
                self._lead()
            error = self._errors.get(ticket)
        if error is not None:
            raise error

    def _lead(self) -> None:
        """Run one sync for every file pending now (called holding the lock; released meanwhile)."""
        self._running, self._begun = True, self._begun + 1
        generation, batch, self._pending = self._begun, self._pending, []
        self._cond.release()
        error: OSError | None = None
        try:
            self._sync(batch)
        except OSError as exc:
            error = exc
        finally:  # whatever happens, the next caller may lead a sync
            self._cond.acquire()
            if error is not None:
                self._errors[generation] = error
            self._errors.pop(generation - 1000, None)  # bounded: nobody waits that far back
            self._finished, self._running = generation, False
            self.syncs += 1
            self._cond.notify_all()


_GROUPS: dict[Path, GroupSync] = {}
_GROUPS_LOCK = threading.Lock()


def group_for(folder: Path) -> GroupSync:
    """The one GroupSync of an outbox folder, shared by the providers of all workers."""
    key = folder.resolve()
    with _GROUPS_LOCK:
        return _GROUPS.setdefault(key, GroupSync())


def _write_unsynced(path: Path, data: bytes) -> None:
    """Write `path` whole under a temporary name and rename it into place (readers never see half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # the umask applies
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class OutboxProvider:
    """Writes each message atomically as a file any mail client opens; `sent` once it is durable."""

    name = "outbox"

    def __init__(self, folder: Path, group: GroupSync | None = None):
        self.folder = folder
        self.group = group if group is not None else group_for(folder)

    def path_for(self, message: OutgoingMessage) -> Path:
        return self.folder / message.issue_id / message_file_name(message)

    def send(self, message: OutgoingMessage, ready: Ready | None = None) -> SendResult:
        path = self.path_for(message)
        if ready is not None:
            ready()
        # As a receiving server would on delivery (RFC 5321 4.4): the envelope sender, where bounces go.
        return_path = f"Return-Path: <{message.envelope_from}>\r\n".encode("ascii", "replace")
        try:
            _write_unsynced(path, return_path + message.data)
            self.group.durable(path)
        except OSError as exc:
            # A full disk or a read-only folder fixes itself no sooner than the next attempt.
            return SendResult("transient", f"cannot write {path}: {exc.strerror or exc}")
        return SendResult("sent", str(path), provider_id=path.name)

    def close(self) -> None:
        """Nothing to release: each message is its own file, durable before it was reported sent."""
