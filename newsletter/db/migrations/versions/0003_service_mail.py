"""The subscriber service's mail queue: confirm and welcome emails kept until the provider has them.

Revision ID: 0003_service_mail
Revises: 0002_report_index
Create Date: 2026-12-08

Frozen: a migration never imports the live schema module, so it creates exactly what it created then.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_service_mail"
down_revision = "0002_report_index"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("envelope_from", sa.String(320), nullable=False),
        sa.Column("envelope_to", sa.String(320), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("due_at", MOMENT, nullable=False),
        sa.Column("claimed_until", MOMENT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_mail")),
    )
    op.create_index(op.f("ix_service_mail_due_at"), "service_mail", ["due_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_service_mail_due_at"), table_name="service_mail")
    op.drop_table("service_mail")
