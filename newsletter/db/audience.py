"""Reading subscribers: who an issue goes to (streamed, with counts of who is left out), people and lists.

The audience is everyone subscribed in a chosen list, not suppressed, not paused, and with no opt-out
(unsubscribed, bounced, complained) in ANY list: an opt-out anywhere wins over a subscribe.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, String, case, cast, exists, func, select

from newsletter.db import events
from newsletter.db import schema as t
from newsletter.db.addresses import address_key, display_name
from newsletter.db.engine import reading
from newsletter.db.rows import SubscriberError, subscriber_id, topics_of
from newsletter.db.schema import OPTED_OUT, Status

BATCH = 500  # rows fetched at a time: memory stays flat whatever the list size


@dataclass(frozen=True)
class Member:
    """One recipient of an issue, with what the message needs."""

    email: str
    list_name: str
    first_name: str
    last_name: str
    topics: tuple[str, ...]
    large_text: bool
    subscribed_at: str  # YYYY-MM-DD, or "" if unknown

    @property
    def name(self) -> str:
        return display_name(self.first_name, self.last_name)

    @property
    def key(self) -> str:
        return address_key(self.email)


@dataclass
class AudienceTally:
    """Counts of an audience as it streams past, complete once the stream is exhausted."""

    recipients: int = 0
    suppressed: int = 0  # subscribed, but on the suppression list
    unsubscribed: int = 0
    bounced: int = 0
    complained: int = 0
    pending: int = 0  # signed up, not confirmed
    paused: int = 0
    invalid: int = 0  # always 0: the database holds only valid rows (kept for the CSV tally's shape)
    duplicates: int = 0  # always 0: one row per address
    invalid_rows: list[str] = field(default_factory=list)
    # When a dict (send --dry-run --show): the addresses left out, per reason (the count's name).
    left_out: dict[str, list[str]] | None = None


def list_names(engine: Engine) -> list[str]:
    with reading(engine) as connection:
        return sorted(connection.execute(select(t.lists.c.name)).scalars())


def check_lists(connection: Connection, chosen: list[str] | None) -> list[str] | None:
    if chosen is None:
        return None
    names = set(connection.execute(select(t.lists.c.name)).scalars())
    missing = [name for name in chosen if name not in names]
    if missing:
        raise SubscriberError(
            f"no list named {', '.join(missing)} (lists here: {', '.join(sorted(names)) or 'none'})"
        )
    return list(dict.fromkeys(chosen))


def _membership_rows(connection: Connection, chosen: list[str] | None, now: datetime) -> Iterator[Any]:
    """Every membership of everyone in the chosen lists, grouped by person (in the order they were added)."""
    yield from connection.execution_options(yield_per=BATCH).execute(_membership_query(chosen, now))


def verdict(chosen: list[str] | None, now: datetime) -> Any:
    """Whether a person gets an issue ("recipient") or which count they fall in: the audience's one rule
    (`_rule`), as an SQL expression on `subscribers` looking up each person's memberships, for a query
    that reads people one by one (the send's stream, one address)."""
    s = t.subscribers

    def has(status: Status, lists: list[str] | None = None) -> Any:
        m, lst = t.memberships.alias(), t.lists.alias()  # the outer query may join the tables themselves
        query = select(m.c.subscriber_id).where(m.c.subscriber_id == s.c.id, m.c.status == status.value)
        if lists is not None:
            query = query.join(lst, lst.c.id == m.c.list_id).where(lst.c.name.in_(lists))
        return query.correlate(s).exists()

    suppressed = exists().where(t.suppressions.c.email_key == s.c.email_key).correlate(s)
    return _rule(has, suppressed, has(Status.SUBSCRIBED, chosen), now)


def _rule(opted_out: Callable[[Status], Any], suppressed: Any, subscribed: Any, now: datetime) -> Any:
    """The audience's one rule, over whatever says of a person whether they opted out (each way, in any
    list), are suppressed, and are subscribed in the chosen lists.

    An opt-out in any list wins (unsubscribed, then bounced, then complained), then the suppression
    list, then "pending" for no confirmed membership in the chosen lists, then a pause.
    """
    return case(
        *[(opted_out(status), status.value) for status in OPTED_OUT],
        (suppressed, "suppressed"),
        (~subscribed, "pending"),
        (t.subscribers.c.paused_until > now, "paused"),
        else_="recipient",
    )


def _counted(chosen: list[str] | None, now: datetime) -> tuple[Any, Any]:
    """(the people in the chosen lists, the rule's verdict on each) for a query that counts the whole
    audience: each person's memberships folded in one pass over them, not looked up person by person."""
    s, m, lst, sup = t.subscribers, t.memberships, t.lists, t.suppressions

    def ever(condition: Any) -> Any:
        return func.max(case((condition, 1), else_=0))

    here = lst.c.name.in_(chosen) if chosen is not None else None
    subscribed = m.c.status == Status.SUBSCRIBED.value
    standing = (
        select(
            m.c.subscriber_id,
            *[ever(m.c.status == status.value).label(status.value) for status in OPTED_OUT],
            ever(subscribed if here is None else subscribed & here).label("subscribed_here"),
        )
        .join(lst, lst.c.id == m.c.list_id)
        .group_by(m.c.subscriber_id)
    )
    if here is not None:  # a membership in the chosen lists puts a person in them
        standing = standing.having(ever(here) == 1)
    folded = standing.subquery()
    people = s.join(folded, folded.c.subscriber_id == s.c.id).outerjoin(sup, sup.c.email_key == s.c.email_key)
    rule = _rule(
        lambda status: folded.c[status.value] == 1, sup.c.id.is_not(None), folded.c.subscribed_here == 1, now
    )
    return people, rule


def _in_lists(chosen: list[str] | None) -> Any:
    """The people with a membership in the chosen lists (anyone with one at all when None)."""
    m, lst = t.memberships.alias(), t.lists.alias()
    query = select(m.c.subscriber_id)
    if chosen is not None:
        query = query.join(lst, lst.c.id == m.c.list_id).where(lst.c.name.in_(chosen))
    return t.subscribers.c.id.in_(query.correlate(None))


def _membership_query(chosen: list[str] | None, now: datetime) -> Any:
    s, m, lst = t.subscribers, t.memberships, t.lists
    return (
        select(
            s.c.id,
            s.c.email,
            s.c.first_name,
            s.c.last_name,
            s.c.large_text,
            m.c.status,
            m.c.subscribed_at,
            lst.c.name.label("list_name"),
            verdict(chosen, now).label("verdict"),
        )
        .join(m, m.c.subscriber_id == s.c.id)
        .join(lst, lst.c.id == m.c.list_id)
        .where(_in_lists(chosen))
        .order_by(s.c.id, lst.c.id)
    )


def _list_of(rows: list[Any], chosen: list[str] | None) -> Any:
    """A recipient's membership the issue goes out under: the first chosen list they are subscribed in."""
    order = {name: n for n, name in enumerate(chosen or [])}
    subscribed = [
        r for r in rows if r.status == Status.SUBSCRIBED and (chosen is None or r.list_name in order)
    ]
    return min(subscribed, key=lambda r: order.get(r.list_name, 0))


def tally_audience(
    engine: Engine, lists: Iterable[str] | None = None, now: datetime | None = None
) -> AudienceTally:
    """The audience's counts, computed by the database in one query (a dry run's plan at any size)."""
    tally = AudienceTally()
    with reading(engine) as connection:
        chosen = check_lists(connection, None if lists is None else list(lists))
        people, rule = _counted(chosen, now or t.now())
        query = select(rule.label("verdict"), func.count()).select_from(people).group_by(rule)
        for name, count in connection.execute(query):
            setattr(tally, "recipients" if name == "recipient" else name, count)
    return tally


# How one person's topics travel through the GROUP BY: "position<UNIT>topic" items joined by RECORD (the
# ASCII separators, which no topic of topics.yaml holds); the positions put them back in the reader's order.
_UNIT, _RECORD = "\x1f", "\x1e"


def audience_editions(
    engine: Engine, lists: Iterable[str] | None = None, now: datetime | None = None
) -> dict[tuple[tuple[str, ...], bool], int]:
    """How many of the audience have each combination of topics (in their order) and text size.

    One GROUP BY the database answers, whatever the list's size: the combinations are a few dozen where
    the readers are a million. The editions an issue will be sent in are these combinations'.
    """
    tp, s = t.topic_preferences, t.subscribers
    topics = (
        select(tp.c.subscriber_id, _gathered_topics().label("topics")).group_by(tp.c.subscriber_id).subquery()
    )
    found: dict[tuple[tuple[str, ...], bool], int] = {}
    with reading(engine) as connection:
        chosen = check_lists(connection, None if lists is None else list(lists))
        people, rule = _counted(chosen, now or t.now())
        query = (
            select(topics.c.topics, s.c.large_text, func.count())
            .select_from(people.outerjoin(topics, topics.c.subscriber_id == s.c.id))
            .where(rule == "recipient")
            .group_by(topics.c.topics, s.c.large_text)
        )
        for joined, large_text, count in connection.execute(query):
            key = (in_order(joined or ""), bool(large_text))
            found[key] = found.get(key, 0) + count  # the same topics may come concatenated in two orders
    return found


def _gathered_topics() -> Any:
    """The aggregate of a person's topic rows into one string (`in_order` reads it back)."""
    tp = t.topic_preferences
    return func.aggregate_strings(cast(tp.c.position, String).concat(_UNIT).concat(tp.c.topic), _RECORD)


def topics_column(person: Any) -> Any:
    """A person's topics as one string (`in_order` reads them), looked up for each row of a query."""
    tp = t.topic_preferences
    return select(_gathered_topics()).where(tp.c.subscriber_id == person).scalar_subquery()


def in_order(joined: str) -> tuple[str, ...]:
    """A person's topics from their GROUP BY string, in the order they gave them."""
    if _RECORD not in joined:  # one topic (or none): nothing to order
        return (joined.partition(_UNIT)[2],) if joined else ()
    items = [item.partition(_UNIT) for item in joined.split(_RECORD) if item]
    return tuple(topic for _, _, topic in sorted(items, key=lambda part: int(part[0])))


def iter_audience(
    engine: Engine,
    lists: Iterable[str] | None = None,
    tally: AudienceTally | None = None,
    now: datetime | None = None,
) -> Iterator[Member]:
    """Everyone an issue goes to from the given lists (all when None), each address once, streamed.

    Reads one snapshot; never blocks a writer (a one-click unsubscribe during a send's start lands,
    and the send's suppression check catches it).
    """
    tally = tally if tally is not None else AudienceTally()
    now = now or t.now()
    with reading(engine) as connection:
        chosen = check_lists(connection, None if lists is None else list(lists))
        people = itertools.groupby(_membership_rows(connection, chosen, now), key=lambda row: row.id)
        pending: list[Any] = []
        for _person, group in people:
            group_rows = list(group)
            left = group_rows[0].verdict
            if left != "recipient":
                setattr(tally, left, getattr(tally, left) + 1)
                if tally.left_out is not None:
                    tally.left_out.setdefault(left, []).append(_person_email(group_rows))
                continue
            tally.recipients += 1
            pending.append(_list_of(group_rows, chosen))
            if len(pending) == BATCH:
                yield from _members(connection, pending)
                pending = []
        yield from _members(connection, pending)


def _person_email(rows: list[Any]) -> str:
    return str(rows[0].email)


def _members(connection: Connection, rows: list[Any]) -> Iterator[Member]:
    """Rows with their topics, fetched for the whole batch in one query."""
    if not rows:
        return
    topics = _topics_for(connection, [r.id for r in rows])
    for row in rows:
        joined = row.subscribed_at.date().isoformat() if row.subscribed_at else ""
        yield Member(
            row.email,
            row.list_name,
            row.first_name,
            row.last_name,
            tuple(topics.get(row.id, ())),
            bool(row.large_text),
            joined,
        )


def _topics_for(connection: Connection, people: list[int]) -> dict[int, list[str]]:
    """The topics of a batch of people in one query, each person's in the order they gave them."""
    topics: dict[int, list[str]] = {}
    query = (
        select(t.topic_preferences.c.subscriber_id, t.topic_preferences.c.topic)
        .where(t.topic_preferences.c.subscriber_id.in_(people))
        .order_by(t.topic_preferences.c.subscriber_id, t.topic_preferences.c.position)
    )
    for person, topic in connection.execute(query):
        topics.setdefault(person, []).append(topic)
    return topics


def member(engine: Engine, email: str, now: datetime | None = None) -> Member | None:
    """This address as a member of the audience (any list), or None if an issue would not go to them."""
    with reading(engine) as connection:
        query = _membership_query(None, now or t.now()).where(t.subscribers.c.email_key == address_key(email))
        rows = list(connection.execute(query))
        if not rows or rows[0].verdict != "recipient":
            return None
        return next(_members(connection, [_list_of(rows, None)]))


def load_audience(engine: Engine, lists: Iterable[str] | None = None) -> tuple[list[Member], AudienceTally]:
    """The whole audience in memory, for small uses (a preview's sample reader); a send streams it."""
    tally = AudienceTally()
    return list(iter_audience(engine, lists, tally)), tally


def person_data(engine: Engine, email: str) -> dict[str, Any] | None:
    """Everything held about one person, as JSON-ready data ("download your data"); None if unknown."""
    with reading(engine) as connection:
        person = subscriber_id(connection, email)
        if person is None:
            return None
        row = connection.execute(select(t.subscribers).where(t.subscribers.c.id == person)).one()
        m, lst = t.memberships, t.lists
        memberships = connection.execute(
            select(
                lst.c.name,
                m.c.status,
                m.c.subscribed_at,
                m.c.consent_at,
                m.c.consent_source,
                m.c.consent_form_version,
                m.c.consent_ip,
            )
            .join(lst, lst.c.id == m.c.list_id)
            .where(m.c.subscriber_id == person)
            .order_by(lst.c.name)
        ).all()
        history = events.history(connection, person)
        suppressed = connection.execute(
            select(t.suppressions.c.reason, t.suppressions.c.created_at).where(
                t.suppressions.c.email_key == row.email_key
            )
        ).first()
        topics = topics_of(connection, person)
        r = t.recipients
        deliveries = connection.execute(  # every issue sent (or being sent) to the address
            select(r.c.issue_id.label("issue"), r.c.state, r.c.sent_at, r.c.attempts, r.c.last_error)
            .where(func.lower(r.c.email) == row.email_key)
            .order_by(r.c.added_at, r.c.id)
        ).all()
    return _jsonable(
        {
            "email": row.email,
            "first_name": row.first_name,
            "last_name": row.last_name,
            "large_text": bool(row.large_text),
            "paused_until": row.paused_until,
            "created_at": row.created_at,
            "topics": list(topics),
            "lists": [dict(r._mapping) for r in memberships],
            "suppressed": dict(suppressed._mapping) if suppressed else None,
            "events": [{"kind": e.kind, "at": e.at, "source": e.source, "detail": e.detail} for e in history],
            "deliveries": [dict(d._mapping) for d in deliveries],
        }
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if isinstance(value, datetime) else value


def membership_rows(
    columns: Iterable[Any], lists: Iterable[str] | None, statuses: Iterable[Status] | None
) -> Select[Any]:
    """One row per (person, list) of these columns (a person's first), in the order people were added,
    narrowed to these lists and statuses when given: what `list` and `export` read."""
    s, m, lst = t.subscribers, t.memberships, t.lists
    query = (
        select(*columns)
        .join(m, m.c.subscriber_id == s.c.id)
        .join(lst, lst.c.id == m.c.list_id)
        .order_by(s.c.id, lst.c.name)
    )
    if lists is not None:
        query = query.where(lst.c.name.in_(list(lists)))
    if statuses is not None:
        query = query.where(m.c.status.in_([Status(x).value for x in statuses]))
    return query


def iter_memberships(
    engine: Engine, lists: Iterable[str] | None = None, statuses: Iterable[Status] | None = None
) -> Iterator[dict[str, Any]]:
    """One dict per (person, list), streamed in the order people were added: for `subscribers list`."""
    s, m, lst = t.subscribers, t.memberships, t.lists
    with reading(engine) as connection:
        chosen = check_lists(connection, None if lists is None else list(lists))
        columns = (
            s.c.id,
            s.c.email,
            s.c.first_name,
            s.c.last_name,
            s.c.large_text,
            s.c.paused_until,
            lst.c.name.label("list"),
            m.c.status,
            m.c.subscribed_at,
            m.c.consent_at,
            m.c.consent_source,
            m.c.consent_form_version,
        )
        query = membership_rows(columns, chosen, statuses)
        batch: list[Any] = []
        for row in connection.execution_options(yield_per=BATCH).execute(query):
            batch.append(row)
            if len(batch) == BATCH:
                yield from _with_topics(connection, batch)
                batch = []
        yield from _with_topics(connection, batch)


def _with_topics(connection: Connection, rows: list[Any]) -> Iterator[dict[str, Any]]:
    if not rows:
        return
    topics = _topics_for(connection, sorted({r.id for r in rows}))
    for row in rows:
        data = dict(row._mapping)
        data["topics"] = tuple(topics.get(data.pop("id"), ()))
        yield data
