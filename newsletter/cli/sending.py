"""The sending commands: send, status and the scheduler's send-due."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from newsletter.cli.core import UsageError, argument, command, confirm, echo
from newsletter.cli.params import ISSUE_HELP, IsoDateTime, IssueId, MessagesPerSecond, WholeNumber
from newsletter.errors import ExitStatus, NewsletterError

if TYPE_CHECKING:  # annotations only: `--help` need not load them
    from datetime import datetime

    from newsletter.store.workspace import Workspace


@command("send")
@argument("issue_id", type=IssueId(), metavar="ISSUE", help=ISSUE_HELP)
@click.option("--list", "lists", multiple=True, metavar="NAME", help="Send to this list (repeatable).")
@click.option(
    "--provider",
    metavar="TEXT",
    help="outbox, outbox:DIR, smtp://host:port, smtps://... (default: settings).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan (who, how many, how long) and stop.")
@click.option(
    "--show", is_flag=True, help="With --dry-run: also list the addresses of each part of the plan."
)
@click.option("--rate", type=MessagesPerSecond(), metavar="FLOAT", help="Messages per second.  [above 0]")
@click.option("--concurrency", type=WholeNumber(1, 64), metavar="INTEGER",
              help="Connections to the provider at once.  [1..64]")  # fmt: skip
@click.option(
    "--ramp",
    type=WholeNumber(1, 10_000_000),
    metavar="INTEGER",
    help="Warm up: the first N at a tenth of the rate, then pause if too many bounced hard.",
)
@click.option(
    "--check-bounces-every",
    type=WholeNumber(1, 10_000_000),
    metavar="INTEGER",
    help="Count the bounces reported so far every N attempts (default: 500 with bounces.imap).",
)
@click.option("--resume", is_flag=True, help="Resume a stopped run (sending again always resumes).")
@click.option("--resend-unknown", is_flag=True, help="Also resend those a crash left unknown.")
@click.option(
    "--skip-invalid", is_flag=True, hidden=True
)  # kept for scripts: the database holds only valid rows
@click.option("--test-to", multiple=True, metavar="ADDRESS", help="Send a [TEST] proof here (repeatable).")
@click.option("--force", is_flag=True, help="Send although `newsletter check` finds errors (needs --reason).")
@click.option("--reason", default="", metavar="TEXT", help="Why --force: stored with the run.")
@click.option(
    "--hold", is_flag=True, help="Hold the issue's run: send-due leaves it until a person resumes it."
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask to confirm (needed when not at a terminal).")
def send_command(
    ws: Workspace,
    issue_id: str,
    lists: tuple[str, ...],
    provider: str | None,
    dry_run: bool,
    show: bool,
    rate: float | None,
    concurrency: int | None,
    ramp: int | None,
    check_bounces_every: int | None,
    resume: bool,
    resend_unknown: bool,
    skip_invalid: bool,
    test_to: tuple[str, ...],
    force: bool,
    reason: str,
    hold: bool,
    yes: bool,
) -> int:
    """Send an issue to its subscribers, or resume its stopped run.

    Runs the checks of `newsletter check` first and refuses an issue with errors (override with
    --force --reason TEXT); then shows the plan. A recipient already sent is never sent again;
    Ctrl-C stops after the messages in flight and holds the run; SIGTERM stops it the same way and
    leaves it for `send-due`. Exit code: 0 all sent, 3 some failed or unknown, 4 paused after
    repeated errors or a fault, 130 stopped; 1 for a problem to fix first.

    Example:
        newsletter send 2026-06 --dry-run
        newsletter send 2026-06 --test-to editor@example.org
        newsletter send 2026-06 --provider smtp://mail.example.org:587 --rate 20 --yes
        newsletter send 2026-06 --hold
        newsletter send 2026-06 --ramp 200 --check-bounces-every 500 --yes
    """
    from newsletter import console
    from newsletter.delivery import plan, proof, send

    issue = issue_id
    if force != bool(reason.strip()):
        raise UsageError("--force and --reason TEXT go together: say why the checks are overridden")
    reporter = console.ConsoleReporter(console.ProgressPrinter())
    if hold:
        send.hold(ws.settings, issue)
        echo(f"Issue {issue}: held; `newsletter send {issue}` resumes it, send-due leaves it.")
        return ExitStatus.OK
    if test_to:
        results = proof.send_test(ws.settings, issue, list(test_to), provider, reporter)
        for line in console.proof_lines(results):
            echo(line)
        return ExitStatus.OK if all(p.result.ok for p in results) else ExitStatus.FAILURES
    # --resume is not read: sending again always resumes; the flag only says so in a script.
    request = plan.SendRequest(
        issue,
        lists or None,
        provider,
        rate,
        concurrency,
        resend_unknown,
        skip_invalid,
        reason.strip(),
        show and dry_run,
        ramp=ramp or 0,
        check_bounces_every=check_bounces_every,
    )
    interactive = at_terminal()
    with send.open_send(ws.settings, request, reporter, lock=not dry_run) as sending:
        reporter.plan(sending.plan)
        if dry_run:
            echo("Dry run: nothing sent.")
            return ExitStatus.OK
        early = _before_send_at(ws, sending.issue.send_at)
        if early:
            echo(f"Warning: {early}", err=True)
        if not yes:
            if not interactive:
                raise NewsletterError(
                    "not sending: nobody at a terminal can confirm; add --yes to send without asking"
                )
            if not confirm(f"Send issue {issue} to {sending.plan.to_send} recipients?"):
                echo("Not sent.")
                return ExitStatus.REFUSED
        outcome = sending.run(reporter)
    reporter.outcome(outcome)
    return outcome.exit_code


def at_terminal() -> bool:
    """Whether a person at a terminal can answer the confirmation."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _before_send_at(ws: Workspace, send_at: datetime | None) -> str:
    """A warning when a manual send comes before the issue's scheduled send_at, else ""."""
    if send_at is None:
        return ""
    from datetime import datetime

    from newsletter.delivery.schedule import localize

    when = localize(send_at, ws.settings)
    if when <= datetime.now().astimezone():
        return ""
    return (
        f"the issue is scheduled for {when.isoformat()} (send_at); sending now is before that. "
        "To wait, answer no and let `newsletter send-due` send it"
    )


