"""The subscriber commands (list, add, remove, import, export, erase) on the state database; the
unsubscribe endpoint."""

from __future__ import annotations

import sys
from argparse import Namespace

from newsletter.cli.params import existing_file, file_to_write, whole_number_in
from newsletter.cli.parser import command, echo, group
from newsletter.errors import NewsletterError

TYPE_CHECKING = False  # not typing's: `newsletter --help` need not load typing
if TYPE_CHECKING:  # annotations only: `--help` need not load the workspace
    from newsletter.cli.parser import Commands
    from newsletter.store.workspace import Workspace

SUBSCRIBERS = """\
Look at and change the subscribers (held in the state database; CSV is for import and export).

Example:
    newsletter subscribers import mailchimp-export.csv --list readers
    newsletter subscribers export --status subscribed --out readers.csv
"""

STATUSES = ("subscribed", "pending", "unsubscribed", "bounced", "complained")


def _vocabulary(ws: Workspace) -> dict[str, str]:
    from newsletter.store.subscriber_files import topic_vocabulary
    from newsletter.store.topics import load_taxonomy

    return topic_vocabulary(load_taxonomy(ws.root))


def register(commands: Commands) -> None:
    """Add `subscribers ...` and `serve-unsubscribe`."""
    subscribers = group(commands, "subscribers", SUBSCRIBERS)
    p = command(subscribers, "list", subscribers_list)
    p.add_argument("--list", dest="list_name", metavar="NAME", help="Only this list (default: every list).")

    p = command(subscribers, "add", subscribers_add)
    p.add_argument("email", metavar="EMAIL", help="The subscriber's address.")
    p.add_argument(
        "--name",
        default="",
        metavar="TEXT",
        help="The full name, split at the first space (or use --first/--last).",
    )
    p.add_argument(
        "--first", dest="first_name", default="", metavar="TEXT", help="First name (a greeting uses it)."
    )
    p.add_argument("--last", dest="last_name", default="", metavar="TEXT", help="Last name.")
    p.add_argument(
        "--topics",
        default="",
        metavar="TEXT",
        help="Preferences, ;-separated section titles or tags (empty: all).",
    )
    p.add_argument(
        "--list", dest="list_name", default="readers", metavar="NAME", help="The list.  [default: readers]"
    )

    p = command(subscribers, "remove", subscribers_remove)
    p.add_argument("email", metavar="EMAIL", help="The subscriber's address.")
    p.add_argument(
        "--list", dest="list_name", metavar="NAME", help="Only in this list (default: every list)."
    )

    p = command(subscribers, "erase", subscribers_erase)
    p.add_argument("email", metavar="EMAIL", help="The subscriber's address.")

    p = command(subscribers, "import", subscribers_import)
    p.add_argument("file", type=existing_file, metavar="FILE", help="The CSV export.")
    p.add_argument(
        "--list", dest="list_name", default="readers", metavar="NAME", help="The list.  [default: readers]"
    )

    p = command(subscribers, "export", subscribers_export)
    p.add_argument(
        "--list", dest="lists", action="append", metavar="NAME", help="Only this list (repeatable)."
    )
    p.add_argument("--status", dest="statuses", action="append", choices=STATUSES, metavar="STATUS",
                   help=f"Only this status: {', '.join(STATUSES)} (repeatable).")  # fmt: skip
    p.add_argument("--out", type=file_to_write, metavar="FILE", help="Write here (default: stdout).")

    p = command(commands, "serve-unsubscribe", serve_unsubscribe)
    p.add_argument(
        "--host", default="127.0.0.1", metavar="TEXT", help="Address to listen on.  [default: 127.0.0.1]"
    )
    p.add_argument(
        "--port",
        type=whole_number_in(0, 65535),
        default=8025,
        metavar="PORT",
        help="[0..65535; default: 8025]",
    )
    p.add_argument(
        "--dev-key", action="store_true", help="Use the development key when NEWSLETTER_SECRET is unset."
    )


def subscribers_list(ws: Workspace, args: Namespace) -> None:
    """Show every subscriber, with list, status and topics.

    Example:
        newsletter subscribers list --list readers
    """
    from newsletter.console import safe
    from newsletter.db.addresses import display_name
    from newsletter.db.audience import iter_memberships
    from newsletter.db.state import open_state

    count = 0
    for row in iter_memberships(open_state(ws.settings), [args.list_name] if args.list_name else None):
        name = display_name(row["first_name"], row["last_name"])
        topics = f"  topics: {'; '.join(row['topics'])}" if row["topics"] else ""
        shown = f" ({name})" if name else ""
        echo(safe(f"{row['list']:<12} {row['status']:<12} {row['email']}{shown}{topics}"))
        count += 1
    echo(f"{count} subscribers")


