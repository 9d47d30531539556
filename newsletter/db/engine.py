"""Open the state database from its URL, and turn its failures into one-line errors that say what to do.

SQLite (the default, a file in the workspace) runs in WAL mode with a busy timeout and foreign keys on;
write transactions start with `BEGIN IMMEDIATE` so two writers queue instead of failing half-way.
PostgreSQL takes its password from NEWSLETTER_DATABASE_PASSWORD, never from a file.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import URL, ExceptionContext, make_url

from newsletter.errors import ConfigError, NewsletterError
from newsletter.store.dburl import EXAMPLE, looks_like_url, url_problem
from newsletter.text import shown_url

DEFAULT_SQLITE = ".newsletter/state.sqlite3"
URL_VARIABLE = "NEWSLETTER_DATABASE_URL"
PASSWORD_VARIABLE = "NEWSLETTER_DATABASE_PASSWORD"
BUSY_TIMEOUT_S = 30.0
STATEMENT_TIMEOUT_S = 300.0  # PostgreSQL; the slowest statement of a large send takes seconds
LOCK_TIMEOUT_S = 60
_WRITE = "newsletter_write"  # execution option: this transaction writes (SQLite: BEGIN IMMEDIATE)


class DatabaseError(NewsletterError):
    """The state database cannot be used as it is: the message says which and what to do."""


def database_url(
    workspace: Path, configured: str | None = None, environ: Mapping[str, str] | None = None
) -> URL:
    """The database to open: NEWSLETTER_DATABASE_URL, else `database:` from newsletter.yaml, else the default.

    A relative SQLite path is relative to the workspace; anything that starts like a URL must parse as
    one (store/dburl.py), never becoming a file path. The configured URL must not carry a password
    (settings files get committed); NEWSLETTER_DATABASE_PASSWORD supplies it.
    """
    env = os.environ if environ is None else environ
    from_env = env.get(URL_VARIABLE)
    raw = from_env or configured or DEFAULT_SQLITE
    where = URL_VARIABLE if from_env else "newsletter.yaml: database"
    problem = url_problem(raw)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    try:
        url = make_url(raw.strip()) if looks_like_url(raw) else URL.create("sqlite", database=raw)
    except (exc.ArgumentError, ValueError):
        raise ConfigError(
            f"{where}: {shown_url(raw)!r} is not a database URL; use a file path or {EXAMPLE}"
        ) from None
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ConfigError(f"{where}: give the SQLite file's path (an in-memory database keeps nothing)")
        path = Path(url.database).expanduser()
        return url.set(database=str(path if path.is_absolute() else workspace / path))
    if url.get_backend_name() != "postgresql":
        raise ConfigError(f"{where}: {url.get_backend_name()} is not supported; use SQLite or PostgreSQL")
    if url.password is not None and not from_env:
        raise ConfigError(
            f"{where}: remove the password from the URL and set {PASSWORD_VARIABLE} instead "
            "(settings files end up in git)"
        )
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # the driver we depend on
    if env.get(PASSWORD_VARIABLE):
        url = url.set(password=env[PASSWORD_VARIABLE])
    return url


def redact(url: URL | str) -> str:
    """A URL as it may be shown: the password replaced by ***."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except exc.ArgumentError:
            return "(unreadable URL)"
    return url.render_as_string(hide_password=True)


def describe(url: URL) -> str:
    """How an error names the database: the file for SQLite, the redacted URL for a server."""
    return str(url.database) if url.get_backend_name() == "sqlite" else redact(url)


def open_engine(
    url: URL, *, busy_timeout: float = BUSY_TIMEOUT_S, statement_timeout: float = STATEMENT_TIMEOUT_S
) -> Engine:
    """An Engine for the URL, connected once so a wrong URL fails here with a one-line DatabaseError.

    On PostgreSQL nothing waits without end: connecting gives up after 10 s, a statement after
    `statement_timeout`, a lock wait after `LOCK_TIMEOUT_S`, and TCP keepalives with a user timeout
    drop a connection whose server or network has gone silent; each ends as one DatabaseError line.
    """
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, busy_timeout)
    else:
        app = f"newsletter pid {os.getpid()} on {socket.gethostname()}"[:63]
        # jit=off: the server compiles any statement its planner thinks costly (status's health of 24
        # issues), spending ~100 ms compiling for a statement that then runs in a few hundred.
        # temp_buffers: an import's staging tables (csvstage) are temporary; at the default 8 MB a
        # large file's pages go back and forth to disk. Allocated only by a session that uses them.
        options = (
            f"-c statement_timeout={int(statement_timeout * 1000)} -c lock_timeout={LOCK_TIMEOUT_S * 1000}"
            " -c jit=off -c temp_buffers=256MB"
        )
        engine = create_engine(
            url,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": 10,
                "application_name": app,
                "options": options,
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
                "tcp_user_timeout": 60_000,  # ms unacknowledged before the connection counts as dead
            },
        )
    event.listen(engine, "handle_error", _translate)
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    return engine


