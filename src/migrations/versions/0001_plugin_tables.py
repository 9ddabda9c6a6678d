"""Accounts Sync's own tables: sync records, runs, marks, mapping, preferences, connections,
contacts and audit events.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("state IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "accounts_sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("closing_date", sa.Date(), nullable=False),
        sa.Column("mode", sa.String(10), nullable=True),
        sa.Column("requested_by", sa.String(120), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_accounts_sync_runs"),
    )
    op.create_index(
        "uq_accounts_sync_runs_one_active_per_kind", "accounts_sync_runs", ["kind"],
        unique=True, sqlite_where=ACTIVE, postgresql_where=ACTIVE,
    )

    op.create_table(
        "accounts_sync_sync_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("erp_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("xero_id", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("journal_date", sa.Date(), nullable=True),
        sa.Column("movement_type", sa.String(20), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["accounts_sync_runs.id"],
            name="fk_accounts_sync_sync_records_run_id_accounts_sync_runs", ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_accounts_sync_sync_records"),
        sa.UniqueConstraint("kind", "erp_id", name="uq_accounts_sync_sync_records_kind_erp_id"),
    )
    op.create_index(
        "ix_accounts_sync_sync_records_kind_state", "accounts_sync_sync_records",
        ["kind", "state", "synced_at"],
    )
    op.create_index(
        "ix_accounts_sync_sync_records_journal", "accounts_sync_sync_records",
        ["journal_date", "movement_type", "kind", "state"],
    )

    op.create_table(
        "accounts_sync_marks",
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("last_synced_up_to", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name="pk_accounts_sync_marks"),
    )

    op.create_table(
        "accounts_sync_account_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(20), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("account_code", sa.String(20), nullable=False),
        sa.Column("tax_type", sa.String(40), nullable=False),
        sa.Column("xero_name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts_sync_account_mappings"),
        sa.UniqueConstraint("section", "key", "category", name="uq_accounts_sync_account_mappings_entry"),
    )

    op.create_table(
        "accounts_sync_preferences",
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_accounts_sync_preferences"),
    )

    op.create_table(
        "accounts_sync_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("organisation_name", sa.String(200), nullable=False),
        sa.Column("base_currency", sa.String(3), nullable=False),
        sa.Column("connected_by", sa.String(120), nullable=False),
        sa.Column("connected_at", sa.DateTime(), nullable=True),
        sa.Column("needs_reauthorisation", sa.Boolean(), nullable=False),
        sa.Column("token_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("token_expires_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("rate_limit_remaining", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts_sync_connections"),
        sa.UniqueConstraint("tenant_id", name="uq_accounts_sync_connections_tenant_id"),
    )

    op.create_table(
        "accounts_sync_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("erp_contact_ref", sa.String(40), nullable=False),
        sa.Column("xero_contact_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts_sync_contacts"),
        sa.UniqueConstraint("tenant_id", "erp_contact_ref", name="uq_accounts_sync_contacts_tenant_ref"),
    )

    op.create_table(
        "accounts_sync_audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts_sync_audit_events"),
    )
    op.create_index("ix_accounts_sync_audit_events_at", "accounts_sync_audit_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_accounts_sync_audit_events_at", table_name="accounts_sync_audit_events")
    op.drop_table("accounts_sync_audit_events")
    op.drop_table("accounts_sync_contacts")
    op.drop_table("accounts_sync_connections")
    op.drop_table("accounts_sync_preferences")
    op.drop_table("accounts_sync_account_mappings")
    op.drop_table("accounts_sync_marks")
    op.drop_index("ix_accounts_sync_sync_records_journal", table_name="accounts_sync_sync_records")
    op.drop_index("ix_accounts_sync_sync_records_kind_state", table_name="accounts_sync_sync_records")
    op.drop_table("accounts_sync_sync_records")
    op.drop_index("uq_accounts_sync_runs_one_active_per_kind", table_name="accounts_sync_runs")
    op.drop_table("accounts_sync_runs")
