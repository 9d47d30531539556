"""Leaving: unsubscribe, bounce, complaint, the suppression list and erasure; each change is an event.

The suppression list wins over every list. Erasure keeps only a salted hash there, so a later import
cannot re-add the person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, or_, select, update

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.addresses import address_key
from newsletter.db.engine import writing
from newsletter.db.rows import SubscriberError, subscriber_id, suppress_in, suppression_of, valid_address
from newsletter.db.schema import OPTED_OUT, EventKind, RecipientState, Status

_TO_SEND = (RecipientState.PENDING.value, RecipientState.FAILED_TRANSIENT.value)  # still to send in a run


@dataclass(frozen=True)
class Erasure:
    found: bool  # False: nobody held that address; it is suppressed by hash all the same
    memberships: int
    events: int
    ledger_rows: int  # recipients whose address was replaced by the hash (counts are kept)


def suppress(engine: Engine, email: str, reason: str, source: str = "editor") -> bool:
    """Suppress an address (it need not be a subscriber); False if it already was."""
    with writing(engine) as connection:
        added = suppress_in(connection, email, reason, source)
        if added:
            events.record(
                connection,
                subscriber_id(connection, email),
                email,
                EventKind.SUPPRESSED,
                source,
                {"reason": reason},
            )
    return added


def is_suppressed(engine: Engine, email: str) -> bool:
    """Whether an address is suppressed now (one indexed lookup)."""
    with engine.connect() as connection:
        return suppression_of(connection, email) is not None


def opt_out(
    engine: Engine, email: str, status: Status, reason: str, source: str, lists: Iterable[str] | None = None
) -> list[str]:
    """Set an opt-out status in the given lists (all when None) and suppress the address; the lists changed.

    Recorded as one event, only if something changed (a second unsubscribe is a no-op).
    """
    assert status in OPTED_OUT, status
    kind = {
        Status.UNSUBSCRIBED: EventKind.UNSUBSCRIBED,
        Status.BOUNCED: EventKind.BOUNCED,
        Status.COMPLAINED: EventKind.COMPLAINED,
    }[status]
    with writing(engine) as connection:
        person = subscriber_id(connection, email)
        query = (
            select(t.lists.c.id, t.lists.c.name)
            .join(t.memberships, t.memberships.c.list_id == t.lists.c.id)
            .where(t.memberships.c.subscriber_id == person, t.memberships.c.status != status.value)
        )
        if lists is not None:
            query = query.where(t.lists.c.name.in_(list(lists)))
        changed = connection.execute(query.order_by(t.lists.c.name)).all()
        for lst, _name in changed:
            connection.execute(
                update(t.memberships)
                .where((t.memberships.c.subscriber_id == person) & (t.memberships.c.list_id == lst))
                .values(status=status.value, updated_at=t.now())
            )
        added = suppress_in(
            connection, email, reason if status == Status.UNSUBSCRIBED else f"{status}: {reason}", source
        )
        if changed or added:
            events.record(
                connection,
                person,
                email,
                kind,
                source,
                {"reason": reason, "lists": [name for _, name in changed]},
            )
    return [name for _, name in changed]


def unsubscribe(
    engine: Engine, email: str, reason: str, lists: Iterable[str] | None = None, source: str = "one-click"
) -> list[str]:
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
        raise SubscriberError(
            f"no list named {', '.join(missing)} (lists: {', '.join(sorted(names)) or 'none'})"
        )
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
                delete(t.memberships).where(t.memberships.c.subscriber_id == person)
            ).rowcount
            events_gone = connection.execute(
                delete(t.events).where(t.events.c.subscriber_id == person)
            ).rowcount
            connection.execute(delete(t.subscribers).where(t.subscribers.c.id == person))
        events_gone += connection.execute(delete(t.events).where(t.events.c.email_hash == digest)).rowcount
        connection.execute(
            delete(t.suppressions).where(
                or_(t.suppressions.c.email_key == key, t.suppressions.c.email_hash == digest)
            )
        )
        connection.execute(
            insert(t.suppressions).values(
                email_key=None,
                email_hash=digest,
                reason="erased on request",
                source=source,
                created_at=t.now(),
            )
        )
        theirs = func.lower(t.recipients.c.email) == key
        # A run still to send to them skips them: what is left of the row is no address to send to.
        connection.execute(
            update(t.recipients)
            .where(theirs, t.recipients.c.state.in_(_TO_SEND))
            .values(state=RecipientState.SKIPPED.value)
        )
        ledger_rows = connection.execute(
            update(t.recipients)
            .where(theirs)
            .values(email=f"erased-{digest[:16]}", name="", first_name="", topics="", last_error="")
        ).rowcount
        connection.execute(
            insert(t.events).values(
                subscriber_id=None,
                email_hash=digest,
                kind=EventKind.ERASED.value,
                at=t.now(),
                source=source,
                detail={},
            )
        )
    return Erasure(person is not None, memberships, events_gone, ledger_rows)
