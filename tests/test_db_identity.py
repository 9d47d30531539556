"""A workspace remembers which database holds its ledger; a mistyped or new database never re-sends an
issue, and never receives the readers' files unasked (issue 26 item 1)."""

from __future__ import annotations

import json
from pathlib import Path

from delivery_helpers import write_issue
from factories import invoke

from newsletter.db.identity import WORKSPACE_FILE

SECRET = {"NEWSLETTER_SECRET": "test-secret-for-unsubscribe-links-0123456789"}


def run(workspace: Path, *args: str, env: dict[str, str] | None = None):
    return invoke(["-w", str(workspace), *args], env={**SECRET, **(env or {})})


def use_database(workspace: Path, value: str) -> None:
    path = workspace / "newsletter.yaml"
    path.write_text(path.read_text() + f"database: '{value}'\n")


def sent_to(workspace: Path) -> set[str]:
    return {p.name for p in (workspace / "outbox" / "2026-06").glob("*.eml")}


def test_a_send_on_a_database_without_the_workspaces_sends_is_refused(workspace: Path):
    write_issue(workspace)
    first = run(workspace, "send", "2026-06", "--yes")
    assert first.exit_code == 0, first.output
    remembered = json.loads((workspace / WORKSPACE_FILE).read_text())
    assert remembered["sent"] == ["2026-06"]
    before = sent_to(workspace)

    use_database(workspace, "other/state.sqlite3")  # a new, empty database: a typo's effect
    due = ("send-due", "--now", "2026-06-02T09:05:00-04:00")
    for args in (("send", "2026-06", "--yes"), ("send", "2026-06", "--dry-run"), due):
        again = run(workspace, *args)
        assert again.exit_code != 0, again.output
        assert "this database" in again.output and "has no record of issue 2026-06's send" in again.output
    assert sent_to(workspace) == before  # nobody mailed twice
    # ... and the readers' files did not move into it as a side effect
    listed = run(workspace, "subscribers", "list")
    assert "ana.reader@example.com" not in listed.output and "Moved this workspace" not in listed.output


def test_the_files_move_into_another_database_only_when_asked(workspace: Path):
    write_issue(workspace)
    assert run(workspace, "send", "2026-06", "--yes").exit_code == 0
    use_database(workspace, "named/state.sqlite3")
    assert "ana.reader@example.com" not in run(workspace, "subscribers", "list").output
    moved = run(workspace, "db", "import-legacy")
    assert moved.exit_code == 0 and "readers: 5 added" in moved.output, moved.output
    assert "ana.reader@example.com" in run(workspace, "subscribers", "list").output
    again = run(workspace, "db", "import-legacy")
    assert again.exit_code == 0 and "moved in before; nothing done" in again.output


def test_a_database_copied_with_db_copy_is_the_same_ledger(workspace: Path, postgres_url: str):
    write_issue(workspace)
    assert run(workspace, "send", "2026-06", "--yes").exit_code == 0
    assert run(workspace, "db", "copy", "--to", postgres_url).exit_code == 0
    use_database(workspace, postgres_url)
    again = run(workspace, "send", "2026-06", "--yes")
    assert again.exit_code == 0, again.output  # finished already: nothing sent, nothing refused
    assert "has no record" not in again.output


def one_error_line(result) -> str:
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code != 0 and len(errors) == 1, result.output
    return errors[0]


def readers_in(url: str) -> int:
    from sqlalchemy import func, select

    from newsletter.db import schema as t
    from newsletter.db.engine import database_url, open_engine
    from newsletter.db.revisions import upgrade

    engine = open_engine(database_url(Path("."), url, {}))
    try:
        upgrade(engine)
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(t.subscribers)).scalar_one()
    finally:
        engine.dispose()


def test_a_named_database_gets_the_files_only_when_asked_and_a_send_says_so_in_one_line(
    workspace: Path, postgres_url: str
):
    write_issue(workspace)
    use_database(workspace, postgres_url)

    upgraded = run(workspace, "db", "upgrade")  # fine, and it says what the other commands will
    assert upgraded.exit_code == 0 and "note:" in upgraded.stderr and "db import-legacy" in upgraded.stderr
    for args in (("send", "2026-06", "--yes"), ("status",), ("subscribers", "list")):
        line = one_error_line(run(workspace, *args))
        assert "reader files not yet in it (subscribers/readers.csv, subscribers/suppressed.csv)" in line
        assert "run `newsletter db import-legacy` (once)" in line
    assert not sent_to(workspace) and readers_in(postgres_url) == 0  # nothing moved, nobody mailed

    moved = run(workspace, "db", "import-legacy")
    assert moved.exit_code == 0 and "readers: 5 added" in moved.output, moved.output
    sent = run(workspace, "send", "2026-06", "--yes")
    assert sent.exit_code == 0 and "Totals: 5 sent" in sent.stdout, sent.output
    assert "Moved this workspace" not in sent.output


