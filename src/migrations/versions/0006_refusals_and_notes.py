"""Records say who refused them; runs say what they are waiting for.

A failed record keeps whether Accounts Sync refused it before sending or Xero refused it, so
the console can tell the two apart; a running run keeps a note ("waiting for Xero's minute
limit…") that its progress shows.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts_sync_sync_records") as batch:
        batch.add_column(sa.Column("refused_by", sa.String(20), nullable=False, server_default=""))
    with op.batch_alter_table("accounts_sync_runs") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("accounts_sync_runs") as batch:
        batch.drop_column("note")
    with op.batch_alter_table("accounts_sync_sync_records") as batch:
        batch.drop_column("refused_by")
