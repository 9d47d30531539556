"""Joining and changing: add, update and confirm subscribers, with their consent; each change is an event.

A suppressed or erased address is never re-added by an editor or an import (only the person may
subscribe again, through the service, which calls `add_subscriber(..., resubscribe=True)`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.addresses import address_key
from newsletter.db.engine import writing
from newsletter.db.rows import (
    DEFAULT_LIST,
    SubscriberError,
    canonical_topics,
    check_names,
    list_id,
    set_topics,
    subscriber_id,
    suppression_of,
    topics_of,
    valid_address,
)
from newsletter.db.schema import EventKind, Status

__all__ = ["DEFAULT_LIST", "Consent", "SubscriberError", "add_subscriber", "confirm", "update_subscriber"]


@dataclass(frozen=True)
class Consent:
    """When and how someone agreed to receive the newsletter."""

    at: datetime | None
    source: str  # form, import, editor, migration
    form_version: str = ""
    ip: str | None = None  # only when the settings say to keep it


def add_subscriber(
    engine: Engine,
    email: str,
    *,
    list_name: str = DEFAULT_LIST,
    first_name: str = "",
    last_name: str = "",
    topics: Iterable[str] = (),
    status: Status = Status.SUBSCRIBED,
    consent: Consent | None = None,
    vocabulary: Mapping[str, str] | None = None,
    resubscribe: bool = False,
) -> tuple[str, bool]:
    """Add an address to a list (or update its name, topics and status there); returns it and whether new.

    A suppressed address is refused unless `resubscribe` (the person confirmed again themselves):
    the suppression list records that they asked to leave.
    """
    address = valid_address(email)
    check_names(first_name, last_name)
    chosen = canonical_topics(topics, vocabulary)
    consent = consent or Consent(t.now(), "editor")
    with writing(engine) as connection:
        reason = suppression_of(connection, address)
        if reason is not None and not resubscribe:
            raise SubscriberError(
                f"{address} is on the suppression list ({reason}); they must subscribe again themselves"
            )
        if reason is not None:
            connection.execute(
                delete(t.suppressions).where(
                    or_(
                        t.suppressions.c.email_key == address_key(address),
                        t.suppressions.c.email_hash == events.hash_of(connection, address),
                    )
                )
            )
        now = t.now()
        person = subscriber_id(connection, address)
        new = person is None
        names = {"first_name": first_name, "last_name": last_name, "updated_at": now}
        if person is None:
            made = insert(t.subscribers).values(
                email=address, email_key=address_key(address), created_at=now, **names
            )
            person = connection.execute(made.returning(t.subscribers.c.id)).scalar_one()
        else:
            connection.execute(update(t.subscribers).where(t.subscribers.c.id == person).values(**names))
        set_topics(connection, person, chosen)
        put_membership(connection, person, list_id(connection, list_name), status, consent)
        kind = EventKind.SUBSCRIBED if new or reason is not None else EventKind.UPDATED
        events.record(
            connection,
            person,
            address,
            kind,
            consent.source,
            {"list": list_name, "status": status.value, "topics": list(chosen)},
        )
    return address, new


def put_membership(
    connection: Connection, person: int, lst: int | None, status: Status, consent: Consent
) -> None:
    values: dict[str, Any] = {
        "status": status.value,
        "consent_at": consent.at,
        "consent_source": consent.source,
        "consent_form_version": consent.form_version,
        "consent_ip": consent.ip,
        "updated_at": t.now(),
    }
    where = (t.memberships.c.subscriber_id == person) & (t.memberships.c.list_id == lst)
    if connection.execute(update(t.memberships).where(where).values(**values)).rowcount == 0:
        connection.execute(
            insert(t.memberships).values(
                subscriber_id=person, list_id=lst, subscribed_at=consent.at, **values
            )
        )


def update_subscriber(
    engine: Engine,
    email: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    topics: Iterable[str] | None = None,
    large_text: bool | None = None,
    paused_until: datetime | None | bool = False,
    source: str = "editor",
    vocabulary: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Change a person's preferences; returns what changed (field -> new value), recorded as one event.

    `paused_until=None` ends a pause; leaving it out (False) leaves it as it is.
    """
    check_names(first_name or "", last_name or "")
    with writing(engine) as connection:
        row = connection.execute(
            select(t.subscribers).where(t.subscribers.c.email_key == address_key(email))
        ).first()
        if row is None:
            raise SubscriberError(f"{email} is not a subscriber; nothing changed")
        changed: dict[str, Any] = {}
        for field, value in (
            ("first_name", first_name),
            ("last_name", last_name),
            ("large_text", large_text),
        ):
            if value is not None and getattr(row, field) != value:
                changed[field] = value
        if paused_until is not False and row.paused_until != paused_until:
            changed["paused_until"] = paused_until
        if changed:
            connection.execute(
                update(t.subscribers)
                .where(t.subscribers.c.id == row.id)
                .values(updated_at=t.now(), **changed)
            )
        if topics is not None:
            chosen = canonical_topics(topics, vocabulary)
            if chosen != topics_of(connection, row.id):
                set_topics(connection, row.id, chosen)
                changed["topics"] = list(chosen)
        if changed:
            detail = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in changed.items()}
            events.record(connection, row.id, row.email, EventKind.PREFERENCES_CHANGED, source, detail)
    return changed


def confirm(engine: Engine, email: str, list_name: str, consent: Consent) -> bool:
    """Double opt-in: a `pending` membership becomes `subscribed`, with its consent; False if none was."""
    with writing(engine) as connection:
        person, lst = subscriber_id(connection, email), list_id(connection, list_name, create=False)
        where = (
            (t.memberships.c.subscriber_id == person)
            & (t.memberships.c.list_id == lst)
            & (t.memberships.c.status == Status.PENDING.value)
        )
        found = connection.execute(select(func.count()).select_from(t.memberships).where(where)).scalar_one()
        if not found or person is None:
            return False
        put_membership(connection, person, lst, Status.SUBSCRIBED, consent)
        events.record(
            connection,
            person,
            email,
            EventKind.CONFIRMED,
            consent.source,
            {"list": list_name, "form_version": consent.form_version},
        )
    return True
