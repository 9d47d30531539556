"""The check gate for a correction: the corrected summary's content rules and the email's, every size.

The same findings `newsletter check` makes of an issue's summaries and email (check/content.py,
check/email.py), on the correction as a reader gets it; any error refuses the send unless the
editor forces it with a reason, as `send` does.
"""

from __future__ import annotations

from datetime import date

from newsletter.check.content import summary_findings
from newsletter.check.email import RenderedEmail, email_findings
from newsletter.check.findings import Finding, Severity, sorted_findings
from newsletter.compose.reader import Reader
from newsletter.mail.factory import MessageFactory
from newsletter.mail.renderings import Rendering
from newsletter.mail.tokens import DEV_SECRET
from newsletter.store.config import Settings
from newsletter.store.models import Summary
from newsletter.store.subscriber_files import topic_vocabulary
from newsletter.store.topics import Taxonomy

SAMPLE = "reader@example.org"


def correction_findings(
    settings: Settings, summary: Summary, rendering: Rendering, taxonomy: Taxonomy, today: date
) -> tuple[Finding, ...]:
    """Every finding on the corrected summary and on its email in both text sizes."""
    vocabulary = set(topic_vocabulary(taxonomy))
    found = list(summary_findings(summary, today, vocabulary))
    # Signed with the development key: the sample never leaves this machine.
    factory = MessageFactory(settings, rendering, DEV_SECRET)
    for large in (False, True):
        parts = factory.parts(Reader(SAMPLE, large_text=large))
        email = RenderedEmail(
            parts.html, parts.text, parts.unsubscribe_url, settings.postal_address, (summary,)
        )
        found += email_findings(email, "correction (larger text)" if large else "correction")
    return sorted_findings(found)


def errors_of(findings: tuple[Finding, ...]) -> list[Finding]:
    return [f for f in findings if f.severity == Severity.ERROR]
