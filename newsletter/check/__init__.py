"""The pre-send check: what subscribers would suffer, found before they do, each with where and how to fix.

Each group of findings is a pure function over plain data (the issue, its summaries, the rendered
HTML and text, the sample message), so each can be tested alone; `check_issue` gathers the data
from a workspace and runs them all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

from newsletter.check.emailscan import ScannedHtml, collapse, scan_html
from newsletter.compose import select
from newsletter.compose.draft import carried_before
from newsletter.compose.ready import INTRO_TODO, SUBJECT_ADVICE
from newsletter.errors import NewsletterError
from newsletter.mail import message
from newsletter.render.personal import TOKENS
from newsletter.store import issues, subscribers
from newsletter.store.config import Settings
from newsletter.store.fileio import YamlDocument, load_yaml
from newsletter.store.models import Issue, Summary

Severity = Literal["error", "warning", "note"]

SUBJECT_MAX = SUBJECT_ADVICE  # most inboxes cut the subject near here, on phones sooner
GMAIL_CLIP_BYTES = 102 * 1024  # Gmail hides everything past this under "[Message clipped]"
HTML_WARN_BYTES = 80 * 1024
TEXT_LINE_MAX = 78
SPAM_WARN = 2.0
SPAM_ERROR = 5.0  # SpamAssassin's default "this is spam" threshold
# Link names that say nothing once a screen reader lists the links out of context.
GENERIC_LINK_NAMES = {"read more", "more", "click here", "here", "learn more", "link", "details", "this"}
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\{%|\{#|%7B%7B|%7B%25")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One problem: how bad, what is wrong, where (file, field or summary id) and how to fix it."""

    severity: Severity
    what: str
    where: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.what}. Fix: {self.fix}"


@dataclass(frozen=True)
class SpamScore:
    score: float
    required: float
    rules: tuple[tuple[str, float], ...]  # (rule name, points), as SpamAssassin listed them


@dataclass(frozen=True)
class SampleEmail:
    """The email as the sample recipient gets it: what an inbox shows, and both bodies."""

    recipient: str
    from_name: str
    subject: str
    preheader: str
    html: str
    text: str
    message: bytes  # the serialised message, as a provider would get it
    summary_ids: tuple[str, ...]  # the summaries this recipient's email carries (topic preferences)


@dataclass(frozen=True)
class CheckReport:
    issue_id: str
    findings: tuple[Finding, ...]
    html_bytes: int
    spam: SpamScore | None  # None when SpamAssassin is not installed or was not run
    sample: SampleEmail | None = None  # None when the issue could not be rendered

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    def failed(self, strict: bool = False) -> bool:
        return bool(self.errors) or (strict and bool(self.warnings))

    def summary_line(self) -> str:
        size = (
            f"HTML {self.html_bytes / 1024:.1f} KB of {GMAIL_CLIP_BYTES // 1024} KB"
            if self.sample
            else "not rendered"
        )
        return f"{self.issue_id}: {len(self.errors)} error(s), {len(self.warnings)} warning(s); {size}" + (
            f"; SpamAssassin {self.spam.score:.1f} of {self.spam.required:.1f}" if self.spam else ""
        )


# --- the issue ---------------------------------------------------------------------------------


