"""Confirming: the emailed link shows a button (link scanners open links); only its POST subscribes.

Confirming stores the person with their consent (when, from the form, which wording, and the IP
only if the settings keep it) and sends the welcome email. Signing up again ends a pause (the
person asked for the newsletter now) and the page says so. A link sent before the person last
unsubscribed does not bring them back: they would have to sign up again.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, Response, request
from sqlalchemy import Engine, select

from newsletter.db import schema as t
from newsletter.db.addresses import address_key
from newsletter.db.engine import reading
from newsletter.db.rows import SubscriberError, subscriber_id, suppression_row
from newsletter.db.schema import Status
from newsletter.db.subscribers import Consent, add_subscriber, update_subscriber
from newsletter.db.topicsconsent import set_reader_topics
from newsletter.web.service import emails
from newsletter.web.service.context import ServiceContext, ctx
from newsletter.web.service.http import client_address, page
from newsletter.web.service.privacy import topics_consent
from newsletter.web.service.tokens import Purpose, TokenData, TokenError, age_limit, make_token, read_token

log = logging.getLogger("newsletter.service.confirm")
blueprint = Blueprint("confirm", __name__)


def _token() -> str:
    return (request.form.get("token") or request.args.get("token") or "").strip()


def _read(c: ServiceContext, token: str) -> TokenData:
    return read_token(c.keyring, token, Purpose.CONFIRM, age_limit(c.service.confirm_days), c.clock())


def _refused(error: TokenError) -> Response:
    log.info("confirm link refused: %s", error.problem)
    return page("error.html", 400, problem="link", link=error.problem.value, purpose="confirm")


@blueprint.get("/confirm")
def confirm_page() -> Response:
    c = ctx()
    token = _token()
    try:
        data = _read(c, token)
    except TokenError as error:
        return _refused(error)
    return page("confirm.html", email=data.email, token=token)


def left_since(engine: Engine, email: str, moment: datetime) -> bool:
    """Whether the address was suppressed (unsubscribed, bounced, erased) after `moment`."""
    with reading(engine) as connection:
        found = suppression_row(connection, email)
    return found is not None and found.created_at > moment


def paused_until(engine: Engine, email: str, now: datetime) -> datetime | None:
    """The end of the address's pause, if it is paused now."""
    with reading(engine) as connection:
        until = connection.execute(
            select(t.subscribers.c.paused_until).where(t.subscribers.c.email_key == address_key(email))
        ).scalar()
    return until if until is not None and until > now else None


def is_subscribed(engine: Engine, email: str, list_name: str) -> bool:
    with reading(engine) as connection:
        person = subscriber_id(connection, email)
        if person is None:
            return False
        status = connection.execute(
            select(t.memberships.c.status)
            .join(t.lists, t.lists.c.id == t.memberships.c.list_id)
            .where(t.memberships.c.subscriber_id == person, t.lists.c.name == list_name)
        ).scalar()
    return status == Status.SUBSCRIBED.value


@blueprint.post("/confirm")
def confirm() -> Response:
    c = ctx()
    token = _token()
    try:
        data = _read(c, token)
    except TokenError as error:
        return _refused(error)
    first_name = str(data.fields.get("n", ""))[:100]
    # Topics are health data: kept only if the token says the reader ticked their consent box.
    health = topics_consent(c.settings.name, str(data.fields.get("c", "")), c.clock())
    topics = [str(x) for x in data.fields.get("t", [])][:50] if health else []
    if left_since(c.engine, data.email, data.issued_at):
        log.info("confirm link refused: the address left after the link was sent")
        return page("error.html", 400, problem="link", link="superseded", purpose="confirm")
    already = is_subscribed(c.engine, data.email, c.service.list_name)
    paused = paused_until(c.engine, data.email, c.clock())
    consent = Consent(
        at=c.clock(),
        source="form",
        form_version=str(data.fields.get("v", ""))[:100],
        ip=client_address() if c.service.keep_ip else None,
    )
    try:
        add_subscriber(
            c.engine,
            data.email,
            list_name=c.service.list_name,
            first_name=first_name,
            topics=topics,
            status=Status.SUBSCRIBED,
            consent=consent,
            vocabulary=c.vocabulary,
            resubscribe=True,
        )
    except SubscriberError as exc:  # topics.yaml changed since the link was sent: keep what still exists
        log.info("confirm: %s; subscribing without topics", exc.message)
        add_subscriber(
            c.engine,
            data.email,
            list_name=c.service.list_name,
            first_name=first_name,
            status=Status.SUBSCRIBED,
            consent=consent,
            resubscribe=True,
        )
        topics = []
    # Logs the consent with its wording, or (no topics kept) a withdrawal of an earlier one.
    consent_now = health if topics else None
    set_reader_topics(c.engine, data.email, topics, consent_now, source="form", vocabulary=c.vocabulary)
    if paused:
        update_subscriber(c.engine, data.email, paused_until=None, source="form")
    log.info(
        "confirmed a subscription"
        + (" (already subscribed)" if already else "")
        + ("; their pause ended" if paused else "")
    )
    preferences = c.url("preferences") + "?token=" + make_token(c.keyring, Purpose.PREFERENCES, data.email)
    if not already:
        _welcome(c, data.email, first_name, topics, preferences)
    return page(
        "confirmed.html", email=data.email, preferences_url=preferences, already=already, resumed=bool(paused)
    )


def _welcome(c: ServiceContext, email: str, first_name: str, topics: list[str], preferences: str) -> None:
    latest = emails.latest_sent_issue(c.settings, c.engine)
    links = emails.Links(
        action=latest.url,
        preferences=preferences,
        unsubscribe=c.url("unsubscribe") + "?token=" + make_token(c.keyring, Purpose.UNSUBSCRIBE, email),
    )
    context = emails.welcome_context(c.settings, first_name, links, c.service.frequency, topics, latest)
    c.mail.submit(
        emails.build_message(c.settings, emails.WELCOME, email, first_name, context, links), emails.WELCOME
    )
