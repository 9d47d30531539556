"""The `bounces` commands: read the bounce mailbox (and, later, more about delivery after the send)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from newsletter.cli.core import command, echo, group
from newsletter.cli.params import WholeNumber
from newsletter.text import printable

if TYPE_CHECKING:  # the commands import what they use when run: `newsletter --help` stays quick
    from sqlalchemy import Engine

    from newsletter.bounces.mailbox import FetchReport, Left
    from newsletter.store.workspace import Workspace


bounces = group("bounces", "Delivery reports, complaints and auto-replies that arrive after the send.")


def _state_database(ws: Workspace) -> Engine:
    from newsletter.db.engine import database_url, open_engine
    from newsletter.db.revisions import check_schema

    engine = open_engine(database_url(ws.root, ws.settings.database, os.environ))
    check_schema(engine)
    return engine


@command("fetch", bounces)
@click.option("--limit", type=WholeNumber(1, 100_000), default=500, metavar="INTEGER",
              help="Read at most this many messages this time.  [1..100000; default: 500]")  # fmt: skip
def fetch(ws: Workspace, limit: int) -> None:
    """Read the bounce mailbox (IMAP over TLS) and act on each report.

    Hard bounces and complaints are suppressed at once; soft bounces are counted and suppressed
    after `soft_limit` of them in `soft_window_issues` issues. Processed messages move to
    `processed_folder`; anything not recognised stays in the mailbox and is listed. Safe to run
    from cron: a second run at the same time stops at once.

    Example:
        NEWSLETTER_BOUNCE_PASSWORD=... newsletter bounces fetch
    """
    from newsletter.bounces.mailbox import fetch_bounces
    from newsletter.bounces.settings import bounce_settings, imap_password
    from newsletter.errors import ConfigError
    from newsletter.mail.tokens import signing_secret

    settings = bounce_settings(ws.settings)
    if settings is None or settings.imap is None:
        raise ConfigError(
            "newsletter.yaml: bounces.imap is not set; add bounces: {address: ..., imap: {host: ..., "
            "username: ...}} (the password goes in NEWSLETTER_BOUNCE_PASSWORD)"
        )
    secret, _ = signing_secret(dev_ok=False)
    password = imap_password()
    engine = _state_database(ws)
    try:
        report = fetch_bounces(engine, settings, secret, password, ws.root, limit)
    finally:
        engine.dispose()
    for line in report_lines(report, settings.imap.folder, settings.imap.processed_folder):
        echo(line)


def report_lines(report: FetchReport, folder: str, processed: str) -> list[str]:
    """What a fetch did: one line of counts, a line per decision, a line per message left."""
    from newsletter.bounces.mailbox import QUARANTINE_FOLDER, UNVERIFIED_FOLDER

    lines = [
        f"Read {report.read} messages in {printable(folder)}: {len(report.decisions)} decisions, "
        f"{report.ignored} auto-replies or delay warnings ignored, "
        f"{report.moved} moved to {printable(processed)}, {len(report.unverified)} unverified, "
        f"{len(report.quarantined)} unreadable, {len(report.left)} left."
    ]
    for d in report.decisions:
        who = f"{printable(d.email)}  issue {printable(d.issue_id)}"
        lines.append(f"  {d.kind:<9} {d.status:<7} {who}  {d.outcome}: {printable(d.note)}")
    for title, items in (
        (f"Unverified, moved to {UNVERIFIED_FOLDER}; nobody's state changed:", report.unverified),
        (f"Unreadable, moved to {QUARANTINE_FOLDER}:", report.quarantined),
    ):
        if items:
            lines.append(title)
            lines.extend(_message_line(item) for item in items)
    if report.left:
        lines.append(f"Left in {printable(folder)} for you to look at:")
        lines.extend(_message_line(item) for item in report.left)
    if report.remaining:
        lines.append(f"{report.remaining} more messages wait; run the command again.")
    return lines


def _message_line(item: Left) -> str:
    """One message of the mailbox the fetch did not act on: its uid, sender, subject and why."""
    sender = printable(item.sender) or "(no sender)"
    return f"  uid {item.uid}  from {sender}  {printable(item.subject)!r}: {printable(item.why)}"


COMMANDS = [bounces]