def issue_findings(
    issue: Issue,
    summaries: Mapping[str, Summary],
    doc: YamlDocument,
    intro_todo: str,
    carried: Mapping[str, str | None] | None = None,
) -> list[Finding]:
    """What is wrong with the issue as assembled and loaded (so each item has its summary).

    `carried` maps a summary id to the earlier issue that already sent it (None: only the delivery
    ledger records it, see `compose.draft.carried_before`); `doc` is the issue's YAML, for line numbers.
    """
    found: list[Finding] = []
    carried = carried or {}

    def add(severity: Severity, keys: tuple, what: str, fix: str) -> None:
        found.append(Finding(severity, what, doc.where(*keys), fix))

    if not issue.intro.strip() or intro_todo.strip() in issue.intro:
        add("error", ("intro",), "the intro is still the TODO text", "write a short note from the editor")
    if len(issue.subject) > SUBJECT_MAX:
        add(
            "warning",
            ("subject",),
            f"the subject is {len(issue.subject)} characters; inboxes cut it near {SUBJECT_MAX}",
            "shorten it, most important words first",
        )
    if not issue.preheader.strip():
        add(
            "warning",
            ("preheader",),
            "the preheader is missing, so inboxes show the email's first words instead",
            "write one line that follows on from the subject",
        )
    # An empty section, a summary twice or one missing from the store: the loader refuses those
    # (`issues.load_issue_content`), and `check_issue` reports its refusal as findings.
    for s_index, section in enumerate(issue.sections):
        for i_index, sid in enumerate(section.items):
            keys = ("sections", s_index, "items", i_index)
            summary = summaries[sid]
            if not issue.since <= summary.published <= issue.until:
                add(
                    "warning",
                    keys,
                    f"summary {sid} was published {summary.published}, outside the issue's window "
                    f"{issue.since}..{issue.until}",
                    "check the date, or move it to the issue of its month",
                )
            if sid in carried:
                earlier = carried[sid]
                add(
                    "warning",
                    keys,
                    f"summary {sid} was already sent in "
                    + (
                        f"issue {earlier}" if earlier else "an earlier issue (the delivery ledger records it)"
                    ),
                    "remove it unless repeating it is on purpose",
                )
            if summary.needs_review:
                missing = f" (guessed: {', '.join(summary.missing_fields)})" if summary.missing_fields else ""
                add(
                    "error",
                    keys,
                    f"summary {sid} is marked needs_review{missing}",
                    f"check summaries/{sid}.yaml against the site, then remove needs_review",
                )
    return found


# --- the content -------------------------------------------------------------------------------


def summary_findings(summary: Summary, today: date) -> list[Finding]:
    """What a careful reader of medical research would miss in one summary."""
    where = f"summaries/{summary.id}.yaml"
    found: list[Finding] = []
    if not summary.takeaway:
        # The email falls back to the site's teaser blurb (render.card); say what readers will see.
        shown = "the site's short teaser, cut to a word" if summary.teaser else "only the title"
        found.append(
            Finding(
                "warning" if summary.is_teaser else "error",
                f"no takeaway, so the email shows {shown}",
                f"{where} (takeaway)",
                "add a one- or two-sentence takeaway",
            )
        )
    if not summary.is_teaser and not summary.considerations:
        found.append(
            Finding(
                "error",
                "a full summary without its considerations; readers of research need its limits",
                f"{where} (considerations)",
                "add the study's important considerations from the site's page",
            )
        )
    for field_name in ("url", "takeaway", "found", "who_should_care", "considerations", "teaser"):
        value = getattr(summary, field_name) or ""
        for url in _URL.findall(value):
            if not url.lower().startswith("https://"):
                found.append(
                    Finding(
                        "error",
                        f"the link {url} is not https",
                        f"{where} ({field_name})",
                        "use the https address",
                    )
                )
    if summary.published > today:
        found.append(
            Finding(
                "error",
                f"published {summary.published} is in the future (today is {today})",
                f"{where} (published)",
                "correct the date from the site's page",
            )
        )
    return found


# --- the email ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    """The email as one sample recipient gets it (personalised), plus what it must carry."""

    html: str
    text: str
    unsubscribe_url: str | None  # the https URL of List-Unsubscribe
    postal_address: str
    summaries: tuple[Summary, ...]  # the summaries the issue includes


def email_findings(email: RenderedEmail, where: str = "email") -> list[Finding]:
    """What a subscriber's client, screen reader or spam filter would trip over in the email."""
    page = scan_html(email.html)
    return [
        *_size_findings(email.html, where),
        *_html_findings(page, f"{where}.html"),
        *_leftover_findings(page, email.text, where),
        *_footer_findings(page, email, where),
        *_text_line_findings(email.text, f"{where}.txt"),
        *_same_summaries_findings(page, email, where),
    ]


