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
