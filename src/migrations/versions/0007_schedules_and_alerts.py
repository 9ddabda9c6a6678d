"""Scheduled syncs and alerts; when Xero last issued the connection's tokens.

A schedule per kind (and the digest and keep-alive duties) with its next firing, moved on by a
compare-and-set so one process fires each due moment; alerts, one per key, with what became
of their email; the connection's `tokens_refreshed_at`, what the keep-alive looks at (set from
`updated_at`, the last token write, for connections made before).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts_sync_schedules",
        sa.Column("name", sa.String(20), nullable=False),
        sa.Column("cadence", sa.String(10), nullable=False),
        sa.Column("every_minutes", sa.Integer(), nullable=False),
        sa.Column("at_minute", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("closing_rule", sa.String(20), nullable=False),
        sa.Column("journal_mode", sa.String(10), nullable=False),
        sa.Column("next_due_at", sa.DateTime(), nullable=True),
        sa.Column("last_due_at", sa.DateTime(), nullable=True),
        sa.Column("last_fired_at", sa.DateTime(), nullable=True),
        sa.Column("last_outcome", sa.Text(), nullable=False, server_default=""),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.String(120), nullable=False, server_default=""),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_accounts_sync_schedules"),
    )
    op.create_table(
        "accounts_sync_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("topic", sa.String(60), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False, server_default=""),
        sa.Column("subject", sa.String(300), nullable=False, server_default=""),
        sa.Column("body", sa.Text(), nullable=False, server_default=""),
        sa.Column("link", sa.String(300), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("repeat_of", sa.Integer(), nullable=True),
        sa.Column("repeats", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_repeated_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("dismissed_at", sa.DateTime(), nullable=True),
        sa.Column("dismissed_by", sa.String(120), nullable=False, server_default=""),
        sa.Column("email_to", sa.Text(), nullable=False, server_default=""),
        sa.Column("emailed_at", sa.DateTime(), nullable=True),
        sa.Column("email_error", sa.Text(), nullable=False, server_default=""),
        sa.Column("email_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_accounts_sync_alerts"),
        sa.UniqueConstraint("key", name="uq_accounts_sync_alerts_key"),
    )
    op.create_index("ix_accounts_sync_alerts_topic", "accounts_sync_alerts",
                    ["topic", "repeat_of", "id"])
    op.create_index("ix_accounts_sync_alerts_unsent", "accounts_sync_alerts",
                    ["emailed_at", "repeat_of"])
    with op.batch_alter_table("accounts_sync_connections") as batch:
        batch.add_column(sa.Column("tokens_refreshed_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE accounts_sync_connections SET tokens_refreshed_at = updated_at "
               "WHERE token_ciphertext IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("accounts_sync_connections") as batch:
        batch.drop_column("tokens_refreshed_at")
    op.drop_index("ix_accounts_sync_alerts_unsent", table_name="accounts_sync_alerts")
    op.drop_index("ix_accounts_sync_alerts_topic", table_name="accounts_sync_alerts")
    op.drop_table("accounts_sync_alerts")
    op.drop_table("accounts_sync_schedules")