def _size_findings(html: str, where: str) -> list[Finding]:
    size = len(html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        return [
            Finding(
                "error",
                f"the HTML is {size / 1024:.1f} KB; Gmail clips messages over 102 KB, hiding the footer",
                f"{where}.html",
                "move summaries to another issue or shorten the teasers",
            )
        ]
    if size > HTML_WARN_BYTES:
        return [
            Finding(
                "warning",
                f"the HTML is {size / 1024:.1f} KB, close to Gmail's 102 KB clipping limit",
                f"{where}.html",
                "keep room for the personalised parts; consider fewer summaries",
            )
        ]
    return []


def _html_findings(page: ScannedHtml, where: str) -> list[Finding]:
    found: list[Finding] = []
    if not page.lang:
        found.append(Finding("warning", "<html> has no lang", where, "set language in newsletter.yaml"))
    if not page.title:
        found.append(Finding("warning", "the <title> is empty", where, "give the template an <mj-title>"))
    for href in page.stylesheets:
        found.append(
            Finding("error", f"an external stylesheet {href}", where, "inline the styles; clients drop it")
        )
    if "@import" in page.styles:
        found.append(Finding("error", "an @import in a <style>", where, "inline the styles; clients drop it"))
    for image in page.images:
        if image.alt is None:
            found.append(
                Finding(
                    "error",
                    f"the image {image.src} has no alt",
                    where,
                    'add alt text (alt="" if it is decoration)',
                )
            )
    names: Counter[str] = Counter()
    hrefs: dict[str, set[str]] = {}
    for link in page.links:
        if not link.name:
            found.append(
                Finding(
                    "error",
                    f"the link to {link.href or '(no href)'} has no name; screen readers read out the URL",
                    where,
                    "give it text or an aria-label",
                )
            )
            continue
        key = link.name.casefold().strip(" .:!»›>")
        if key in GENERIC_LINK_NAMES:
            names[link.name] += 1
            hrefs.setdefault(link.name, set()).add(link.href)
    for name, count in names.items():
        if count > 1 and len(hrefs[name]) > 1:
            found.append(
                Finding(
                    "warning",
                    f"{count} links to different pages are all named {name!r}; in a screen reader's list "
                    "of links they cannot be told apart",
                    where,
                    f'name each after its summary, e.g. aria-label="{name}: <title>"',
                )
            )
    return found


def _leftover_findings(page: ScannedHtml, text: str, where: str) -> list[Finding]:
    found: list[Finding] = []
    for part, values in (("html", (page.text, *page.attribute_values)), ("txt", (text,))):
        leftovers = sorted({m.group(0) for v in values for m in _TEMPLATE_SYNTAX.finditer(v)})
        tokens = sorted({t for v in values for t in TOKENS if t in v})
        if leftovers:
            found.append(
                Finding(
                    "error",
                    f"leftover template syntax {', '.join(leftovers)}",
                    f"{where}.{part}",
                    "close the Jinja tag in the template, or escape braces in the content",
                )
            )
        if tokens:
            found.append(
                Finding(
                    "error",
                    f"personalisation placeholders left unfilled: {', '.join(tokens)}",
                    f"{where}.{part}",
                    "render through the message factory, which fills them per recipient",
                )
            )
    return found


def _footer_findings(page: ScannedHtml, email: RenderedEmail, where: str) -> list[Finding]:
    found: list[Finding] = []
    url = email.unsubscribe_url
    if not url:
        found.append(
            Finding(
                "error",
                "the message has no List-Unsubscribe https URL",
                f"{where} (headers)",
                "set unsubscribe.url in newsletter.yaml",
            )
        )
    else:
        if not any(link.href == url for link in page.links):
            found.append(
                Finding(
                    "error",
                    "the HTML has no link to the recipient's unsubscribe page",
                    f"{where}.html",
                    "put the unsubscribe link in the footer template",
                )
            )
        if url not in email.text:
            found.append(
                Finding(
                    "error",
                    "the text has no unsubscribe link",
                    f"{where}.txt",
                    "put the unsubscribe URL in the text template's footer",
                )
            )
    address = collapse(email.postal_address)
    for part, body in (("html", page.text), ("txt", collapse(email.text))):
        if address and address not in body:
            found.append(
                Finding(
                    "error",
                    "the sender's postal address is missing (anti-spam laws require it)",
                    f"{where}.{part}",
                    "put postal_address in the footer template",
                )
            )
    return found


def long_text_lines(text: str, limit: int = TEXT_LINE_MAX) -> list[int]:
    """1-based numbers of lines longer than `limit`, except where a URL alone makes them long."""
    long: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) <= limit:
            continue
        if len(_URL.sub("", line).rstrip()) <= limit and _URL.search(line):
            continue  # a bare URL cannot be wrapped without breaking it
        long.append(number)
    return long


