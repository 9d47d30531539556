"""The `newsletter` command line: each command parses its options and makes one library call."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click

from newsletter import __version__, importers
from newsletter.store import content
from newsletter.store.workspace import Workspace


class DateParam(click.ParamType):
    """A YYYY-MM-DD date on the command line."""

    name = "DATE"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-05-01", param, ctx)


DATE = DateParam()


class DateTimeParam(click.ParamType):
    """An ISO 8601 date and time, e.g. 2026-06-02T09:00:00-04:00 (no offset: the workspace's zone)."""

    name = "DATETIME"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date-time; use e.g. 2026-06-02T09:00:00-04:00", param, ctx)


pass_workspace = click.make_pass_decorator(Workspace)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Workspace folder (holding newsletter.yaml). Default: found upward from here.",
)
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None) -> None:
    """Build and send the monthly newsletter of plain-language MS research summaries.

    \b
    Example:
        newsletter summaries list --since 2026-05-01
    """
    ctx.obj = Workspace(workspace)


@cli.group()
def summaries() -> None:
    """Look at the summary store (summaries/*.yaml).

    \b
    Example:
        newsletter summaries list --topic Microglia
    """


@summaries.command("list")
@click.option("--since", type=DATE, help="Only summaries published on or after this date.")
@click.option("--until", type=DATE, help="Only summaries published on or before this date.")
@click.option("--topic", help="Only summaries with this topic tag (any case).")
@pass_workspace
def summaries_list(ws: Workspace, since: date | None, until: date | None, topic: str | None):
    """List summaries, newest first.

    \b
    Example:
        newsletter summaries list --since 2026-05-01 --until 2026-05-31
    """
    ws.settings  # noqa: B018 - a broken newsletter.yaml is reported before anything else
    chosen = content.filter_summaries(content.load_summaries(ws.root).values(), since, until, topic)
    for s in chosen:
        kind = "teaser" if s.is_teaser else "full"
        flag = "  [needs review]" if s.needs_review else ""
        click.echo(f"{s.published}  {kind:<6}  {s.id}\n            {s.title}{flag}")
    click.echo(f"{len(chosen)} summaries")


@cli.command("import")
@click.argument("pages", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--published", type=DATE, help="The page's publication date (pages do not carry it).")
@click.option("--title", help="The page's title, for a layout-B page that has none (one page only).")
@click.option("--url", help="The summary's https URL on the site (one page only).")
@pass_workspace
def import_command(
    ws: Workspace, pages: tuple[Path, ...], published: date | None, title: str | None, url: str | None
):
    """Import the site's summary pages into summaries/.

    Each page gives its own summary and one teaser per "You May Also Like" item. Re-importing a
    page updates the same files. What a page lacks (title, date, link) is guessed and marked
    needs_review, unless given here.

    \b
    Example:
        newsletter import page.txt --published 2026-05-06 --title "Lab-Grown Microglia and MS"
    """
    report = importers.import_pages(ws.root, list(pages), importers.PageOptions(published, title, url))
    for line in report.lines():
        click.echo(line)


@cli.command("check")
@click.argument("issue_id", metavar="ISSUE")
@click.option("--strict", is_flag=True, help="Fail on warnings too, not only on errors.")
@click.option("--recipient", metavar="EMAIL", help="Check the email as this subscriber gets it.")
@pass_workspace
def check_command(ws: Workspace, issue_id: str, strict: bool, recipient: str | None):
    """Check an issue before sending: content, email, accessibility and spam score.

    Prints each finding with its severity, where it is and how to fix it; exits 1 on any error
    (on any warning too with --strict).

    \b
    Example:
        newsletter check 2026-06 --strict
    """
    from newsletter import check  # loaded here: rendering pulls in MJML
    from newsletter.delivery.history import sent_record
    from newsletter.errors import NewsletterError

    report = check.check_issue(ws.settings, issue_id, recipient=recipient, sent=sent_record(ws.settings))
    for finding in report.findings:
        click.echo(str(finding))
    if report.failed(strict):
        raise NewsletterError(report.summary_line())
    click.echo(report.summary_line())


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


@cli.command("preview")
@click.argument("issue_id", metavar="ISSUE")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8026, show_default=True, help="0: any free port."
)
@click.option("--open", "open_browser", is_flag=True, help="Open the preview in the default browser.")
@click.option("--recipient", metavar="EMAIL", help="Show the email as this subscriber gets it.")
@pass_workspace
def preview_command(ws: Workspace, issue_id: str, port: int, open_browser: bool, recipient: str | None):
    """Serve a live preview of an issue on 127.0.0.1: phone, desktop, dark mode, text, check.

    Edit the issue, a summary, the settings or a template and the page reloads itself.
    Stop with Ctrl-C.

    \b
    Example:
        newsletter preview 2026-06 --open
    """
    import webbrowser

    from newsletter.web import preview

    def ready(url: str) -> None:
        click.echo(f"Previewing {issue_id} at {url} (Ctrl-C to stop)")
        if open_browser:
            webbrowser.open(url)

    preview.serve(ws.root, issue_id, port, recipient, ready)


