"""The subscriber commands: list, add, remove, import; and the unsubscribe endpoint."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter.cli import cli
from newsletter.cli.params import pass_workspace
from newsletter.store.workspace import Workspace


@cli.group("subscribers")
def subscribers_group() -> None:
    """Look at and change the subscriber lists (subscribers/*.csv).

    \b
    Example:
        newsletter subscribers import export.csv --list readers
    """


@subscribers_group.command("list")
@click.option("--list", "list_name", metavar="NAME", help="Only this list (default: every list).")
@pass_workspace
def subscribers_list(ws: Workspace, list_name: str | None):
    """Show every subscriber, with status and topics, and any invalid rows.

    \b
    Example:
        newsletter subscribers list --list readers
    """
    from newsletter.store import subscribers

    rows, invalid = subscribers.all_rows(ws.root, [list_name] if list_name else None)
    for s in rows:
        topics = f"  topics: {'; '.join(s.topics)}" if s.topics else ""
        name = f" ({s.name})" if s.name else ""
        click.echo(f"{s.list_name:<12} {s.status:<12} {s.email}{name}{topics}")
    for problem in invalid:
        click.echo(f"invalid: {problem}")
    click.echo(f"{len(rows)} subscribers, {len(invalid)} invalid rows")


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name, as shown in To.")
@click.option("--topics", default="", help="Preferences, ;-separated section titles or tags (empty: all).")
@click.option("--list", "list_name", default="readers", show_default=True, metavar="NAME")
@pass_workspace
def subscribers_add(ws: Workspace, email: str, name: str, topics: str, list_name: str):
    """Add an address to a list (or update its name and topics).

    \b
    Example:
        newsletter subscribers add ana@example.com --name "Ana Reader" --topics "Microglia"
    """
    from newsletter.store import subscribers

    subscriber, new = subscribers.add_subscriber(ws.root, list_name, email, name, topics)
    click.echo(f"{'added' if new else 'updated'} {subscriber.email} in {list_name}")


@subscribers_group.command("remove")
@click.argument("email")
@click.option("--list", "list_name", metavar="NAME", help="Only in this list (default: every list).")
@pass_workspace
def subscribers_remove(ws: Workspace, email: str, list_name: str | None):
    """Unsubscribe an address: its row stays (status unsubscribed) and it is suppressed.

    \b
    Example:
        newsletter subscribers remove ana@example.com
    """
    from newsletter.store import subscribers

    changed = subscribers.remove_subscriber(ws.root, email, [list_name] if list_name else None)
    click.echo(f"unsubscribed {email} in {', '.join(changed)}; added to subscribers/suppressed.csv")


@subscribers_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--list", "list_name", default="readers", show_default=True, metavar="NAME")
@pass_workspace
def subscribers_import(ws: Workspace, file: Path, list_name: str):
    """Import a CSV from another tool (columns any case; a UTF-8 BOM is fine).

    \b
    Example:
        newsletter subscribers import mailchimp-export.csv --list readers
    """
    from newsletter.store import subscribers

    report = subscribers.import_csv(ws.root, file, list_name)
    click.echo(
        f"{list_name}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(report.invalid)} invalid, {len(report.duplicates)} duplicate rows"
    )
    for problem in report.invalid:
        click.echo(f"  invalid: {problem}")
    for problem in report.duplicates:
        click.echo(f"  duplicate: {problem}")


@cli.command("serve-unsubscribe")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8025, show_default=True, type=click.IntRange(0, 65535))
@click.option("--dev-key", is_flag=True, help="Use the development key when NEWSLETTER_SECRET is unset.")
@pass_workspace
def serve_unsubscribe(ws: Workspace, host: str, port: int, dev_key: bool):
    """Run the one-click unsubscribe endpoint (POST unsubscribes; GET shows a button).

    \b
    Example:
        NEWSLETTER_SECRET=... newsletter serve-unsubscribe --port 8025
    """
    from newsletter.web import unsubscribe

    unsubscribe.serve(ws.settings, host, port, dev_key, click.echo)
