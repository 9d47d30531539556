"""A correction's run: the draft, the gate, the plan, and the send through the issue's own machinery.

The run is `correction-<summary id>-<n>`, the n-th correction of the summary (its place in the
summary's `corrections:` list). Running `correct` again with the note the summary's last correction
has resumes that run (a crash, a pause, Ctrl-C); a different note is a new correction. The run's
recipients are fixed when it starts (`corrections.audience`); the ledger then sends each at most once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from newsletter.bounces.settings import bounce_settings
from newsletter.check.findings import Finding
from newsletter.compose.reader import Variant
from newsletter.corrections.audience import LEFT, SUPPRESSED, Receivers, who_received
from newsletter.corrections.gate import correction_findings, errors_of
from newsletter.db.identity import require_known_database
from newsletter.db.locks import issue_lock
from newsletter.db.schema import CORRECTION_RUN
from newsletter.delivery.ledger import Ledger, open_ledger
from newsletter.delivery.outcome import RunOutcome
from newsletter.delivery.plan import SendPlan, SendRequest
from newsletter.delivery.records import TO_SEND, RecipientState
from newsletter.delivery.reporting import Reporter
from newsletter.delivery.send import NotReady, Sending, probe_provider
from newsletter.errors import DeliveryError, problems
from newsletter.render import personal, proof_recipient
from newsletter.render.correction import CorrectionDraft, RenderedCorrection, render_correction
from newsletter.store.config import Settings
from newsletter.store.corrections import add_correction, check_note, load_corrected
from newsletter.store.fileio import atomic_write
from newsletter.store.models import Issue, Summary
from newsletter.store.topics import load_taxonomy

R = RecipientState


def run_id(summary_id: str, number: int) -> str:
    return f"{CORRECTION_RUN}{summary_id}-{number}"


@dataclass(frozen=True)
class CorrectionRequest:
    """What the editor asked of `newsletter correct`; None means "from newsletter.yaml"."""

    summary_id: str
    note: str
    provider: str | None = None
    rate: float | None = None
    concurrency: int | None = None
    resend_unknown: bool = False
    force_reason: str = ""  # `--force --reason TEXT`: send although the gate finds errors


@dataclass(frozen=True)
class CorrectionRendering:
    """The message factory's renderings of a correction: one per text size (`mail.renderings.Rendering`)."""

    settings: Settings
    draft: CorrectionDraft

    @property
    def issue_id(self) -> str:
        return self.draft.run_id

    def variant_for(self, topics: tuple[str, ...], large_text: bool) -> Variant:
        return Variant(large_text=large_text)

    def render(self, variant: Variant) -> RenderedCorrection:
        return render_correction(self.settings, self.draft, variant.large_text)


def numbered(summary: Summary, note: str) -> tuple[int, bool]:
    """(n, new): the last correction again when its note is this one (a resume), else the next."""
    count = len(summary.corrections)
    if count and summary.corrections[-1].note == note:
        return count, False
    return count + 1, True


@dataclass
class Correcting:
    """A correction ready to go: its run's lock held (unless only planned), its plan made."""

    settings: Settings
    draft: CorrectionDraft
    receivers: Receivers
    plan: SendPlan
    findings: tuple[Finding, ...]
    new: bool  # the note is not in the summary's file yet: `record()` writes it before the send
    sending: Sending
    draft_files: tuple[Path, ...]

    def record(self) -> None:
        """Write the note into the summary's `corrections:` (before the first message goes)."""
        if self.new:
            add_correction(self.settings.workspace, self.draft.summary.id, self.draft.note, self.draft.day)
            self.new = False

    def run(self, reporter: Reporter) -> RunOutcome:
        self.record()
        return self.sending.run(reporter)


def write_draft(settings: Settings, rendering: CorrectionRendering) -> tuple[Path, ...]:
    """out/<run>/email.html and email.txt, addressed to the proof reader (as `build` writes an issue)."""
    rendered = rendering.render(Variant())
    proof = proof_recipient(settings)
    folder = settings.workspace / "out" / rendering.issue_id
    files = []
    for name, body in (
        ("email.html", personal.personalize_html(rendered.html, proof)),
        ("email.txt", personal.personalize_text(rendered.text, proof)),
    ):
        atomic_write(folder / name, body.encode("utf-8"))
        files.append(folder / name)
    return tuple(files)


