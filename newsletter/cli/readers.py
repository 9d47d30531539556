"""The subscriber commands (list, add, remove, import, export, erase) on the state database; the
unsubscribe endpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from newsletter.cli import cli
from newsletter.cli.params import pass_workspace
from newsletter.store.workspace import Workspace

STATUSES = ("subscribed", "pending", "unsubscribed", "bounced", "complained")


def _vocabulary(ws: Workspace) -> dict[str, str]:
    from newsletter.store.subscriber_files import topic_vocabulary
    from newsletter.store.topics import load_taxonomy

    return topic_vocabulary(load_taxonomy(ws.root))


@cli.group("subscribers")
def subscribers_group() -> None:
    """Look at and change the subscribers (held in the state database; CSV is for import and export).

    \b
    Example:
        newsletter subscribers import mailchimp-export.csv --list readers
        newsletter subscribers export --status subscribed --out readers.csv
    """


@subscribers_group.command("list")
@click.option("--list", "list_name", metavar="NAME", help="Only this list (default: every list).")
@pass_workspace
def subscribers_list(ws: Workspace, list_name: str | None) -> None:
    """Show every subscriber, with list, status and topics.

    \b
    Example:
        newsletter subscribers list --list readers
    """
    from newsletter.console import safe
    from newsletter.db.addresses import display_name
    from newsletter.db.audience import iter_memberships
    from newsletter.db.state import open_state

    count = 0
    for row in iter_memberships(open_state(ws.settings), [list_name] if list_name else None):
        name = display_name(row["first_name"], row["last_name"])
        topics = f"  topics: {'; '.join(row['topics'])}" if row["topics"] else ""
        shown = f" ({name})" if name else ""
        click.echo(safe(f"{row['list']:<12} {row['status']:<12} {row['email']}{shown}{topics}"))
        count += 1
    click.echo(f"{count} subscribers")


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="The full name, split at the first space (or use --first/--last).")
@click.option("--first", "first_name", default="", help="First name (a greeting uses it).")
@click.option("--last", "last_name", default="", help="Last name.")
@click.option("--topics", default="", help="Preferences, ;-separated section titles or tags (empty: all).")
@click.option("--list", "list_name", default="readers", show_default=True, metavar="NAME")
@pass_workspace
def subscribers_add(
    ws: Workspace, email: str, name: str, first_name: str, last_name: str, topics: str, list_name: str
) -> None:
    """Add an address to a list (or update its name and topics); a suppressed address is refused.

    \b
    Example:
        newsletter subscribers add ana@example.com --first Ana --last Reader --topics "Microglia"
    """
    from newsletter.db.addresses import check_name, split_name
    from newsletter.db.rows import SubscriberError
    from newsletter.db.state import open_state
    from newsletter.db.subscribers import add_subscriber

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
    click.echo(f"{'added' if new else 'updated'} {address} in {list_name}")


@subscribers_group.command("remove")
@click.argument("email")
@click.option("--list", "list_name", metavar="NAME", help="Only in this list (default: every list).")
@pass_workspace
def subscribers_remove(ws: Workspace, email: str, list_name: str | None) -> None:
    """Unsubscribe an address: its memberships stay (status unsubscribed) and it is suppressed.

    \b
    Example:
        newsletter subscribers remove ana@example.com
    """
    from newsletter.db.state import open_state
    from newsletter.db.suppression import remove_subscriber

    changed = remove_subscriber(open_state(ws.settings), email, [list_name] if list_name else None)
    if changed:
        click.echo(f"unsubscribed {email} in {', '.join(changed)}; added to the suppression list")
    else:
        click.echo(f"{email} was already unsubscribed; nothing changed")


@subscribers_group.command("erase")
@click.argument("email")
@pass_workspace
def subscribers_erase(ws: Workspace, email: str) -> None:
    """Erase everything held about a person (a data-protection request); only a salted hash stays,
    so no later import can add them back.

    \b
    Example:
        newsletter subscribers erase ana@example.com
    """
    from newsletter.db.state import open_state
    from newsletter.db.suppression import erase

    done = erase(open_state(ws.settings), email)
    if not done.found:
        click.echo(f"{email} was not a subscriber; it is on the suppression list (as a hash) all the same")
        return
    click.echo(
        f"erased {email}: {done.memberships} list memberships, {done.events} events; "
        f"{done.ledger_rows} delivery records keep only a hash; it stays suppressed (as a hash)"
    )


@subscribers_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--list", "list_name", default="readers", show_default=True, metavar="NAME")
@pass_workspace
def subscribers_import(ws: Workspace, file: Path, list_name: str) -> None:
    """Import a CSV export (Mailchimp, Buttondown, Substack, listmonk, or this tool's own export).

    An opt-out anywhere in the file wins; a suppressed or erased address is never resubscribed;
    consent dates are kept. All of the file or, on an error, none of it.

    \b
    Example:
        newsletter subscribers import mailchimp-export.csv --list readers
    """
    from newsletter.console import safe
    from newsletter.db.csvimport import import_csv
    from newsletter.db.state import open_state

    report = import_csv(open_state(ws.settings), file, list_name, _vocabulary(ws))
    for line in report.lines():
        click.echo(safe(line))


@subscribers_group.command("export")
@click.option("--list", "lists", multiple=True, metavar="NAME", help="Only this list (repeatable).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES), help="Only this status.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout).")
@pass_workspace
def subscribers_export(ws: Workspace, lists: tuple[str, ...], statuses: tuple[str, ...], out: Path | None):
    """Export memberships as CSV (it imports back unchanged); mind that it holds personal data.

    \b
    Example:
        newsletter subscribers export --list readers --status subscribed --out readers.csv
    """
    from newsletter.db.csvexport import export_csv
    from newsletter.db.schema import Status
    from newsletter.db.state import open_state
    from newsletter.store.fileio import atomic_write

    engine = open_state(ws.settings)
    chosen = [Status(s) for s in statuses] or None
    if out is None:
        export_csv(engine, sys.stdout, lists or None, chosen)
        return
    import io

    buffer = io.StringIO()
    written = export_csv(engine, buffer, lists or None, chosen)
    atomic_write(out, buffer.getvalue())
    click.echo(f"wrote {written} rows to {out}", err=True)


@cli.command("serve-unsubscribe")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8025, show_default=True, type=click.IntRange(0, 65535))
@click.option("--dev-key", is_flag=True, help="Use the development key when NEWSLETTER_SECRET is unset.")
@pass_workspace
def serve_unsubscribe(ws: Workspace, host: str, port: int, dev_key: bool) -> None:
    """Run the one-click unsubscribe endpoint (POST unsubscribes; GET shows a button).

    \b
    Example:
        NEWSLETTER_SECRET=... newsletter serve-unsubscribe --port 8025
    """
    from newsletter.web import unsubscribe

    unsubscribe.serve(ws.settings, host, port, dev_key, click.echo)


# The database commands live beside these (newsletter db upgrade, db copy).
from newsletter.cli import database  # noqa: E402, F401
