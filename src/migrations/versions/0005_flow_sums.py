"""The cost-flow cache's sums, kept between processes, so the first preview after a start reads
a few thousand summed rows instead of summing a million cost entries.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts_sync_flow_sums",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("movement_type", sa.String(64), nullable=False),
        sa.Column("cost_category", sa.String(64), nullable=False),
        sa.Column("from_stage", sa.String(64), nullable=False),
        sa.Column("to_stage", sa.String(64), nullable=False),
        sa.Column("vintage", sa.String(64), nullable=True),
        sa.Column("brand", sa.String(200), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts_sync_flow_sums"),
    )
    op.create_index("ix_accounts_sync_flow_sums_entry_date", "accounts_sync_flow_sums", ["entry_date"])
    op.create_table(
        "accounts_sync_flow_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.Column("top_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts_sync_flow_state"),
    )


def downgrade() -> None:
    op.drop_table("accounts_sync_flow_state")
    op.drop_index("ix_accounts_sync_flow_sums_entry_date", table_name="accounts_sync_flow_sums")
    op.drop_table("accounts_sync_flow_sums")
