"""Each finished run's recipients per state, kept: `status` reads them instead of counting the ledger.

Revision ID: 0004_run_counts
Revises: 0003_service_mail
Create Date: 2026-12-08

Frozen: a migration never imports the live schema module, so it creates exactly what it created then.
The runs already finished get their counts here, counted once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_run_counts"
down_revision = "0003_service_mail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_counts",
        sa.Column("issue_id", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["runs.issue_id"], name=op.f("fk_run_counts_issue_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", "state", name=op.f("pk_run_counts")),
    )
    op.execute(
        "INSERT INTO run_counts (issue_id, state, recipients)"
        " SELECT recipients.issue_id, recipients.state, count(*) FROM recipients"
        " JOIN runs ON runs.issue_id = recipients.issue_id WHERE runs.state = 'finished'"
        " GROUP BY recipients.issue_id, recipients.state"
    )


def downgrade() -> None:
    op.drop_table("run_counts")
