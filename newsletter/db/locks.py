"""Locks that die with their holder, named by kind: an issue's send, the scheduler, the bounce fetcher,
and each sender's liveness on PostgreSQL.

Each kind is its own namespace, so no name of one kind (an issue whose id is `send-due`) can ever be
the lock of another (the scheduler). SQLite: `fcntl.flock` on a file in `locks/<kind>/` beside the
database, which the kernel drops when the process exits in any way (SIGKILL too). PostgreSQL:
session advisory locks keyed (kind, crc of the name), which the server drops when the holder's
connection ends, so senders on different machines see each other. Shared mode lets several senders
work one run together while an exclusive holder keeps them out.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from newsletter.db.engine import is_postgresql
from newsletter.errors import DeliveryError


class LockKind(Enum):
    """A namespace of locks: its folder under `locks/` (SQLite) and its advisory key (PostgreSQL)."""

    ISSUE = ("issue", 7_281_002)  # one send of an issue (shared by the senders of one run on PostgreSQL)
    SENDER = ("sender", 7_281_003)  # a sender's liveness: while held, its `sending` rows are in flight
    SCHEDULER = ("scheduler", 7_281_004)  # `send-due`
    BOUNCE_FETCHER = ("bounces", 7_281_005)  # `bounces fetch`

    def __init__(self, folder: str, namespace: int):
        self.folder = folder
        self.namespace = namespace


@dataclass(frozen=True)
class LockName:
    """A lock's kind and its name within that kind; `what` names it for a person."""

    kind: LockKind
    name: str
    what: str

    @property
    def key(self) -> int:
        """A signed 32-bit key for the name (advisory locks take two int4 keys: kind, name)."""
        return zlib.crc32(self.name.encode()) - 2**31

    def path(self, folder: Path) -> Path:
        # The name is a file name inside its kind's own folder: an issue id never reaches another kind.
        return folder / self.kind.folder / f"{self.name}.lock"


class LockedError(DeliveryError):
    """Another process holds the lock; `holder` says which (pid, host, since when)."""

    def __init__(self, message: str, holder: str = ""):
        super().__init__(message)
        self.holder = holder


class LockFolderError(DeliveryError):
    """The lock folder cannot be written (made by root, read-only): one line naming it and the fix."""


def lock_folder(engine: Engine) -> Path:
    """Where SQLite's lock files live: `locks/` beside the database file."""
    return Path(str(engine.url.database)).parent / "locks"


def _folder_fault(path: Path, error: OSError) -> LockFolderError:
    folder = path.parent
    why = error.strerror or str(error)
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"make it writable by this user (sudo chown -R {_user()} {folder.parent}), or remove it"
    else:
        fix = "check the disk and the folder, then run the command again"
    return LockFolderError(f"cannot use the lock folder {folder}: {why}; {fix}")


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())


class Lock:
    """One named lock, taken at once or refused with LockedError naming the holder."""

    def __init__(self, engine: Engine, name: LockName, shared: bool = False):
        self.engine, self.lock_name, self.shared = engine, name, shared
        self.what = name.what
        self._fd: int | None = None
        self._connection: Connection | None = None

    def acquire(self) -> None:
        if is_postgresql(self.engine):
            self._acquire_advisory()
        else:
            self._acquire_flock()

    def _path(self) -> Path:
        return self.lock_name.path(lock_folder(self.engine))

    def _acquire_flock(self) -> None:
        path = self._path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise _folder_fault(path, error) from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise LockedError(
                f"{self.what} is already running ({holder}); wait for it to finish", holder
            ) from None
        if not self.shared:  # shared holders would overwrite each other's line
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, _holder_line().encode(), 0)
            except OSError as error:
                os.close(fd)
                raise _folder_fault(path, error) from None
        self._fd = fd

    def _acquire_advisory(self) -> None:
        connection = self.engine.connect()
        function = "pg_try_advisory_lock_shared" if self.shared else "pg_try_advisory_lock"
        got = connection.execute(
            text(f"SELECT {function}(:ns, :key)"),
            {"ns": self.lock_name.kind.namespace, "key": self.lock_name.key},
        ).scalar()
        connection.commit()  # a session lock: it outlives this transaction, not the connection
        if not got:
            connection.close()
            holder = self._advisory_holder() or "another process"
            raise LockedError(f"{self.what} is already running ({holder}); wait for it to finish", holder)
        self._connection = connection

    def _advisory_holder(self) -> str:
        with self.engine.connect() as connection:
            names = connection.execute(
                text(
                    "SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                    " AND l.classid = :ns AND l.objid = :key AND l.objsubid = 2"
                ),
                {"ns": self.lock_name.kind.namespace, "key": self.lock_name.key & 0xFFFFFFFF},
            ).all()
        return "; ".join(
            f"{app or 'a client'} since {start:%Y-%m-%d %H:%M:%S}" for app, _addr, start in names
        )

    def held_elsewhere(self) -> bool:
        """Whether someone else holds this lock now. Writes nothing: a lock file that does not exist is
        held by nobody, and one that exists is tested read-only (`status` in a read-only folder)."""
        if not is_postgresql(self.engine):
            try:
                fd = os.open(self._path(), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return False
            except OSError as error:
                raise _folder_fault(self._path(), error) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            finally:
                os.close(fd)  # closing drops the probe's own lock
            return False
        try:
            probe = Lock(self.engine, self.lock_name)
            probe.acquire()
        except LockedError:
            return True
        probe.release()
        return False

    def release(self) -> None:
        if self._fd is not None:
            if self.lock_name.kind == LockKind.SENDER:  # a sender's file is its own: no one takes it after
                self._path().unlink(missing_ok=True)
            os.close(self._fd)  # closing drops the flock; an issue's file stays for the next holder
            self._fd = None
        if self._connection is not None:
            # Unlocked explicitly: a closed socket is noticed by the server only moments later.
            function = "pg_advisory_unlock_shared" if self.shared else "pg_advisory_unlock"
            try:
                self._connection.execute(
                    text(f"SELECT {function}(:ns, :key)"),
                    {"ns": self.lock_name.kind.namespace, "key": self.lock_name.key},
                )
                self._connection.commit()
                self._connection.close()
            except Exception:  # noqa: BLE001 - a broken connection: dropping it drops the lock
                self._connection.invalidate()
            self._connection = None

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder_line() -> str:
    since = datetime.now(UTC).isoformat(timespec="milliseconds")
    return f"pid {os.getpid()} on {socket.gethostname()} since {since}"


def issue_lock(engine: Engine, issue_id: str, shared: bool = False) -> Lock:
    """At most one send of an issue (exclusive), or several senders of one run together (shared)."""
    return Lock(engine, LockName(LockKind.ISSUE, issue_id, f"a send of issue {issue_id}"), shared)


def scheduler_lock(engine: Engine) -> Lock:
    return Lock(engine, LockName(LockKind.SCHEDULER, "send-due", "send-due"))


def bounce_fetcher_lock(engine: Engine) -> Lock:
    return Lock(engine, LockName(LockKind.BOUNCE_FETCHER, "fetch", "`newsletter bounces fetch`"))


def sender_lock(engine: Engine, sender: str) -> Lock:
    """Held by a sender for its whole life: while it is held, its `sending` rows are in flight."""
    return Lock(engine, LockName(LockKind.SENDER, sender, f"sender {sender}"))
