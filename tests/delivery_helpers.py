"""Helpers for the delivery tests: a ready issue and a synthetic subscriber list in a workspace."""

from __future__ import annotations

from pathlib import Path

ISSUE_ID = "2026-06"

ISSUE_YAML = """\
title: "MS Research Roundup, June 2026"
subject: "Microglia, healing and harm"
preheader: "Two new studies in plain language"
window: {{since: 2026-05-01, until: 2026-05-31}}
send_at: {send_at}
intro: |
  A short note from the editor.
sections:
  - title: Immune cells and inflammation
    items:
      - 2026-05-06-microglia-affect-ms-healing-harm-explained
      - 2026-05-14-lab-grown-human-microglia-point-targets
"""


def write_issue(
    workspace: Path, issue_id: str = ISSUE_ID, send_at: str = "2026-06-02T09:00:00-04:00"
) -> Path:
    path = workspace / "issues" / f"{issue_id}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(ISSUE_YAML.format(send_at=send_at), encoding="utf-8")
    return path


def reader(n: int) -> str:
    return f"reader{n:04d}@example.org"


def write_readers(workspace: Path, count: int) -> list[str]:
    """Replace the sample lists with one list of `count` subscribers; returns their addresses.

    Written before the workspace's first command, the files move into the default database on first
    use; a database named in newsletter.yaml gets them here, the explicit way (`db import-legacy`).
    """
    folder = workspace / "subscribers"
    for old in folder.glob("*.csv"):
        old.unlink()
    emails = [reader(n) for n in range(count)]
    rows = [f"{email},Reader {n},,subscribed,2026-01-01" for n, email in enumerate(emails)]
    (folder / "readers.csv").write_text(
        "email,name,topics,status,subscribed_at\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    (folder / "suppressed.csv").write_text("email,reason,date\n", encoding="utf-8")
    if "\ndatabase:" in (workspace / "newsletter.yaml").read_text():
        move_files_in(workspace)
    return emails


def move_files_in(workspace: Path) -> None:
    """What `newsletter db import-legacy` does: the workspace's files into its (named, new) database."""
    from newsletter.db.state import migrate_old_workspace, open_database
    from newsletter.store.config import load_settings

    settings = load_settings(workspace)
    migrate_old_workspace(open_database(settings), settings, only_into_new=True)


def state(workspace: Path):
    """The workspace's state database, as the commands open it (upgraded, the files moved in once)."""
    from newsletter.db.state import open_state
    from newsletter.store.config import load_settings

    return open_state(load_settings(workspace))


def workspace_ledger(workspace: Path):
    """The workspace's ledger (use it in a `with`)."""
    from newsletter.delivery.ledger import Ledger

    return Ledger(state(workspace))


def add_readers(workspace: Path, rows: list[str], list_name: str = "readers") -> None:
    """Add subscribers to the workspace's database (CSV lines `email,name,topics,status,subscribed_at`)."""
    from newsletter.db.csvimport import import_csv

    path = workspace / f".import-{list_name}.csv"
    path.write_text("email,name,topics,status,subscribed_at\n" + "".join(r + "\n" for r in rows), "utf-8")
    import_csv(state(workspace), path, list_name)
    path.unlink()


def sqlite_state(folder: Path):
    """An upgraded, empty SQLite state database in `folder`."""
    from newsletter.db.engine import database_url, open_engine
    from newsletter.db.revisions import upgrade

    engine = open_engine(database_url(folder, None, {}))
    upgrade(engine)
    return engine


class RecordingSink:
    """An aiosmtpd handler that records every accepted message and can be told to refuse some.

    `replies[address]` is a list of RCPT replies to give that address first (e.g. "451 4.3.0 busy");
    `drop[address]` is how many times to drop the connection at RCPT, before the message is handed over.
    """

    def __init__(self):
        import threading

        self.lock = threading.Lock()
        self.received: list[tuple[str, str]] = []  # (recipient, Message-ID)
        self.messages: list[bytes] = []  # each message's bytes, in the order they arrived
        self.mail_from: dict[str, str] = {}  # recipient -> the envelope sender (MAIL FROM) it came with
        self.replies: dict[str, list[str]] = {}
        self.drop: dict[str, int] = {}
        self.refuse_all: str | None = None
        # `hold_after(n)`: from the n-th message on, each DATA waits for a permit (`release`), so a
        # test holds a send mid-run with its messages in flight, without timing anything.
        self.held_from: int | None = None
        self.permits = threading.Semaphore(0)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            if self.refuse_all:
                return self.refuse_all
            if self.drop.get(address, 0) > 0:
                self.drop[address] -= 1
                server.transport.close()  # the server dies before it could have the message
                return "421 going away"
            queued = self.replies.get(address)
            if queued:
                return queued.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def hold_after(self, count: int) -> None:
        self.held_from = count

    def release(self, messages: int = 1) -> None:
        self.permits.release(messages)

    def release_all(self) -> None:
        self.held_from = None
        self.permits.release(10_000)

    async def handle_DATA(self, server, session, envelope):
        import asyncio
        from email.parser import BytesHeaderParser

        if self.held_from is not None and self.count() >= self.held_from:
            await asyncio.get_running_loop().run_in_executor(None, self.permits.acquire)
        recipient = envelope.rcpt_tos[0]
        message_id = BytesHeaderParser().parsebytes(envelope.content)["Message-ID"]
        with self.lock:
            self.received.append((recipient, message_id))
            self.messages.append(envelope.content)
            self.mail_from[recipient] = envelope.mail_from
        return "250 2.0.0 queued"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def per_recipient(self) -> dict[str, int]:
        from collections import Counter

        with self.lock:
            return dict(Counter(rcpt for rcpt, _ in self.received))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(handler: RecordingSink, port: int | None = None):
    """A real SMTP server on loopback (aiosmtpd), in its own thread; call .stop() when done."""
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    return controller


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: compare two to prove nothing changed on disk.

    Lock files are left out: every send and send-due takes one, and they hold no state; so is SQLite's
    shared-memory index (`-shm`), which readers update, and an empty write-ahead log.
    """
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and "locks" not in p.relative_to(folder).parts
        and not p.name.endswith("-shm")
        and not (p.name.endswith("-wal") and p.stat().st_size == 0)  # opened, nothing written
    }


def mark_needs_review(
    workspace: Path, summary_id: str = "2026-05-14-lab-grown-human-microglia-point-targets"
):
    """Flag one of the test issue's summaries as still to be reviewed: `newsletter check` errors on it."""
    path = workspace / "summaries" / f"{summary_id}.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "needs_review: true\n", encoding="utf-8")
