"""The subscriber commands (list, add, remove, import, export, erase) on the state database."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from newsletter.cli.core import argument, command, echo, group
from newsletter.cli.params import EXISTING_FILE, FILE_TO_WRITE, Choice
from newsletter.errors import NewsletterError

if TYPE_CHECKING:  # annotations only: `--help` need not load them
    from pathlib import Path

    from newsletter.store.workspace import Workspace

subscribers = group(
    "subscribers",
    """Look at and change the subscribers (held in the state database; CSV is for import and export).

    Example:
        newsletter subscribers import mailchimp-export.csv --list readers
        newsletter subscribers export --status subscribed --out readers.csv
    """,
)

STATUSES = ("subscribed", "pending", "unsubscribed", "bounced", "complained")
EMAIL = "The subscriber's address."


def _vocabulary(ws: Workspace) -> dict[str, str]:
    from newsletter.store.subscriber_files import topic_vocabulary
    from newsletter.store.topics import load_taxonomy

    return topic_vocabulary(load_taxonomy(ws.root))


@command("list", subscribers)
@click.option("--list", "list_name", metavar="NAME", help="Only this list (default: every list).")
def subscribers_list(ws: Workspace, list_name: str | None) -> None:
    """Show every subscriber, with list, status and topics.

    Example:
        newsletter subscribers list --list readers
    """
    from newsletter.db.addresses import display_name
    from newsletter.db.audience import iter_memberships
    from newsletter.db.state import open_state
    from newsletter.text import printable

    count = 0
    for row in iter_memberships(open_state(ws.settings), [list_name] if list_name else None):
        name = display_name(row["first_name"], row["last_name"])
        topics = f"  topics: {'; '.join(row['topics'])}" if row["topics"] else ""
        shown = f" ({name})" if name else ""
        echo(printable(f"{row['list']:<12} {row['status']:<12} {row['email']}{shown}{topics}"))
        count += 1
    echo(f"{count} subscribers")


@command("add", subscribers)
@argument("email", metavar="EMAIL", help=EMAIL)
@click.option("--name", default="", metavar="TEXT",
              help="The full name, split at the first space (or use --first/--last).")  # fmt: skip
@click.option("--first", "first_name", default="", metavar="TEXT", help="First name (a greeting uses it).")
@click.option("--last", "last_name", default="", metavar="TEXT", help="Last name.")
@click.option("--topics", default="", metavar="TEXT",
              help="Preferences, ;-separated section titles or tags (empty: all).")  # fmt: skip
@click.option("--list", "list_name", default="readers", metavar="NAME", help="The list.  [default: readers]")
def subscribers_add(
    ws: Workspace, email: str, name: str, first_name: str, last_name: str, topics: str, list_name: str
) -> None:
    """Add an address to a list (or update its name and topics); a suppressed address is refused.

    Example:
        newsletter subscribers add ana@example.com --first Ana --last Reader --topics "Microglia"
    """
    from newsletter.db.addresses import check_name
    from newsletter.db.rows import SubscriberError
    from newsletter.db.state import open_state
    from newsletter.db.subscribers import add_subscriber
    from newsletter.names import split_name

    problem = check_name(name) if name else None
    if problem:
        raise SubscriberError(problem)  # before splitting, which would hide a line break
    if name and not (first_name or last_name):
        first_name, last_name = split_name(name)
    chosen = [t.strip() for t in topics.split(";") if t.strip()]
    address, new = add_subscriber(
        open_state(ws.settings),
        email,
        list_name=list_name,
        first_name=first_name,
        last_name=last_name,
        topics=chosen,
        vocabulary=_vocabulary(ws),
    )
    echo(f"{'added' if new else 'updated'} {address} in {list_name}")


@command("remove", subscribers)
@argument("email", metavar="EMAIL", help=EMAIL)
@click.option("--list", "list_name", metavar="NAME", help="Only in this list (default: every list).")
def subscribers_remove(ws: Workspace, email: str, list_name: str | None) -> None:
    """Unsubscribe an address: its memberships stay (status unsubscribed) and it is suppressed.

    Example:
        newsletter subscribers remove ana@example.com
    """
    from newsletter.db.state import open_state
    from newsletter.db.suppression import remove_subscriber

    changed = remove_subscriber(open_state(ws.settings), email, [list_name] if list_name else None)
    if changed:
        echo(f"unsubscribed {email} in {', '.join(changed)}; added to the suppression list")
    else:
        echo(f"{email} was already unsubscribed; nothing changed")


@command("erase", subscribers)
@argument("email", metavar="EMAIL", help=EMAIL)
def subscribers_erase(ws: Workspace, email: str) -> None:
    """Erase everything held about a person (a data-protection request); only a salted hash stays,
    so no later import can add them back.

    Example:
        newsletter subscribers erase ana@example.com
    """
    from newsletter.db.state import open_state
    from newsletter.db.suppression import erase

    done = erase(open_state(ws.settings), email)
    if not done.found:
        echo(f"{email} was not a subscriber; it is on the suppression list (as a hash) all the same")
        return
    echo(
        f"erased {email}: {done.memberships} list memberships, {done.events} events; "
        f"{done.ledger_rows} delivery records keep only a hash; it stays suppressed (as a hash)"
    )


@command("import", subscribers)
@argument("file", type=EXISTING_FILE, metavar="FILE", help="The CSV export.")
@click.option("--list", "list_name", default="readers", metavar="NAME", help="The list.  [default: readers]")
def subscribers_import(ws: Workspace, file: Path, list_name: str) -> None:
    """Import a CSV export (Mailchimp, Buttondown, Substack, listmonk, or this tool's own export).

    An opt-out anywhere in the file wins; a suppressed or erased address is never resubscribed;
    consent dates are kept. All of the file or, on an error, none of it.

    Example:
        newsletter subscribers import mailchimp-export.csv --list readers
    """
    from newsletter.db.csvimport import import_csv
    from newsletter.db.state import open_state
    from newsletter.text import printable

    engine, vocabulary = open_state(ws.settings), _vocabulary(ws)
    if not sys.stderr.isatty():
        report = import_csv(engine, file, list_name, vocabulary)
    else:
        with click.progressbar(length=_rows_about(file), label="importing", file=sys.stderr) as bar:
            report = import_csv(
                engine, file, list_name, vocabulary, progress=lambda n: bar.update(n - bar.pos)
            )
    for line in report.lines():
        echo(printable(line))
    if report.invalid and not report.valid_rows:  # a wrong file or a wrong export: say so to scripts too
        raise NewsletterError(f"{file}: no valid rows, nothing imported; fix the rows above and import again")


def _rows_about(file: Path) -> int:
    """About how many rows a CSV file holds (its lines less the header), for the progress bar's length."""
    lines = 0
    with file.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(lines - 1, 1)


@command("export", subscribers)
@click.option("--list", "lists", multiple=True, metavar="NAME", help="Only this list (repeatable).")
@click.option("--status", "statuses", multiple=True, type=Choice(STATUSES), metavar="STATUS",
              help=f"Only this status: {', '.join(STATUSES)} (repeatable).")  # fmt: skip
@click.option("--out", type=FILE_TO_WRITE, metavar="FILE", help="Write here (default: stdout).")
def subscribers_export(
    ws: Workspace, lists: tuple[str, ...], statuses: tuple[str, ...], out: Path | None
) -> None:
    """Export memberships as CSV (it imports back unchanged); mind that it holds personal data.

    Example:
        newsletter subscribers export --list readers --status subscribed --out readers.csv
    """
    from newsletter.db.csvexport import export_csv, export_file
    from newsletter.db.schema import Status
    from newsletter.db.state import open_state

    engine = open_state(ws.settings)
    chosen = [Status(s) for s in statuses] or None
    if out is None:
        export_csv(engine, sys.stdout, lists or None, chosen)
        return
    written = export_file(engine, out, lists or None, chosen)
    echo(f"wrote {written} rows to {out}", err=True)


COMMANDS = [subscribers]
