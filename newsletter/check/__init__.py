"""The pre-send check: what subscribers would suffer, found before they do, each with where and how to fix.

Each group of findings is a pure function over plain data in its own module (`issue`, `content`,
`email`, `spam`; `findings` holds the report); `check_issue` gathers the data from a workspace
and runs them all.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from email import message_from_bytes, policy
from pathlib import Path

from newsletter import render
from newsletter.check.content import summary_findings
from newsletter.check.editions import (
    EditionWords,
    caution_findings,
    edition_label,
    editions_to_check,
    promise_findings,
)
from newsletter.check.email import RenderedEmail, email_findings, html_part_octets, unsubscribe_https_url
from newsletter.check.emailscan import collapse, scan_html
from newsletter.check.findings import CheckReport, Finding, SampleEmail, Severity, SpamScore, sorted_findings
from newsletter.check.issue import issue_findings, loader_findings
from newsletter.check.reading import reading_findings, reading_grade
from newsletter.check.spam import score_message, spam_findings
from newsletter.compose import select
from newsletter.compose.draft import carried_before
from newsletter.compose.reader import ReaderLike
from newsletter.compose.ready import INTRO_TODO
from newsletter.errors import ContentError, NewsletterError
from newsletter.mail.factory import MessageFactory
from newsletter.mail.tokens import DEV_SECRET
from newsletter.render import personal
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
    """The subscriber with this address (name, topics, edition), or with none a made-up sample reader.

    An address that is no subscriber's is refused: a generic email in its place would look like
    that reader's and mislead the editor.
    """
    if not email:
        return SAMPLE_RECIPIENT
    # Here, not at the top: `build` and the preview's sample reader need no database (SQLAlchemy).
    from newsletter.db.audience import member
    from newsletter.db.state import open_state

    found = member(open_state(settings), email)
    if found is None:
        raise ContentError(
            f"{email} is not a subscriber who gets the issue (`newsletter subscribers list`); "
            "give a subscribed address, or leave out --recipient for a sample reader"
        )
    return found


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


def audience_readers(settings: Settings) -> list[tuple[tuple[str, ...], bool]]:
    """The distinct (topics, larger text) of those an issue would go to, in the order first met (a few,
    however long the list: a send's memory stays flat); none before the database exists."""
    from newsletter.db.audience import iter_audience
    from newsletter.db.state import open_state, url_of

    url = url_of(settings)
    if url.get_backend_name() == "sqlite" and not Path(str(url.database)).exists():
        return []  # no subscribers yet; opening it would create it
    return list(
        dict.fromkeys((tuple(m.topics), bool(m.large_text)) for m in iter_audience(open_state(settings)))
    )


def edition_findings(settings: Settings, issue: Issue, summaries: dict[str, Summary]) -> list[Finding]:
    """Every edition that will be sent, rendered and checked: its promises, its cautions, its email."""
    taxonomy = load_taxonomy(settings.workspace)
    readers = audience_readers(settings)
    proof = render.proof_recipient(settings)
    found: list[Finding] = []
    for edition in editions_to_check(readers, issue, summaries, taxonomy):
        try:
            rendered = render.render_issue(settings, issue, summaries, edition)
        except NewsletterError as exc:
            found.append(
                Finding(
                    Severity.ERROR,
                    f"does not render: {exc.message}",
                    edition_label(edition),
                    "fix the template",
                )
            )
            continue
        reader = replace(proof, topics=edition.topics)
        html = personal.personalize_html(rendered.html, reader)
        text = personal.personalize_text(rendered.text, reader)
        page = scan_html(html)
        words = EditionWords(
            rendered.subject, rendered.preheader, rendered.note, rendered.intro, page.text, collapse(text)
        )
        carried = [summaries[i] for i in rendered.summary_ids]
        found += promise_findings(edition, words, issue, summaries, taxonomy)
        found += caution_findings(edition, words, carried)
        if edition.items is not None or edition.large_text or edition.unmatched:
            email = RenderedEmail(html, text, None, settings.postal_address, tuple(carried))
            # The sample's message-level findings (headers, unsubscribe) are reported once, above.
            found += [
                f
                for f in email_findings(email, edition_label(edition))
                if "unsubscribe" not in f.what.casefold()
            ]
    return list(dict.fromkeys(found))


def html_as_sent(settings: Settings, issue_id: str) -> int:
    """The HTML part's size as sent (quoted-printable) in the sample message `check` measures."""
    issue, summaries = issues.load_issue_content(settings.workspace, issue_id)
    sample = sample_email(settings, issue, summaries, SAMPLE_RECIPIENT)
    return html_part_octets(message_from_bytes(sample.message, policy=policy.default))


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
    grades, target = [], settings.reading_grade_target
    for sid in dict.fromkeys(issue.summary_ids):
        if sid in summaries:
            findings += summary_findings(summaries[sid], today, vocabulary)
            grades.append(reading_grade(summaries[sid]))
            findings += reading_findings(grades[-1], target, summaries[sid].is_teaser)
    who = sample_recipient(settings, recipient)
    try:
        sample = sample_email(settings, issue, summaries, who)
    except NewsletterError as exc:
        findings.append(
            Finding(Severity.ERROR, f"the email does not render: {exc.message}", "email", "fix the template")
        )
        return CheckReport(
            issue_id, sorted_findings(findings), 0, None, grades=tuple(grades), grade_target=target
        )
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
    findings += edition_findings(settings, issue, summaries)
    score = None
    if spam:
        result = score_message(sample.message)
        findings += spam_findings(result)
        score = result if isinstance(result, SpamScore) else None
    return CheckReport(issue_id, sorted_findings(findings), html_octets, score, sample, tuple(grades), target)
