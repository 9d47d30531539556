"""The initial schema: lists, subscribers, consent, topics, suppression, events and the delivery ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Frozen: a migration never imports the live schema module, so it creates exactly what it created then.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def _text(name: str, length: int | None = None, **kw) -> sa.Column:
    kind = sa.String(length) if length else sa.Text()
    return sa.Column(name, kind, server_default="", nullable=False, **kw)


def upgrade() -> None:
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )
    # The salt of the hashes that stand for erased addresses: random per database, never shown.
    op.bulk_insert(meta, [{"key": "hash_salt", "value": secrets.token_hex(32)}])
    op.create_table(
        "lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_lists_name")),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        _text("first_name", 200),
        _text("last_name", 200),
        sa.Column("large_text", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("paused_until", MOMENT, nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("email_key", name=op.f("uq_subscribers_email_key")),
    )
    op.create_table(
        "memberships",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("subscribed_at", MOMENT, nullable=True),
        sa.Column("consent_at", MOMENT, nullable=True),
        _text("consent_source", 100),
        _text("consent_form_version", 100),
        sa.Column("consent_ip", sa.String(64), nullable=True),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.CheckConstraint(
            "status IN ('subscribed', 'pending', 'unsubscribed', 'bounced', 'complained')",
            name=op.f("ck_memberships_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_memberships_list_id_lists"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_memberships_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "list_id", name=op.f("pk_memberships")),
    )
    op.create_index(op.f("ix_memberships_list_id_status"), "memberships", ["list_id", "status"])
    op.create_table(
        "topic_preferences",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_topic_preferences_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "topic", name=op.f("pk_topic_preferences")),
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=False),
        _text("reason"),
        _text("source", 100),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("email_hash", name=op.f("uq_suppressions_email_hash")),
        sa.UniqueConstraint("email_key", name=op.f("uq_suppressions_email_key")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("at", MOMENT, nullable=False),
        _text("source", 100),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_events_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_kind_at"), "events", ["kind", "at"])
    op.create_index(op.f("ix_events_subscriber_id_at"), "events", ["subscriber_id", "at"])
    op.create_table(
        "runs",
        sa.Column("issue_id", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        _text("note"),
        sa.Column("started_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.Column("finished_at", MOMENT, nullable=True),
        _text("forced_reason"),
        sa.CheckConstraint(
            "state IN ('running', 'paused', 'stopped', 'interrupted', 'incomplete', 'finished')",
            name=op.f("ck_runs_state_known"),
        ),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_runs")),
    )
    op.create_table(
        "recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        _text("list_name", 100),
        _text("name", 400),
        _text("first_name", 200),
        _text("topics"),
        sa.Column("large_text", sa.Boolean(), server_default="0", nullable=False),
        _text("subscribed_at", 40),
        sa.Column("state", sa.String(20), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        _text("last_error"),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("added_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.Column("sent_at", MOMENT, nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed_transient', 'failed_permanent', 'unknown',"
            " 'skipped')",
            name=op.f("ck_recipients_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["runs.issue_id"], name=op.f("fk_recipients_issue_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipients")),
        sa.UniqueConstraint("issue_id", "email", name=op.f("uq_recipients_issue_id_email")),
    )
    op.create_index(op.f("ix_recipients_issue_id_state_id"), "recipients", ["issue_id", "state", "id"])
    op.create_table(
        "issue_summaries",
        sa.Column("issue_id", sa.String(200), nullable=False),
        sa.Column("summary_id", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["runs.issue_id"], name=op.f("fk_issue_summaries_issue_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", "summary_id", name=op.f("pk_issue_summaries")),
    )


def downgrade() -> None:
    for table in (
        "issue_summaries",
        "recipients",
        "runs",
        "events",
        "suppressions",
        "topic_preferences",
        "memberships",
        "subscribers",
        "lists",
        "meta",
    ):
        op.drop_table(table)