def _sqlite_engine(url: URL, busy_timeout: float) -> Engine:
    path = Path(str(url.database))
    if not path.parent.is_dir():
        try:
            path.parent.mkdir(parents=True)
        except OSError as error:
            raise DatabaseError(
                f"{path.parent}: cannot create the database folder ({error.strerror})"
            ) from None
    # LIFO: a thread gets back the connection it used last, whose page cache is still warm when no
    # other connection wrote since (a send's thread reads and writes the ledger on it all the time).
    engine = create_engine(
        url, connect_args={"timeout": busy_timeout, "check_same_thread": False}, pool_use_lifo=True
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL survives any process crash; only a power cut can lose the last commits.
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A reader that later writes can fail with SQLITE_BUSY whatever the timeout: writers say so up front.
        immediate = connection.get_execution_options().get(_WRITE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed at the end, rolled back whole on any error."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
            yield connection


def writer_connection(engine: Engine) -> Connection:
    """A connection kept for many write transactions (`with connection.begin():` each; SQLite: BEGIN
    IMMEDIATE): the send's one ledger writer holds it for the whole run. Close it when done."""
    connection = engine.connect()
    connection.execution_options(**{_WRITE: True})
    return connection


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """One read transaction: a consistent snapshot (WAL readers never block the writer)."""
    with engine.connect() as connection, connection.begin():
        yield connection


def is_postgresql(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


# -- errors ------------------------------------------------------------------------------------------

_SQLITE_PROBLEMS = (
    # (text in SQLite's message, what it means and what to do); {db} is the file
    (
        "file is not a database",
        "{db} is not a SQLite database or is damaged; restore it from a backup, "
        "or move it away and run `newsletter db upgrade` to start an empty one",
    ),
    (
        "database disk image is malformed",
        "{db} is damaged; restore it from a backup (or try `sqlite3 {db} .recover`)",
    ),
    (
        "readonly database",
        "{db} is read-only for this user; make the file and its folder writable, "
        "or set `database:` to a file you can write",
    ),
    (
        "database or disk is full",
        "{db}: the disk is full; free some space and run the command again (nothing was half-written)",
    ),
    (
        "disk i/o error",
        "{db}: the disk reported an I/O error; check the disk and free space, then run the command again",
    ),
    (
        "database is locked",
        "{db} is locked by another process (a send, an import or the service) for "
        "longer than the busy timeout; wait for it to finish and run the command again",
    ),
    (
        "unable to open database file",
        "{db} cannot be opened; check that its folder exists and is "
        "writable by this user (WAL mode needs to create files beside it)",
    ),
)

_PG_CODES = {
    # SQLSTATE -> what it means and what to do; {db} is the redacted URL
    "57014": "{db}: a statement did not finish within its time limit (statement_timeout); the database "
    "server is overloaded or stuck: check it, then run the command again (a send resumes where it stopped)",
    "53100": "{db}: the database server's disk is full; free space on the server and run the command again",
    "25006": "{db} is read-only (a standby, or default_transaction_read_only); point `database:` at the "
    "primary server",
    "55P03": "{db}: a row or table is locked by another process for too long; wait and run the command again",
    "3D000": "{db}: no such database; create it (createdb) or fix `database:` in newsletter.yaml",
    "28P01": "{db}: the server refused the password; set NEWSLETTER_DATABASE_PASSWORD to the right one",
    "28000": "{db}: the server refused this user; check the user in the URL and the server's pg_hba.conf",
    "42501": "{db}: this user lacks a permission the tool needs; grant it, or use the database's owner",
}

_PG_CONNECT_TEXTS = (
    ('role "', "28000"),  # role "x" does not exist
    ("does not exist", "3D000"),  # database "x" does not exist
    ("password authentication failed", "28P01"),
    ("no password supplied", "28P01"),
    ("no pg_hba.conf entry", "28000"),
)


def _translate(context: ExceptionContext) -> None:
    """SQLAlchemy's error hook: replace a driver's operational error with a one-line DatabaseError.

    Integrity and programming errors pass through: those are ours to handle (or bugs), not the user's.
    """
    original = context.original_exception
    if isinstance(context.sqlalchemy_exception, exc.IntegrityError | exc.ProgrammingError):
        return
    if context.engine is None:
        return
    message = problem_message(context.engine.url, original)
    if message:
        raise DatabaseError(message) from None


def problem_message(url: URL, error: BaseException) -> str | None:
    """The one-line message for a driver error on this database, or None if it is not a known problem."""
    text = " ".join(str(error).split())
    if url.get_backend_name() == "sqlite":
        db = describe(url)
        lowered = text.lower()
        if "readonly" in lowered or (
            "unable to open" in lowered and Path(db).exists() and not os.access(db, os.W_OK)
        ):
            return _SQLITE_PROBLEMS[2][1].format(db=db)
        return next((m.format(db=db) for key, m in _SQLITE_PROBLEMS if key in lowered), None)
    db = redact(url)
    code = getattr(error, "sqlstate", None) or next(
        (c for key, c in _PG_CONNECT_TEXTS if key in text), None
    )  # a refusal while connecting comes without its SQLSTATE: recognise its text
    if code in _PG_CODES:
        return _PG_CODES[code].format(db=db)
    if code is None or code.startswith("08"):  # no answer at all, or a connection exception
        reason = text.rsplit("failed:", 1)[-1].strip()
        if url.password:
            reason = reason.replace(url.password, "***")
        return (
            f"{db}: cannot connect to the database server ({reason[:200]}); check that it runs and "
            f"that the host, port and user in `database:` (or {URL_VARIABLE}) are right"
        )
    return None
