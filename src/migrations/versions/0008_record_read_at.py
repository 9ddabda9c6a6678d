"""Sync records keep when the ERP content they hold was read.

A change in the ERP stamped after that moment may make Xero differ from the ERP; it is compared
by content. (Settling a record later, e.g. finding it in Xero after its run died, must not hide
an edit made meanwhile.)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts_sync_sync_records") as batch:
        batch.add_column(sa.Column("read_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts_sync_sync_records") as batch:
        batch.drop_column("read_at")
