"""`newsletter send`: check the issue, plan, then start or resume its run, holding the issue's lock.

The recipients are fixed when the run starts: the audience streams into the ledger as pending
(memory stays flat whatever the list size); a later send of the same issue resumes that run, adds
nobody who subscribed since, and never resends `sent`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace

from newsletter.bounces.health import PAUSE_MIN_ATTEMPTS, PAUSE_RATE, previous_issue_warning
from newsletter.bounces.settings import BounceSettings, bounce_settings
from newsletter.compose.reader import Reader, Variant
from newsletter.compose.ready import require_finished_intro
from newsletter.delivery import audience, crew, history
from newsletter.delivery.engine import Engine
from newsletter.delivery.ledger import Ledger, open_ledger
from newsletter.delivery.locks import issue_lock, shares_runs
from newsletter.delivery.outcome import RunOutcome
from newsletter.delivery.pacing import DeliveryOptions
from newsletter.delivery.plan import SendPlan, SendRequest, make_plan
from newsletter.delivery.records import RunState
from newsletter.delivery.reporting import Reporter
from newsletter.delivery.workers import issue_digest
from newsletter.errors import DeliveryError, NewsletterError, problems
from newsletter.mail.factory import MessageFactory
from newsletter.mail.renderings import Rendered
from newsletter.mail.tokens import signing_secret as token_secret
from newsletter.providers import open_provider
from newsletter.providers.base import Provider
from newsletter.store import issues
from newsletter.store.config import Settings
from newsletter.store.models import Issue, Summary

UNKNOWN_SHOWN = 20
FAILURES_SHOWN = 20
PREPARED_EDITIONS = 32  # renderings made once for the worker processes; rarer editions render there


class NotReady(DeliveryError):
    """The issue cannot be sent as it is: it does not load, or `newsletter check` finds errors."""


def load_ready_issue(settings: Settings, issue_id: str) -> tuple[Issue, dict[str, Summary]]:
    """The issue and its summaries, refusing a draft whose intro is still the TODO."""
    issue, summaries = issues.load_issue_content(settings.workspace, issue_id)
    require_finished_intro(issue, "before sending")
    return issue, summaries


def signing_secret(provider: Provider, reporter: Reporter) -> bytes:
    # Only the outbox, which reaches nobody, may sign with the development key.
    secret, development = token_secret(dev_ok=provider.name == "outbox")
    if development:
        reporter.note(
            "note: NEWSLETTER_SECRET is not set; the outbox uses the development key for unsubscribe links"
        )
    return secret


def close_quietly(provider: Provider) -> None:
    with contextlib.suppress(Exception):
        provider.close()


@dataclass
class Sending:
    """An issue ready to go: its lock held (unless only planned), its ledger open, its plan made."""

    settings: Settings
    request: SendRequest
    issue: Issue
    summaries: dict[str, Summary]
    secret: bytes
    ledger: Ledger
    plan: SendPlan
    bounces: BounceSettings | None = None  # `bounces:` in newsletter.yaml: VERP senders, the pause limit

    def run(self, reporter: Reporter) -> RunOutcome:
        """Start the run (or resume it, or join it) and send until done, paused or stopped."""
        request, ledger, issue = self.request, self.ledger, self.issue
        settled = self._settled()
        if settled is not None:
            _report_unknown(ledger, issue.id, False, reporter)  # still say who may have got it
            return settled
        if self.plan.resuming:
            ledger.reopen_run(issue.id, self.plan.provider, request.force_reason)
        else:
            added, created = ledger.start_or_join_run(
                issue.id,
                self.plan.provider,
                issue.summary_ids,
                audience.recipients(ledger.engine, request.lists),
                request.force_reason,
            )
            if created and added != self.plan.audience:
                reporter.note(
                    f"note: the lists changed since the plan; the run starts with {added} recipients"
                )
            if not created:
                reporter.note(f"note: another sender started issue {issue.id}'s run; this one joins it")
        _report_unknown(ledger, issue.id, request.resend_unknown, reporter)
        rate, minimum = (
            (self.bounces.pause_rate, self.bounces.pause_min_attempts)
            if self.bounces is not None
            else (PAUSE_RATE, PAUSE_MIN_ATTEMPTS)
        )
        processes = crew.processes_for(self.plan.provider, self.plan.concurrency)
        if processes > 1:
            jobs = crew.jobs_for(
                str(self.settings.workspace),
                issue.id,
                request.provider,
                self.plan.rate,
                self.plan.concurrency,
                processes,
                self.settings.delivery.max_attempts,
                self.plan.provider == "outbox",
                issue_digest(self.settings.workspace, issue, self.summaries),
                self._renderings(),
            )
            outcome = crew.Crew(ledger, issue.id, jobs, reporter, rate, minimum).run()
        else:
            outcome = self._engine(reporter, rate, minimum).run()
        with contextlib.suppress(DeliveryError):  # a ledger fault was already reported in the outcome
            outcome = replace(outcome, failures=tuple(ledger.failures(issue.id, limit=FAILURES_SHOWN)))
        return outcome

    def _factory(self) -> MessageFactory:
        bounce_to = self.bounces.address if self.bounces else None
        return MessageFactory.for_issue(
            self.settings, self.issue, self.summaries, self.secret, bounce_to=bounce_to
        )

    def _renderings(self) -> tuple[tuple[Variant, Rendered], ...]:
        """The renderings of the run's most common editions, made once here for every worker process."""
        editions = self.ledger.editions(self.issue.id, PREPARED_EDITIONS)
        readers = [Reader("", topics=topics, large_text=large) for topics, large in editions]
        try:
            return tuple(self._factory().renderings_for(readers).items())
        except NewsletterError:
            return ()  # each worker renders for itself and reports the problem per message, as ever

    def _engine(self, reporter: Reporter, pause_rate: float, pause_min_attempts: int) -> Engine:
        """The send in this process, its connections in threads."""
        ledger, settings, request = self.ledger, self.settings, self.request
        factory = self._factory()
        return Engine(
            ledger,
            self.issue.id,
            build=factory.build,  # a ledger row is a reader as it is (first name, topics, edition)
            open_provider=lambda: open_provider(request.provider, settings),
            options=DeliveryOptions(self.plan.rate, self.plan.concurrency, settings.delivery.max_attempts),
            on_bounce=audience.mark_bounced(ledger.engine),
            reporter=reporter,
            pause_rate=pause_rate,
            pause_min_attempts=pause_min_attempts,
        )

    def _settled(self) -> RunOutcome | None:
        """A run that ended and has nothing left to send: left as it is (its finish time and provider
        stay those of the send that did the work), and its outcome repeated."""
        run = self.ledger.run(self.issue.id)
        if run is None or run.state not in SETTLED or self.plan.to_send:
            return None
        counts = self.ledger.counts(self.issue.id)
        failures = tuple(self.ledger.failures(self.issue.id, limit=FAILURES_SHOWN))
        note = f"nothing left to send; the run {run.state} at {run.finished_at or run.updated_at}"
        return RunOutcome(self.issue.id, run.state, note, 0, counts, 0.0, failures)


