"""`newsletter send`: check the issue, plan, then start or resume its run, holding the issue's lock.

The recipients are fixed when the run starts: the audience streams into the ledger as pending
(memory stays flat whatever the list size); a later send of the same issue resumes that run, adds
nobody who subscribed since, and never resends `sent`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import NamedTuple

from newsletter.bounces.health import PAUSE_MIN_ATTEMPTS, PAUSE_RATE, previous_issue_warnings
from newsletter.bounces.settings import BounceSettings, bounce_settings
from newsletter.compose.ready import require_finished_intro
from newsletter.db import suppression
from newsletter.db.engine import is_postgresql
from newsletter.db.identity import remember_send, require_known_database
from newsletter.db.locks import issue_lock
from newsletter.delivery import claims, history
from newsletter.delivery.engine import Engine
from newsletter.delivery.ledger import Ledger, open_ledger
from newsletter.delivery.outcome import RunOutcome
from newsletter.delivery.pacing import DeliveryOptions
from newsletter.delivery.plan import SendPlan, SendRequest, make_plan
from newsletter.delivery.records import NewRecipient, RunState, local_time
from newsletter.delivery.reporting import Reporter
from newsletter.delivery.runs import from_audience
from newsletter.errors import DeliveryError, NewsletterError, problems
from newsletter.mail.factory import MessageFactory
from newsletter.mail.renderings import Rendering
from newsletter.mail.tokens import signing_secret as token_secret
from newsletter.providers import open_provider
from newsletter.providers.base import Provider
from newsletter.store import issues
from newsletter.store.config import Settings
from newsletter.store.models import Issue, Summary

UNKNOWN_SHOWN = 20
FAILURES_SHOWN = 20
CHECK_BOUNCES_EVERY = 500  # attempts between two looks at the bounce mailbox when bounces.imap is set


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
    # The audience hook, for a run that is not an issue's own (a correction, newsletter/corrections/):
    # whom the run starts with (default: the lists' audience) and what each reader gets (default:
    # the issue's edition for their topics).
    recipients: Callable[[], Iterable[NewRecipient]] | None = None
    rendering: Rendering | None = None

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
                self.recipients() if self.recipients else from_audience(ledger.engine, request.lists),
                request.force_reason,
            )
            if created and added != self.plan.audience:
                reporter.note(
                    f"note: the lists changed since the plan; the run starts with {added} recipients"
                )
            if not created:
                reporter.note(f"note: another sender started issue {issue.id}'s run; this one joins it")
        remember_send(ledger.engine, self.settings.workspace, issue.id)
        with contextlib.ExitStack() as stack:
            me = stack.enter_context(claims.sender(ledger.engine)) if is_postgresql(ledger.engine) else None
            _recover(ledger, issue.id, me)
            _report_unknown(ledger, issue.id, request.resend_unknown, reporter)
            outcome = self._engine(reporter, me).run()
        with contextlib.suppress(DeliveryError):  # a ledger fault was already reported in the outcome
            outcome = replace(outcome, failures=tuple(ledger.failures(issue.id, limit=FAILURES_SHOWN)))
        return outcome

    def _engine(self, reporter: Reporter, me: str | None) -> Engine:
        """The send in this process, its connections in threads."""
        ledger, settings, request, bounces = self.ledger, self.settings, self.request, self.bounces
        bounce_to = bounces.address if bounces else None
        factory = (
            MessageFactory(settings, self.rendering, self.secret, bounce_to=bounce_to)
            if self.rendering is not None
            else MessageFactory.for_issue(
                settings, self.issue, self.summaries, self.secret, bounce_to=bounce_to
            )
        )
        check_every = request.check_bounces_every
        if check_every is None:
            check_every = CHECK_BOUNCES_EVERY if bounces is not None and bounces.imap is not None else 0
        options = DeliveryOptions(
            self.plan.rate,
            self.plan.concurrency,
            settings.delivery.max_attempts,
            ramp=request.ramp,
            check_every=check_every,
        )
        return Engine(
            ledger,
            self.issue.id,
            build=factory.build,  # a ledger row is a reader as it is (first name, topics, edition)
            open_provider=lambda: open_provider(request.provider, settings),
            options=options,
            on_bounce=lambda email, reason: _bounced(ledger, email, reason),
            reporter=reporter,
            pause_rate=bounces.pause_rate if bounces else PAUSE_RATE,
            pause_min_attempts=bounces.pause_min_attempts if bounces else PAUSE_MIN_ATTEMPTS,
            sender=me,
            later_bounces=self._later_bounces if check_every else None,
            database_timeout=settings.delivery.database_timeout,
        )

    def _later_bounces(self) -> tuple[int, int]:
        """`bounces fetch` now (when bounces.imap is set), then the run's attempts and hard bounces so far,
        those reported after the send included (the bounce mailbox's, and SES events already received)."""
        from newsletter.bounces.health import issue_health

        engine = self.ledger.engine
        if self.bounces is not None and self.bounces.imap is not None:
            from newsletter.bounces.mailbox import fetch_bounces
            from newsletter.bounces.settings import imap_password

            fetch_bounces(engine, self.bounces, self.secret, imap_password(), self.settings.workspace)
        health = issue_health(engine, self.issue.id)
        return (health.attempts, health.hard_bounces) if health is not None else (0, 0)

    def _settled(self) -> RunOutcome | None:
        """A run that ended and has nothing left to send: left as it is (its finish time and provider
        stay those of the send that did the work), and its outcome repeated."""
        run = self.ledger.run(self.issue.id)
        if run is None or run.state not in SETTLED or self.plan.to_send:
            return None
        counts = self.ledger.counts(self.issue.id)
        failures = tuple(self.ledger.failures(self.issue.id, limit=FAILURES_SHOWN))
        when = local_time(run.finished_at or run.updated_at, self.settings.tz)
        note = f"nothing left to send; the run {run.state} at {when}"
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


def require_approved(settings: Settings, issue_id: str, force_reason: str, reporter: Reporter) -> None:
    """With `schedule.require_approval` on, only an issue approved as it is now goes out.

    `force_reason` (`send --force --reason TEXT`) sends anyway and says so; `send-due` never forces.
    """
    if not settings.require_approval:
        return
    from newsletter.store.approval import ApprovalState, approval_of

    approval = approval_of(settings.workspace, issue_id)
    if approval.approved:
        return
    why = (
        f"its approval by {approval.by} was withdrawn: the issue or one of its summaries changed since"
        if approval.state is ApprovalState.WITHDRAWN
        else "nobody approved it"
    )
    if force_reason:
        reporter.note(f"note: sending although {why} (--force: {force_reason})")
        return
    raise NotReady(
        f"not sending issue {issue_id}: {why} (schedule.require_approval is on); approve it with "
        f"`newsletter approve {issue_id}` or in `newsletter desk`, or send anyway with --force --reason TEXT"
    )


@contextlib.contextmanager
def open_send(
    settings: Settings, request: SendRequest, reporter: Reporter, lock: bool = True
) -> Iterator[Sending]:
    """Check the issue, take its lock (unless `lock` is False: a dry run), open the ledger, plan.

    Raises NewsletterError for anything to fix first (nothing is recorded then).
    """
    # The provider and the signing key first: a bad one is what it is, not a finding of the check.
    probe = probe_provider(settings, request.provider, reporter)
    secret, quota = probe.secret, probe.quota
    try:
        issue, summaries = load_ready_issue(settings, request.issue_id)
        require_checked(settings, issue.id, request.force_reason, reporter)
        require_approved(settings, issue.id, request.force_reason, reporter)
        bounces = bounce_settings(settings)
    except NotReady:
        raise
    except NewsletterError as exc:
        raise NotReady(exc.message) from None
    rate, rate_from = request.rate or settings.delivery.rate, ""
    if not request.rate and quota is not None:
        rate, rate_from = quota, "the SES account's MaxSendRate"
    concurrency = request.concurrency or settings.delivery.concurrency
    with contextlib.ExitStack() as stack:
        ledger = stack.enter_context(open_ledger(settings))
        require_known_database(ledger.engine, settings.workspace)  # never the wrong ledger (db/identity.py)
        if lock:
            # Before the plan, so the plan's counts cannot change under it. On PostgreSQL several
            # senders may work one run (each claims its recipients); on SQLite one process sends it.
            shared = is_postgresql(ledger.engine)
            stack.enter_context(issue_lock(ledger.engine, issue.id, shared=shared))
        plan = make_plan(ledger, issue.id, issue.subject, request, (probe.name, rate, concurrency), rate_from)
        # Before the confirmation, so the editor can still stop and look at the list.
        for warning in previous_issue_warnings(ledger.engine, issue.id):
            reporter.note(warning)
        yield Sending(settings, request, issue, summaries, secret, ledger, plan, bounces)


class Probe(NamedTuple):
    """What a send needs to know of its provider before it starts."""

    name: str  # as the plan shows it
    secret: bytes  # the key that signs the links (the development key only for the outbox)
    quota: float | None  # its own limit in messages per second, when it tells one (SES)


def probe_provider(settings: Settings, provider: str | None, reporter: Reporter) -> Probe:
    """Open the provider once, learn what the send needs of it, and close it."""
    opened = open_provider(provider, settings)
    try:
        return Probe(opened.name, signing_secret(opened, reporter), provider_rate(opened))
    finally:
        close_quietly(opened)


def provider_rate(provider: Provider) -> float | None:
    """The provider's own limit in messages per second, when it has one to tell (SES: MaxSendRate)."""
    ask = getattr(provider, "max_send_rate", None)
    return ask() if callable(ask) else None


def _bounced(ledger: Ledger, email: str, reason: str) -> None:
    """A hard bounce during the send: the address is marked bounced in its lists and suppressed."""
    suppression.mark_bounced(ledger.engine, email, reason)


def _recover(ledger: Ledger, issue_id: str, me: str | None) -> None:
    """What a sender that died left `sending` becomes `unknown`: on SQLite every such row (this process
    holds the issue's exclusive lock), on PostgreSQL those of senders whose liveness lock is free."""
    if me is None:
        ledger.doubt_all(issue_id)
    else:
        claims.recover(ledger.engine, issue_id, me)


def _report_unknown(ledger: Ledger, issue_id: str, resend: bool, reporter: Reporter) -> None:
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
