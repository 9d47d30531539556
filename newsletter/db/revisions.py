"""Which schema revision a database has, and bringing it to this version's (Alembic, run in-process).

A database already at the head revision is recognised by one query of its `alembic_version` row; Alembic is
loaded only to migrate, or to name a revision that is not the head.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from newsletter.db.engine import DatabaseError, describe, is_postgresql, writing

if TYPE_CHECKING:
    from alembic.config import Config

VERSIONS = Path(__file__).parent / "migrations" / "versions"
_ASSIGNED = re.compile(
    r"""^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:["']([^"']+)["']|None)""", re.MULTILINE
)

UPGRADE_COMMAND = "newsletter db upgrade"
# Any fixed pair of numbers no other tool is likely to use: serialises concurrent upgrades on PostgreSQL.
_UPGRADE_LOCK = (7_281_001, 0)


@cache
def _config() -> Config:
    from alembic.config import Config

    # Alembic tells of every schema look-up at INFO; the service's health check would log it each time.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    config = Config()
    config.set_main_option("script_location", "newsletter.db:migrations")
    return config


@cache
def head() -> str:
    """The newest revision, read from the migration files' `revision = "..."` and `down_revision`
    lines without loading Alembic: the one revision no other names as its parent.
    (tests/test_startup.py proves it is the head Alembic finds.)"""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        for name, value in _ASSIGNED.findall(path.read_text(encoding="utf-8")):
            (revisions if name == "revision" else parents).add(value)
    heads = revisions - parents
    if len(heads) != 1:
        return head_revision()  # a branched history (or none): Alembic's rules decide
    return heads.pop()


def head_revision() -> str:
    """The newest revision of the migrations folder, as Alembic reads it (`head()` says the same)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None for a database no migration has touched yet."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every pending migration in one transaction; returns (revision before, revision after).

    A database newer than the tool is refused, untouched. Concurrent upgrades queue (PostgreSQL: an
    advisory lock; SQLite: the write lock), so the second finds nothing left to do.
    """
    current = current_revision(engine)
    if current == head():  # the usual case: one query, no Alembic
        return current, current
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with writing(engine) as connection:
        if is_postgresql(connection):
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _UPGRADE_LOCK[0], "b": _UPGRADE_LOCK[1]}
            )
        before = MigrationContext.configure(connection).get_current_revision()
        _refuse_newer(engine, before)
        if before != head_revision():
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    return before, head_revision()


def check_schema(engine: Engine) -> None:
    """Refuse a database whose schema is not this tool's, saying what to run (never changes anything)."""
    revision = current_revision(engine)
    if revision == head():
        return
    _refuse_newer(engine, revision)
    if revision != head_revision():
        state = "has no schema yet" if revision is None else f"has schema revision {revision}"
        raise DatabaseError(
            f"{describe(engine.url)} {state}, this version needs {head_revision()}; run `{UPGRADE_COMMAND}`"
        )


def _refuse_newer(engine: Engine, revision: str | None) -> None:
    if revision is not None and revision not in known_revisions():
        raise DatabaseError(
            f"{describe(engine.url)} has schema revision {revision}, newer than this version of newsletter "
            f"knows (latest {head_revision()}): upgrade newsletter here (pip install -U newsletter)"
        )
