"""The workspace's state database, opened once per process and upgraded to this version's schema; and
when an old workspace's files (subscribers/*.csv, suppressed.csv, the old ledger) move into it.

They move on their own only into the embedded SQLite database that nobody named (the default,
`.newsletter/state.sqlite3`): that is why the README's main command works on a fresh clone, and a
typo cannot route there. A database named by `database:` or NEWSLETTER_DATABASE_URL, or another than
the one the workspace has sent from (db/identity.py), gets them only when asked (`newsletter db
import-legacy`); until then a command that needs the readers refuses it in one line, so a mistyped
URL that reaches a new database never sends to the files' readers as a side effect.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from newsletter.db.announce import migrated
from newsletter.db.engine import URL_VARIABLE, database_url, describe, open_engine, reading
from newsletter.db.identity import remembers_another_database, require_known_database
from newsletter.db.migrate import (
    MigrationReport,
    holds_readers_or_sends,
    migrate_workspace,
    old_files,
    was_migrated,
)
from newsletter.db.revisions import upgrade
from newsletter.errors import ConfigError, NewsletterError
from newsletter.store.config import Settings
from newsletter.store.subscriber_files import topic_vocabulary
from newsletter.store.topics import load_taxonomy

_engines: dict[str, Engine] = {}
_settled: set[tuple[str, Path]] = set()  # (database, workspace): the files are in, or the database in use
_lock = threading.Lock()


def url_of(settings: Settings) -> URL:
    """The database this workspace uses (NEWSLETTER_DATABASE_URL, `database:`, or the SQLite default)."""
    return database_url(settings.workspace, settings.database)


def _key(settings: Settings) -> str:
    return url_of(settings).render_as_string(hide_password=False)


def is_named(settings: Settings) -> bool:
    """Whether `database:` or NEWSLETTER_DATABASE_URL names the database (else it is the default)."""
    return bool(os.environ.get(URL_VARIABLE) or settings.database)


def open_database(settings: Settings) -> Engine:
    """The workspace's database, upgraded (the default one with the old files moved in); the same Engine
    for the rest of the process. The `db` commands use it as it is; the others call `open_state`."""
    url = url_of(settings)
    key = url.render_as_string(hide_password=False)
    with _lock:
        engine = _engines.get(key)
        if engine is not None and url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():
            engine.dispose()  # the file was removed (a test, an operator starting over): open afresh
            _settled.difference_update({k for k in _settled if k[0] == key})
            engine = None
        if engine is None:
            engine = open_engine(url)
            upgrade(engine)
            move_files_if_default(engine, settings)
            _engines[key] = engine
        return engine


def open_state(settings: Settings) -> Engine:
    """The workspace's database for a command that needs its readers: refused in one line while the
    workspace's reader files have not moved into a new, named database (see the module)."""
    engine = open_database(settings)
    key = (_key(settings), settings.workspace)
    if key not in _settled:
        refuse_unmoved_files(engine, settings)
        _settled.add(key)
    return engine


def move_files_if_default(engine: Engine, settings: Settings) -> None:
    """The automatic move: only into the default database of a workspace that has not sent elsewhere."""
    if is_named(settings) or remembers_another_database(engine, settings.workspace):
        return
    report = migrate_old_workspace(engine, settings)
    if not report.already:
        migrated(report.lines())


def refuse_unmoved_files(engine: Engine, settings: Settings) -> None:
    """One line if the workspace's reader files have not moved into this new database (see the module)."""
    files = old_files(settings.workspace, settings.path(settings.delivery.ledger))
    if not files:
        return
    with reading(engine) as connection:
        if was_migrated(connection) or holds_readers_or_sends(connection):
            return
    require_known_database(engine, settings.workspace)  # a workspace that sent elsewhere: say that first
    names = ", ".join(_shown(p, settings.workspace) for p in files)
    which = (
        f"the database {URL_VARIABLE} names"
        if os.environ.get(URL_VARIABLE)
        else "the database `database:` names"
        if settings.database
        else "the default database"
    )
    raise ConfigError(
        f"{describe(engine.url)} holds no readers, and this workspace has reader files not yet in it "
        f"({names}); if {which} is the right one, run `newsletter db import-legacy` (once)"
    )


def _shown(path: Path, workspace: Path) -> str:
    return str(path.relative_to(workspace)) if path.is_relative_to(workspace) else str(path)


def migrate_old_workspace(
    engine: Engine, settings: Settings, *, only_into_new: bool = False
) -> MigrationReport:
    """The once-only move of the workspace's files into the database (a no-op report after the first)."""
    try:
        vocabulary = topic_vocabulary(load_taxonomy(settings.workspace))
    except NewsletterError:  # a taxonomy problem is `check`'s to report; topics are then kept as written
        vocabulary = None
    return migrate_workspace(
        engine,
        settings.workspace,
        vocabulary,
        settings.path(settings.delivery.ledger),
        only_into_new=only_into_new,
    )


def forget(settings: Settings) -> None:
    """Close this workspace's Engine (before the database is replaced, say by a test)."""
    key = _key(settings)
    with _lock:
        engine = _engines.pop(key, None)
        _settled.difference_update({k for k in _settled if k[0] == key})
    if engine is not None:
        engine.dispose()
