"""Sync records: the "is it synced?" probe and the oldest read time answered from indexes.

Once most documents are synced, every unsynced count probes a record per document for its
state, and changed_after_sync starts from the oldest coalesce(read_at, synced_at) of a kind:
a covering (kind, erp_id, state) index and an index on that expression serve them without
reading the records' wide rows.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None

TABLE = "accounts_sync_sync_records"


def upgrade() -> None:
    op.create_index("uq_accounts_sync_sync_records_kind_erp_id_state", TABLE,
                    ["kind", "erp_id", "state"], unique=True)
    op.create_index("ix_accounts_sync_sync_records_read", TABLE,
                    ["kind", "state", sa.text("coalesce(read_at, synced_at)")])


def downgrade() -> None:
    op.drop_index("ix_accounts_sync_sync_records_read", table_name=TABLE)
    op.drop_index("uq_accounts_sync_sync_records_kind_erp_id_state", table_name=TABLE)
