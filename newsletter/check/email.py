"""Findings on the email as a recipient gets it: size, HTML, leftovers, footer, text lines, summaries."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage

from newsletter.check.content import URL as _URL
from newsletter.check.emailscan import ScannedHtml, collapse, scan_html
from newsletter.check.findings import GMAIL_CLIP_BYTES, Finding, Severity
from newsletter.mail.mime import encoded_size
from newsletter.render.personal import TOKENS
from newsletter.store.models import Summary

HTML_WARN_BYTES = 80 * 1024
TEXT_LINE_MAX = 78
# Link names that say nothing once a screen reader lists the links out of context.
GENERIC_LINK_NAMES = {"read more", "more", "click here", "here", "learn more", "link", "details", "this"}
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\{%|\{#|%7B%7B|%7B%25")


@dataclass(frozen=True)
class RenderedEmail:
    """The email as one sample recipient gets it (personalised), plus what it must carry."""

    html: str
    text: str
    unsubscribe_url: str | None  # the https URL of List-Unsubscribe
    postal_address: str
    summaries: tuple[Summary, ...]  # the summaries the issue includes
    html_octets: int | None = None  # the HTML part as transmitted; None: encode `html` to measure it


def email_findings(email: RenderedEmail, where: str = "email") -> list[Finding]:
    """What a subscriber's client, screen reader or spam filter would trip over in the email."""
    page = scan_html(email.html)
    return [
        *_size_findings(
            email.html_octets if email.html_octets is not None else encoded_size(email.html), where
        ),
        *_html_findings(page, f"{where}.html"),
        *_leftover_findings(page, email.text, where),
        *_footer_findings(page, email, where),
        *_text_line_findings(email.text, f"{where}.txt"),
        *_same_summaries_findings(page, email, where),
    ]


def _size_findings(size: int, where: str) -> list[Finding]:
    """Gmail counts the message as transmitted: the quoted-printable HTML, about 6 % over its text."""
    if size > GMAIL_CLIP_BYTES:
        return [
            Finding(
                Severity.ERROR,
                f"the HTML is {size / 1024:.1f} KB as sent; "
                "Gmail clips messages over 102 KB, hiding the footer",
                f"{where}.html",
                "move summaries to another issue or shorten the teasers",
            )
        ]
    if size > HTML_WARN_BYTES:
        return [
            Finding(
                Severity.WARNING,
                f"the HTML is {size / 1024:.1f} KB as sent, close to Gmail's 102 KB clipping limit",
                f"{where}.html",
                "keep room for the personalised parts; consider fewer summaries",
            )
        ]
    return []


def _html_findings(page: ScannedHtml, where: str) -> list[Finding]:
    found: list[Finding] = []
    if not page.lang:
        found.append(
            Finding(Severity.WARNING, "<html> has no lang", where, "set language in newsletter.yaml")
        )
    if not page.title:
        found.append(
            Finding(Severity.WARNING, "the <title> is empty", where, "give the template an <mj-title>")
        )
    for href in page.stylesheets:
        found.append(
            Finding(
                Severity.ERROR, f"an external stylesheet {href}", where, "inline the styles; clients drop it"
            )
        )
    if "@import" in page.styles:
        found.append(
            Finding(Severity.ERROR, "an @import in a <style>", where, "inline the styles; clients drop it")
        )
    for image in page.images:
        if image.alt is None:
            found.append(
                Finding(
                    Severity.ERROR,
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
                    Severity.ERROR,
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
                    Severity.WARNING,
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
                    Severity.ERROR,
                    f"leftover template syntax {', '.join(leftovers)}",
                    f"{where}.{part}",
                    "close the Jinja tag in the template, or escape braces in the content",
                )
            )
        if tokens:
            found.append(
                Finding(
                    Severity.ERROR,
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
                Severity.ERROR,
                "the message has no List-Unsubscribe https URL",
                f"{where} (headers)",
                "set unsubscribe.url in newsletter.yaml",
            )
        )
    else:
        if not any(link.href == url for link in page.links):
            found.append(
                Finding(
                    Severity.ERROR,
                    "the HTML has no link to the recipient's unsubscribe page",
                    f"{where}.html",
                    "put the unsubscribe link in the footer template",
                )
            )
        if url not in email.text:
            found.append(
                Finding(
                    Severity.ERROR,
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
                    Severity.ERROR,
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
            Severity.WARNING,
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
                    Severity.ERROR,
                    f"summary {summary.id} is in the {has} but its title or link is not in the {lacks}",
                    f"{where} (summary {summary.id})",
                    f"make the {lacks.lower()} template show every summary with its title and link",
                )
            )
        elif not in_html:
            found.append(
                Finding(
                    Severity.ERROR,
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


def html_part_octets(message: EmailMessage) -> int:
    """The size of a message's text/html part as transmitted (encoded, CRLF line ends)."""
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload()
            if isinstance(payload, str):
                return len(payload.replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii", "replace"))
    return 0
