"""Render an issue: Jinja2 templates -> MJML -> mjml-python -> premailer for HTML, and plain text.

An issue is rendered once per edition (the summaries readers' topic preferences pick, and the
larger-text size); the few per-recipient values (greeting, topics, unsubscribe and preferences
links) are written as the tokens of `newsletter.render.personal` and substituted per message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from newsletter.compose.reader import WHOLE_ISSUE, Variant
from newsletter.compose.ready import SUBJECT_ADVICE, require_finished_intro
from newsletter.errors import RenderError
from newsletter.render import personal, reader_text
from newsletter.render.plaintext import paragraphs, wrap
from newsletter.render.templates import (
    PACKAGED_TEMPLATES,
    WORKSPACE_TEMPLATES,
    compile_mjml,
    environment,
    render_template,
)

# The pages, the service and the preview render through these too.
__all__ = [
    "PACKAGED_TEMPLATES",
    "WORKSPACE_TEMPLATES",
    "BuildResult",
    "CardCorrection",
    "RenderedIssue",
    "build_issue",
    "compile_mjml",
    "environment",
    "render_issue",
    "render_template",
    "wrap",
]
from newsletter.store import issues
from newsletter.store.config import Settings
from newsletter.store.fileio import atomic_write
from newsletter.store.models import Issue, Summary, stated_considerations

EMAIL_MJML, EMAIL_TEXT, WEB_HTML = "email.mjml", "email.txt", "web.html"
CAUTION = (
    "Our summaries are for information only and are not medical advice. Research findings can be "
    "early or limited: read the original study and talk with a healthcare professional who "
    "specialises in MS before making decisions about your care."
)
# Values of the per-recipient tokens, by what they stand for: templates write {{ token.greeting }}.
TOKEN = {attr: token for token, attr in personal.TOKENS.items()}


@dataclass(frozen=True)
class Card:
    """One summary as the templates show it; every string is raw text, escaped by the template."""

    id: str
    title: str
    url: str
    date: str
    journal: str | None
    tags: tuple[str, ...]
    takeaway: str
    who_should_care: str | None  # whole: the tool never shortens medical text
    is_teaser: bool
    keep_in_mind: str | None = None  # the considerations, whole: often the one warning that matters
    # The editor's shorter email wording of each (considerations_short, who_should_care_short): the
    # email shows it and links to the whole text; the web page always shows the whole field.
    keep_in_mind_short: str | None = None
    who_should_care_short: str | None = None
    corrections: tuple[CardCorrection, ...] = ()  # shown on the web page (`newsletter correct`)


@dataclass(frozen=True)
class CardCorrection:
    date: str  # as the page prints dates: "December 8, 2026"
    note: str


@dataclass(frozen=True)
class SectionView:
    title: str
    anchor: str
    cards: tuple[Card, ...]
    intro: str = ""  # the editor's note about this section, shown under its heading


@dataclass(frozen=True)
class RenderedIssue:
    """The issue's parts, rendered once; html and text still hold the personal.TOKENS."""

    issue_id: str
    subject: str
    preheader: str
    html: str
    text: str
    web_html: str
    summary_ids: tuple[str, ...]
    sections: tuple[str, ...]
    large_text: bool = False
    filtered: bool = False  # part of the issue, for readers with topic preferences
    note: str = ""  # the line telling the reader what they get ("" for the whole issue)
    intro: tuple[str, ...] = ()  # the paragraphs of the editor's note this edition shows


@dataclass(frozen=True)
class BuildResult:
    issue_id: str
    out_dir: Path
    files: tuple[tuple[Path, int], ...]  # (path, size in bytes)
    warnings: tuple[str, ...]


def long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def edition_name(issue: Issue, settings: Settings) -> str:
    """The issue's title without the newsletter's name: "June 2026" of "MS Research Roundup, June 2026"."""
    if issue.title.startswith(settings.name):
        return issue.title[len(settings.name) :].strip(" ,:-–—") or issue.title
    return issue.title


def issue_date(issue: Issue, settings: Settings) -> date:
    """The date printed under the title: the send date, else the day after the window ends."""
    if issue.send_at is not None:
        return issue.send_at.astimezone(settings.tz).date()
    return date.fromordinal(issue.until.toordinal() + 1)


def trim_teaser(text: str) -> str:
    """The site cuts teasers mid-word; end them at a word boundary with an ellipsis instead."""
    text = " ".join(text.split())
    if not text or text[-1] in ".!?…\"')”’":
        return text
    head, _, _ = text.rpartition(" ")
    return f"{(head or text).rstrip(' ,;:-–—')}…"


def _whole(text: str | None) -> str | None:
    return " ".join(text.split()) if text and text.strip() else None


def card(summary: Summary) -> Card:
    takeaway = summary.takeaway or trim_teaser(summary.teaser or "")
    return Card(
        id=summary.id,
        title=summary.title,
        url=summary.url,
        date=long_date(summary.published),
        journal=summary.journal,
        tags=summary.topics,
        takeaway=takeaway,
        # Whole fields: a caution's last sentence ("do not start high-dose supplements without
        # medical advice") is often the one that matters. Length is the editor's call (`check`).
        who_should_care=_whole(summary.who_should_care),
        is_teaser=summary.is_teaser,
        keep_in_mind=_whole(stated_considerations(summary)),
        keep_in_mind_short=_whole(summary.considerations_short),
        who_should_care_short=_whole(summary.who_should_care_short),
        corrections=tuple(CardCorrection(long_date(c.date), c.note) for c in summary.corrections),
    )


