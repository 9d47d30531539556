"""Changing subscribers: add, update, confirm, unsubscribe, suppress, bounce, erase; each change is an event.

Every function is one transaction. The suppression list wins over every list: a suppressed or erased
address is never re-added by an editor or an import (only the person may subscribe again, through
the service, which calls `add_subscriber(..., resubscribe=True)`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.addresses import address_key, check_name, normalise_address
from newsletter.db.engine import writing
from newsletter.db.schema import OPTED_OUT, EventKind, Status
from newsletter.errors import NewsletterError

DEFAULT_LIST = "readers"


class SubscriberError(NewsletterError):
    """A change to a subscriber that cannot be made as asked (the message says why and what to do)."""


@dataclass(frozen=True)
class Consent:
    """When and how someone agreed to receive the newsletter."""

    at: datetime | None
    source: str  # form, import, editor, migration
    form_version: str = ""
    ip: str | None = None  # only when the settings say to keep it


@dataclass(frozen=True)
class Erasure:
    found: bool  # False: nobody held that address; it is suppressed by hash all the same
    memberships: int
    events: int
    ledger_rows: int  # recipients whose address was replaced by the hash (counts are kept)


def valid_address(email: str) -> str:
    try:
        return normalise_address(email)
    except ValueError as exc:
        raise SubscriberError(str(exc)) from None


def canonical_topics(topics: Iterable[str], vocabulary: Mapping[str, str] | None) -> tuple[str, ...]:
    """Topics as topics.yaml spells them (vocabulary: casefolded -> as written), without repeats."""
    chosen: list[str] = []
    for raw in topics:
        topic = raw.strip()
        if not topic:
            continue
        known = topic if vocabulary is None else vocabulary.get(topic.casefold())
        if known is None:
            raise SubscriberError(f"unknown topic {topic!r}; use a section title or a tag from topics.yaml")
        if known not in chosen:
            chosen.append(known)
    return tuple(chosen)


def _check_names(first_name: str, last_name: str) -> None:
    for value, what in ((first_name, "first name"), (last_name, "last name")):
        problem = check_name(value, what)
        if problem:
            raise SubscriberError(problem)


# -- lookups used inside transactions ----------------------------------------------------------------


def suppression_of(connection: Connection, email: str) -> str | None:
    """The reason an address is suppressed (by address, or by hash once erased), or None."""
    row = connection.execute(
        select(t.suppressions.c.reason).where(
            or_(t.suppressions.c.email_key == address_key(email),
                t.suppressions.c.email_hash == events.hash_of(connection, email))
        )
    ).first()  # fmt: skip
    return None if row is None else (row.reason or "no reason given")


def subscriber_id(connection: Connection, email: str) -> int | None:
    key = address_key(email)
    return connection.execute(select(t.subscribers.c.id).where(t.subscribers.c.email_key == key)).scalar()


def list_id(connection: Connection, name: str, create: bool = True) -> int | None:
    found = connection.execute(select(t.lists.c.id).where(t.lists.c.name == name)).scalar()
    if found is None and create:
        if not name or "/" in name or name.startswith(".") or len(name) > 100:
            raise SubscriberError(f"{name!r} is not a list name; use a plain name such as {DEFAULT_LIST}")
        found = connection.execute(insert(t.lists).values(name=name, created_at=t.now())).inserted_primary_key[0]
    return found


def set_topics(connection: Connection, person: int, topics: tuple[str, ...]) -> None:
    connection.execute(delete(t.topic_preferences).where(t.topic_preferences.c.subscriber_id == person))
    if topics:
        connection.execute(
            insert(t.topic_preferences),
            [{"subscriber_id": person, "topic": topic, "position": n} for n, topic in enumerate(topics)],
        )


def topics_of(connection: Connection, person: int) -> tuple[str, ...]:
    rows = connection.execute(
        select(t.topic_preferences.c.topic)
        .where(t.topic_preferences.c.subscriber_id == person)
        .order_by(t.topic_preferences.c.position)
    )
    return tuple(rows.scalars())


# -- changes -----------------------------------------------------------------------------------------


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
    _check_names(first_name, last_name)
    chosen = canonical_topics(topics, vocabulary)
    consent = consent or Consent(t.now(), "editor")
    with writing(engine) as connection:
        reason = suppression_of(connection, address)
        if reason is not None and not resubscribe:
            raise SubscriberError(
                f"{address} is on the suppression list ({reason}); they must subscribe again themselves"
            )
        if reason is not None:
            connection.execute(delete(t.suppressions).where(or_(
                t.suppressions.c.email_key == address_key(address),
                t.suppressions.c.email_hash == events.hash_of(connection, address))))  # fmt: skip
        now = t.now()
        person = subscriber_id(connection, address)
        new = person is None
        names = {"first_name": first_name, "last_name": last_name, "updated_at": now}
        if person is None:
            person = connection.execute(
                insert(t.subscribers).values(email=address, email_key=address_key(address), created_at=now, **names)
            ).inserted_primary_key[0]
        else:
            connection.execute(update(t.subscribers).where(t.subscribers.c.id == person).values(**names))
        set_topics(connection, person, chosen)
        put_membership(connection, person, list_id(connection, list_name), status, consent)
        kind = EventKind.SUBSCRIBED if new or reason is not None else EventKind.UPDATED
        events.record(connection, person, address, kind, consent.source,
                      {"list": list_name, "status": status.value, "topics": list(chosen)})  # fmt: skip
    return address, new


def put_membership(connection: Connection, person: int, lst: int | None, status: Status, consent: Consent) -> None:
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
            insert(t.memberships).values(subscriber_id=person, list_id=lst, subscribed_at=consent.at, **values)
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
    _check_names(first_name or "", last_name or "")
    with writing(engine) as connection:
        row = connection.execute(select(t.subscribers).where(t.subscribers.c.email_key == address_key(email))).first()
        if row is None:
            raise SubscriberError(f"{email} is not a subscriber; nothing changed")
        changed: dict[str, Any] = {}
        for field, value in (("first_name", first_name), ("last_name", last_name), ("large_text", large_text)):
            if value is not None and getattr(row, field) != value:
                changed[field] = value
        if paused_until is not False and row.paused_until != paused_until:
            changed["paused_until"] = paused_until
        if changed:
            connection.execute(
                update(t.subscribers).where(t.subscribers.c.id == row.id).values(updated_at=t.now(), **changed)
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
    """Double opt-in: a `pending` membership becomes `subscribed` with its consent; False if none was pending."""
    with writing(engine) as connection:
        person, lst = subscriber_id(connection, email), list_id(connection, list_name, create=False)
        where = ((t.memberships.c.subscriber_id == person) & (t.memberships.c.list_id == lst)
                 & (t.memberships.c.status == Status.PENDING.value))  # fmt: skip
        found = connection.execute(select(func.count()).select_from(t.memberships).where(where)).scalar_one()
        if not found or person is None:
            return False
        put_membership(connection, person, lst, Status.SUBSCRIBED, consent)
        events.record(connection, person, email, EventKind.CONFIRMED, consent.source,
                      {"list": list_name, "form_version": consent.form_version})  # fmt: skip
    return True


def suppress_in(connection: Connection, email: str, reason: str, source: str) -> bool:
    """Add an address to the suppression list inside a transaction; False if it was already there."""
    if suppression_of(connection, email) is not None:
        return False
    connection.execute(insert(t.suppressions).values(
        email_key=address_key(email), email_hash=events.hash_of(connection, email),
        reason=" ".join(reason.split())[:500], source=source, created_at=t.now()))  # fmt: skip
    return True


def suppress(engine: Engine, email: str, reason: str, source: str = "editor") -> bool:
    """Suppress an address (it need not be a subscriber); False if it already was."""
    with writing(engine) as connection:
        added = suppress_in(connection, email, reason, source)
        if added:
            events.record(connection, subscriber_id(connection, email), email, EventKind.SUPPRESSED, source,
                          {"reason": reason})  # fmt: skip
    return added


def is_suppressed(engine: Engine, email: str) -> bool:
    """Whether an address is suppressed now (one indexed lookup: cheap enough per message)."""
    with engine.connect() as connection:
        return suppression_of(connection, email) is not None


def opt_out(
    engine: Engine, email: str, status: Status, reason: str, source: str, lists: Iterable[str] | None = None
) -> list[str]:
    """Set an opt-out status in the given lists (all when None) and suppress the address; the lists changed."""
    assert status in OPTED_OUT, status
    kind = {Status.UNSUBSCRIBED: EventKind.UNSUBSCRIBED, Status.BOUNCED: EventKind.BOUNCED,
            Status.COMPLAINED: EventKind.COMPLAINED}[status]  # fmt: skip
    with writing(engine) as connection:
        person = subscriber_id(connection, email)
        query = (select(t.lists.c.id, t.lists.c.name)
                 .join(t.memberships, t.memberships.c.list_id == t.lists.c.id)
                 .where(t.memberships.c.subscriber_id == person, t.memberships.c.status != status.value))  # fmt: skip
        if lists is not None:
            query = query.where(t.lists.c.name.in_(list(lists)))
        changed = connection.execute(query.order_by(t.lists.c.name)).all()
        for lst, _name in changed:
            connection.execute(update(t.memberships).where(
                (t.memberships.c.subscriber_id == person) & (t.memberships.c.list_id == lst)
            ).values(status=status.value, updated_at=t.now()))  # fmt: skip
        added = suppress_in(connection, email, reason if status == Status.UNSUBSCRIBED else f"{status}: {reason}",
                            source)  # fmt: skip
        if changed or added:
            events.record(connection, person, email, kind, source,
                          {"reason": reason, "lists": [name for _, name in changed]})  # fmt: skip
    return [name for _, name in changed]


def unsubscribe(engine: Engine, email: str, reason: str, lists: Iterable[str] | None = None,
                source: str = "one-click") -> list[str]:  # fmt: skip
    """Mark an address unsubscribed (its memberships kept, as history) and suppress it; the lists changed."""
    return opt_out(engine, email, Status.UNSUBSCRIBED, reason, source, lists)


def mark_bounced(engine: Engine, email: str, reason: str, source: str = "delivery") -> list[str]:
    """A hard bounce: bounced in every list and suppressed, so no later issue tries it again."""
    return opt_out(engine, email, Status.BOUNCED, reason, source)


def mark_complained(engine: Engine, email: str, reason: str, source: str = "feedback loop") -> list[str]:
    return opt_out(engine, email, Status.COMPLAINED, reason, source)


def remove_subscriber(engine: Engine, email: str, lists: list[str] | None = None) -> list[str]:
    """An editor's removal: like an unsubscribe (memberships kept, address suppressed); the lists changed."""
    address = valid_address(email)
    with engine.connect() as connection:
        person = subscriber_id(connection, address)
        names = set(connection.execute(select(t.lists.c.name)).scalars())
    missing = [name for name in lists or () if name not in names]
    if missing:
        raise SubscriberError(f"no list named {', '.join(missing)} (lists: {', '.join(sorted(names)) or 'none'})")
    if person is None:
        where = ", ".join(lists) if lists else "any list"
        raise SubscriberError(
            f"{address} is not in {where}; nothing changed (`newsletter subscribers list` shows who is)"
        )
    return opt_out(engine, address, Status.UNSUBSCRIBED, "removed by the editor", "editor", lists)


