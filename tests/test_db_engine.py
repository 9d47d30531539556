"""Opening the state database: URLs, schema revisions, and the one-line errors for what goes wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from newsletter.db import revisions
from newsletter.db.engine import DatabaseError, database_url, open_engine, reading, redact
from newsletter.errors import ConfigError


def test_the_default_database_is_a_wal_sqlite_file_in_the_workspace(tmp_path):
    engine = open_engine(database_url(tmp_path, None, environ={}))

    assert Path(engine.url.database) == tmp_path / ".newsletter" / "state.sqlite3"
    with reading(engine) as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_upgrade_creates_the_schema_once_and_reports_the_revisions(db_url, tmp_path):
    engine = open_engine(database_url(tmp_path, db_url, environ={}))

    assert revisions.current_revision(engine) is None
    with pytest.raises(DatabaseError, match="has no schema yet, this version needs 0001; run `newsletter db upgrade`"):
        revisions.check_schema(engine)
    assert revisions.upgrade(engine) == (None, "0001")
    assert revisions.upgrade(engine) == ("0001", "0001")
    revisions.check_schema(engine)


def test_the_live_schema_matches_what_the_migrations_create(db):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from newsletter.db.schema import metadata

    with db.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_a_database_newer_than_the_tool_is_refused_untouched(db):
    with db.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))

    for attempt in (revisions.upgrade, revisions.check_schema):
        with pytest.raises(DatabaseError, match=r"revision 0999, newer than this version of newsletter knows "
                                                r"\(latest 0001\): upgrade newsletter"):  # fmt: skip
            attempt(db)
    assert revisions.current_revision(db) == "0999"


def test_postgresql_url_takes_its_password_from_the_environment_only(tmp_path):
    url = database_url(tmp_path, "postgresql://news@db.example/letters", {"NEWSLETTER_DATABASE_PASSWORD": "s3cret"})
    assert url.drivername == "postgresql+psycopg" and url.password == "s3cret"
    assert redact(url) == "postgresql+psycopg://news:***@db.example/letters"

    with pytest.raises(ConfigError, match="remove the password from the URL and set NEWSLETTER_DATABASE_PASSWORD"):
        database_url(tmp_path, "postgresql://news:s3cret@db.example/letters", {})
    whole = database_url(tmp_path, None, {"NEWSLETTER_DATABASE_URL": "postgresql://news:s3cret@db.example/x"})
    assert whole.password == "s3cret"  # the whole URL may come from the environment
    with pytest.raises(ConfigError, match="mysql is not supported"):
        database_url(tmp_path, "mysql://x@y/z", {})


def test_a_server_that_does_not_answer_is_one_line_without_the_password(tmp_path):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = database_url(tmp_path, f"postgresql://news@127.0.0.1:{port}/letters",
                       {"NEWSLETTER_DATABASE_PASSWORD": "s3cret-pw"})  # fmt: skip

    with pytest.raises(DatabaseError) as caught:
        open_engine(url)

    message = caught.value.message
    assert message.startswith(f"postgresql+psycopg://news:***@127.0.0.1:{port}/letters: cannot connect")
    assert "Connection refused" in message and "s3cret-pw" not in message and "\n" not in message


def test_a_missing_postgresql_database_says_to_create_it(postgres_server, tmp_path):
    url = database_url(tmp_path, postgres_server.url("no_such_db"), {})
    with pytest.raises(DatabaseError, match=r"no_such_db: no such database; create it \(createdb\)"):
        open_engine(url)


def test_a_corrupt_sqlite_file_is_named_with_what_to_do(tmp_path):
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not a database, just some text\n" * 200)

    with pytest.raises(DatabaseError) as caught:
        open_engine(database_url(tmp_path, str(path), {}))
    assert caught.value.message == (
        f"{path} is not a SQLite database or is damaged; restore it from a backup, or move it away and run "
        "`newsletter db upgrade` to start an empty one"
    )
    assert path.read_bytes().startswith(b"this is not a database")  # untouched


def test_a_full_disk_is_reported_and_nothing_is_half_written(db_url, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("filling a PostgreSQL server's disk is not done here; SQLSTATE 53100 maps the same way")
    engine = open_engine(database_url(tmp_path, db_url, {}))
    revisions.upgrade(engine)
    from newsletter.db.engine import writing

    # SQLite's own limit on the file's pages gives the same SQLITE_FULL a full disk gives.
    with pytest.raises(DatabaseError, match=r"the disk is full; free some space .*nothing was half-written"):
        with writing(engine) as connection:
            pages = connection.execute(text("PRAGMA page_count")).scalar()
            connection.execute(text(f"PRAGMA max_page_count = {pages + 1}"))
            connection.execute(text("INSERT INTO meta (key, value) VALUES ('big', :v)"), {"v": "x" * 200_000})
    with reading(engine) as connection:
        assert connection.execute(text("SELECT count(*) FROM meta WHERE key = 'big'")).scalar() == 0


def test_a_locked_sqlite_database_says_who_to_wait_for(tmp_path):
    import sqlite3

    path = tmp_path / "state.sqlite3"
    engine = open_engine(database_url(tmp_path, str(path), {}), busy_timeout=0.2)
    revisions.upgrade(engine)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        from newsletter.db.engine import writing

        with pytest.raises(DatabaseError, match="is locked by another process .* wait for it to finish"):
            with writing(engine) as connection:
                connection.execute(text("INSERT INTO meta (key, value) VALUES ('k', 'v')"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_read_only_sqlite_file_is_named_with_what_to_do(tmp_path):
    path = tmp_path / "state.sqlite3"
    engine = open_engine(database_url(tmp_path, str(path), {}))
    revisions.upgrade(engine)
    engine.dispose()
    message = run_unprivileged(tmp_path, path)
    assert message == (
        f"{path} is read-only for this user; make the file and its folder writable, or set `database:` to a "
        "file you can write"
    )


def run_unprivileged(folder: Path, path: Path) -> str:
    """Open the database as a user who may read but not write it; return the error's message."""
    import os
    import subprocess
    import sys

    if os.geteuid() == 0:  # root writes any file: check as `nobody`, who can only read this one
        for part in (folder, *folder.parents):
            os.chmod(part, os.stat(part).st_mode | 0o005) if part != Path("/") else None
        for file in folder.glob("state.sqlite3*"):
            os.chmod(file, 0o644)
        prefix = ["runuser", "-u", "nobody", "--"]
    else:
        for file in folder.glob("state.sqlite3*"):
            os.chmod(file, 0o444)
        os.chmod(folder, 0o555)
        prefix = []
    script = (
        "import sys; from pathlib import Path\n"
        "from newsletter.db.engine import database_url, open_engine, writing\n"
        "from newsletter.errors import NewsletterError\n"
        "from sqlalchemy import text\n"
        "try:\n"
        f"    e = open_engine(database_url(Path('.'), {str(path)!r}, {{}}))\n"
        "    with writing(e) as c: c.execute(text(\"INSERT INTO meta VALUES ('k', 'v')\"))\n"
        "except NewsletterError as x: print(x.message)\n"
    )
    src = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run([*prefix, sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": src})  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