@cli.command("send")
@click.argument("issue_id", metavar="ISSUE")
@click.option("--list", "lists", multiple=True, metavar="NAME", help="Send to this list (repeatable).")
@click.option("--provider", help="outbox, outbox:DIR, smtp://host:port, smtps://... (default: settings).")
@click.option("--dry-run", is_flag=True, help="Show the plan (who, how many, how long) and stop.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Messages per second.")
@click.option("--concurrency", type=click.IntRange(1, 64), help="Connections to the provider at once.")
@click.option("--resume", is_flag=True, help="Resume a stopped run (sending again always resumes).")
@click.option("--resend-unknown", is_flag=True, help="Also resend those a crash left unknown.")
@click.option("--skip-invalid", is_flag=True, help="Leave out invalid subscriber rows instead of stopping.")
@click.option("--test-to", multiple=True, metavar="ADDRESS", help="Send a [TEST] proof here (repeatable).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask to confirm (needed when not at a terminal).")
@pass_workspace
def send_command(ws: Workspace, issue_id: str, test_to: tuple[str, ...], provider: str | None, **options):
    """Send an issue to its subscribers, or resume its stopped run.

    Shows the plan first. A recipient already sent is never sent again; Ctrl-C stops after the
    messages in flight. Exit code: 0 all sent, 3 some failed or unknown, 4 paused after repeated
    errors, 130 interrupted; 1 for a problem to fix first.

    \b
    Example:
        newsletter send 2026-06 --dry-run
        newsletter send 2026-06 --test-to editor@example.org
        newsletter send 2026-06 --provider smtp://mail.example.org:587 --rate 20 --yes
    """
    import sys

    from newsletter import delivery

    if test_to:
        code = delivery.send_test(ws.settings, issue_id, list(test_to), provider, click.echo)
        raise SystemExit(code)
    options.pop("resume")  # sending again always resumes; the flag only says so in a script
    options["lists"] = tuple(options["lists"]) or None
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    request = delivery.SendRequest(issue_id, provider=provider, interactive=interactive, **options)
    outcome = delivery.send_issue(ws.settings, request, click.echo, click.confirm, delivery.ProgressPrinter())
    raise SystemExit(outcome.exit_code if outcome else 0)


