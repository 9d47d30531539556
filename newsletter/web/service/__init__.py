"""The subscriber service: signup, confirm, preferences, unsubscribe, your data, health, SES events.

`create_app(settings, engine)` builds it; `newsletter serve` runs it under waitress
(`newsletter.web.service.server`). A site may also mount the WSGI app itself:

    from newsletter.web.service import wsgi_app
    application = wsgi_app("/srv/newsletter")      # the workspace folder
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import Engine

from newsletter.bounces.settings import BounceSettings, bounce_settings
from newsletter.db.revisions import check_schema, upgrade
from newsletter.store.config import Settings
from newsletter.store.topics import Taxonomy, load_taxonomy
from newsletter.web.service import (
    confirm,
    emails,
    health,
    http,
    preferences,
    privacy,
    sesevents,
    signup,
    unsubscribe,
)
from newsletter.web.service.context import EXTENSION, Limits, ServiceContext
from newsletter.web.service.mailqueue import MailQueue
from newsletter.web.service.settings import ServiceSettings, service_settings
from newsletter.web.service.tokens import Keyring, keyring_from_environment

log = logging.getLogger("newsletter.service")

MAX_BODY = 64 * 1024  # bytes: the largest form is a few hundred; anything bigger is refused (413)


def default_mail_queue(settings: Settings, service: ServiceSettings, engine: Engine) -> MailQueue:
    from newsletter.providers import open_provider

    return MailQueue(engine, lambda: open_provider(None, settings), workers=2, attempts=service.mail_attempts)


def check_email_templates(settings: Settings, service: ServiceSettings) -> None:
    """Render both emails once, so a broken workspace template stops `serve` instead of every signup."""
    links = emails.Links("https://example.org/", "https://example.org/p", "https://example.org/u")
    emails.render_parts(
        settings, emails.CONFIRM, emails.confirm_context(settings, "", links, 7, links.action)
    )
    emails.render_parts(
        settings, emails.WELCOME, emails.welcome_context(settings, "", links, service.frequency, [])
    )


def prepare_database(engine: Engine) -> str:
    """Create or upgrade the state database the service runs on; what was done, in words ("" if nothing).

    The service owns its database: a fresh workspace, or one the new version migrates, needs no
    separate `db upgrade` before `serve`. A database newer than this version is refused untouched.
    """
    before, after = upgrade(engine)
    if before == after:
        return ""
    return (
        f"Created the state database ({after})"
        if before is None
        else f"Upgraded the state database to {after}"
    )


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    service: ServiceSettings | None = None,
    keyring: Keyring | None = None,
    mail: MailQueue | None = None,
    taxonomy: Taxonomy | None = None,
    clock: Callable[[], datetime] | None = None,
    bounces: BounceSettings | None = None,
) -> Flask:
    """The service for a workspace's settings and state database (its schema must be current).

    Raises a NewsletterError (one line) when something must be fixed first: the schema, the
    keys, the `service:` or `bounces:` settings, topics.yaml or an email template.
    """
    bounces = bounces or bounce_settings(settings)
    service = service or service_settings(settings)
    keyring = keyring or keyring_from_environment(
        service.previous_key_until, dev_ok=settings.provider == "outbox"
    )
    if keyring.development:
        log.warning("NEWSLETTER_SECRET is not set: links are signed with the development key (outbox only)")
    check_schema(engine)
    check_email_templates(settings, service)
    context = ServiceContext(
        settings=settings,
        service=service,
        engine=engine,
        keyring=keyring,
        mail=mail or default_mail_queue(settings, service, engine),
        taxonomy=taxonomy if taxonomy is not None else load_taxonomy(settings.workspace),
        limits=Limits(service.address_limit, service.ip_limit),
        clock=clock or (lambda: datetime.now(UTC)),
        bounces=bounces,
    )
    app = Flask(__name__, static_folder=None, template_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, MAX_FORM_MEMORY_SIZE=MAX_BODY, MAX_FORM_PARTS=200)
    app.extensions[EXTENSION] = context
    for module in (signup, confirm, preferences, privacy, unsubscribe, health, sesevents):
        app.register_blueprint(module.blueprint)
    http.install(app)
    return app


def wsgi_app(workspace: str | Path) -> Flask:
    """The app for a workspace folder, as a WSGI server that imports it needs (gunicorn, mod_wsgi)."""
    from newsletter.db.engine import database_url, open_engine
    from newsletter.store.config import load_settings

    root = Path(workspace).resolve()
    settings = load_settings(root)
    return create_app(settings, open_engine(database_url(root, settings.database)))