SETTLED = (RunState.FINISHED, RunState.INCOMPLETE)


def require_checked(settings: Settings, issue_id: str, force_reason: str, reporter: Reporter) -> None:
    """The send gate: the rules of `newsletter check` (without SpamAssassin); any error refuses.

    `force_reason` (from `--force --reason TEXT`) sends anyway; the reason is stored with the run.
    """
    from newsletter.check import check_issue

    report = check_issue(settings, issue_id, spam=False, sent=history.sent_record(settings))
    if not report.errors:
        return
    count = f"{len(report.errors)} error{'s' if len(report.errors) != 1 else ''}"
    if force_reason:
        reporter.note(f"note: sending although `newsletter check` finds {count} (--force: {force_reason})")
        return
    raise NotReady(
        problems(
            f"not sending issue {issue_id}: `newsletter check` finds {count}; fix them, or send anyway"
            " with --force --reason TEXT",
            [str(f) for f in report.errors],
        )
    )


@contextlib.contextmanager
def open_send(
    settings: Settings, request: SendRequest, reporter: Reporter, lock: bool = True
) -> Iterator[Sending]:
    """Check the issue, take its lock (unless `lock` is False: a dry run), open the ledger, plan.

    Raises NewsletterError for anything to fix first (nothing is recorded then).
    """
    # The provider and the signing key first: a bad one is what it is, not a finding of the check.
    probe = open_provider(request.provider, settings)
    try:
        secret = signing_secret(probe, reporter)
    finally:
        close_quietly(probe)
    try:
        issue, summaries = load_ready_issue(settings, request.issue_id)
        require_checked(settings, issue.id, request.force_reason, reporter)
        bounces = bounce_settings(settings)
    except NotReady:
        raise
    except NewsletterError as exc:
        raise NotReady(exc.message) from None
    rate = request.rate or settings.delivery.rate
    concurrency = request.concurrency or settings.delivery.concurrency
    # On PostgreSQL several senders may work one run (each claims its recipients); SQLite has one.
    held = issue_lock(settings, issue.id, shared=shares_runs(settings))
    with contextlib.ExitStack() as stack:
        if lock:
            stack.enter_context(held)  # before the plan, so the plan's counts cannot change under it
        ledger = stack.enter_context(open_ledger(settings))
        plan = make_plan(ledger, issue.id, issue.subject, request, (probe.name, rate, concurrency))
        warning = previous_issue_warning(ledger.engine, issue.id)
        if warning:  # before the confirmation, so the editor can still stop and look at the list
            reporter.note(warning)
        yield Sending(settings, request, issue, summaries, secret, ledger, plan, bounces)


def _report_unknown(ledger: Ledger, issue_id: str, resend: bool, reporter: Reporter) -> None:
    ledger.recover_unknown(issue_id)
    unknown = ledger.unknown(issue_id)
    if not unknown:
        return
    if resend:
        ledger.requeue_unknown(issue_id)
        reporter.note(
            f"Sending again to {len(unknown)} recipient(s) whose earlier message is unknown"
            " (--resend-unknown)."
        )
        return
    reporter.note(
        f"{len(unknown)} recipient(s) may have got the issue already (the last run stopped while their "
        "message was with the provider); not sent again unless you add --resend-unknown:"
    )
    for email in unknown[:UNKNOWN_SHOWN]:
        reporter.note(f"  {email}")
    if len(unknown) > UNKNOWN_SHOWN:
        reporter.note(f"  ... and {len(unknown) - UNKNOWN_SHOWN} more (see `newsletter status {issue_id}`)")


def hold(settings: Settings, issue_id: str) -> None:
    """`send --hold`: mark the issue's run held, so `send-due` leaves it for a person to resume.

    A send running now notices within a second and stops after the messages in flight.
    """
    with open_ledger(settings) as ledger:
        run = ledger.run(issue_id)
        if run is None:
            raise DeliveryError(
                f"issue {issue_id} has no send run to hold; to keep `send-due` from starting it, "
                f"remove send_at from issues/{issue_id}.yaml"
            )
        if run.state == RunState.FINISHED:
            raise DeliveryError(f"issue {issue_id} is already sent; there is nothing to hold")
        ledger.set_run_state(issue_id, RunState.INTERRUPTED, "held by the operator (send --hold)")
