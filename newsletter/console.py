"""How the command line shows delivery: the plan, progress, outcomes and status, escaped for a terminal.

The library reports data (a plan, a tally, an outcome, a status) through `delivery.reporting.Reporter`;
only this module and the command modules turn it into lines. Every string that came from outside
(an SMTP reply, an address, a file name, a subject) passes `printable()` first, so a server's escape
sequences can neither retitle the terminal nor fake coloured output.
"""

from __future__ import annotations

import sys
import time
from datetime import tzinfo
from typing import TYPE_CHECKING, TextIO

import click

from newsletter.bounces.health import BOUNCE_LIMITS, COMPLAINT_LIMITS, Health
from newsletter.delivery.records import Failure, RecipientState, RunState, local_time, resume_command
from newsletter.text import printable

if TYPE_CHECKING:  # types only: `status` and `subscribers` need not load the renderer behind a proof
    from click._termui_impl import ProgressBar

    from newsletter.corrections.run import Correcting
    from newsletter.delivery.outcome import RunOutcome
    from newsletter.delivery.plan import SendPlan
    from newsletter.delivery.proof import ProofResult
    from newsletter.delivery.reporting import Tally
    from newsletter.delivery.status import IssueStatus

R = RecipientState


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


_REASONS = {
    "suppressed": "suppressed",
    "unsubscribed": "unsubscribed",
    "bounced": "bounced",
    "complained": "complained",
    "pending": "unconfirmed",
    "paused": "paused",
    "unknown": "unknown (the last run stopped mid-send)",
    "failed_earlier": "failed or skipped earlier in this run",
    "not_included": "subscribed after this run started",
}
_ALWAYS_SHOWN = ("suppressed", "unsubscribed", "bounced")


def plan_lines(plan: SendPlan, show: bool = False) -> list[str]:
    """The plan as it reconciles: everyone in the lists = already sent + to send + left out by reason."""
    minutes = plan.seconds / 60
    estimate = f"about {minutes:.0f} minutes" if minutes >= 1 else f"about {plan.seconds:.0f} s"
    reasons = plan.left_out
    left = ", ".join(f"{n} {_REASONS[name]}" for name, n in reasons.items() if n or name in _ALWAYS_SHOWN)
    lines = [
        f"Issue {plan.issue_id}: {printable(plan.subject)}",
        f"  in the lists: {plan.in_lists} = {plan.already_sent} already sent + {plan.to_send_of_lists}"
        f" to send + {sum(reasons.values())} left out",
        f"  left out: {left}",
        f"  recipients: {plan.audience} subscribed",
        f"  already sent this issue: {plan.already_sent}",
    ]
    if plan.not_included:
        lines.append(f"  {plan.not_included} subscribed after this run started: not included")
    if plan.unknown:
        lines.append(f"  unknown (the last run stopped mid-send): {plan.unknown}")
    extra = plan.to_send - plan.to_send_of_lists
    lines.append(
        f"  to send now: {plan.to_send}"
        + (f" ({extra} of them in the run from other lists or since left)" if extra > 0 else "")
    )
    lines.append(
        f"  provider: {printable(plan.provider)}, {plan.rate:g} messages/s, {plan.concurrency} connection(s),"
        f" {estimate}"
    )
    if plan.rate_from:
        lines.append(f"  rate: {plan.rate_from} (--rate sets another)")
    if plan.ramp:
        lines.append(
            f"  warm-up: the first {plan.ramp} at {plan.rate / 10:g} messages/s, then a pause if over"
            " the hard-bounce limit"
        )
    if show:
        for part, emails in plan.shown.items():
            title = "to send or sent" if part == "audience" else f"left out, {_REASONS[part]}"
            lines += [f"  {title}: {printable(email)}" for email in emails]
    return lines