def test_the_issues_typo_moves_nothing_and_mails_nobody_again(workspace: Path, postgres_server, postgres_url):
    """Issue 26 item 1, end to end: a workspace sending from PostgreSQL, a reader who unsubscribed
    there, then `database:` (or NEWSLETTER_DATABASE_URL) pointing at another, new database."""
    write_issue(workspace)
    use_database(workspace, postgres_url)
    assert run(workspace, "db", "import-legacy").exit_code == 0
    assert run(workspace, "send", "2026-06", "--yes").exit_code == 0
    assert run(workspace, "subscribers", "remove", "ana.reader@example.com").exit_code == 0
    before = sent_to(workspace)
    assert len(before) == 5

    other = "newsletter_typo"
    postgres_server.admin(f"CREATE DATABASE {other}")
    try:
        typo_url = postgres_url.rsplit("/", 1)[0] + f"/{other}"
        settings = workspace / "newsletter.yaml"
        right = settings.read_text()
        one_slash = postgres_url.replace("://", ":/")
        for shape, env in (
            (f"database: '{one_slash}'", {}),  # the issue's typo: an error, never a file
            ("database: 'typo/state.sqlite3'", {}),  # a file path that names another database
            ("", {"NEWSLETTER_DATABASE_URL": typo_url}),  # another PostgreSQL database
        ):
            settings.write_text(right.replace(f"database: '{postgres_url}'", shape))
            for args in (("send", "2026-06", "--yes"), ("send-due", "--now", "2026-06-02T09:05:00-04:00")):
                line = one_error_line(run(workspace, *args, env=env))
                assert "is not a database URL" in line or "has no record of issue 2026-06's send" in line
        assert not (workspace / "postgresql+psycopg:").exists()
        assert readers_in(typo_url) == 0 and readers_in(str(workspace / "typo" / "state.sqlite3")) == 0
    finally:
        postgres_server.admin(f"DROP DATABASE IF EXISTS {other} WITH (FORCE)")
    assert sent_to(workspace) == before  # the reader who unsubscribed, and everyone else: not mailed again


def test_the_files_never_move_into_a_database_already_in_use(workspace: Path, postgres_url: str):
    use_database(workspace, postgres_url)
    assert run(workspace, "db", "upgrade").exit_code == 0
    from newsletter.db.csvimport import import_csv
    from newsletter.db.state import open_database
    from newsletter.store.config import load_settings

    signups = workspace / "signups.csv"  # readers who signed up on the service, say
    signups.write_text("email,name,topics,status,subscribed_at\nzoe@example.org,Zoe,,subscribed,2026-05-01\n")
    import_csv(open_database(load_settings(workspace)), signups, "readers")

    result = run(workspace, "db", "import-legacy")

    line = one_error_line(result)
    assert "already holds readers or sends, so the workspace's old files do not move into it" in line
    assert readers_in(postgres_url) == 1


def test_first_senders_at_once_on_postgresql_agree_on_the_databases_id(postgres_url: str):
    """Both look, find no id, and insert one: the second insert fails on the key, and reads the first's."""
    import threading

    from sqlalchemy import event

    from newsletter.db.engine import database_url, open_engine
    from newsletter.db.identity import database_id
    from newsletter.db.revisions import upgrade

    engine = open_engine(database_url(Path("."), postgres_url, {}))
    upgrade(engine)
    both_looked = threading.Barrier(2)

    @event.listens_for(engine, "before_cursor_execute")
    def _insert_together(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO meta"):
            both_looked.wait(timeout=30)  # each found no id before either inserts

    found: list[str | BaseException] = []

    def first_sender() -> None:
        try:
            found.append(database_id(engine))
        except BaseException as error:  # noqa: BLE001 - the failure is what this test looks for
            found.append(error)

    threads = [threading.Thread(target=first_sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    engine.dispose()
    assert len(found) == 2 and all(isinstance(f, str) for f in found), found
    assert found[0] == found[1]
