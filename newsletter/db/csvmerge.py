"""Merge a staged CSV import (`csvstage`) into the database with a fixed number of set-based statements.

The rules, each applied to every row at once: the first row of an address is kept and later ones
reported; an opt-out anywhere in the file wins over a subscribe; a suppressed or erased address, or
one that opted out of this list, is never resubscribed (unless `as_is`: the workspace's one-time move
records what its files said); empty cells never blank what is stored; every addition and change is
an event in the person's log, and every opt-out is put on the suppression list.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)

from newsletter.db import csvstage
from newsletter.db import schema as t
from newsletter.db.engine import is_postgresql
from newsletter.db.schema import OPTED_OUT, UTCDateTime

if TYPE_CHECKING:
    from newsletter.db.csvimport import ImportReport

st = csvstage.rows
OPT_OUTS = [status.value for status in OPTED_OUT]
NEW, CHANGE, SAME, SKIP = "new", "change", "same", "skip"


def merge(
    connection: Connection, lst: int | None, path: Path, source: str, as_is: bool, report: ImportReport
) -> None:
    """Apply the staged rows to list `lst` and fill the report's counts and lists."""
    now = literal(t.now(), UTCDateTime())
    _keep_and_look_up(connection, lst)
    _decide(connection, as_is)
    _add_people(connection, lst, path, source, now)
    _apply_changes(connection, lst, now)
    _replace_topics(connection)
    _record_events(connection, path, source, now)
    _suppress_opt_outs(connection, path, source, now)
    _report(connection, path, report)


def _keep_and_look_up(connection: Connection, lst: int | None) -> None:
    """In one pass over the file's rows, the first row of each address is kept and told what the
    database holds for the address: the person, their status in this list, a suppression. An opt-out
    in any of the address's rows wins over the kept row's status.

    One UPDATE, not one per question: on PostgreSQL each UPDATE writes every staged row anew.
    """
    s, sp, m = t.subscribers, t.suppressions, t.memberships
    other = st.alias("other")
    last_opt_out = (
        select(other.c.status)
        .where(other.c.email_key == st.c.email_key, other.c.status.in_(OPT_OUTS))
        .order_by(other.c.line.desc())
        .limit(1)
        .scalar_subquery()
    )

    def reason(where: Any) -> Any:
        shown = func.coalesce(func.nullif(sp.c.reason, ""), "no reason given")
        return select(shown).where(where).limit(1).scalar_subquery()

    firsts = select(func.min(st.c.line)).group_by(st.c.email_key)
    connection.execute(
        update(st)
        .where(st.c.line.in_(firsts))
        .values(
            keep=True,
            status=case(
                (st.c.status.in_(OPT_OUTS), st.c.status), else_=func.coalesce(last_opt_out, st.c.status)
            ),
            person=select(s.c.id).where(s.c.email_key == st.c.email_key).scalar_subquery(),
            held_status=select(m.c.status)
            .join(s, s.c.id == m.c.subscriber_id)
            .where(s.c.email_key == st.c.email_key, m.c.list_id == lst)
            .scalar_subquery(),
            # an erased address is known by its hash only
            suppressed=func.coalesce(
                reason(sp.c.email_key == st.c.email_key), reason(sp.c.email_hash == st.c.email_hash)
            ),
        )
    )