def correction_lines(correcting: Correcting) -> list[str]:
    """What a correction is about, before its plan: the summary, the note, where it went, the draft."""
    draft, receivers = correcting.draft, correcting.receivers
    lines = [
        f"Correction {draft.run_id} of {printable(draft.summary.title)}",
        f"  what changed: {printable(draft.note)}",
        "  carried by: " + (", ".join(printable(i) for i, _ in draft.issues) or "no issue"),
        f"  readers who received it and are still subscribed: {len(receivers.recipients)}",
    ]
    if receivers.left_out:
        lines.append("  not sent: " + ", ".join(f"{n} {reason}" for reason, n in receivers.left_out.items()))
    if correcting.new:
        lines.append("  the note goes into the summary's corrections: when the send starts")
    lines += [f"  draft: {path}" for path in correcting.draft_files]
    lines += [f"  {finding}" for finding in correcting.findings]
    return lines


def failure_line(failure: Failure) -> str:
    """The one format of a recipient not sent, in `send`'s outcome and in `status`."""
    return (
        f"  {printable(failure.email)}: {failure.state} after {failure.attempts} attempt(s):"
        f" {printable(failure.last_error)}"
    )


def outcome_lines(outcome: RunOutcome) -> list[str]:
    c = outcome.counts
    lines = [
        f"Issue {outcome.issue_id}: {outcome.state}. Sent {outcome.sent_now} in this run"
        f" ({outcome.elapsed:.1f} s). Totals: {c[R.SENT]} sent, {c[R.FAILED_PERMANENT]} failed permanently,"
        f" {c[R.FAILED_TRANSIENT]} failed for now, {c[R.UNKNOWN]} unknown, {c[R.SKIPPED]} skipped,"
        f" {c[R.PENDING]} pending."
    ]
    if outcome.note:
        lines.append(f"  {printable(outcome.note)}")
    lines += [failure_line(f) for f in outcome.failures]
    if outcome.state in (RunState.PAUSED, RunState.INTERRUPTED, RunState.STOPPED, RunState.INCOMPLETE):
        lines.append(
            f"  Run `{resume_command(outcome.issue_id)}` again to resume; sent recipients are not resent."
        )
    return lines


FAILURES_SHOWN = 20  # per issue in `status`; --json gives them all


def status_lines(
    statuses: list[IssueStatus], failures_shown: int = FAILURES_SHOWN, tz: tzinfo | None = None
) -> list[str]:
    """Each issue's run; times in `tz` (the newsletter's time zone), else as stored (UTC)."""
    if not statuses:
        return ["No issue has been sent yet."]
    lines: list[str] = []
    for status in statuses:  # a re-run with nothing to send leaves the run's times and provider as they were
        run = status.run
        counts = ", ".join(f"{n} {state}" for state, n in status.counts.items() if n)
        when = (
            f"finished {local_time(run.finished_at, tz)}"
            if run.finished_at
            else f"last active {local_time(run.updated_at, tz)}"
        )
        provider = printable(run.provider)
        lines.append(f"{run.issue_id}: {run.state} ({when}, via {provider}): {counts or 'no recipients'}")
        if run.note:
            lines.append(f"  {printable(run.note)}")
        if run.forced_reason:
            lines.append(f"  sent past `newsletter check` with --force: {printable(run.forced_reason)}")
        lines += [failure_line(f) for f in status.failures[:failures_shown]]
        if status.not_sent > failures_shown:
            lines.append(f"  ... and {status.not_sent - failures_shown} more (use --json for all)")
        if status.health is not None and status.health.attempts:
            lines += health_lines(status.health)
    return lines


def _limits(limits: tuple[tuple[float, str], ...]) -> str:
    return "limits " + ", ".join(f"{limit:.1%}" for limit, _ in limits)


