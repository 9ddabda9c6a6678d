"""Runs record the worker that holds them.

One worker works on a run at a time, and a worker taken over after it was thought dead can
tell, and stops.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts_sync_runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts_sync_runs") as batch:
        batch.drop_column("owner")
