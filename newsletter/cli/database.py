"""The database commands: `db upgrade` (apply migrations), `db copy --to URL` (SQLite to PostgreSQL),
`db status`; and the printer of a workspace migration's report."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from newsletter.cli.core import UsageError, command, echo, group
from newsletter.db.announce import on_migration

if TYPE_CHECKING:  # annotations only: `--help` need not load the workspace
    from newsletter.store.workspace import Workspace


def _print_migration(lines: list[str]) -> None:
    echo("Moved this workspace's subscriber files and ledger into the state database (once):", err=True)
    for line in lines:
        echo(f"  {line}", err=True)


on_migration(_print_migration)


db = group(
    "db",
    """The state database (subscribers, suppression, events, the delivery ledger).

`database:` in newsletter.yaml names it (default: .newsletter/state.sqlite3); the password comes
from NEWSLETTER_DATABASE_PASSWORD, or the whole URL from NEWSLETTER_DATABASE_URL.

Example:
    newsletter db upgrade
    newsletter db copy --to postgresql+psycopg://newsletter@db.example.org/newsletter
""",
)


@command("upgrade", db)
def db_upgrade(ws: Workspace) -> None:
    """Bring the database to this version's schema (every command does it too), and show where it is.

    Example:
        newsletter db upgrade
    """
    from newsletter.db.engine import describe, open_engine
    from newsletter.db.revisions import upgrade
    from newsletter.db.state import move_files_if_default, refuse_unmoved_files, url_of
    from newsletter.errors import NewsletterError

    url = url_of(ws.settings)
    engine = open_engine(url)
    try:
        before, after = upgrade(engine)
        move_files_if_default(engine, ws.settings)
        try:
            refuse_unmoved_files(engine, ws.settings)
        except NewsletterError as waiting:  # upgrading is fine; the other commands will refuse
            echo(f"note: {waiting.message}", err=True)
    finally:
        engine.dispose()
    if before == after:
        echo(f"{describe(url)}: schema {after}, up to date")
    else:
        echo(f"{describe(url)}: schema {before or 'none'} -> {after}")


@command("import-legacy", db)
def db_import_legacy(ws: Workspace) -> None:
    """Move the workspace's old files (subscribers/*.csv, suppressed.csv, the old ledger) into the database.

    Once, into a new database (no readers or sends yet), all or nothing; the files are left as they
    are. Only the default database (`.newsletter/state.sqlite3`, not named in newsletter.yaml) gets
    them on its own, on first use; a database named by `database:` or NEWSLETTER_DATABASE_URL only
    this way, so a mistyped URL never receives them as a side effect.

    Example:
        newsletter db import-legacy
    """
    from newsletter.db.engine import describe
    from newsletter.db.state import migrate_old_workspace, open_database

    engine = open_database(ws.settings)
    report = migrate_old_workspace(engine, ws.settings, only_into_new=True)
    if report.already:
        echo(f"{describe(engine.url)}: the workspace's files were moved in before; nothing done")
    else:
        _print_migration(report.lines())


@command("status", db)
def db_status(ws: Workspace) -> None:
    """Show which database the workspace uses, its schema and how many rows each table holds.

    Example:
        newsletter db status
    """
    from newsletter.db.engine import describe
    from newsletter.db.migrate import table_counts
    from newsletter.db.revisions import current_revision
    from newsletter.db.state import open_database

    engine = open_database(ws.settings)
    echo(f"{describe(engine.url)} ({engine.dialect.name}), schema {current_revision(engine)}")
    for table, n in table_counts(engine).items():
        echo(f"  {table}: {n}")


@command("copy", db)
@click.option("--to", "target", required=True, metavar="URL", help="An empty PostgreSQL database.")
def db_copy(ws: Workspace, target: str) -> None:
    """Copy this workspace's database into another, empty one (moving from SQLite to PostgreSQL).

    All of it or none of it. Then set `database:` to the new URL (the password in
    NEWSLETTER_DATABASE_PASSWORD, never in the file).

    Example:
        NEWSLETTER_DATABASE_PASSWORD=... newsletter db copy --to postgresql+psycopg://newsletter@db/newsletter
    """
    from newsletter.db.engine import URL_VARIABLE, database_url, describe, open_engine
    from newsletter.db.migrate import copy_database
    from newsletter.db.revisions import upgrade
    from newsletter.db.state import open_database

    source = open_database(ws.settings)
    # --to is the target whatever NEWSLETTER_DATABASE_URL says (that names the source, if anything).
    environ = {k: v for k, v in os.environ.items() if k != URL_VARIABLE}
    url = database_url(ws.root, target, environ)
    if describe(url) == describe(source.url):
        raise UsageError("--to names the database this workspace already uses; give another one")
    engine = open_engine(url)
    try:
        upgrade(engine)
        copied = copy_database(source, engine)
    finally:
        engine.dispose()
    echo(f"copied into {describe(url)}: " + ", ".join(f"{n} {table}" for table, n in copied.items()))
    echo(f"Now set `database: {describe(url)}` in newsletter.yaml (the password stays in the environment).")


COMMANDS = [db]