def health_lines(health: Health) -> list[str]:
    """An issue's health after the send: each figure as a count and a rate, the limits, the warnings."""
    rows = (
        ("delivered", health.delivered, ""),
        ("hard bounces", health.hard_bounces, _limits(BOUNCE_LIMITS) + " (SES review, SES pause)"),
        ("soft bounces", health.soft_bounces, ""),
        (
            "complaints",
            health.complaints,
            _limits(COMPLAINT_LIMITS) + " (SES review and Gmail's aim, Gmail's maximum, SES pause)",
        ),
        ("unsubscribes", health.unsubscribes, "before the next issue"),
    )
    lines = [f"  after the send, of {health.attempts} attempts ({health.sent} accepted):"]
    for name, count, note in rows:
        lines.append(f"    {name:<13}{count:>7}  {health.rate(count):>7.2%}  {note}".rstrip())
    if health.unverified:
        lines.append(f"    {'unverified':<13}{health.unverified:>7}  {UNVERIFIED_NOTE}")
    return lines + [f"  {printable(warning)}" for warning in health.warnings]


UNVERIFIED_NOTE = "bounce/complaint reports without proof (kept in Unverified; nobody's state changed)"


def unverified_line(total: int) -> str:
    """All the reports that proved nothing, whichever issue: a forger at work shows here."""
    return f"Unverified: {total} {UNVERIFIED_NOTE} in all."


def proof_lines(results: list[ProofResult]) -> list[str]:
    return [
        f"test sent to {printable(p.address)}: {printable(p.result.detail)}"
        if p.result.ok
        else f"test NOT sent to {printable(p.address)}: {p.result.status}: {printable(p.result.detail)}"
        for p in results
    ]


def progress_line(tally: Tally) -> str:
    """`5/10  sent 4  failed 1  skipped 0  2.5/s  0m02s left`: a log's line of a run's progress."""
    return f"{tally.done}/{tally.total}  {_counts(tally)}"


def _counts(tally: Tally) -> str:
    elapsed = max(time.monotonic() - tally.started, 1e-6)
    rate = tally.done / elapsed
    left = (tally.total - tally.done) / rate if rate > 0 else 0
    counts = f"sent {tally.sent}  failed {tally.failed}  skipped {tally.skipped}"
    return f"{counts}  {rate:.1f}/s  {_duration(left)} left"


def echo(line: str) -> None:
    """Print a line to standard output and flush it, so a log or a pipe sees each line as it comes."""
    click.echo(line)


class ProgressPrinter:
    """Click's progress bar, redrawn in place on a terminal; otherwise (logs, cron) a plain line every
    `every` seconds and one at the end, never the same count twice."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None, every: float = 10.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every
        self._last: float | None = None
        self._last_done: int | None = None
        self._bar: ProgressBar[Tally] | None = None

    def __call__(self, tally: Tally, final: bool) -> None:
        if self.tty:
            self._draw(tally, final)
            return
        now = time.monotonic()
        if final and tally.done == self._last_done:
            return  # the last periodic line already showed the end
        # The first periodic line comes `every` seconds in: a short run logs only its final line.
        since = self._last if self._last is not None else tally.started
        if final or now - since >= self.every:
            self._last, self._last_done = now, tally.done
            self.stream.write(progress_line(tally) + "\n")
            self.stream.flush()

    def _draw(self, tally: Tally, final: bool) -> None:
        if self._bar is None:
            self._bar = click.progressbar(
                length=tally.total,
                file=self.stream,
                width=24,
                bar_template="[%(bar)s]  %(info)s",
                show_pos=True,
                show_percent=False,
                show_eta=False,  # _counts says the time left from the run's own rate
                item_show_func=lambda shown: _counts(shown) if shown is not None else None,
            )
        self._bar.update(tally.done - self._bar.pos, tally)
        if final:
            self._bar.render_finish()
            self._bar = None


class ConsoleReporter:
    """The delivery Reporter of the command line: every event as escaped lines on standard output."""

    def __init__(self, progress: ProgressPrinter):
        self.printer = progress

    def note(self, text: str) -> None:
        for line in text.splitlines():  # a refusal's findings are lines, not one escaped string
            echo(printable(line))

    def plan(self, plan: SendPlan) -> None:
        for line in plan_lines(plan, show=bool(plan.shown)):
            echo(line)

    def progress(self, tally: Tally, final: bool) -> None:
        self.printer(tally, final)

    def outcome(self, outcome: RunOutcome) -> None:
        for line in outcome_lines(outcome):
            echo(line)
