"""The pre-send check: what subscribers would suffer, found before they do, each with where and how to fix.

Each group of findings is a pure function over plain data in its own module (`issue`, `content`,
`email`, `spam`; `findings` holds the report); `check_issue` gathers the data from a workspace
and runs them all.
"""

from __future__ import annotations

from datetime import date, datetime
from email import message_from_bytes, policy

from newsletter.check.content import summary_findings
from newsletter.check.email import RenderedEmail, email_findings, html_part_octets, unsubscribe_https_url
from newsletter.check.findings import CheckReport, Finding, SampleEmail, Severity, SpamScore, sorted_findings
from newsletter.check.issue import issue_findings, loader_findings
from newsletter.check.spam import score_message, spam_findings
from newsletter.compose import select
from newsletter.compose.draft import carried_before
from newsletter.compose.reader import Reader, ReaderLike
from newsletter.compose.ready import INTRO_TODO
from newsletter.db.audience import member
from newsletter.db.state import open_state
from newsletter.errors import NewsletterError
from newsletter.mail.factory import MessageFactory
from newsletter.mail.tokens import DEV_SECRET
from newsletter.store import issues
from newsletter.store.config import Settings
from newsletter.store.fileio import load_yaml
from newsletter.store.models import Issue, Summary
from newsletter.store.subscriber_files import Subscriber, topic_vocabulary
from newsletter.store.topics import load_taxonomy

SAMPLE_RECIPIENT = Subscriber(
    email="reader@example.org",
    name="",  # greeted "Hi there,", as a reader without a name is
    topics=(),
    status="subscribed",
    subscribed_at="2026-01-01",
    list_name="sample",
)


def sample_recipient(settings: Settings, email: str | None) -> ReaderLike:
    """The subscriber with this address (name, topics, edition), or a made-up sample reader."""
    if not email:
        return SAMPLE_RECIPIENT
    return member(open_state(settings), email) or Reader(email)


def sample_email(
    settings: Settings, issue: Issue, summaries: dict[str, Summary], who: ReaderLike
) -> SampleEmail:
    """The sample recipient's message, made by the same factory that makes the real ones."""
    # The sample never leaves this machine: it is signed with the development key, so a check does
    # not need NEWSLETTER_SECRET (and `send` reports a bad one as what it is, not as a template fault).
    factory = MessageFactory.for_issue(settings, issue, summaries, DEV_SECRET)
    parts = factory.parts(who)
    return SampleEmail(
        recipient=parts.to_email,
        from_name=settings.sender.name,
        subject=parts.subject,
        preheader=issue.preheader,
        html=parts.html,
        text=parts.text,
        message=factory.serialise(parts),
        summary_ids=parts.skeleton.rendered.summary_ids,
    )


def check_issue(
    settings: Settings,
    issue_id: str,
    today: date | None = None,
    recipient: str | None = None,
    spam: bool = True,
    sent: select.SentRecord | None = None,
) -> CheckReport:
    """Every finding for one issue: as assembled, its content, its email, and its spam score.

    `today` (default: today in the newsletter's time zone) decides what is "in the future";
    `recipient` picks the sample recipient; `spam=False` skips SpamAssassin (a second or two);
    `sent` is what the ledger records of earlier sends (`delivery.history.sent_record`), None for
    nothing.
    """
    workspace = settings.workspace
    today = today or datetime.now(settings.tz).date()
    path = issues.issue_path(workspace, issue_id)
    if not path.is_file():
        issues.load_issue(workspace, issue_id)  # raises the loader's "no such issue" advice
    try:
        issue, summaries = issues.load_issue_content(workspace, issue_id)
    except NewsletterError as exc:
        return CheckReport(issue_id, sorted_findings(loader_findings(exc)), 0, None)
    doc = load_yaml(path, path.relative_to(workspace))
    window = select.Window(issue.since, issue.until)
    sent = sent or select.SentRecord()
    previous = issues.list_issues(workspace)
    carried = carried_before(settings, issue.id, window, sent, previous)
    earlier = select.sent_before([i for i in previous if i.id != issue.id], window, sent)
    subjects = {i.subject: i.id for i in earlier}
    findings = issue_findings(issue, summaries, doc, INTRO_TODO, carried, subjects)
    vocabulary = set(topic_vocabulary(load_taxonomy(workspace)))
    for sid in dict.fromkeys(issue.summary_ids):
        if sid in summaries:
            findings += summary_findings(summaries[sid], today, vocabulary)
    who = sample_recipient(settings, recipient)
    try:
        sample = sample_email(settings, issue, summaries, who)
    except NewsletterError as exc:
        findings.append(
            Finding(Severity.ERROR, f"the email does not render: {exc.message}", "email", "fix the template")
        )
        return CheckReport(issue_id, sorted_findings(findings), 0, None)
    parsed = message_from_bytes(sample.message, policy=policy.default)
    html_octets = html_part_octets(parsed)
    rendered = RenderedEmail(
        html=sample.html,
        text=sample.text,
        unsubscribe_url=unsubscribe_https_url(parsed),
        postal_address=settings.postal_address,
        summaries=tuple(summaries[sid] for sid in sample.summary_ids),
        html_octets=html_octets,
    )
    findings += email_findings(rendered)
    score = None
    if spam:
        result = score_message(sample.message)
        findings += spam_findings(result)
        score = result if isinstance(result, SpamScore) else None
    return CheckReport(issue_id, sorted_findings(findings), html_octets, score, sample)
