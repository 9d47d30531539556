"""The editor's commands: import, summaries, new-issue, build, check, approve, preview, desk, archive."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from newsletter.cli.core import UsageError, argument, command, echo, group
from newsletter.cli.params import FOLDER_TO_WRITE, ISSUE_HELP, IsoDate, IsoDateTime, IssueId, WholeNumber

if TYPE_CHECKING:  # annotations only: `--help` need not load them
    from datetime import date, datetime
    from pathlib import Path

    from newsletter.store.workspace import Workspace

summaries = group(
    "summaries",
    """Look at the summary store (summaries/*.yaml).

    Example:
        newsletter summaries list --topic Microglia
    """,
)


@command("list", summaries)
@click.option(
    "--since", type=IsoDate(), metavar="DATE", help="Only summaries published on or after this date."
)
@click.option(
    "--until", type=IsoDate(), metavar="DATE", help="Only summaries published on or before this date."
)
@click.option("--topic", metavar="TEXT", help="Only summaries with this topic tag (any case).")
def summaries_list(ws: Workspace, since: date | None, until: date | None, topic: str | None) -> None:
    """List summaries, newest first. Reads summaries/ alone, not the settings.

    Example:
        newsletter summaries list --since 2026-05-01 --until 2026-05-31
    """
    from newsletter.store import content  # YAML loading: only the commands that read summaries

    if since and until and since > until:
        raise UsageError(f"--since: {since} is after --until {until}; swap them")
    chosen = content.filter_summaries(content.load_summaries(ws.root).values(), since, until, topic)
    for s in chosen:
        kind = "teaser" if s.is_teaser else "full"
        flag = "  [needs review]" if s.needs_review else ""
        echo(f"{s.published}  {kind:<6}  {s.id}\n            {s.title}{flag}")
    echo(f"{len(chosen)} summaries")


@command("import")
# Plain strings, not paths: Path("https://x") would fold the "//" of a URL.
@argument("pages", nargs=-1, metavar="PAGE|URL...", help="A saved page (.txt, .html) or its https URL.")
@click.option(
    "--feed",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="URL_OR_FILE",
    help="Import the site's feed (RSS, Atom or JSON Feed; default: feed_url in newsletter.yaml).",
)
@click.option(
    "--pages", "with_pages", is_flag=True, help="With --feed: also fetch and import each entry's page."
)
@click.option(
    "--published", type=IsoDate(), metavar="DATE", help="The page's publication date (pages do not carry it)."
)
@click.option(
    "--title", metavar="TEXT", help="The page's title, for a layout-B page that has none (one page only)."
)
@click.option("--url", metavar="TEXT", help="The summary's https URL on the site (one page only).")
@click.option("--force", is_flag=True, help="Let --title replace the title a page carries.")
def import_command(
    ws: Workspace,
    pages: tuple[str, ...],
    feed: str | None,
    with_pages: bool,
    published: date | None,
    title: str | None,
    url: str | None,
    force: bool,
) -> None:
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

    if feed is not None:
        if pages or published or title or url:
            raise UsageError("--feed imports the feed alone; import pages in a separate run")
        location = feed or ws.settings.feed_url
        if not location:
            raise UsageError("--feed needs a URL or file, or feed_url: in newsletter.yaml")
        from newsletter.importers.feedimport import import_feed

        lines = import_feed(ws.root, location, pages=with_pages).lines()
    elif not pages or with_pages:
        raise UsageError("give PAGE files or https URLs, or --feed (--pages goes with --feed)")
    else:
        options = importers.PageOptions(published, title, url, force)
        lines = importers.import_pages(ws.root, list(pages), options).lines()
    for line in lines:
        echo(line)


@command("new-issue")
@argument("issue_id", required=False, type=IssueId(), metavar="ISSUE_ID",
          help="The new issue's id (default: the next month's).")  # fmt: skip
@click.option(
    "--since",
    type=IsoDate(),
    metavar="DATE",
    help="First publication date covered (default: after the last issue).",
)
@click.option(
    "--until",
    type=IsoDate(),
    metavar="DATE",
    help="Last publication date covered (default: end of that month).",
)
@click.option(
    "--send-at", type=IsoDateTime(), metavar="DATETIME", help="When to send, e.g. 2026-06-02T09:00:00-04:00."
)
@click.option("--force", is_flag=True, help="Overwrite an existing issue file.")
def new_issue_command(
    ws: Workspace,
    issue_id: str | None,
    since: date | None,
    until: date | None,
    send_at: datetime | None,
    force: bool,
) -> None:
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

    draft = draft_issue(ws.settings, issue_id, since, until, send_at, force, sent=sent_record(ws.settings))
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


@command("build")
@argument("issue_id", type=IssueId(), metavar="ISSUE", help=ISSUE_HELP)
@click.option("--out", "out_dir", type=FOLDER_TO_WRITE, metavar="DIRECTORY", help="Default: out/.")
def build_command(ws: Workspace, issue_id: str, out_dir: Path | None) -> None:
    """Render an issue into OUT/<ISSUE>/: email.html, email.txt and web.html.

    The issue is checked first: unknown or repeated summary ids, empty sections, a missing subject,
    an invalid summary or an unfinished intro stop the build with the file and line to fix.

    Example:
        newsletter build 2026-06
    """
    from newsletter import render  # loaded here: rendering pulls in MJML and premailer
    from newsletter.check import html_as_sent
    from newsletter.check.findings import GMAIL_CLIP_BYTES

    result = render.build_issue(ws.settings, issue_id, out_dir)
    for path, size in result.files:
        # Gmail clips the HTML part by its size as sent (quoted-printable): the size `check` gives.
        sent = html_as_sent(ws.settings, issue_id) if path.name == "email.html" else None
        limit = f" ({sent / 1024:.1f} KB as sent, of Gmail's {GMAIL_CLIP_BYTES // 1024} KB)" if sent else ""
        echo(f"{path}  {size / 1024:.1f} KB{limit}")
    for warning in result.warnings:
        echo(f"warning: {warning}")


@command("check")
@argument("issue_id", type=IssueId(), metavar="ISSUE", help=ISSUE_HELP)
@click.option("--strict", is_flag=True, help="Fail on warnings too, not only on errors.")
@click.option("--recipient", metavar="EMAIL", help="Check the email as this subscriber gets it.")
def check_command(ws: Workspace, issue_id: str, strict: bool, recipient: str | None) -> None:
    """Check an issue before sending: content, email, accessibility and spam score.

    Prints each finding with its severity, where it is and how to fix it; exits 1 on any error
    (on any warning too with --strict).

    Example:
        newsletter check 2026-06 --strict
    """
    from newsletter import check  # loaded here: rendering pulls in MJML
    from newsletter.delivery.history import sent_record
    from newsletter.errors import NewsletterError

    report = check.check_issue(ws.settings, issue_id, recipient=recipient, sent=sent_record(ws.settings))
    for finding in report.findings:
        echo(str(finding))
    if report.failed(strict):
        raise NewsletterError(report.summary_line())
    echo(report.summary_line())


@command("approve")
@argument("issue_id", type=IssueId(), metavar="ISSUE", help=ISSUE_HELP)
@click.option("--by", "by", metavar="NAME", help="Who approves it.  [default: this machine's user]")
def approve_command(ws: Workspace, issue_id: str, by: str | None) -> None:
    """Approve an issue as it is now: records who and when, with a digest of its content, in its file.

    Refused while `newsletter check` finds errors. Any later edit to the issue or to one of its
    summaries withdraws the approval; with `schedule.require_approval: true` in newsletter.yaml,
    `send-due` sends only approved issues and `send` asks --force --reason for another.

    Example:
        newsletter approve 2026-06 --by "Ana Lima"
    """
    import getpass
    from datetime import datetime

    from newsletter import check
    from newsletter.delivery.history import sent_record
    from newsletter.errors import NewsletterError
    from newsletter.store.approval import approve

    report = check.check_issue(ws.settings, issue_id, spam=False, sent=sent_record(ws.settings))
    if report.errors:
        raise NewsletterError(
            f"not approved: {report.summary_line()}; `newsletter check {issue_id}` lists them"
        )
    when = datetime.now(ws.settings.tz)
    who = by or getpass.getuser()
    approve(ws.root, issue_id, who, when)
    echo(f"Issue {issue_id} approved by {who} at {when:%Y-%m-%d %H:%M %Z}; any edit withdraws it.")


@command("preview")
@argument("issue_id", type=IssueId(), metavar="ISSUE", help=ISSUE_HELP)
@click.option("--port", type=WholeNumber(0, 65535), default=8026, metavar="PORT",
              help="0: any free port.  [0..65535; default: 8026]")  # fmt: skip
@click.option("--open", "open_browser", is_flag=True, help="Open the preview in the default browser.")
@click.option("--recipient", metavar="EMAIL", help="Show the email as this subscriber gets it.")
def preview_command(
    ws: Workspace, issue_id: str, port: int, open_browser: bool, recipient: str | None
) -> None:
    """Serve a live preview of an issue on 127.0.0.1: phone, desktop, dark mode, text, check.

    Save the issue, a summary, the settings or a template and the page shows the change at once;
    the SpamAssassin score follows when it is ready. Stop with Ctrl-C.

    Example:
        newsletter preview 2026-06 --open
    """
    import webbrowser

    from newsletter.web import preview

    def ready(url: str) -> None:
        echo(f"Previewing {issue_id} at {url} (Ctrl-C to stop)")
        if open_browser:
            webbrowser.open(url)

    preview.serve(ws.root, issue_id, port, recipient, ready)


@command("desk")
@argument("issue_id", required=False, type=IssueId(), metavar="ISSUE", help="Open this issue first.")
@click.option("--port", type=WholeNumber(0, 65535), default=8027, metavar="PORT",
              help="0: any free port.  [0..65535; default: 8027]")  # fmt: skip
@click.option("--host", default="127.0.0.1", metavar="ADDRESS",
              help="Listen here; beyond 127.0.0.1 only with NEWSLETTER_DESK_TOKEN or "
                   "NEWSLETTER_DESK_USER_HEADER set.  [default: 127.0.0.1]")  # fmt: skip
@click.option("--open", "open_browser", is_flag=True, help="Open the desk in the default browser.")
def desk_command(ws: Workspace, issue_id: str | None, port: int, host: str, open_browser: bool) -> None:
    """Serve the editor's desk: assemble, edit, check, test and approve issues in the browser.

    Every change is written to the same YAML files the CLI reads (comments and layout kept); a
    file changed on disk meanwhile is never overwritten. Stop with Ctrl-C.

    Example:
        newsletter desk 2026-06 --open
    """
    import webbrowser

    from newsletter.web.desk import server

    def ready(url: str) -> None:
        echo(f"The desk is at {url} (Ctrl-C to stop)")
        if open_browser:
            webbrowser.open(url)

    server.serve(ws.root, issue_id, host, port, ready)


@command("archive")
@click.option("--out", "out_dir", type=FOLDER_TO_WRITE, metavar="DIRECTORY", help="Default: archive/.")
@click.option("--all", "all_built", is_flag=True, help="Every issue that builds, not only the sent ones.")
def archive_command(ws: Workspace, out_dir: Path | None, all_built: bool) -> None:
    """Build the public archive: an index of sent issues, each issue's web page, an Atom feed.

    Publish the folder at archive_url; the emails' "view in browser" links point there.

    Example:
        newsletter archive --out public/newsletter/archive
    """
    from newsletter.web import archive

    result = archive.build_archive(ws.settings, out_dir, all_built)
    for item in result.issues:
        echo(f"{item.issue.id}  {item.published:%Y-%m-%d}  {item.issue.title}")
    echo(f"{len(result.issues)} issue(s) in {result.out_dir} (index.html, feed.xml)")


@command("init")
@argument("folder", required=False, default=".", metavar="DIR", help="The new workspace (default: here).")
@click.option("--name", help="The newsletter's name.")
@click.option("--site-url", metavar="URL", help="The site's https URL.")
@click.option("--sender-name", metavar="TEXT", help="The From name (default: the newsletter's name).")
@click.option("--sender-email", metavar="ADDRESS", help="The From address.")
@click.option("--postal-address", metavar="TEXT", help="The postal address printed in every footer.")
@click.option(
    "--timezone", metavar="ZONE", help="IANA time zone, e.g. Europe/London (default: this machine's)."
)
@click.option("--list-id", metavar="NAME", help="The List-Id, a name like newsletter.example.org.")
@click.option("-y", "--yes", is_flag=True, help="Take the default of every answer not given (for scripts).")
def init_command(ws: Workspace, folder: str, yes: bool, **given: str | None) -> None:
    """Start your own newsletter: a new workspace in DIR, from prompts or options.

    Writes newsletter.yaml (every key explained), a starter topics.yaml for MS research, empty
    summaries/, issues/, subscribers/ and templates/, and a .gitignore that keeps the state
    database (readers' personal data) out of git. No sample content, no sample readers. DIR must
    be new or empty.

    Example:
        newsletter init ~/my-newsletter
        newsletter init ~/my-newsletter --yes --name "MS Research Monthly" --site-url https://ms.example.org
    """
    from dataclasses import fields
    from pathlib import Path

    from newsletter import workspace_init as init

    chosen: dict[str, str] = {}
    for item in fields(init.Answers):
        value = given.get(item.name)
        if value is None:
            default = init.Answers(**chosen).completed() if chosen else init.Answers().completed()
            fallback = init.local_timezone() if item.name == "timezone" else getattr(default, item.name)
            value = fallback if yes else click.prompt(init.QUESTIONS[item.name], default=fallback)
        chosen[item.name] = value
    made = init.create_workspace(Path(folder), init.Answers(**chosen))
    for line in init.next_steps(made):
        echo(line)


COMMANDS = [init_command, summaries, import_command, new_issue_command, build_command, check_command,
            approve_command, preview_command, desk_command, archive_command]  # fmt: skip