def _plan(
    ledger: Ledger,
    rid: str,
    subject: str,
    receivers: Receivers,
    how: tuple[str, float, int],
    request: CorrectionRequest,
) -> SendPlan:
    """The plan as `send` reports one: who gets the correction now, who does not and why."""
    resuming = ledger.run(rid) is not None
    counts = ledger.counts(rid)
    unknown = counts[R.UNKNOWN] + counts[R.SENDING]
    to_send = sum(counts[s] for s in TO_SEND) if resuming else len(receivers.recipients)
    if request.resend_unknown and resuming:
        to_send += unknown
    audience = sum(counts.values()) if resuming else len(receivers.recipients)
    # The plan reconciles the readers who received the summary (`status` and `send` read it so);
    # those whose edition did not carry it were never candidates (`correction_lines` counts them).
    suppressed, left = receivers.left_out.get(SUPPRESSED, 0), receivers.left_out.get(LEFT, 0)
    if resuming:
        suppressed = left = 0  # the run's recipients were fixed when it started
    return SendPlan(
        rid,
        subject,
        audience,
        suppressed,
        left,
        0,
        0,
        0,
        counts[R.SENT],
        0,
        unknown if resuming else 0,
        to_send,
        *how,
        resuming=resuming,
        failed_earlier=counts[R.FAILED_PERMANENT] + counts[R.SKIPPED],
        in_lists=audience + suppressed + left,
        to_send_of_lists=to_send,
        resend_unknown=request.resend_unknown,
    )


@contextlib.contextmanager
def open_correction(
    settings: Settings,
    request: CorrectionRequest,
    reporter: Reporter,
    lock: bool = True,
    today: date | None = None,
) -> Iterator[Correcting]:
    """Check the correction, take its run's lock (unless a dry run), open the ledger, plan.

    Raises NewsletterError for anything to fix first; nothing is recorded then.
    """
    note = check_note(request.note)
    summary = load_corrected(settings.workspace, request.summary_id)
    number, new = numbered(summary, note)
    day = today or datetime.now(settings.tz).date()
    if not new:
        day = summary.corrections[-1].date
    rid = run_id(summary.id, number)
    probe = probe_provider(settings, request.provider, reporter)
    secret, quota = probe.secret, probe.quota
    rate = request.rate or quota or settings.delivery.rate
    concurrency = request.concurrency or settings.delivery.concurrency
    taxonomy = load_taxonomy(settings.workspace)
    with contextlib.ExitStack() as stack:
        ledger = stack.enter_context(open_ledger(settings))
        require_known_database(ledger.engine, settings.workspace)
        if lock:
            stack.enter_context(issue_lock(ledger.engine, rid))
        receivers = who_received(ledger.engine, settings.workspace, summary.id, taxonomy)
        for line in receivers.notes:
            reporter.note(f"note: {line}")
        if ledger.run(rid) is None and not receivers.issues:
            raise DeliveryError(
                f"no issue sent so far carried summary {summary.id} (the ledger has no run with it): "
                "there is nobody to correct; just edit the summary"
            )
        draft = CorrectionDraft(rid, summary, note, day, receivers.issues)
        rendering = CorrectionRendering(settings, draft)
        files = write_draft(settings, rendering)
        findings = correction_findings(settings, summary, rendering, taxonomy, day)
        errors = errors_of(findings)
        if errors and not request.force_reason:
            raise NotReady(
                problems(
                    f"not sending correction {rid}: the check finds {len(errors)} error(s); fix them, or"
                    " send anyway with --force --reason TEXT",
                    [str(f) for f in errors],
                )
            )
        if errors:
            reporter.note(
                f"note: sending although the check finds {len(errors)} error(s)"
                f" (--force: {request.force_reason})"
            )
        send_request = SendRequest(
            rid,
            provider=request.provider,
            rate=rate,
            concurrency=concurrency,
            resend_unknown=request.resend_unknown,
            force_reason=request.force_reason,
        )
        plan = _plan(ledger, rid, draft.subject, receivers, (probe.name, rate, concurrency), request)
        # The run stores no summaries: only issue runs say who received a summary.
        carrier = Issue(rid, draft.subject, draft.subject, draft.preheader, day, day, "", ())
        sending = Sending(
            settings,
            send_request,
            carrier,
            {},
            secret,
            ledger,
            plan,
            bounces=bounce_settings(settings),
            recipients=lambda: iter(receivers.recipients),
            rendering=rendering,
        )
        yield Correcting(settings, draft, receivers, plan, findings, new, sending, files)
