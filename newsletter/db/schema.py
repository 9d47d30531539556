"""The state database's tables (SQLAlchemy Core) and the states they hold; Alembic migrations create them."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

# Constraint names are fixed so Alembic migrations can name them on both engines.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Status(StrEnum):
    """A person's standing in one list."""

    SUBSCRIBED = "subscribed"
    PENDING = "pending"  # signed up, not confirmed yet (double opt-in): never mailed
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


OPTED_OUT = (Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED)  # any one of these, anywhere, wins


class RecipientState(StrEnum):
    """One recipient of one issue; `sending` is committed before the handover, `sent` right after."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED_TRANSIENT = "failed_transient"
    FAILED_PERMANENT = "failed_permanent"
    UNKNOWN = "unknown"  # `sending` left by a process that died: may or may not have arrived
    SKIPPED = "skipped"  # unsubscribed, bounced or suppressed after the run started


class RunState(StrEnum):
    """Where an issue's send run is."""

    RUNNING = "running"
    PAUSED = "paused"  # stopped itself (repeated errors, a fault); `send` or `send-due` resumes it
    STOPPED = "stopped"  # SIGTERM or SIGHUP (a service manager): `send-due` resumes it
    INTERRUPTED = "interrupted"  # an operator's Ctrl-C or `send --hold`: a person resumes it
    INCOMPLETE = "incomplete"  # the pass ended but some recipients failed or are unknown
    FINISHED = "finished"


class EventKind(StrEnum):
    """What happened to a person; the event log is append-only."""

    SUBSCRIBED = "subscribed"
    CONFIRMED = "confirmed"
    UPDATED = "updated"
    PREFERENCES_CHANGED = "preferences_changed"
    # Topic choices are health data: their own consent, its wording and version in the detail.
    TOPICS_CONSENT_GIVEN = "topics_consent_given"
    TOPICS_CONSENT_WITHDRAWN = "topics_consent_withdrawn"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    SOFT_BOUNCED = "soft_bounced"
    COMPLAINED = "complained"
    SUPPRESSED = "suppressed"
    ERASED = "erased"
    # A bounce or complaint that proved nothing (no VERP token or Message-ID of ours): counted, never
    # linked to a person or acted on (bounces/unverified.py).
    UNVERIFIED_REPORT = "unverified_report"


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in UTC: `timestamptz` on PostgreSQL, ISO text on SQLite; always aware when read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give the time zone")
        moment = value.astimezone(UTC)
        # SQLite has no time zone type: store UTC without an offset so text order is time order.
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


