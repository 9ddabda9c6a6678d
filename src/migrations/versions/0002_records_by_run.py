"""Index sync records by run, for each run's history page.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_accounts_sync_sync_records_run",
        "accounts_sync_sync_records",
        ["run_id", "kind", "erp_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_accounts_sync_sync_records_run", table_name="accounts_sync_sync_records")
