"""The document-facts cache's signatures, kept between processes, so the first preview after a
start reads a thousand signatures instead of every line of every document.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts_sync_fact_signatures",
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("without_due_date", sa.Boolean(), nullable=False),
        sa.Column("number_length", sa.Integer(), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "digest", name="pk_accounts_sync_fact_signatures"),
    )
    op.create_table(
        "accounts_sync_fact_members",
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("doc_id", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("kind", "doc_id", name="pk_accounts_sync_fact_members"),
    )
    op.create_index("ix_accounts_sync_fact_members_kind", "accounts_sync_fact_members",
                    ["kind", "digest"])
    op.create_table(
        "accounts_sync_fact_state",
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.Column("top_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name="pk_accounts_sync_fact_state"),
    )


def downgrade() -> None:
    op.drop_table("accounts_sync_fact_state")
    op.drop_index("ix_accounts_sync_fact_members_kind", table_name="accounts_sync_fact_members")
    op.drop_table("accounts_sync_fact_members")
    op.drop_table("accounts_sync_fact_signatures")