def _text_line_findings(text: str, where: str) -> list[Finding]:
    long = long_text_lines(text)
    if not long:
        return []
    shown = ", ".join(str(n) for n in long[:8]) + (" ..." if len(long) > 8 else "")
    return [
        Finding(
            "warning",
            f"{len(long)} text line(s) longer than {TEXT_LINE_MAX} characters (lines {shown})",
            where,
            "wrap the text template's paragraphs at 78 (the wordwrap filter)",
        )
    ]


def _same_summaries_findings(page: ScannedHtml, email: RenderedEmail, where: str) -> list[Finding]:
    found: list[Finding] = []
    hrefs = {link.href for link in page.links}
    text = collapse(email.text)
    for summary in email.summaries:
        in_html = summary.url in hrefs and collapse(summary.title) in page.text
        in_text = summary.url in email.text and collapse(summary.title) in text
        if in_html != in_text:
            has, lacks = ("HTML", "text") if in_html else ("text", "HTML")
            found.append(
                Finding(
                    "error",
                    f"summary {summary.id} is in the {has} but its title or link is not in the {lacks}",
                    f"{where} (summary {summary.id})",
                    f"make the {lacks.lower()} template show every summary with its title and link",
                )
            )
        elif not in_html:
            found.append(
                Finding(
                    "error",
                    f"summary {summary.id} is in the issue but neither part shows its title and link",
                    f"{where} (summary {summary.id})",
                    "check the templates",
                )
            )
    return found


def unsubscribe_https_url(message: EmailMessage) -> str | None:
    """The https URL in List-Unsubscribe, if there is one."""
    header = str(message.get("List-Unsubscribe", ""))
    for candidate in re.findall(r"<([^>]+)>", header):
        if candidate.startswith("https://"):
            return candidate
    return None


# --- deliverability ----------------------------------------------------------------------------


def spamassassin_available() -> bool:
    return shutil.which("spamassassin") is not None


