"""At most one send per issue, and one scheduler, at a time: `fcntl.flock` on small lock files.

The kernel releases a flock when its holder dies in any way, including SIGKILL, so a killed run can
never leave an issue locked forever and no stale lock ever needs breaking.
"""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from newsletter.delivery.ledger import ledger_path
from newsletter.errors import DeliveryError
from newsletter.store.config import Settings


class LockedError(DeliveryError):
    """Another process holds the lock; `holder` says which (pid, host, since when)."""

    def __init__(self, message: str, holder: str = ""):
        super().__init__(message)
        self.holder = holder


class IssueLock:
    """One flock; the pid and host written inside only make a refusal readable."""

    def __init__(self, path: Path, what: str):
        self.path = path
        self.what = what
        self._fd: int | None = None

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DeliveryError(
                f"{self.path}: cannot take the lock for {self.what} ({exc.strerror}); "
                "make the ledger's folder writable by this user"
            ) from None

    def acquire(self) -> None:
        """Take the lock now or raise LockedError naming the holder."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise LockedError(
                f"{self.what} is already running ({holder}); wait for it to finish", holder
            ) from None
        since = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}".encode(), 0)
        except OSError:
            pass  # a full disk: the lock is held all the same; only the holder's name is missing
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays for the next holder
            self._fd = None

    def held_elsewhere(self) -> bool:
        """Does a live process hold this lock now? (False when the lock file does not exist.)"""
        if not self.path.is_file():
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def __enter__(self) -> IssueLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def issue_lock(settings: Settings, issue_id: str) -> IssueLock:
    return IssueLock(
        ledger_path(settings).parent / "locks" / f"{issue_id}.lock", f"a send of issue {issue_id}"
    )


def scheduler_lock(settings: Settings) -> IssueLock:
    return IssueLock(ledger_path(settings).parent / "locks" / "send-due.lock", "send-due")
