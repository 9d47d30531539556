"""The editor's commands: import, summaries, new-issue, build, check, preview, archive."""

from __future__ import annotations

from argparse import Namespace

from newsletter.cli.params import (
    ISSUE_HELP,
    folder_to_write,
    iso_date,
    iso_datetime,
    issue_id,
    whole_number_in,
)
from newsletter.cli.parser import UsageError, command, echo, group

TYPE_CHECKING = False  # not typing's: `newsletter --help` need not load typing
if TYPE_CHECKING:  # annotations only: `--help` need not load the workspace
    from newsletter.cli.parser import Commands
    from newsletter.store.workspace import Workspace

SUMMARIES = """Look at the summary store (summaries/*.yaml).

Example:
    newsletter summaries list --topic Microglia
"""


def register(commands: Commands) -> None:
    summaries = group(commands, "summaries", SUMMARIES)
    p = command(summaries, "list", summaries_list)
    p.add_argument(
        "--since", type=iso_date, metavar="DATE", help="Only summaries published on or after this date."
    )
    p.add_argument(
        "--until", type=iso_date, metavar="DATE", help="Only summaries published on or before this date."
    )
    p.add_argument("--topic", metavar="TEXT", help="Only summaries with this topic tag (any case).")

    p = command(commands, "import", import_command)
    # Plain strings, not paths: Path("https://x") would fold the "//" of a URL.
    p.add_argument(
        "pages", nargs="*", metavar="PAGE|URL", help="A saved page (.txt, .html) or its https URL."
    )
    p.add_argument(
        "--feed",
        nargs="?",
        const="",
        metavar="URL_OR_FILE",
        help="Import the site's feed (RSS, Atom or JSON Feed; default: feed_url in newsletter.yaml).",
    )
    p.add_argument(
        "--pages",
        dest="with_pages",
        action="store_true",
        help="With --feed: also fetch and import each entry's page.",
    )
    p.add_argument(
        "--published",
        type=iso_date,
        metavar="DATE",
        help="The page's publication date (pages do not carry it).",
    )
    p.add_argument(
        "--title", metavar="TEXT", help="The page's title, for a layout-B page that has none (one page only)."
    )
    p.add_argument("--url", metavar="TEXT", help="The summary's https URL on the site (one page only).")
    p.add_argument("--force", action="store_true", help="Let --title replace the title a page carries.")

    p = command(commands, "new-issue", new_issue_command)
    new_id = "The new issue's id (default: the next month's)."
    p.add_argument("issue_id", nargs="?", type=issue_id, metavar="ISSUE_ID", help=new_id)
    p.add_argument(
        "--since",
        type=iso_date,
        metavar="DATE",
        help="First publication date covered (default: after the last issue).",
    )
    p.add_argument(
        "--until",
        type=iso_date,
        metavar="DATE",
        help="Last publication date covered (default: end of that month).",
    )
    p.add_argument(
        "--send-at",
        type=iso_datetime,
        metavar="DATETIME",
        help="When to send, e.g. 2026-06-02T09:00:00-04:00.",
    )
    p.add_argument("--force", action="store_true", help="Overwrite an existing issue file.")

    p = command(commands, "build", build_command)
    p.add_argument("issue_id", type=issue_id, metavar="ISSUE", help=ISSUE_HELP)
    p.add_argument("--out", dest="out_dir", type=folder_to_write, metavar="DIRECTORY", help="Default: out/.")

    p = command(commands, "check", check_command)
    p.add_argument("issue_id", type=issue_id, metavar="ISSUE", help=ISSUE_HELP)
    p.add_argument("--strict", action="store_true", help="Fail on warnings too, not only on errors.")
    p.add_argument("--recipient", metavar="EMAIL", help="Check the email as this subscriber gets it.")

    p = command(commands, "preview", preview_command)
    p.add_argument("issue_id", type=issue_id, metavar="ISSUE", help=ISSUE_HELP)
    p.add_argument("--port", type=whole_number_in(0, 65535), default=8026, metavar="PORT",
                   help="0: any free port.  [0..65535; default: 8026]")  # fmt: skip
    p.add_argument(
        "--open", dest="open_browser", action="store_true", help="Open the preview in the default browser."
    )
    p.add_argument("--recipient", metavar="EMAIL", help="Show the email as this subscriber gets it.")

    p = command(commands, "archive", archive_command)
    p.add_argument(
        "--out", dest="out_dir", type=folder_to_write, metavar="DIRECTORY", help="Default: archive/."
    )
    p.add_argument(
        "--all",
        dest="all_built",
        action="store_true",
        help="Every issue that builds, not only the sent ones.",
    )


def summaries_list(ws: Workspace, args: Namespace) -> None:
    """List summaries, newest first. Reads summaries/ alone, not the settings.

    Example:
        newsletter summaries list --since 2026-05-01 --until 2026-05-31
    """
    from newsletter.store import content  # YAML loading: only the commands that read summaries

    since, until = args.since, args.until
    if since and until and since > until:
        raise UsageError(f"--since: {since} is after --until {until}; swap them")
    chosen = content.filter_summaries(content.load_summaries(ws.root).values(), since, until, args.topic)
    for s in chosen:
        kind = "teaser" if s.is_teaser else "full"
        flag = "  [needs review]" if s.needs_review else ""
        echo(f"{s.published}  {kind:<6}  {s.id}\n            {s.title}{flag}")
    echo(f"{len(chosen)} summaries")


