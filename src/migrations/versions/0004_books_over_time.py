"""Books over time: what each record sent to Xero, what Xero last said, and corrections.

Sync records keep the lines they sent (`sent`), the Xero status last seen, a person's decision
on a correction only they can make, and, for correction records, their original and details.
Changes seen in Xero (made there by someone) are kept in their own table.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts_sync_sync_records") as batch:
        batch.add_column(sa.Column("sent", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("xero_status", sa.String(12), nullable=False, server_default=""))
        batch.add_column(sa.Column("xero_updated_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("xero_seen", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("decision", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("original_kind", sa.String(20), nullable=True))
        batch.add_column(sa.Column("original_erp_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("action", sa.String(20), nullable=True))
        batch.add_column(sa.Column("correction", sa.JSON(), nullable=True))
    op.create_index(
        "ix_accounts_sync_sync_records_original",
        "accounts_sync_sync_records",
        ["original_kind", "original_erp_id", "action"],
    )
    op.create_index(
        "ix_accounts_sync_sync_records_xero_id",
        "accounts_sync_sync_records",
        ["xero_id"],
    )
    op.create_table(
        "accounts_sync_xero_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("xero_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(255), nullable=False, server_default=""),
        sa.Column("status", sa.String(12), nullable=False, server_default=""),
        sa.Column("document_type", sa.String(16), nullable=False, server_default=""),
        sa.Column("total", sa.Numeric(14, 2), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("record_erp_id", sa.String(64), nullable=True),
        sa.Column("web_url", sa.String(500), nullable=False, server_default=""),
        sa.Column("summary", sa.Text(), nullable=False, server_default=""),
        sa.UniqueConstraint("kind", "xero_id", name="uq_accounts_sync_xero_changes_kind_xero_id"),
    )
    op.create_index("ix_accounts_sync_xero_changes_updated_at", "accounts_sync_xero_changes",
                    ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_accounts_sync_xero_changes_updated_at", table_name="accounts_sync_xero_changes")
    op.drop_table("accounts_sync_xero_changes")
    op.drop_index("ix_accounts_sync_sync_records_xero_id", table_name="accounts_sync_sync_records")
    op.drop_index("ix_accounts_sync_sync_records_original", table_name="accounts_sync_sync_records")
    with op.batch_alter_table("accounts_sync_sync_records") as batch:
        for column in ("correction", "action", "original_erp_id", "original_kind", "decision",
                       "xero_seen", "xero_updated_at", "xero_status", "sent"):
            batch.drop_column(column)
