"""Lookups and small writes inside a transaction, shared by the modules that change subscribers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.addresses import address_key, check_name, normalise_address
from newsletter.errors import NewsletterError

DEFAULT_LIST = "readers"


class SubscriberError(NewsletterError):
    """A change to a subscriber that cannot be made as asked (the message says why and what to do)."""


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


def check_names(first_name: str, last_name: str) -> None:
    for value, what in ((first_name, "first name"), (last_name, "last name")):
        problem = check_name(value, what)
        if problem:
            raise SubscriberError(problem)


def suppression_row(connection: Connection, email: str) -> Row[Any, Any] | None:
    """The address's suppression (reason, when), found by address or by hash once erased; or None."""
    s = t.suppressions
    return connection.execute(
        select(s.c.reason, s.c.created_at).where(
            or_(s.c.email_key == address_key(email), s.c.email_hash == events.hash_of(connection, email))
        )
    ).first()


def suppression_of(connection: Connection, email: str) -> str | None:
    """The reason an address is suppressed (by address, or by hash once erased), or None."""
    row = suppression_row(connection, email)
    return None if row is None else (row.reason or "no reason given")


def subscriber_id(connection: Connection, email: str) -> int | None:
    key = address_key(email)
    return connection.execute(select(t.subscribers.c.id).where(t.subscribers.c.email_key == key)).scalar()


def list_id(connection: Connection, name: str, create: bool = True) -> int | None:
    found = connection.execute(select(t.lists.c.id).where(t.lists.c.name == name)).scalar()
    if found is None and create:
        if not name or "/" in name or name.startswith(".") or len(name) > 100:
            raise SubscriberError(f"{name!r} is not a list name; use a plain name such as {DEFAULT_LIST}")
        made = insert(t.lists).values(name=name, created_at=t.now()).returning(t.lists.c.id)
        found = connection.execute(made).scalar_one()
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


def suppress_in(connection: Connection, email: str, reason: str, source: str) -> bool:
    """Add an address to the suppression list inside a transaction; False if it was already there."""
    if suppression_of(connection, email) is not None:
        return False
    connection.execute(
        insert(t.suppressions).values(
            email_key=address_key(email),
            email_hash=events.hash_of(connection, email),
            reason=" ".join(reason.split())[:500],
            source=source,
            created_at=t.now(),
        )
    )
    return True