def import_command(ws: Workspace, args: Namespace) -> None:
    """Import the site's summaries: saved pages (.txt, .html), https URLs, or the site's feed.

    Each page gives its own summary and one teaser per "You May Also Like" item. Re-importing a
    page updates the same files. What a page lacks (title, date, link) is guessed and marked
    needs_review, unless given here or settled by the feed, which fills exactly those fields.
    Nothing is fetched except by this command.

    Example:
        newsletter import page.txt --published 2026-05-06 --title "Lab-Grown Microglia and MS"
        newsletter import https://msresearch.example.org/research/lab-grown-human-microglia
        newsletter import --feed https://msresearch.example.org/feed.xml --pages
    """
    from newsletter import importers  # loaded here: only this command needs the readers and lxml

    pages, feed = args.pages, args.feed
    if feed is not None:
        if pages or args.published or args.title or args.url:
            raise UsageError("--feed imports the feed alone; import pages in a separate run")
        location = feed or ws.settings.feed_url
        if not location:
            raise UsageError("--feed needs a URL or file, or feed_url: in newsletter.yaml")
        from newsletter.importers.feedimport import import_feed

        lines = import_feed(ws.root, location, pages=args.with_pages).lines()
    elif not pages or args.with_pages:
        raise UsageError("give PAGE files or https URLs, or --feed (--pages goes with --feed)")
    else:
        options = importers.PageOptions(args.published, args.title, args.url, args.force)
        lines = importers.import_pages(ws.root, list(pages), options).lines()
    for line in lines:
        echo(line)


def new_issue_command(ws: Workspace, args: Namespace) -> None:
    """Draft issues/<ID>.yaml from the summaries published in the issue's window.

    Without an id: the issue after the newest one sent or scheduled, named for the month of
    --send-at (or today), covering what was published since that issue's window ended (the first
    issue: from the start of the previous month). Every summary no issue carried that the draft
    leaves out is listed with the reason. Edit the draft by hand: subject, preheader, the intro.

    Example:
        newsletter new-issue 2026-06 --send-at 2026-06-02T09:00:00-04:00
        newsletter new-issue spring --since 2026-03-01 --until 2026-05-31
    """
    from newsletter.compose.draft import draft_issue
    from newsletter.delivery.history import sent_record

    draft = draft_issue(
        ws.settings,
        args.issue_id,
        args.since,
        args.until,
        args.send_at,
        args.force,
        sent=sent_record(ws.settings),
    )
    count = sum(len(section.items) for section in draft.sections)
    shown = draft.path.relative_to(ws.root)
    echo(f"Drafted {shown}: {count} summaries in {len(draft.sections)} sections")
    echo(f"  window {draft.window.since} .. {draft.window.until}")
    for section in draft.sections:
        note = "  (teasers only)" if section.teasers_only else ""
        echo(f"  {section.title}: {len(section.items)}{note}")
    for item in draft.left_out:
        echo(f"  left out {item.summary.id} ({item.summary.published}): {item.reason}")
    echo(f"Next: write the intro, rewrite subject and preheader; `newsletter build {draft.issue_id}`")


def build_command(ws: Workspace, args: Namespace) -> None:
    """Render an issue into OUT/<ISSUE>/: email.html, email.txt and web.html.

    The issue is checked first: unknown or repeated summary ids, empty sections, a missing subject,
    an invalid summary or an unfinished intro stop the build with the file and line to fix.

    Example:
        newsletter build 2026-06
    """
    from newsletter import render  # loaded here: rendering pulls in MJML and premailer

    result = render.build_issue(ws.settings, args.issue_id, args.out_dir)
    for path, size in result.files:
        echo(f"{path}  {size / 1024:.1f} KB")
    for warning in result.warnings:
        echo(f"warning: {warning}")


def check_command(ws: Workspace, args: Namespace) -> None:
    """Check an issue before sending: content, email, accessibility and spam score.

    Prints each finding with its severity, where it is and how to fix it; exits 1 on any error
    (on any warning too with --strict).

    Example:
        newsletter check 2026-06 --strict
    """
    from newsletter import check  # loaded here: rendering pulls in MJML
    from newsletter.delivery.history import sent_record
    from newsletter.errors import NewsletterError

    report = check.check_issue(
        ws.settings, args.issue_id, recipient=args.recipient, sent=sent_record(ws.settings)
    )
    for finding in report.findings:
        echo(str(finding))
    if report.failed(args.strict):
        raise NewsletterError(report.summary_line())
    echo(report.summary_line())


def preview_command(ws: Workspace, args: Namespace) -> None:
    """Serve a live preview of an issue on 127.0.0.1: phone, desktop, dark mode, text, check.

    Save the issue, a summary, the settings or a template and the page shows the change at once;
    the SpamAssassin score follows when it is ready. Stop with Ctrl-C.

    Example:
        newsletter preview 2026-06 --open
    """
    import webbrowser

    from newsletter.web import preview

    def ready(url: str) -> None:
        echo(f"Previewing {args.issue_id} at {url} (Ctrl-C to stop)")
        if args.open_browser:
            webbrowser.open(url)

    preview.serve(ws.root, args.issue_id, args.port, args.recipient, ready)


def archive_command(ws: Workspace, args: Namespace) -> None:
    """Build the public archive: an index of sent issues, each issue's web page, an Atom feed.

    Publish the folder at archive_url; the emails' "view in browser" links point there.

    Example:
        newsletter archive --out public/newsletter/archive
    """
    from newsletter.web import archive

    result = archive.build_archive(ws.settings, args.out_dir, args.all_built)
    for item in result.issues:
        echo(f"{item.issue.id}  {item.published:%Y-%m-%d}  {item.issue.title}")
    echo(f"{len(result.issues)} issue(s) in {result.out_dir} (index.html, feed.xml)")