@cli.command("status")
@click.argument("issue_id", metavar="[ISSUE]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_workspace
def status_command(ws: Workspace, issue_id: str | None, as_json: bool):
    """Show each issue's send run: its state, recipients per state, and the failures with reasons.

    \b
    Example:
        newsletter status 2026-06
        newsletter status --json
    """
    import json

    from newsletter.delivery import ledger

    statuses = ledger.issue_status(ws.settings, issue_id)
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
    else:
        for line in ledger.status_lines(statuses):
            click.echo(line)


@cli.command("send-due")
@click.option("--now", type=DateTimeParam(), help="Pretend it is this time (ISO 8601).")
@click.option(
    "--max-late", default="24h", show_default=True, help="Refuse an issue due longer ago (90m, 24h, 2d)."
)
@pass_workspace
def send_due_command(ws: Workspace, now: datetime | None, max_late: str):
    """Send every issue whose send_at has come and that is not finished; for cron or a systemd timer.

    Resumes a partly sent run; refuses an issue that is not ready (`build` fails) or too late.
    Overlapping runs are safe: a second one finds the first at work and does nothing.

    \b
    Example:
        */5 * * * *  cd /srv/newsletter && newsletter send-due
        newsletter send-due --now 2026-06-02T09:05:00-04:00 --max-late 2d
    """
    from newsletter.delivery import schedule

    try:
        late = schedule.parse_duration(max_late)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-late") from None
    report = schedule.send_due(ws.settings, now or datetime.now().astimezone(), late, click.echo)
    raise SystemExit(report.exit_code)


@cli.command("archive")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Default: archive/.")
@click.option("--all", "all_built", is_flag=True, help="Every issue that builds, not only the sent ones.")
@pass_workspace
def archive_command(ws: Workspace, out_dir: Path | None, all_built: bool):
    """Build the public archive: an index of sent issues, each issue's web page, an Atom feed.

    Publish the folder at archive_url; the emails' "view in browser" links point there.

    \b
    Example:
        newsletter archive --out public/newsletter/archive
    """
    from newsletter.web import archive

    result = archive.build_archive(ws.settings, out_dir, all_built)
    for item in result.issues:
        click.echo(f"{item.issue.id}  {item.published:%Y-%m-%d}  {item.issue.title}")
    click.echo(f"{len(result.issues)} issue(s) in {result.out_dir} (index.html, feed.xml)")


@cli.command("new-issue")
@click.argument("issue_id", metavar="[ISSUE_ID]", required=False)
@click.option("--since", type=DATE, help="First publication date covered (default: after the last issue).")
@click.option("--until", type=DATE, help="Last publication date covered (default: end of that month).")
@click.option("--send-at", type=DateTimeParam(), help="When to send, e.g. 2026-06-02T09:00:00-04:00.")
@click.option("--force", is_flag=True, help="Overwrite an existing issue file.")
@pass_workspace
def new_issue_command(ws: Workspace, issue_id: str | None, since, until, send_at, force: bool):
    """Draft issues/<ID>.yaml from the summaries published in the issue's window.

    The default is the next monthly issue after the newest in issues/, covering what was published
    since that issue's window ended (the first issue: the previous calendar month). Edit the draft
    by hand: subject, preheader and the intro's TODO.

    \b
    Example:
        newsletter new-issue 2026-06 --send-at 2026-06-02T09:00:00-04:00
        newsletter new-issue spring --since 2026-03-01 --until 2026-05-31
    """
    from newsletter.compose.draft import draft_issue
    from newsletter.delivery.history import sent_record

    draft = draft_issue(ws.settings, issue_id, since, until, send_at, force, sent=sent_record(ws.settings))
    count = sum(len(section.items) for section in draft.sections)
    shown = draft.path.relative_to(ws.root)
    click.echo(f"Drafted {shown}: {count} summaries in {len(draft.sections)} sections")
    click.echo(f"  window {draft.window.since} .. {draft.window.until}")
    for section in draft.sections:
        note = "  (teasers only)" if section.teasers_only else ""
        click.echo(f"  {section.title}: {len(section.items)}{note}")
    if draft.skipped_carried:
        click.echo(f"  {draft.skipped_carried} left out: carried by an earlier issue")
    click.echo(f"Next: write the intro, rewrite subject and preheader; `newsletter build {draft.issue_id}`")


@cli.command("build")
@click.argument("issue_id", metavar="ISSUE")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Default: out/.")
@pass_workspace
def build_command(ws: Workspace, issue_id: str, out_dir: Path | None):
    """Render an issue into OUT/<ISSUE>/: email.html, email.txt and web.html.

    The issue is checked first: unknown or repeated summary ids, empty sections, a missing subject,
    an invalid summary or an unfinished intro stop the build with the file and line to fix.

    \b
    Example:
        newsletter build 2026-06
    """
    from newsletter import render  # loaded here: rendering pulls in MJML and premailer

    result = render.build_issue(ws.settings, issue_id, out_dir)
    for path, size in result.files:
        click.echo(f"{path}  {size / 1024:.1f} KB")
    for warning in result.warnings:
        click.echo(f"warning: {warning}")


def main() -> None:
    cli(prog_name="newsletter")
