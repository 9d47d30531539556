"""The sending commands: send, status and the scheduler's send-due."""

from __future__ import annotations

from datetime import datetime

import click

from newsletter.cli import cli
from newsletter.cli.params import DateTimeParam, pass_workspace
from newsletter.store.workspace import Workspace


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
