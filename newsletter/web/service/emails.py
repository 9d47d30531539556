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

from newsletter import names, render
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

    action: str  # confirm: the confirmation page; welcome: the latest issue
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
    settings: Settings, first_name: str, links: Links, frequency: str, topics: list[str]
) -> dict:
    return {
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


def latest_issue_url(settings: Settings, now: datetime | None = None) -> str:
    """The newest issue already due in the archive (its page), or the archive's index if none is."""
    now = now or datetime.now(UTC)
    try:
        due = [
            i for i in issues.list_issues(settings.workspace) if i.send_at is not None and i.send_at <= now
        ]
    except NewsletterError:  # a broken issue file must not stop a welcome email
        due = []
    if not due:
        return settings.archive_url
    newest = max(due, key=lambda i: (i.send_at, i.id))
    return f"{settings.archive_url}{newest.id}/"