def parse_spamassassin(output: str) -> SpamScore:
    """Read the score and rules from `spamassassin -t` output (the X-Spam-Status header and report)."""
    status = re.search(r"^X-Spam-Status:(.*?)\n(?!\s)", output, re.MULTILINE | re.DOTALL)
    if status is None:
        raise ValueError("no X-Spam-Status header in SpamAssassin's output")
    header = " ".join(status.group(1).split())
    score = re.search(r"score=(-?[\d.]+)", header)
    required = re.search(r"required=(-?[\d.]+)", header)
    if score is None or required is None:
        raise ValueError(f"cannot read the score from X-Spam-Status: {header}")
    # The report's table: " pts rule name   description", one rule a line.
    rules = tuple(
        (name, float(points))
        for points, name in re.findall(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", output, re.MULTILINE)
    )
    if not rules:
        tests = re.search(r"tests=(\S*)", header)
        names = [t for t in (tests.group(1).split(",") if tests else []) if t and t != "none"]
        rules = tuple((name, 0.0) for name in names)
    return SpamScore(float(score.group(1)), float(required.group(1)), rules)


def run_spamassassin(message: bytes, timeout: float = 120) -> SpamScore:
    """Score a message with the local rules only (-L: no DNS or network tests), learning nothing."""
    with tempfile.TemporaryDirectory(prefix="newsletter-sa-") as home:
        prefs = Path(home) / "user_prefs"
        prefs.write_text("")
        result = subprocess.run(
            [
                "spamassassin",
                "-L",
                "-t",
                "-p",
                str(prefs),
                "--cf=use_bayes 0",
                "--cf=bayes_auto_learn 0",
            ],
            input=message,
            capture_output=True,
            timeout=timeout,
            env={"HOME": home, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"},
        )
    return parse_spamassassin(result.stdout.decode("utf-8", "replace"))


def spam_findings(spam: SpamScore | None, where: str = "email") -> list[Finding]:
    if spam is None:
        return [
            Finding(
                "note",
                "SpamAssassin is not installed, so the spam score was not checked",
                where,
                "install it (apt-get install spamassassin) to score the message locally",
            )
        ]
    hits = ", ".join(f"{name} {points:+.1f}" for name, points in spam.rules if points) or "none scoring"
    what = f"SpamAssassin scores the sample message {spam.score:.1f} (rules: {hits})"
    if spam.score >= SPAM_ERROR:
        return [Finding("error", what, where, "remove what the rules above flag; 5.0 means spam")]
    if spam.score > SPAM_WARN:
        return [Finding("warning", what, where, "look at the rules above; aim for under 2.0")]
    return [Finding("note", what, where, "nothing to do; SpamAssassin calls 5.0 spam")]


_RANK = {"error": 0, "warning": 1, "note": 2}


def sorted_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Errors first, then warnings, then notes; in the order found within each."""
    return tuple(sorted(findings, key=lambda f: _RANK[f.severity]))


# --- the whole check over a workspace ---------------------------------------------------------

SAMPLE_RECIPIENT = subscribers.Subscriber(
    email="reader@example.org",
    name="Sample Reader",
    topics=(),
    status="subscribed",
    subscribed_at="2026-01-01",
    list_name="sample",
)


def sample_recipient(workspace: Path, email: str | None) -> subscribers.Subscriber:
    """The subscriber with this address (with their name and topics), or a made-up sample reader."""
    if not email:
        return SAMPLE_RECIPIENT
    wanted = subscribers.address_key(email)
    audience = subscribers.load_audience(workspace, skip_invalid=True)
    for subscriber in audience.recipients:
        if subscriber.key == wanted:
            return subscriber
    return subscribers.Subscriber(email, "", (), "subscribed", "", "sample")


def loader_findings(error: NewsletterError) -> list[Finding]:
    """A file the loaders refuse (an empty section, a summary twice, a missing one) as findings."""
    lines = [line.strip().removeprefix("- ") for line in error.message.splitlines()]
    items = [line for line in lines[1:] if line] if len(lines) > 1 else lines
    findings = []
    for item in items:
        where, _, what = item.partition(": ")
        if not what:
            where, what = "issue", item
        findings.append(Finding("error", what, where, "edit the file as the message says, then check again"))
    return findings


def sample_email(settings: Settings, issue: Issue, summaries: dict[str, Summary], who) -> SampleEmail:
    """The sample recipient's message, made by the same factory that makes the real ones."""
    secret, _development = message.signing_secret(dev_ok=True)
    factory = message.MessageFactory(settings, issue, summaries, secret)
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
    carried = carried_before(settings, issue.id, window, sent or select.SentRecord())
    findings = issue_findings(issue, summaries, doc, INTRO_TODO, carried)
    for sid in dict.fromkeys(issue.summary_ids):
        if sid in summaries:
            findings += summary_findings(summaries[sid], today)
    who = sample_recipient(workspace, recipient)
    try:
        sample = sample_email(settings, issue, summaries, who)
    except NewsletterError as exc:
        findings.append(
            Finding("error", f"the email does not render: {exc.message}", "email", "fix the template")
        )
        return CheckReport(issue_id, sorted_findings(findings), 0, None)
    parsed = message_from_bytes(sample.message, policy=policy.default)
    rendered = RenderedEmail(
        html=sample.html,
        text=sample.text,
        unsubscribe_url=unsubscribe_https_url(parsed),
        postal_address=settings.postal_address,
        summaries=tuple(summaries[sid] for sid in sample.summary_ids),
    )
    findings += email_findings(rendered)
    score = None
    if spam:
        score = run_spamassassin(sample.message) if spamassassin_available() else None
        findings += spam_findings(score)
    return CheckReport(issue_id, sorted_findings(findings), len(sample.html.encode("utf-8")), score, sample)