def _decide(connection: Connection, as_is: bool) -> None:
    """Each kept row's action: skip (suppressed, not resubscribed), new, change or same."""
    s, tp, it = t.subscribers, t.topic_preferences, csvstage.topics
    opted_out = st.c.status.in_(OPT_OUTS)
    refused = and_(~opted_out, or_(st.c.suppressed.is_not(None), st.c.held_status.in_(OPT_OUTS)))
    names_differ = exists().where(
        s.c.id == st.c.person,
        or_(
            and_(st.c.first_name != "", st.c.first_name != s.c.first_name),
            and_(st.c.last_name != "", st.c.last_name != s.c.last_name),
            and_(st.c.large_text.is_not(None), st.c.large_text != s.c.large_text),
        ),
    )
    held_topics = select(func.count()).where(tp.c.subscriber_id == st.c.person).scalar_subquery()
    given_topics = select(func.count()).where(it.c.line == st.c.line).scalar_subquery()
    topic_not_held = exists().where(
        it.c.line == st.c.line,
        ~exists().where(
            tp.c.subscriber_id == st.c.person, tp.c.topic == it.c.topic, tp.c.position == it.c.position
        ),
    )
    topics_differ = and_(st.c.has_topics, or_(held_topics != given_topics, topic_not_held))
    status_differs = or_(st.c.held_status.is_(None), st.c.held_status != st.c.status)
    whens = [] if as_is else [(refused, SKIP)]
    whens += [(st.c.person.is_(None), NEW), (or_(names_differ, topics_differ, status_differs), CHANGE)]
    action = case(*whens, else_=SAME)
    connection.execute(update(st).where(st.c.keep).values(action=action))


def _add_people(connection: Connection, lst: int | None, path: Path, source: str, now: Any) -> None:
    s, m = t.subscribers, t.memberships
    new = st.c.action == NEW
    connection.execute(
        insert(s).from_select(
            ["email", "email_key", "first_name", "last_name", "large_text", "created_at", "updated_at"],
            select(
                st.c.email,
                st.c.email_key,
                st.c.first_name,
                st.c.last_name,
                func.coalesce(st.c.large_text, false()),
                func.coalesce(st.c.consent_at, now),
                now,
            )
            .where(new)
            .order_by(st.c.line),
        )
    )
    joins = or_(new, and_(st.c.action == CHANGE, st.c.held_status.is_(None)))  # new here, or to this list
    connection.execute(
        insert(m).from_select(
            [
                "subscriber_id",
                "list_id",
                "status",
                "subscribed_at",
                "consent_at",
                "consent_source",
                "consent_form_version",
                "consent_ip",
                "updated_at",
            ],  # fmt: skip
            select(
                _person(),
                literal(lst),
                st.c.status,
                st.c.subscribed_at,
                st.c.consent_at,
                literal(source),
                literal(path.name[:100]),
                st.c.consent_ip,
                now,
            ).where(joins),
        )
    )


def _person() -> Any:
    """A kept row's person: as looked up, or (a new one) as just added. Looked up where needed rather
    than written back into the staged rows: on PostgreSQL that UPDATE alone took most of an import."""
    s = t.subscribers
    return func.coalesce(st.c.person, select(s.c.id).where(s.c.email_key == st.c.email_key).scalar_subquery())


def _apply_changes(connection: Connection, lst: int | None, now: Any) -> None:
    """Names, the large-text choice and the status in this list, where the file says something new."""
    s, m = t.subscribers, t.memberships
    changed = st.c.action == CHANGE

    def given(column: Any, empty: Any) -> Any:
        value = func.nullif(column, empty) if empty is not None else column
        return select(value).where(st.c.person == s.c.id, changed).scalar_subquery()

    connection.execute(
        update(s)
        .where(s.c.id.in_(select(st.c.person).where(changed)))
        .values(
            first_name=func.coalesce(given(st.c.first_name, ""), s.c.first_name),
            last_name=func.coalesce(given(st.c.last_name, ""), s.c.last_name),
            large_text=func.coalesce(given(st.c.large_text, None), s.c.large_text),
            updated_at=now,
        )
    )
    moved = and_(changed, st.c.held_status.is_not(None), st.c.held_status != st.c.status)
    connection.execute(
        update(m)
        .where(m.c.list_id == lst, m.c.subscriber_id.in_(select(st.c.person).where(moved)))
        .values(
            status=select(st.c.status).where(st.c.person == m.c.subscriber_id, moved).scalar_subquery(),
            updated_at=now,
        )
    )