def erase(engine: Engine, email: str, source: str = "editor") -> Erasure:
    """Remove everything held about a person, keeping only a salted hash on the suppression list.

    Their memberships, topics and events go; an `erased` event keeps the hash and the moment; the
    delivery ledger keeps its counts with the address replaced by the hash.
    """
    key = address_key(email)
    with writing(engine) as connection:
        digest = events.hash_of(connection, email)
        person = subscriber_id(connection, email)
        memberships = events_gone = 0
        if person is not None:
            memberships = connection.execute(
                delete(t.memberships).where(t.memberships.c.subscriber_id == person)).rowcount  # fmt: skip
            events_gone = connection.execute(delete(t.events).where(t.events.c.subscriber_id == person)).rowcount
            connection.execute(delete(t.subscribers).where(t.subscribers.c.id == person))
        events_gone += connection.execute(delete(t.events).where(t.events.c.email_hash == digest)).rowcount
        connection.execute(delete(t.suppressions).where(
            or_(t.suppressions.c.email_key == key, t.suppressions.c.email_hash == digest)))  # fmt: skip
        connection.execute(insert(t.suppressions).values(
            email_key=None, email_hash=digest, reason="erased on request", source=source, created_at=t.now()))  # fmt: skip
        ledger_rows = connection.execute(
            update(t.recipients).where(func.lower(t.recipients.c.email) == key)
            .values(email=f"erased-{digest[:16]}", name="", first_name="", last_error="")).rowcount  # fmt: skip
        connection.execute(insert(t.events).values(subscriber_id=None, email_hash=digest, kind=EventKind.ERASED.value,
                                                   at=t.now(), source=source, detail={}))  # fmt: skip
    return Erasure(person is not None, memberships, events_gone, ledger_rows)
