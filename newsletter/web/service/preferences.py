"""The reader's own page: name, topics, larger text, pause, unsubscribe; download or erase their data.

The link in every email opens it (a preferences token, or the unsubscribe token the emails sent so
far carry in both links). Each change is one POST that answers with the page and what changed.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request

from newsletter.db.audience import person_data
from newsletter.db.schema import Status
from newsletter.db.subscribers import update_subscriber
from newsletter.db.suppression import erase, unsubscribe
from newsletter.db.topicsconsent import set_reader_topics, topics_consent_of
from newsletter.web.service.context import ServiceContext, ctx
from newsletter.web.service.forms import parse_preferences, pause_until, sections_of
from newsletter.web.service.http import page
from newsletter.web.service.privacy import topics_consent, topics_consent_text
from newsletter.web.service.tokens import Purpose, TokenError, reader_of

log = logging.getLogger("newsletter.service.preferences")
blueprint = Blueprint("preferences", __name__)


def _reader(c: ServiceContext) -> tuple[str, str]:
    """(token, address) of the request; TokenError if the link is not valid."""
    token = (request.form.get("token") or request.args.get("token") or "").strip()
    return token, reader_of(c.keyring, token, Purpose.PREFERENCES, c.settings.list_id, c.clock())


def _refused(error: TokenError) -> Response:
    log.info("preferences link refused: %s", error.problem)
    return page("error.html", 400, problem="link", link=error.problem.value, purpose="preferences")


def subscribed(data: dict[str, Any] | None) -> bool:
    return data is not None and any(m["status"] == Status.SUBSCRIBED.value for m in data["lists"])


def long_date(moment: datetime) -> str:
    return f"{moment:%B} {moment.day}, {moment.year}"


def _show(c: ServiceContext, token: str, email: str, status: int = 200, **extra: object) -> Response:
    data = person_data(c.engine, email)
    if data is None or not subscribed(data):
        return page("not_subscribed.html", status, email=email, token=token, held=data is not None, **extra)
    paused = data["paused_until"]
    paused_until = datetime.fromisoformat(paused) if paused else None
    if paused_until is not None and paused_until <= c.clock():
        paused_until = None
    held = topics_consent_of(c.engine, email)
    values: dict[str, object] = {
        "email": email,
        "token": token,
        "first_name": data["first_name"],
        "choices": c.choices,
        "topics": sections_of(data["topics"], c.taxonomy),
        "topics_consent": topics_consent_text(c.settings.name),
        # The box shows the consent the reader gave (never ticked for them); imported topics have none.
        "topics_consent_given": held is not None,
        "topics_without_consent": bool(data["topics"]) and held is None,
        "large_text": data["large_text"],
        "paused_until": long_date(paused_until) if paused_until else "",
        "changes": [],
        "problems": {},
    }
    values.update(extra)
    return page("preferences.html", status, **values)


@blueprint.get("/preferences")
def preferences_page() -> Response:
    c = ctx()
    try:
        token, email = _reader(c)
    except TokenError as error:
        return _refused(error)
    return _show(c, token, email)


def describe_changes(changed: dict[str, Any]) -> list[str]:
    """What a reader is told after saving, one sentence per change."""
    said = []
    if "first_name" in changed:
        name = changed["first_name"]
        said.append(f"Your first name is now {name}." if name else "We no longer greet you by name.")
    if changed.get("topics_consent") is False:
        said.append("You withdrew your consent to keep topics: we deleted them.")
    elif changed.get("topics_consent") is True:
        said.append("We recorded your consent to keep your topics.")
    if "topics" in changed:
        topics = changed["topics"]
        said.append(f"Your topics: {', '.join(topics)}." if topics else "You now get every topic.")
    if changed.get("topics_dropped"):
        said.append(
            "You ticked topics but not the box to let us keep them, so we kept none: "
            "you get every topic. Tick that box too to choose topics."
        )
    if "large_text" in changed:
        said.append(
            "You will get the larger-text edition."
            if changed["large_text"]
            else "You will get the standard edition."
        )
    if "paused_until" in changed:
        until = changed["paused_until"]
        said.append(
            f"Paused until {long_date(until)}."
            if until
            else "Your pause has ended: the next issue comes as usual."
        )
    return said


@blueprint.post("/preferences")
def save() -> Response:
    c = ctx()
    try:
        token, email = _reader(c)
    except TokenError as error:
        return _refused(error)
    current = person_data(c.engine, email)
    if current is None or not subscribed(current):
        return _show(c, token, email)
    wanted, problems = parse_preferences(request.form, c.choices)
    if problems:
        return _show(c, token, email, 400, problems=problems.fields)
    # The checkboxes show sections; a reader whose topics were tags keeps them unless the boxes change.
    same_topics = wanted.topics == sections_of(current["topics"], c.taxonomy)
    changed = update_subscriber(
        c.engine,
        email,
        first_name=wanted.first_name,
        large_text=wanted.large_text,
        paused_until=pause_until(wanted.pause, c.clock()),
        source="preferences",
    )
    consent = (
        topics_consent(c.settings.name, topics_consent_text(c.settings.name).version, c.clock())
        if wanted.topics_consent
        else None
    )
    changed |= set_reader_topics(
        c.engine,
        email,
        None if same_topics else wanted.topics,
        consent,
        source="preferences",
        vocabulary=c.vocabulary,
    )
    if wanted.topics and consent is None:
        changed["topics_dropped"] = True
    log.info("preferences saved: %s", ", ".join(sorted(changed)) or "nothing changed")
    said = describe_changes(changed) or ["Nothing changed: your preferences were already these."]
    return _show(c, token, email, changes=said)


@blueprint.post("/preferences/unsubscribe")
def leave() -> Response:
    c = ctx()
    try:
        _token, email = _reader(c)
    except TokenError as error:
        return _refused(error)
    unsubscribe(c.engine, email, "unsubscribed on the preferences page", source="preferences")
    log.info("unsubscribed one address from the preferences page")
    return page("unsubscribed.html", email=email)


@blueprint.post("/preferences/data")
def download() -> Response:
    c = ctx()
    try:
        _token, email = _reader(c)
    except TokenError as error:
        return _refused(error)
    data = person_data(c.engine, email) or {"email": email, "note": "we hold nothing else about this address"}
    log.info("a reader downloaded their data")
    body = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return Response(
        body,
        200,
        content_type="application/json; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="my-newsletter-data.json"'},
    )


@blueprint.post("/preferences/erase")
def erase_data() -> Response:
    c = ctx()
    try:
        token, email = _reader(c)
    except TokenError as error:
        return _refused(error)
    if request.form.get("sure", "") != "yes":
        return _show(
            c,
            token,
            email,
            400,
            problems={"sure": "Tick the box to confirm that we should erase everything."},
        )
    erase(c.engine, email, source="reader")
    log.info("erased one reader's data on their request")
    return page("erased.html")
