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
    head = revisions.head_revision()
    engine = open_engine(database_url(tmp_path, db_url, environ={}))

    assert revisions.current_revision(engine) is None
    with pytest.raises(
        DatabaseError, match=f"has no schema yet, this version needs {head}; run `newsletter db upgrade`"
    ):
        revisions.check_schema(engine)
    assert revisions.upgrade(engine) == (None, head)
    assert revisions.upgrade(engine) == (head, head)
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
        with pytest.raises(
            DatabaseError,
            match=r"revision 0999, newer than this version of newsletter knows "
            rf"\(latest {revisions.head_revision()}\): upgrade newsletter",
        ):
            attempt(db)
    assert revisions.current_revision(db) == "0999"


def test_postgresql_url_takes_its_password_from_the_environment_only(tmp_path):
    url = database_url(
        tmp_path, "postgresql://news@db.example/letters", {"NEWSLETTER_DATABASE_PASSWORD": "s3cret"}
    )
    assert url.drivername == "postgresql+psycopg" and url.password == "s3cret"
    assert redact(url) == "postgresql+psycopg://news:***@db.example/letters"

    with pytest.raises(
        ConfigError, match="remove the password from the URL and set NEWSLETTER_DATABASE_PASSWORD"
    ):
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
    url = database_url(
        tmp_path, f"postgresql://news@127.0.0.1:{port}/letters", {"NEWSLETTER_DATABASE_PASSWORD": "s3cret-pw"}
    )

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


def test_a_full_disk_is_reported_and_nothing_is_half_written(tmp_path):
    engine = open_engine(database_url(tmp_path, None, {}))
    revisions.upgrade(engine)
    from newsletter.db.engine import writing

    # SQLite's own limit on the file's pages gives the same SQLITE_FULL a full disk gives.
    with (
        pytest.raises(DatabaseError, match=r"the disk is full; free some space .*nothing was half-written"),
        writing(engine) as connection,
    ):
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

        with (
            pytest.raises(DatabaseError, match="is locked by another process .* wait for it to finish"),
            writing(engine) as connection,
        ):
            connection.execute(text("INSERT INTO meta (key, value) VALUES ('k', 'v')"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_read_only_sqlite_file_is_named_with_what_to_do():
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="newsletter-ro-"))  # outside pytest's private (0700) folder
    path = folder / "state.sqlite3"
    engine = open_engine(database_url(folder, str(path), {}))
    revisions.upgrade(engine)
    engine.dispose()
    try:
        message = write_as_reader_only(folder, path)
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    assert message == (
        f"{path} is read-only for this user; make the file and its folder writable, or set `database:` to a "
        "file you can write"
    )


def write_as_reader_only(folder: Path, path: Path) -> str:
    """Try a write as a user who may read the database but not write it; return the error's message.

    Root writes any file, so as root a forked child becomes `nobody` (modules already loaded);
    otherwise the file and folder are made read-only.
    """
    import os

    for file in folder.glob("state.sqlite3*"):
        os.chmod(file, 0o444)
    os.chmod(folder, 0o555)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read)
        message = "no error"
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            engine = open_engine(database_url(folder, str(path), {}))
            from newsletter.db.engine import writing

            with writing(engine) as connection:
                connection.execute(text("INSERT INTO meta (key, value) VALUES ('k', 'v')"))
        except Exception as error:  # noqa: BLE001 - reported to the parent, which asserts on it
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        message = pipe.read()
    os.waitpid(child, 0)
    os.chmod(folder, 0o755)
    return message.strip()


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("postgresql+psycopg:/newsletter@127.0.0.1:55433/nl", "write postgresql+psycopg:// then the host"),
        ("postgresql+psycopg:/u:hunter2@h/db", "write postgresql+psycopg:// then the host"),
        ("postgresql://u:hunter2@h:notaport/db", "a port is 1 to 65535"),
        ("postgresql://u:hunter2@h:99999/db", "a port is 1 to 65535"),
        ("sqlite:/state.sqlite3", "write sqlite:/// and the file's path"),
        ("mysql://u:hunter2@h/db", "mysql is not supported"),
        ("postgresql+psycopg:u:hunter2@h/db", "write postgresql+psycopg:// then the host"),
    ],
)
@pytest.mark.parametrize("source", ["newsletter.yaml: database", "NEWSLETTER_DATABASE_URL"])
def test_a_url_that_does_not_parse_is_one_line_never_a_file_and_never_the_password(
    tmp_path, raw, why, source
):
    from_env = source == "NEWSLETTER_DATABASE_URL"
    env = {"NEWSLETTER_DATABASE_URL": raw} if from_env else {}
    with pytest.raises(ConfigError) as caught:
        database_url(tmp_path, None if from_env else raw, env)
    message = caught.value.message
    assert message.startswith(f"{source}: ") and why in message
    assert "\n" not in message and "hunter2" not in message
    assert list(tmp_path.iterdir()) == []  # nothing made on disk


@pytest.mark.parametrize("path", ["state.sqlite3", ".newsletter/state.sqlite3", "data/nl.db"])
def test_a_plain_path_is_still_a_sqlite_file_in_the_workspace(tmp_path, path):
    assert database_url(tmp_path, path, {}).database == str(tmp_path / path)
