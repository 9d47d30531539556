"""An index on the events that report about an issue (bounces, complaints): `status` counts them per issue.

Revision ID: 0002_report_index
Revises: 0001
Create Date: 2026-12-08

The indexed expression is written exactly as `bounces.health.ReportIssue` compiles it on each
database: an expression index serves only a query that repeats it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_report_index"
down_revision = "0001"
branch_labels = None
depends_on = None

NAME = "ix_events_kind_issue_email_hash"
ISSUE = {
    "sqlite": "json_extract(detail, '$.issue')",
    "postgresql": "(detail ->> 'issue')",
}


def upgrade() -> None:
    issue = sa.text(ISSUE[op.get_bind().dialect.name])
    op.create_index(NAME, "events", ["kind", issue, "email_hash"])


def downgrade() -> None:
    op.drop_index(NAME, table_name="events")
