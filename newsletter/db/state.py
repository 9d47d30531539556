"""The workspace's state database, opened once per process: upgraded to this version's schema, and an old
workspace's files (subscribers/*.csv, suppressed.csv, the old ledger) moved into it the first time.

That is why the README's main command works on a fresh clone. But a workspace that has sent from
another database (db/identity.py) moves nothing on its own into this one: a mistyped URL that
reaches a new database must not receive the readers' data as a side effect of `send`; there the
files move only when asked (`newsletter db import-legacy`).
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from newsletter.db.announce import migrated
from newsletter.db.engine import database_url, open_engine
from newsletter.db.identity import remembers_another_database
from newsletter.db.migrate import MigrationReport, migrate_workspace
from newsletter.db.revisions import upgrade
from newsletter.errors import NewsletterError
from newsletter.store.config import Settings
from newsletter.store.subscriber_files import topic_vocabulary
from newsletter.store.topics import load_taxonomy

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def url_of(settings: Settings) -> URL:
    """The database this workspace uses (NEWSLETTER_DATABASE_URL, `database:`, or the SQLite default)."""
    return database_url(settings.workspace, settings.database)


def open_state(settings: Settings) -> Engine:
    """The workspace's database, upgraded and migrated; the same Engine for the rest of the process."""
    url = url_of(settings)
    key = url.render_as_string(hide_password=False)
    with _lock:
        engine = _engines.get(key)
        if engine is not None and url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():
            engine.dispose()  # the file was removed (a test, an operator starting over): open afresh
            engine = None
        if engine is None:
            engine = open_engine(url)
            upgrade(engine)
            if not remembers_another_database(engine, settings.workspace):
                report = migrate_old_workspace(engine, settings)
                if not report.already:
                    migrated(report.lines())
            _engines[key] = engine
        return engine


def migrate_old_workspace(engine: Engine, settings: Settings) -> MigrationReport:
    """The once-only move of the workspace's files into the database (a no-op report after the first)."""
    try:
        vocabulary = topic_vocabulary(load_taxonomy(settings.workspace))
    except NewsletterError:  # a taxonomy problem is `check`'s to report; topics are then kept as written
        vocabulary = None
    return migrate_workspace(engine, settings.workspace, vocabulary, settings.path(settings.delivery.ledger))


def forget(settings: Settings) -> None:
    """Close this workspace's Engine (before the database is replaced, say by a test)."""
    with _lock:
        engine = _engines.pop(url_of(settings).render_as_string(hide_password=False), None)
    if engine is not None:
        engine.dispose()
