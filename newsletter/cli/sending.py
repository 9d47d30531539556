"""The sending commands: send, status and the scheduler's send-due."""

from __future__ import annotations

import sys
from argparse import SUPPRESS, Namespace

from newsletter.cli.params import ISSUE_HELP, iso_datetime, issue_id, messages_per_second, whole_number_in
from newsletter.cli.parser import UsageError, command, confirm, echo
from newsletter.errors import ExitStatus, NewsletterError

TYPE_CHECKING = False  # not typing's: `newsletter --help` need not load typing
if TYPE_CHECKING:  # annotations only: `--help` need not load the workspace
    from datetime import datetime

    from newsletter.cli.parser import Commands
    from newsletter.store.workspace import Workspace


def register(commands: Commands) -> None:
    """Add `send`, `status` and `send-due`."""
    p = command(commands, "send", send_command)
    p.add_argument("issue_id", type=issue_id, metavar="ISSUE", help=ISSUE_HELP)
    p.add_argument(
        "--list", dest="lists", action="append", metavar="NAME", help="Send to this list (repeatable)."
    )
    p.add_argument(
        "--provider",
        metavar="TEXT",
        help="outbox, outbox:DIR, smtp://host:port, smtps://... (default: settings).",
    )
    p.add_argument("--dry-run", action="store_true", help="Show the plan (who, how many, how long) and stop.")
    p.add_argument(
        "--show",
        action="store_true",
        help="With --dry-run: also list the addresses of each part of the plan.",
    )
    p.add_argument(
        "--rate", type=messages_per_second, metavar="FLOAT", help="Messages per second.  [above 0]"
    )
    p.add_argument("--concurrency", type=whole_number_in(1, 64), metavar="INTEGER",
                   help="Connections to the provider at once.  [1..64]")  # fmt: skip
    p.add_argument(
        "--resume", action="store_true", help="Resume a stopped run (sending again always resumes)."
    )
    p.add_argument("--resend-unknown", action="store_true", help="Also resend those a crash left unknown.")
    # Kept for scripts: the database holds only valid rows.
    p.add_argument("--skip-invalid", action="store_true", help=SUPPRESS)
    p.add_argument(
        "--test-to", action="append", metavar="ADDRESS", help="Send a [TEST] proof here (repeatable)."
    )
    p.add_argument(
        "--force", action="store_true", help="Send although `newsletter check` finds errors (needs --reason)."
    )
    p.add_argument("--reason", default="", metavar="TEXT", help="Why --force: stored with the run.")
    p.add_argument(
        "--hold",
        action="store_true",
        help="Hold the issue's run: send-due leaves it until a person resumes it.",
    )
    p.add_argument(
        "-y", "--yes", action="store_true", help="Do not ask to confirm (needed when not at a terminal)."
    )

    p = command(commands, "status", status_command)
    p.add_argument("issue_id", nargs="?", type=issue_id, metavar="ISSUE", help=ISSUE_HELP)
    p.add_argument("--json", dest="as_json", action="store_true", help="Print JSON for scripts.")

    p = command(commands, "send-due", send_due_command)
    p.add_argument("--now", type=iso_datetime, metavar="DATETIME", help="Pretend it is this time (ISO 8601).")
    p.add_argument("--max-late", default="24h", metavar="TEXT",
                   help="Refuse an issue due longer ago (90m, 24h, 2d).  [default: 24h]")  # fmt: skip


def send_command(ws: Workspace, args: Namespace) -> int:
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
    """
    from newsletter import console
    from newsletter.delivery import plan, proof, send

    issue, provider, reason = args.issue_id, args.provider, args.reason
    if args.force != bool(reason.strip()):
        raise UsageError("--force and --reason TEXT go together: say why the checks are overridden")
    reporter = console.ConsoleReporter(console.ProgressPrinter())
    if args.hold:
        send.hold(ws.settings, issue)
        echo(f"Issue {issue}: held; `newsletter send {issue}` resumes it, send-due leaves it.")
        return ExitStatus.OK
    if args.test_to:
        results = proof.send_test(ws.settings, issue, args.test_to, provider, reporter)
        for line in console.proof_lines(results):
            echo(line)
        return ExitStatus.OK if all(p.result.ok for p in results) else ExitStatus.FAILURES
    # --resume is not read: sending again always resumes; the flag only says so in a script.
    request = plan.SendRequest(
        issue,
        tuple(args.lists or ()) or None,
        provider,
        args.rate,
        args.concurrency,
        args.resend_unknown,
        args.skip_invalid,
        reason.strip(),
        args.show and args.dry_run,
    )
    interactive = at_terminal()
    with send.open_send(ws.settings, request, reporter, lock=not args.dry_run) as sending:
        reporter.plan(sending.plan)
        if args.dry_run:
            echo("Dry run: nothing sent.")
            return ExitStatus.OK
        early = _before_send_at(ws, sending.issue.send_at)
        if early:
            echo(f"Warning: {early}", err=True)
        if not args.yes:
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


def status_command(ws: Workspace, args: Namespace) -> None:
    """Show each issue's send run: its state, recipients per state, and the failures with reasons.

    Example:
        newsletter status 2026-06
        newsletter status --json
    """
    import json

    from newsletter import console
    from newsletter.delivery.status import issue_status

    statuses = issue_status(ws.settings, args.issue_id)
    if args.as_json:
        echo(json.dumps([s.as_dict() for s in statuses], indent=2))
    else:
        for line in console.status_lines(statuses):
            echo(line)


def send_due_command(ws: Workspace, args: Namespace) -> int:
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
        late = schedule.parse_duration(args.max_late)
    except ValueError as exc:
        raise UsageError(f"--max-late: {exc}") from None
    reporter = console.ConsoleReporter(console.ProgressPrinter(tty=False, every=30))
    report = schedule.send_due(ws.settings, args.now or datetime.now().astimezone(), late, reporter)
    return report.exit_code
