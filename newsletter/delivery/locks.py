"""At most one send per issue, and one scheduler, at a time; on PostgreSQL several senders may share a run.

SQLite: `fcntl.flock` on files beside the database, which the kernel releases when the holder dies in
any way (SIGKILL too). PostgreSQL: advisory locks, which the server drops with the holder's
connection, so senders on several machines see each other. Either way no stale lock needs breaking.
"""

from __future__ import annotations

from newsletter.db import locks
from newsletter.db.engine import is_postgresql
from newsletter.db.locks import Lock, LockedError
from newsletter.db.state import open_state
from newsletter.store.config import Settings

__all__ = ["Lock", "LockedError", "issue_lock", "scheduler_lock", "shares_runs"]


def shares_runs(settings: Settings) -> bool:
    """Whether several `send` processes may work one run together (PostgreSQL: they claim rows)."""
    return is_postgresql(open_state(settings))


def issue_lock(settings: Settings, issue_id: str, shared: bool = False) -> Lock:
    """The issue's send lock; `shared` lets several senders of one run hold it together."""
    return locks.issue_lock(open_state(settings), issue_id, shared)


def scheduler_lock(settings: Settings) -> Lock:
    return locks.scheduler_lock(open_state(settings))
