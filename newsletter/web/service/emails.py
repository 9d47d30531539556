"""The service's emails, confirm and welcome: the workspace's look, and the newsletter's header discipline.

Templates come through `render.environment` (the workspace's templates/ first), MJML compiled by
`render.compile_mjml`; headers are checked by `mail.headers` (no line breaks, safe names), signed
with DKIM when the settings ask. The welcome email carries List-Id and one-click List-Unsubscribe;
the confirmation goes to someone not yet subscribed, so it carries neither, and says
`Auto-Submitted: auto-generated` so that vacation responders stay quiet.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

import jinja2
from sqlalchemy import Engine, select

from newsletter import names, render
from newsletter.db import schema as t
from newsletter.db.engine import reading
from newsletter.db.schema import RecipientState
from newsletter.errors import NewsletterError, RenderError
from newsletter.mail.dkim import load_signer
from newsletter.mail.headers import address, check_header
from newsletter.providers import OutgoingMessage
from newsletter.store import issues
from newsletter.store.config import Settings

CONFIRM, WELCOME = "confirm", "welcome"


@dataclass(frozen=True)
class Links:
    """The personal links one email carries (absolute URLs with their tokens)."""

    action: str  # confirm: the confirmation page; welcome: the latest issue sent
    preferences: str = ""
    unsubscribe: str = ""


def greeting(first_name: str) -> str:
    """The same first line as the newsletter's: "Hi Erin," or "Hi there,"."""
    return names.greeting(names.greeting_name(first_name, ""))


def render_parts(settings: Settings, name: str, context: dict) -> tuple[str, str]:
    """(html, text) of the email `name` (confirm, welcome); a broken template is one RenderError line."""
    env = render.environment(settings.workspace)
    context = {"settings": settings, **context}
    try:
        mjml = env.get_template(f"{name}.mjml").render(context)
        text = env.get_template(f"{name}.txt").render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{exc.filename or name}:{exc.lineno}: template error: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        raise RenderError(
            f"template {exc.name} not found in {render.WORKSPACE_TEMPLATES}/ or the package"
        ) from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"template {name}: {exc.message}; check the variable names") from None
    return render.compile_mjml(mjml), text


def confirm_context(settings: Settings, first_name: str, links: Links, days: int, signup_url: str) -> dict:
    title = f"Confirm your subscription to {settings.name}"
    return {
        "title": title,
        "preheader": "One click to start receiving it. If it was not you, ignore this email.",
        "greeting": greeting(first_name),
        "confirm_url": links.action,
        "days": days,
        "signup_url": signup_url,
    }


def welcome_context(
    settings: Settings,
    first_name: str,
    links: Links,
    frequency: str,
    topics: list[str],
    latest: LatestIssue | None = None,
) -> dict:
    return {
        "latest_title": latest.title if latest else "",
        "latest_summaries": latest.summaries if latest else (),
        "title": f"Welcome to {settings.name}",
        "preheader": f"What to expect, {frequency}, and how to change it.",
        "greeting": greeting(first_name),
        "frequency": frequency,
        "latest_url": links.action,
        "preferences_url": links.preferences,
        "unsubscribe_url": links.unsubscribe,
        "topics": topics,
    }


def build_message(
    settings: Settings, kind: str, to_email: str, to_name: str, context: dict, links: Links
) -> OutgoingMessage:
    """The finished message (CRLF bytes, DKIM-signed when configured) for a provider."""
    html, text = render_parts(settings, kind, context)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = address(settings.sender.name, settings.sender.email, "From")
    if settings.reply_to:
        msg["Reply-To"] = address("", settings.reply_to, "Reply-To")
    msg["To"] = address(to_name, to_email, "To")
    msg["Subject"] = check_header("Subject", context["title"])
    msg["Date"] = format_datetime(datetime.now(UTC))
    message_id = f"<{kind}.{secrets.token_hex(12)}@{settings.sender.domain}>"
    msg["Message-ID"] = message_id
    raw = b""
    if kind == WELCOME:
        msg["List-Id"] = check_header("List-Id", f"{settings.name} <{settings.list_id}>")
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        raw = list_unsubscribe(settings, links.unsubscribe)
    else:
        msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    data = raw + msg.as_bytes(policy=SMTP)
    signer = load_signer(settings)
    if signer is not None:
        data = signer(data) + data
    return OutgoingMessage(
        issue_id=f"service-{kind}",
        envelope_from=settings.sender.email,
        envelope_to=to_email,
        message_id=message_id,
        data=data,
    )


def list_unsubscribe(settings: Settings, url: str) -> bytes:
    """The List-Unsubscribe line written as the newsletter's factory writes it: never RFC 2047-encoded
    (the email package would encode a long URL, and mail clients would not find it)."""
    line = f"List-Unsubscribe: <{check_header('List-Unsubscribe', url)}>"
    if settings.unsubscribe_mailto:
        mailto = check_header("List-Unsubscribe", settings.unsubscribe_mailto)
        line += f",\r\n <mailto:{mailto}?subject=unsubscribe>"
    return (line + "\r\n").encode("ascii")


@dataclass(frozen=True)
class LatestIssue:
    """The newest issue that reached readers: where it is in the archive, and what it carried."""

    url: str  # its archive page, or the archive's index when nothing was sent yet
    title: str = ""
    summaries: tuple[str, ...] = ()  # the titles of its summaries, in order


def latest_sent_issue(settings: Settings, engine: Engine) -> LatestIssue:
    """The newest issue the ledger says reached someone (sent, or maybe sent), as the archive shows it.

    An issue file dated in the past but never sent has no archive page: it is never named.
    """
    reached = (RecipientState.SENT.value, RecipientState.UNKNOWN.value)
    with reading(engine) as connection:
        sent = connection.execute(
            select(t.runs.c.issue_id)
            .where(
                select(t.recipients.c.id)
                .where(t.recipients.c.issue_id == t.runs.c.issue_id, t.recipients.c.state.in_(reached))
                .exists()
            )
            .order_by(t.runs.c.started_at.desc())
        ).scalars()
        for issue_id in sent:
            try:
                issue, summaries = issues.load_issue_content(settings.workspace, issue_id)
            except NewsletterError:  # a removed or broken issue file must not stop a welcome email
                continue
            titles = tuple(
                summaries[item].title
                for section in issue.sections
                for item in section.items
                if item in summaries
            )
            return LatestIssue(f"{settings.archive_url}{issue.id}/", issue.title, titles)
    return LatestIssue(settings.archive_url)
