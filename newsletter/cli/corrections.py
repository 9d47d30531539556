"""`newsletter correct`: tell the readers who received a summary that it was corrected."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from newsletter.cli.core import UsageError, argument, command, confirm, echo
from newsletter.cli.params import MessagesPerSecond, WholeNumber
from newsletter.errors import ExitStatus, NewsletterError

if TYPE_CHECKING:  # annotations only: `--help` need not load them
    from newsletter.store.workspace import Workspace


@command("correct")
@argument(
    "summary_id", metavar="SUMMARY_ID", help="The summary's id (its file name in summaries/ without .yaml)."
)
@click.option(
    "--note", required=True, metavar="TEXT", help="What changed, in a sentence or two (shown to readers)."
)
@click.option(
    "--provider",
    metavar="TEXT",
    help="outbox, outbox:DIR, smtp://host:port, smtps://... (default: settings).",
)
@click.option(
    "--dry-run", is_flag=True, help="Draft the email and show who would get it; record and send nothing."
)
@click.option("--rate", type=MessagesPerSecond(), metavar="FLOAT", help="Messages per second.  [above 0]")
@click.option("--concurrency", type=WholeNumber(1, 64), metavar="INTEGER",
              help="Connections to the provider at once.  [1..64]")  # fmt: skip
@click.option("--resend-unknown", is_flag=True, help="Also resend those a crash left unknown.")
@click.option("--force", is_flag=True, help="Send although the check finds errors (needs --reason).")
@click.option("--reason", default="", metavar="TEXT", help="Why --force: stored with the run.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask to confirm (needed when not at a terminal).")
def correct_command(
    ws: Workspace,
    summary_id: str,
    note: str,
    provider: str | None,
    dry_run: bool,
    rate: float | None,
    concurrency: int | None,
    resend_unknown: bool,
    force: bool,
    reason: str,
    yes: bool,
) -> int:
    """Send a correction of a summary to exactly the readers who received it.

    Edit the summary first; then this records the note in its file (`corrections:`, shown on the
    issue's web page), drafts the email (the title, what changed, the summary as it reads now) in
    out/correction-SUMMARY_ID-N/, and sends it as its own run in the ledger to everyone an issue
    run sent the summary to (sent, or unknown: they may have got it) in their edition, except
    readers who left since. Running it again with the same note resumes that correction and
    sends nobody twice. Exit codes as `send`.

    Example:
        newsletter correct 2026-05-20-vitamin-d --note "The dose was 4,000 IU a day, not 40,000." --dry-run
        newsletter correct 2026-05-20-vitamin-d --note "The dose was 4,000 IU a day, not 40,000." --yes
    """
    from newsletter import console
    from newsletter.cli.sending import at_terminal
    from newsletter.corrections.run import CorrectionRequest, open_correction

    if force != bool(reason.strip()):
        raise UsageError("--force and --reason TEXT go together: say why the checks are overridden")
    reporter = console.ConsoleReporter(console.ProgressPrinter())
    request = CorrectionRequest(summary_id, note, provider, rate, concurrency, resend_unknown, reason.strip())
    with open_correction(ws.settings, request, reporter, lock=not dry_run) as correcting:
        for line in console.correction_lines(correcting):
            echo(line)
        reporter.plan(correcting.plan)
        if dry_run:
            echo("Dry run: nothing recorded, nothing sent.")
            return ExitStatus.OK
        if not yes:
            if not at_terminal():
                raise NewsletterError(
                    "not sending: nobody at a terminal can confirm; add --yes to send without asking"
                )
            if not confirm(
                f"Send correction {correcting.draft.run_id} to {correcting.plan.to_send} readers?"
            ):
                echo("Not sent.")
                return ExitStatus.REFUSED
        outcome = correcting.run(reporter)
    reporter.outcome(outcome)
    return outcome.exit_code


COMMANDS = [correct_command]