def section_views(issue: Issue, summaries: dict[str, Summary], edition: Variant) -> tuple[SectionView, ...]:
    """The sections an edition shows, each with only the summaries it carries."""
    carried = set(issue.summary_ids if edition.items is None else edition.items)
    chosen = [(s, [i for i in s.items if i in carried]) for s in issue.sections]
    chosen = [(s, items) for s, items in chosen if items]
    if not chosen:
        raise RenderError(f"issue {issue.id}: the edition carries none of the issue's summaries")
    missing = [item for _, items in chosen for item in items if item not in summaries]
    if missing:
        raise RenderError(f"issue {issue.id}: no summary for {', '.join(missing)}")
    # A section's part of the note speaks of the whole section: an edition with some of it does not
    # show it (a reader of "PML" is not told of the COVID study beside it).
    return tuple(
        SectionView(
            s.title,
            f"section-{n}",
            tuple(card(summaries[i]) for i in items),
            s.intro if len(items) == len(s.items) else "",
        )
        for n, (s, items) in enumerate(chosen, start=1)
    )


def intro_paragraphs(issue: Issue, views: tuple[SectionView, ...]) -> list[str]:
    """Everything of the editor's note an edition shows: the issue's intro (at the top), then the
    parts about the sections it carries whole (each under its section's heading)."""
    return [p for text in (issue.intro, *(v.intro for v in views)) for p in paragraphs(text)]


def _render_template(settings: Settings, name: str, context: dict) -> str:
    return render_template(settings.workspace, name, context)


def render_issue(
    settings: Settings,
    issue: Issue,
    summaries: dict[str, Summary],
    edition: Variant = WHOLE_ISSUE,
) -> RenderedIssue:
    """Render one edition of an issue (its summaries, its text size) into HTML email, text and web page.

    An edition with part of the issue tells its readers so, in its subject, preheader and a note
    naming the topics that picked its summaries; the note of a reader whose topics picked nothing
    says so, above the whole issue.
    """
    views = section_views(issue, summaries, edition)
    shown, total = sum(len(v.cards) for v in views), len(issue.summary_ids)
    words = reader_text.variant_words(
        issue,
        edition_name(issue, settings),
        edition.topics,
        shown,
        total,
        unmatched=edition.unmatched,
        name_topics_in_inbox=settings.name_topics_in_inbox,
    )
    view_url = f"{settings.archive_url}{issue.id}/"
    intro = intro_paragraphs(issue, views)
    context = {
        "settings": settings,
        "issue": issue,
        "date": long_date(issue_date(issue, settings)),
        "intro": paragraphs(issue.intro),
        "sections": views,
        "view_url": view_url,
        "caution": CAUTION,
        "token": TOKEN,
        "preheader": words.preheader,
        "filtered_note": words.note,
        "full_issue_url": view_url,
        "large_text": edition.large_text,
        "logo": settings.logo,
        "signature": settings.signature,
    }
    html = compile_mjml(_render_template(settings, EMAIL_MJML, context))
    text = _render_template(settings, EMAIL_TEXT, context)
    web_html = _render_template(settings, WEB_HTML, context)
    return RenderedIssue(
        issue_id=issue.id,
        subject=words.subject,
        preheader=words.preheader,
        html=html,
        text=text,
        web_html=web_html,
        summary_ids=tuple(c.id for v in views for c in v.cards),
        sections=tuple(v.title for v in views),
        large_text=edition.large_text,
        filtered=bool(words.note) and not edition.unmatched,
        note=words.note,
        intro=tuple(intro),
    )


def build_warnings(issue: Issue, summaries: dict[str, Summary], settings: Settings) -> list[str]:
    """What is worth a look but does not stop a build."""
    found = [f"{s.id}: marked needs_review by the importer" for s in summaries.values() if s.needs_review]
    if len(issue.subject) > SUBJECT_ADVICE:
        found.append(f"subject is {len(issue.subject)} characters; phones show about {SUBJECT_ADVICE}")
    if issue.send_at is not None:
        send_date = issue.send_at.astimezone(settings.tz).date()
        found += [
            f"{s.id}: published {s.published}, after the send date"
            for s in summaries.values()
            if s.published > send_date
        ]
    return found


def proof_recipient(settings: Settings) -> personal.Recipient:
    """Whom the built files are addressed to, so an editor opening them sees no raw tokens.

    A reader without a name, and links to the real endpoints with a token ("proof") that they refuse.
    """
    return personal.Recipient(
        email="reader@example.org",
        name="",
        unsubscribe_url=settings.unsubscribe_url.replace("{token}", "proof"),
        preferences_url=settings.preferences_url.replace("{token}", "proof"),
    )


def build_issue(settings: Settings, issue_id: str, out_dir: Path | None = None) -> BuildResult:
    """Validate the issue and write out/<id>/email.html, email.txt and web.html atomically."""
    issue, summaries = issues.load_issue_content(settings.workspace, issue_id)
    require_finished_intro(issue, "first (`newsletter preview` shows drafts)")
    rendered = render_issue(settings, issue, summaries)
    proof = proof_recipient(settings)
    folder = (out_dir or settings.workspace / "out") / issue_id
    files = []
    for name, body in (
        ("email.html", personal.personalize_html(rendered.html, proof)),
        ("email.txt", personal.personalize_text(rendered.text, proof)),
        ("web.html", rendered.web_html),
    ):
        data = body.encode("utf-8")
        atomic_write(folder / name, data)
        files.append((folder / name, len(data)))
    return BuildResult(issue_id, folder, tuple(files), tuple(build_warnings(issue, summaries, settings)))
