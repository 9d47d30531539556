"""Consent to keep a reader's topics, which are health data: given, withdrawn, and what it changes.

Ticking "Relapses" says the reader probably has MS (GDPR Art. 9: special-category data), so topics
are kept only under their own explicit consent. The event log holds each grant (its wording, its
version, the moment) and each withdrawal (which deletes the topics). Topics an editor imports have
no such event: the editor answers for them (docs/operator/service.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.addresses import address_key
from newsletter.db.engine import writing
from newsletter.db.rows import SubscriberError, canonical_topics, set_topics, topics_of
from newsletter.db.schema import EventKind

_KINDS = (EventKind.TOPICS_CONSENT_GIVEN.value, EventKind.TOPICS_CONSENT_WITHDRAWN.value)


@dataclass(frozen=True)
class TopicsConsent:
    """What the reader agreed to, as the page showed it, and when."""

    wording: str
    version: str
    at: datetime


def consent_held(connection: Connection, person: int) -> dict[str, Any] | None:
    """The detail of the reader's standing topics consent (wording, version), or None if none stands."""
    row = connection.execute(
        select(t.events.c.kind, t.events.c.detail)
        .where(t.events.c.subscriber_id == person, t.events.c.kind.in_(_KINDS))
        .order_by(t.events.c.id.desc())  # the order they were logged in
        .limit(1)
    ).first()
    return dict(row.detail) if row is not None and row.kind == EventKind.TOPICS_CONSENT_GIVEN.value else None


def record_consent(
    connection: Connection,
    person: int,
    email: str,
    consent: TopicsConsent,
    source: str,
    topics: tuple[str, ...],
) -> None:
    """Log a grant: the words the reader agreed to, their version and the moment (the event's time)."""
    detail = {"wording": consent.wording, "version": consent.version, "topics": list(topics)}
    events.record(connection, person, email, EventKind.TOPICS_CONSENT_GIVEN, source, detail, at=consent.at)


def set_reader_topics(
    engine: Engine,
    email: str,
    topics: Iterable[str] | None,
    consent: TopicsConsent | None,
    *,
    source: str,
    vocabulary: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keep `topics` under `consent`, or, without consent, keep none; returns what changed.

    `topics=None` with a consent keeps the stored topics (the boxes did not change). Without a
    consent every stored topic is deleted and, if there was a consent or any topic, a withdrawal
    is logged with how many topics went. Changes: `topics` (the new list), `topics_consent` (bool).
    """
    wanted = None if topics is None or consent is None else canonical_topics(topics, vocabulary)
    with writing(engine) as connection:
        person = connection.execute(
            select(t.subscribers.c.id, t.subscribers.c.email).where(
                t.subscribers.c.email_key == address_key(email)
            )
        ).first()
        if person is None:
            raise SubscriberError(f"{email} is not a subscriber; nothing changed")
        held, stored = consent_held(connection, person.id), topics_of(connection, person.id)
        changed: dict[str, Any] = {}
        if consent is None:
            if held is not None or stored:
                set_topics(connection, person.id, ())
                detail = {"topics_deleted": len(stored), "consent_was_recorded": held is not None}
                events.record(
                    connection, person.id, person.email, EventKind.TOPICS_CONSENT_WITHDRAWN, source, detail
                )
                changed["topics_consent"] = False
                if stored:
                    changed["topics"] = []
            return changed
        keep = stored if wanted is None else wanted
        if keep and (held is None or held.get("version") != consent.version):
            record_consent(connection, person.id, person.email, consent, source, keep)
            changed["topics_consent"] = True
        if keep != stored:
            set_topics(connection, person.id, keep)
            changed["topics"] = list(keep)
    return changed


def topics_consent_of(engine: Engine, email: str) -> dict[str, Any] | None:
    """The address's standing topics consent (wording, version, topics), or None."""
    with engine.connect() as connection:
        person = connection.execute(
            select(t.subscribers.c.id).where(t.subscribers.c.email_key == address_key(email))
        ).scalar()
        return None if person is None else consent_held(connection, person)
