"""The sending commands: send, status and the scheduler's send-due."""

from __future__ import annotations

import math
import sys
from datetime import datetime

import click

from newsletter.cli import cli
from newsletter.cli.params import ISSUE, DateTimeParam, pass_workspace
from newsletter.errors import ExitStatus
from newsletter.store.workspace import Workspace


def _finite_rate(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    # FloatRange lets nan and inf through (nan compares false with every bound).
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of messages per second; use e.g. 10", ctx, param)
    return value


@cli.command("send")
@click.argument("issue_id", metavar="ISSUE", type=ISSUE)
@click.option("--list", "lists", multiple=True, metavar="NAME", help="Send to this list (repeatable).")
@click.option("--provider", help="outbox, outbox:DIR, smtp://host:port, smtps://... (default: settings).")
@click.option("--dry-run", is_flag=True, help="Show the plan (who, how many, how long) and stop.")
@click.option(
    "--show", is_flag=True, help="With --dry-run: also list the addresses of each part of the plan."
)
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), callback=_finite_rate, help="Messages per second."
)
@click.option("--concurrency", type=click.IntRange(1, 64), help="Connections to the provider at once.")
@click.option("--resume", is_flag=True, help="Resume a stopped run (sending again always resumes).")
@click.option("--resend-unknown", is_flag=True, help="Also resend those a crash left unknown.")
@click.option(
    "--skip-invalid", is_flag=True, hidden=True, help="Kept for scripts: the database holds only valid rows."
)
@click.option("--test-to", multiple=True, metavar="ADDRESS", help="Send a [TEST] proof here (repeatable).")
@click.option("--force", is_flag=True, help="Send although `newsletter check` finds errors (needs --reason).")
@click.option("--reason", metavar="TEXT", default="", help="Why --force: stored with the run.")
@click.option(
    "--hold", is_flag=True, help="Hold the issue's run: send-due leaves it until a person resumes it."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask to confirm (needed when not at a terminal).")
@pass_workspace
def send_command(
    ws: Workspace,
    issue_id: str,
    test_to: tuple[str, ...],
    provider: str | None,
    lists: tuple[str, ...],
    dry_run: bool,
    show: bool,
    rate: float | None,
    concurrency: int | None,
    resume: bool,  # sending again always resumes; the flag only says so in a script
    resend_unknown: bool,
    skip_invalid: bool,
    force: bool,
    reason: str,
    hold: bool,
    yes: bool,
) -> None:
    """Send an issue to its subscribers, or resume its stopped run.

    Runs the checks of `newsletter check` first and refuses an issue with errors (override with
    --force --reason TEXT); then shows the plan. A recipient already sent is never sent again;
    Ctrl-C stops after the messages in flight and holds the run; SIGTERM stops it the same way and
    leaves it for `send-due`. Exit code: 0 all sent, 3 some failed or unknown, 4 paused after
    repeated errors or a fault, 130 stopped; 1 for a problem to fix first.

    \b
    Example:
        newsletter send 2026-06 --dry-run
        newsletter send 2026-06 --test-to editor@example.org
        newsletter send 2026-06 --provider smtp://mail.example.org:587 --rate 20 --yes
        newsletter send 2026-06 --hold
    """
    from newsletter import console
    from newsletter.delivery import plan, proof, send

    if force != bool(reason.strip()):
        raise click.UsageError("--force and --reason TEXT go together: say why the checks are overridden")
    reporter = console.ConsoleReporter(console.ProgressPrinter())
    if hold:
        send.hold(ws.settings, issue_id)
        click.echo(f"Issue {issue_id}: held; `newsletter send {issue_id}` resumes it, send-due leaves it.")
        return
    if test_to:
        results = proof.send_test(ws.settings, issue_id, list(test_to), provider, reporter)
        for line in console.proof_lines(results):
            click.echo(line)
        raise SystemExit(ExitStatus.OK if all(p.result.ok for p in results) else ExitStatus.FAILURES)
    request = plan.SendRequest(
        issue_id,
        tuple(lists) or None,
        provider,
        rate,
        concurrency,
        resend_unknown,
        skip_invalid,
        reason.strip(),
        show and dry_run,
    )
    interactive = at_terminal()
    with send.open_send(ws.settings, request, reporter, lock=not dry_run) as sending:
        reporter.plan(sending.plan)
        if dry_run:
            click.echo("Dry run: nothing sent.")
            return
        early = _before_send_at(ws, sending.issue.send_at)
        if early:
            click.echo(f"Warning: {early}", err=True)
        if not yes:
            if not interactive:
                raise click.ClickException(
                    "not sending: nobody at a terminal can confirm; add --yes to send without asking"
                )
            if not click.confirm(f"Send issue {issue_id} to {sending.plan.to_send} recipients?"):
                click.echo("Not sent.")
                raise SystemExit(ExitStatus.REFUSED)
        outcome = sending.run(reporter)
    reporter.outcome(outcome)
    raise SystemExit(outcome.exit_code)


def at_terminal() -> bool:
    """Whether a person at a terminal can answer the confirmation."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _before_send_at(ws: Workspace, send_at: datetime | None) -> str:
    """A warning when a manual send comes before the issue's scheduled send_at, else ""."""
    if send_at is None:
        return ""
    from newsletter.delivery.schedule import localize

    when = localize(send_at, ws.settings)
    if when <= datetime.now().astimezone():
        return ""
    return (
        f"the issue is scheduled for {when.isoformat()} (send_at); sending now is before that. "
        "To wait, answer no and let `newsletter send-due` send it"
    )


@cli.command("status")
@click.argument("issue_id", metavar="[ISSUE]", required=False, type=ISSUE)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_workspace
def status_command(ws: Workspace, issue_id: str | None, as_json: bool) -> None:
    """Show each issue's send run: its state, recipients per state, and the failures with reasons.

    \b
    Example:
        newsletter status 2026-06
        newsletter status --json
    """
    import json

    from newsletter import console
    from newsletter.delivery.status import issue_status

    statuses = issue_status(ws.settings, issue_id)
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
    else:
        for line in console.status_lines(statuses):
            click.echo(line)


@cli.command("send-due")
@click.option("--now", type=DateTimeParam(), help="Pretend it is this time (ISO 8601).")
@click.option(
    "--max-late", default="24h", show_default=True, help="Refuse an issue due longer ago (90m, 24h, 2d)."
)
@pass_workspace
def send_due_command(ws: Workspace, now: datetime | None, max_late: str) -> None:
    """Send every issue whose send_at has come and that is not finished; for cron or a systemd timer.

    Resumes a partly sent run (also one stopped by SIGTERM); refuses an issue that `newsletter check`
    finds errors in, one held by an operator, or one too late. Overlapping runs are safe: a second
    one finds the first at work and does nothing.

    \b
    Example:
        */5 * * * *  cd /srv/newsletter && newsletter send-due
        newsletter send-due --now 2026-06-02T09:05:00-04:00 --max-late 2d
    """
    from newsletter import console
    from newsletter.delivery import schedule

    try:
        late = schedule.parse_duration(max_late)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-late") from None
    reporter = console.ConsoleReporter(console.ProgressPrinter(tty=False, every=30))
    report = schedule.send_due(ws.settings, now or datetime.now().astimezone(), late, reporter)
    raise SystemExit(report.exit_code)