def _replace_topics(connection: Connection) -> None:
    """A row that names topics replaces the person's topics; one that names none leaves them."""
    tp, it = t.topic_preferences, csvstage.topics
    connection.execute(
        delete(tp).where(
            tp.c.subscriber_id.in_(select(st.c.person).where(st.c.action == CHANGE, st.c.has_topics))
        )
    )
    connection.execute(
        insert(tp).from_select(
            ["subscriber_id", "topic", "position"],
            select(_person(), it.c.topic, it.c.position)
            .join(it, it.c.line == st.c.line)
            .where(st.c.action.in_([NEW, CHANGE])),
        )
    )


def _record_events(connection: Connection, path: Path, source: str, now: Any) -> None:
    """One event per person added or changed: what the file said, with its name and line."""
    kind = case(
        *[(st.c.status == status, status) for status in OPT_OUTS],
        (st.c.action == NEW, "subscribed"),
        else_="updated",
    )
    build = func.json_build_object if is_postgresql(connection) else func.json_object
    detail = build(
        literal("file"), literal(path.name), literal("line"), st.c.line, literal("status"), st.c.status
    )
    connection.execute(
        insert(t.events).from_select(
            ["subscriber_id", "email_hash", "kind", "at", "source", "detail"],
            select(_person(), st.c.email_hash, kind, now, literal(source), detail)
            .where(st.c.action.in_([NEW, CHANGE]))
            .order_by(st.c.line),
        )
    )


def _suppress_opt_outs(connection: Connection, path: Path, source: str, now: Any) -> None:
    """Every opt-out row goes on the suppression list (once: one already there stays as it was)."""
    sp = t.suppressions
    because = f" in {' '.join(path.name.split())}"[:480]
    connection.execute(
        insert(sp).from_select(
            ["email_key", "email_hash", "reason", "source", "created_at"],
            select(
                st.c.email_key, st.c.email_hash, st.c.status + literal(because), literal(source), now
            ).where(st.c.keep, st.c.status.in_(OPT_OUTS), st.c.suppressed.is_(None)),
        )
    )


def _report(connection: Connection, path: Path, report: ImportReport) -> None:
    opted_out = st.c.status.in_(OPT_OUTS)

    def count(where: Any) -> Any:
        return func.coalesce(func.sum(case((where, 1), else_=0)), 0)

    kept = and_(st.c.keep, ~opted_out)
    report.opted_out, report.added, report.updated, report.unchanged = connection.execute(
        select(
            count(and_(st.c.keep, opted_out)),
            count(and_(kept, st.c.action == NEW)),
            count(and_(kept, st.c.action == CHANGE)),
            count(and_(kept, st.c.action == SAME)),
        )
    ).one()
    for line, email, reason, held in connection.execute(
        select(st.c.line, st.c.email, st.c.suppressed, st.c.held_status)
        .where(st.c.action == SKIP)
        .order_by(st.c.line)
    ):
        why = reason or f"{held} in this list"
        report.suppressed.append(f"{path}:{line}: {email} is suppressed ({why}); not resubscribed")
    first = st.alias("first")
    for line, email, kept_line in connection.execute(
        select(st.c.line, st.c.email, first.c.line)
        .join(first, and_(first.c.email_key == st.c.email_key, first.c.keep == true()))
        .where(st.c.keep == false())
        .order_by(st.c.line)
    ):
        report.duplicates.append(f"{path}:{line}: {email} repeats line {kept_line}; kept the first")
    for joined in _unknown_topics(connection):
        report.unknown_topics.update(joined.split(csvstage.UNKNOWN_SEPARATOR))


def _unknown_topics(connection: Connection) -> Iterator[str]:
    yield from connection.execute(
        select(st.c.unknown_topics).where(st.c.keep, st.c.unknown_topics != "")
    ).scalars()