def subscribers_add(ws: Workspace, args: Namespace) -> None:
    """Add an address to a list (or update its name and topics); a suppressed address is refused.

    Example:
        newsletter subscribers add ana@example.com --first Ana --last Reader --topics "Microglia"
    """
    from newsletter.db.addresses import check_name, split_name
    from newsletter.db.rows import SubscriberError
    from newsletter.db.state import open_state
    from newsletter.db.subscribers import add_subscriber

    name, first_name, last_name = args.name, args.first_name, args.last_name
    problem = check_name(name) if name else None
    if problem:
        raise SubscriberError(problem)  # before splitting, which would hide a line break
    if name and not (first_name or last_name):
        first_name, last_name = split_name(name)
    chosen = [t.strip() for t in args.topics.split(";") if t.strip()]
    address, new = add_subscriber(
        open_state(ws.settings),
        args.email,
        list_name=args.list_name,
        first_name=first_name,
        last_name=last_name,
        topics=chosen,
        vocabulary=_vocabulary(ws),
    )
    echo(f"{'added' if new else 'updated'} {address} in {args.list_name}")


def subscribers_remove(ws: Workspace, args: Namespace) -> None:
    """Unsubscribe an address: its memberships stay (status unsubscribed) and it is suppressed.

    Example:
        newsletter subscribers remove ana@example.com
    """
    from newsletter.db.state import open_state
    from newsletter.db.suppression import remove_subscriber

    email, list_name = args.email, args.list_name
    changed = remove_subscriber(open_state(ws.settings), email, [list_name] if list_name else None)
    if changed:
        echo(f"unsubscribed {email} in {', '.join(changed)}; added to the suppression list")
    else:
        echo(f"{email} was already unsubscribed; nothing changed")


def subscribers_erase(ws: Workspace, args: Namespace) -> None:
    """Erase everything held about a person (a data-protection request); only a salted hash stays,
    so no later import can add them back.

    Example:
        newsletter subscribers erase ana@example.com
    """
    from newsletter.db.state import open_state
    from newsletter.db.suppression import erase

    email = args.email
    done = erase(open_state(ws.settings), email)
    if not done.found:
        echo(f"{email} was not a subscriber; it is on the suppression list (as a hash) all the same")
        return
    echo(
        f"erased {email}: {done.memberships} list memberships, {done.events} events; "
        f"{done.ledger_rows} delivery records keep only a hash; it stays suppressed (as a hash)"
    )


def subscribers_import(ws: Workspace, args: Namespace) -> None:
    """Import a CSV export (Mailchimp, Buttondown, Substack, listmonk, or this tool's own export).

    An opt-out anywhere in the file wins; a suppressed or erased address is never resubscribed;
    consent dates are kept. All of the file or, on an error, none of it.

    Example:
        newsletter subscribers import mailchimp-export.csv --list readers
    """
    from newsletter.console import safe
    from newsletter.db.csvimport import import_csv
    from newsletter.db.state import open_state

    report = import_csv(open_state(ws.settings), args.file, args.list_name, _vocabulary(ws))
    for line in report.lines():
        echo(safe(line))
    if report.invalid and not report.valid_rows:  # a wrong file or a wrong export: say so to scripts too
        raise NewsletterError(
            f"{args.file}: no valid rows, nothing imported; fix the rows above and import again"
        )


def subscribers_export(ws: Workspace, args: Namespace) -> None:
    """Export memberships as CSV (it imports back unchanged); mind that it holds personal data.

    Example:
        newsletter subscribers export --list readers --status subscribed --out readers.csv
    """
    from newsletter.db.csvexport import export_csv, export_file
    from newsletter.db.schema import Status
    from newsletter.db.state import open_state

    engine = open_state(ws.settings)
    lists, out = args.lists, args.out
    chosen = [Status(s) for s in args.statuses or ()] or None
    if out is None:
        export_csv(engine, sys.stdout, lists or None, chosen)
        return
    written = export_file(engine, out, lists or None, chosen)
    echo(f"wrote {written} rows to {out}", err=True)


def serve_unsubscribe(ws: Workspace, args: Namespace) -> None:
    """Run the one-click unsubscribe endpoint (POST unsubscribes; GET shows a button).

    Example:
        NEWSLETTER_SECRET=... newsletter serve-unsubscribe --port 8025
    """
    from newsletter.web import unsubscribe

    unsubscribe.serve(ws.settings, args.host, args.port, args.dev_key, echo)
