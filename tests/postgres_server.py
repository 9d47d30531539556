"""A pytest plugin: a real PostgreSQL server for the test session, one fresh database per test.

The server is Debian's PostgreSQL (15+), initialised in a temporary folder and listening on a free
loopback port. `initdb` refuses to run as root, so as root it runs as the `postgres` user through
`runuser`; as any other user it runs as that user. Where the binaries are missing, the tests that
need the server are skipped with the reason.

Register with `pytest_plugins = ["postgres_server"]` in tests/conftest.py. Fixtures:
`postgres_server` (session), `postgres_url` (a new empty database), `db_url` (parametrised:
a SQLite file, then a PostgreSQL database), `db` (an upgraded Engine on `db_url`).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

BIN_DIRS = ("/usr/local/bin", *sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin")), reverse=True))
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    folder: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement as the superuser, outside a transaction (CREATE/DROP DATABASE)."""
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(sql.encode())  # statements the fixtures write, never user input


def _binary(name: str) -> str | None:
    for folder in BIN_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root but `runuser` is missing (util-linux), so initdb cannot run")
    return [runuser, "-u", "postgres", "--", *command]


def _start(folder: Path) -> PostgresServer:
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("PostgreSQL's initdb/pg_ctl not found (install Debian's `postgresql` package)")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", _free_port()
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")

    def run(command: list[str]) -> None:
        subprocess.run(
            _as_server_user(command), check=True, capture_output=True, text=True, timeout=START_TIMEOUT_S
        )

    run([initdb, "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"])
    # Durability settings off: the tests kill clients, never this throw-away server.
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    run([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"])
    return PostgresServer("127.0.0.1", port, user, folder)


def _stop(server: PostgresServer) -> None:
    pg_ctl = _binary("pg_ctl")
    if pg_ctl:
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(server.folder / "data"), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server, started on first use; skips the test if it cannot start."""
    folder = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
    try:
        server = _start(folder)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        detail = getattr(error, "stderr", "") or ""
        pytest.skip(f"no PostgreSQL server for the tests: {error} {detail.strip()[-300:]}")
    try:
        yield server
    finally:
        _stop(server)


_numbers = itertools.count(1)
TEMPLATE = "newsletter_upgraded"


@contextmanager
def _database(server: PostgresServer, template: str = "template0") -> Iterator[str]:
    name = f"test_{os.getpid()}_{next(_numbers)}"
    # FILE_COPY: a plain copy of the template's files, much faster than the default for small databases.
    server.admin(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
    try:
        yield server.url(name)
    finally:
        server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database on the session's server, dropped after the test."""
    with _database(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def _postgres_template(postgres_server: PostgresServer) -> str:
    """A database at the newest schema revision, copied for each test that wants one ready."""
    from newsletter.db.engine import database_url, open_engine
    from newsletter.db.revisions import upgrade

    postgres_server.admin(f"CREATE DATABASE {TEMPLATE}")
    engine = open_engine(database_url(Path("."), postgres_server.url(TEMPLATE), environ={}))
    upgrade(engine)
    engine.dispose()
    return TEMPLATE


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty state database: a SQLite file, then (second run) a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An upgraded state database, as the tool opens it: a SQLite file, then a PostgreSQL database."""
    from newsletter.db.engine import database_url, open_engine
    from newsletter.db.revisions import upgrade

    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
        else:
            server = request.getfixturevalue("postgres_server")
            url = stack.enter_context(_database(server, request.getfixturevalue("_postgres_template")))
        engine = open_engine(database_url(tmp_path, url, environ={}))
        upgrade(engine)  # a no-op on the copied template; the real upgrade on SQLite
        yield engine
        engine.dispose()
