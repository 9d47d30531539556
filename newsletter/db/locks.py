"""Locks that die with their holder: per issue (a send), the scheduler, and each sending worker's lease.

SQLite: `fcntl.flock` on a file beside the database, which the kernel drops when the process exits
in any way (SIGKILL too). PostgreSQL: session advisory locks, which the server drops when the
holder's connection ends, so senders on different machines share them. Shared mode lets several
senders work one run together while an exclusive holder (say, a re-plan) keeps them out.
"""

from __future__ import annotations

import fcntl
import os
import socket
import zlib
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from newsletter.db.engine import is_postgresql
from newsletter.errors import DeliveryError

ISSUE_NAMESPACE = 7_281_002  # advisory lock key pairs: (namespace, crc of the name)
WORKER_NAMESPACE = 7_281_003


class LockedError(DeliveryError):
    """Another process holds the lock; `holder` says which (pid, host, since when)."""

    def __init__(self, message: str, holder: str = ""):
        super().__init__(message)
        self.holder = holder


def _key(name: str) -> int:
    """A signed 32-bit key for a name (advisory locks take two int4 keys)."""
    return zlib.crc32(name.encode()) - 2**31


def lock_folder(engine: Engine) -> Path:
    """Where SQLite's lock files live: `locks/` beside the database file."""
    return Path(str(engine.url.database)).parent / "locks"


class Lock:
    """One named lock, taken at once or refused with LockedError naming the holder."""

    def __init__(self, engine: Engine, namespace: int, name: str, what: str, shared: bool = False):
        self.engine, self.namespace, self.name, self.what, self.shared = engine, namespace, name, what, shared
        self._fd: int | None = None
        self._connection: Connection | None = None

    def acquire(self) -> None:
        if is_postgresql(self.engine):
            self._acquire_advisory()
        else:
            self._acquire_flock()

    def _acquire_flock(self) -> None:
        path = lock_folder(self.engine) / f"{self.name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise LockedError(
                f"{self.what} is already running ({holder}); wait for it to finish", holder
            ) from None
        if not self.shared:  # shared holders would overwrite each other's line
            os.ftruncate(fd, 0)
            os.pwrite(fd, _holder_line().encode(), 0)
        self._fd = fd

    def _acquire_advisory(self) -> None:
        connection = self.engine.connect()
        function = "pg_try_advisory_lock_shared" if self.shared else "pg_try_advisory_lock"
        got = connection.execute(
            text(f"SELECT {function}(:ns, :key)"), {"ns": self.namespace, "key": _key(self.name)}
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
                {"ns": self.namespace, "key": _key(self.name) & 0xFFFFFFFF},
            ).all()
        return "; ".join(
            f"{app or 'a client'} since {start:%Y-%m-%d %H:%M:%S}" for app, _addr, start in names
        )

    def held_elsewhere(self) -> bool:
        """Whether someone else holds this lock now (takes and drops it if nobody does)."""
        try:
            probe = Lock(self.engine, self.namespace, self.name, self.what)
            probe.acquire()
        except LockedError:
            return True
        probe.release()
        return False

    def release(self) -> None:
        if self._fd is not None:
            if self.namespace == WORKER_NAMESPACE:  # a lease's file is its own: no one takes it after
                (lock_folder(self.engine) / f"{self.name}.lock").unlink(missing_ok=True)
            os.close(self._fd)  # closing drops the flock; an issue's file stays for the next holder
            self._fd = None
        if self._connection is not None:
            # Unlocked explicitly: a closed socket is noticed by the server only moments later.
            function = "pg_advisory_unlock_shared" if self.shared else "pg_advisory_unlock"
            try:
                self._connection.execute(text(f"SELECT {function}(:ns, :key)"),
                                         {"ns": self.namespace, "key": _key(self.name)})  # fmt: skip
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
    return Lock(engine, ISSUE_NAMESPACE, issue_id, f"a send of issue {issue_id}", shared)


def scheduler_lock(engine: Engine) -> Lock:
    return Lock(engine, ISSUE_NAMESPACE, "send-due", "send-due")


def worker_lease(engine: Engine, worker: str) -> Lock:
    """Held by a sending worker for its whole life: while it is held, its `sending` rows are in flight."""
    return Lock(engine, WORKER_NAMESPACE, f"worker-{worker}", f"worker {worker}")