def _status_check(column: str, values: type[StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_known")


meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

lists = Table(
    "lists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False),  # as we send to it (normalised by email-validator)
    Column("email_key", String(320), nullable=False, unique=True),  # casefolded: how addresses compare
    Column("first_name", String(200), nullable=False, server_default=""),
    Column("last_name", String(200), nullable=False, server_default=""),
    Column("large_text", Boolean, nullable=False, server_default="0"),
    Column("paused_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("list_id", ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("subscribed_at", UTCDateTime, nullable=True),  # joined the list (as the old CSV said)
    Column("consent_at", UTCDateTime, nullable=True),  # when they agreed (confirm or opt-in time)
    Column("consent_source", String(100), nullable=False, server_default=""),  # form, import, editor
    Column("consent_form_version", String(100), nullable=False, server_default=""),
    Column("consent_ip", String(64), nullable=True),  # only when the settings say to keep it
    Column("updated_at", UTCDateTime, nullable=False),
    _status_check("status", Status),
    Index(None, "list_id", "status"),
)

topic_preferences = Table(
    "topic_preferences",
    metadata,
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Column("position", Integer, nullable=False),  # the order the reader gave them in
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Integer, primary_key=True),
    # The casefolded address; NULL once the person is erased, when only the salted hash is left.
    Column("email_key", String(320), nullable=True, unique=True),
    Column("email_hash", String(64), nullable=False, unique=True),
    Column("reason", Text, nullable=False, server_default=""),
    Column("source", String(100), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)


class ReportIssue(FunctionElement[str]):
    """The issue a bounce or complaint event is about (its detail's `issue`), written as the index has it.

    SQLAlchemy's `detail["issue"]` binds the key as a parameter, which no expression index matches.
    """

    type = String()
    inherit_cache = True
    name = "report_issue"


@compiles(ReportIssue, "sqlite")
def _report_issue_sqlite(element: ReportIssue, compiler: Any, **kw: Any) -> str:
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.issue')"


@compiles(ReportIssue, "postgresql")
def _report_issue_postgresql(element: ReportIssue, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} ->> 'issue')"


events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=True),
    Column("email_hash", String(64), nullable=False),  # links an erasure to its suppression row
    Column("kind", String(40), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("source", String(100), nullable=False, server_default=""),
    Column("detail", JSON, nullable=False),
    Index(None, "subscriber_id", "at"),
    Index(None, "kind", "at"),
)
# Bounces and complaints about an issue, per person: `status` counts them (migration 0002).
Index("ix_events_kind_issue_email_hash", events.c.kind, ReportIssue(events.c.detail), events.c.email_hash)

# A correction's run (`newsletter correct`) shares the ledger with the issues' runs; its id says which:
# `correction-<summary id>-<n>`. Health divides unsubscribes between issues only, and a correction
# resumes with `correct`, not `send`.
CORRECTION_RUN = "correction-"

runs = Table(
    "runs",
    metadata,
    Column("issue_id", String(200), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("provider", String(200), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("forced_reason", Text, nullable=False, server_default=""),  # `send --force --reason TEXT`
    _status_check("state", RunState),
)

recipients = Table(
    "recipients",
    metadata,
    Column("id", Integer, primary_key=True),  # the order recipients were added in (the old rowid)
    Column("issue_id", ForeignKey("runs.issue_id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("list_name", String(100), nullable=False, server_default=""),
    Column("name", String(400), nullable=False, server_default=""),
    Column("first_name", String(200), nullable=False, server_default=""),
    Column("topics", Text, nullable=False, server_default=""),  # `;`-separated, as the old ledger
    Column("large_text", Boolean, nullable=False, server_default="0"),
    Column("subscribed_at", String(40), nullable=False, server_default=""),
    Column("state", String(20), nullable=False, server_default=RecipientState.PENDING.value),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("provider_id", Text, nullable=True),
    Column("message_id", Text, nullable=True),
    Column("claimed_by", String(64), nullable=True),  # the sender holding it (several senders, PostgreSQL)
    Column("added_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    UniqueConstraint("issue_id", "email"),
    _status_check("state", RecipientState),
    Index(None, "issue_id", "state", "id"),
)

# How many recipients of a finished run ended in each state, written as the run finishes: a finished
# run's rows never change state again, so `status` reads these instead of counting the whole ledger
# (24 issues to 100,000 readers are 2.4 million rows). A resumed run loses them until it finishes.
run_counts = Table(
    "run_counts",
    metadata,
    Column("issue_id", ForeignKey("runs.issue_id", ondelete="CASCADE"), primary_key=True),
    Column("state", String(20), primary_key=True),
    Column("recipients", Integer, nullable=False),
)

issue_summaries = Table(
    "issue_summaries",
    metadata,
    Column("issue_id", ForeignKey("runs.issue_id", ondelete="CASCADE"), primary_key=True),
    Column("summary_id", String(200), primary_key=True),
)

# The subscriber service's confirm and welcome emails until the provider has them: kept here, not in
# memory, so a restart resumes them and /health can say how long the oldest has waited. A row holds
# the finished message (it names its reader) and is deleted once sent or given up.
service_mail = Table(
    "service_mail",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),  # confirm, welcome
    Column("envelope_from", String(320), nullable=False),
    Column("envelope_to", String(320), nullable=False),
    Column("message_id", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),  # the next attempt, not before
    Column("claimed_until", UTCDateTime, nullable=True),  # a worker is sending it until then
    Index(None, "due_at"),
)

# Parents before children: the order to copy or fill tables in.
TABLES = (
    meta,
    lists,
    subscribers,
    memberships,
    topic_preferences,
    suppressions,
    events,
    runs,
    recipients,
    run_counts,
    issue_summaries,
    service_mail,
)
