"""The state database from the command line: bad URLs and schemas are one line without the password,
`db upgrade`, and `db copy --to` a PostgreSQL database the workspace then uses."""

from __future__ import annotations

from pathlib import Path

from delivery_helpers import free_port
from factories import invoke

from newsletter.db.revisions import head_revision


def run(workspace: Path, *args: str, env: dict[str, str] | None = None):
    return invoke(["-w", str(workspace), *args], env=env or {})


def test_a_server_that_does_not_answer_is_one_line_without_the_password(workspace):
    url = f"postgresql+psycopg://editor:s3cret-pw@127.0.0.1:{free_port()}/newsletter"

    result = run(workspace, "subscribers", "list", env={"NEWSLETTER_DATABASE_URL": url})

    assert result.exit_code == 1 and len(result.output.splitlines()) == 1, result.output
    assert result.output.startswith("Error: postgresql+psycopg://editor:***@127.0.0.1:")
    assert "cannot connect to the database server" in result.output and "s3cret-pw" not in result.output


def test_a_password_in_the_settings_file_is_refused(workspace):
    settings = workspace / "newsletter.yaml"
    settings.write_text(settings.read_text() + "database: postgresql://editor:pw@db.example.org/news\n")

    result = run(workspace, "status")

    assert result.exit_code == 1 and "set NEWSLETTER_DATABASE_PASSWORD instead" in result.output
    assert ":pw@" not in result.output


def test_a_database_of_a_newer_schema_is_refused_untouched(workspace):
    import sqlite3

    assert run(workspace, "db", "upgrade").exit_code == 0
    path = workspace / ".newsletter" / "state.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")

    result = run(workspace, "send", "2026-06", "--dry-run")

    errors = [line for line in result.output.splitlines() if not line.startswith("note:")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "has schema revision 0099, newer than this version of newsletter knows" in result.output


def test_db_upgrade_reports_the_migration_once_and_then_is_up_to_date(workspace):
    first = run(workspace, "db", "upgrade")
    again = run(workspace, "db", "upgrade")

    assert "readers: 5 added, 0 updated, 0 unchanged, 1 opted out" in first.output
    head = head_revision()
    assert first.stdout.endswith(f"schema none -> {head}\n")
    assert (
        again.output.endswith(f"state.sqlite3: schema {head}, up to date\n") and "added" not in again.output
    )


def test_db_copy_moves_everything_to_postgresql_and_the_workspace_then_uses_it(workspace, postgres_url):
    assert run(workspace, "subscribers", "remove", "ana.reader@example.com").exit_code == 0

    copied = run(workspace, "db", "copy", "--to", postgres_url)
    settings = workspace / "newsletter.yaml"
    settings.write_text(settings.read_text() + f"database: {postgres_url}\n")
    listed = run(workspace, "subscribers", "list")

    assert copied.exit_code == 0, copied.output
    assert "6 subscribers" in listed.output and "unsubscribed ana.reader@example.com" in listed.output
    assert "Moved this workspace" not in listed.output  # the copy carried the migration's mark
    again = run(workspace, "db", "copy", "--to", postgres_url)
    assert again.exit_code == 2 and "already uses" in again.output


def test_the_readmes_main_command_sends_the_sample_subscribers_on_a_fresh_copy(workspace):
    built = run(workspace, "build", "2026-06")
    sent = run(workspace, "send", "2026-06", "--yes")

    assert built.exit_code == 0 and sent.exit_code == 0, sent.output
    assert "Moved this workspace's subscriber files and ledger into the state database (once):" in sent.stderr
    assert "Totals: 5 sent" in sent.stdout  # the sample list's five subscribed readers
    assert len(list((workspace / "outbox" / "2026-06").glob("*.eml"))) == 5