@command("status")
@argument("issue_id", required=False, type=IssueId(), metavar="ISSUE", help=ISSUE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status_command(ws: Workspace, issue_id: str | None, as_json: bool) -> None:
    """Show each issue's send run: its state, recipients per state, and the failures with reasons.

    Example:
        newsletter status 2026-06
        newsletter status --json
    """
    import json

    from newsletter import console
    from newsletter.bounces.unverified import unverified_counts
    from newsletter.db.state import open_state
    from newsletter.delivery.status import issue_status

    statuses = issue_status(ws.settings, issue_id, None if as_json else console.FAILURES_SHOWN)
    per_issue, total = unverified_counts(open_state(ws.settings))
    if as_json:
        found = [{**s.as_dict(), "unverified_reports": per_issue.get(s.run.issue_id, 0)} for s in statuses]
        echo(json.dumps(found, indent=2))
    else:
        for line in console.status_lines(statuses, tz=ws.settings.tz):
            echo(line)
        if total:
            echo(console.unverified_line(total))


@command("send-due")
@click.option("--now", type=IsoDateTime(), metavar="DATETIME", help="Pretend it is this time (ISO 8601).")
@click.option("--max-late", default="24h", metavar="TEXT",
              help="Refuse an issue due longer ago (90m, 24h, 2d).  [default: 24h]")  # fmt: skip
def send_due_command(ws: Workspace, now: datetime | None, max_late: str) -> int:
    """Send every issue whose send_at has come and that is not finished; for cron or a systemd timer.

    Resumes a partly sent run (also one stopped by SIGTERM); refuses an issue that `newsletter check`
    finds errors in, one held by an operator, or one too late. Overlapping runs are safe: a second
    one finds the first at work and does nothing.

    Example:
        */5 * * * *  cd /srv/newsletter && newsletter send-due
        newsletter send-due --now 2026-06-02T09:05:00-04:00 --max-late 2d
    """
    from datetime import datetime

    from newsletter import console
    from newsletter.delivery import schedule

    try:
        late = schedule.parse_duration(max_late)
    except ValueError as exc:
        raise UsageError(f"--max-late: {exc}") from None
    reporter = console.ConsoleReporter(console.ProgressPrinter(tty=False, every=30))
    report = schedule.send_due(ws.settings, now or datetime.now().astimezone(), late, reporter)
    return report.exit_code


COMMANDS = [send_command, status_command, send_due_command]
