"""Xero's general ledger lines, read by journal number for reconciliation.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None

TABLE = "accounts_sync_xero_journal_lines"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("journal_number", sa.BigInteger(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("journal_id", sa.String(64), nullable=False),
        sa.Column("journal_date", sa.Date(), nullable=False),
        sa.Column("source_type", sa.String(24), nullable=False, server_default=""),
        sa.Column("source_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("reference", sa.String(255), nullable=False, server_default=""),
        sa.Column("account_code", sa.String(20), nullable=False, server_default=""),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("tracking", sa.Text(), nullable=False, server_default=""),
        sa.Column("record_kind", sa.String(20), nullable=True),
        sa.Column("record_erp_id", sa.String(64), nullable=True),
        sa.Column("contact", sa.String(64), nullable=False, server_default=""),
        sa.Column("contact_name", sa.String(255), nullable=False, server_default=""),
        sa.UniqueConstraint("journal_number", "line_no",
                            name="uq_accounts_sync_xero_journal_lines_journal_number"),
    )
    op.create_index("ix_accounts_sync_xero_journal_lines_account", TABLE,
                    ["account_code", "journal_date"])
    op.create_index("ix_accounts_sync_xero_journal_lines_source", TABLE, ["source_id"])


def downgrade() -> None:
    op.drop_table(TABLE)
