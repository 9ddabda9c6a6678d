"""Xero's ledger lines summed per day and per month as they are read and claimed, so a
reconciliation sums a few thousand rows instead of every line; and an index of the lines no
record has claimed yet, which each reconciliation looks through.

The sums of the lines already read are taken here, once.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels = None
depends_on = None

TABLE = "accounts_sync_xero_line_sums"
LINES = "accounts_sync_xero_journal_lines"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("grain", sa.String(5), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("account_code", sa.String(20), nullable=False),
        sa.Column("ours", sa.Boolean(), nullable=False),
        sa.Column("contact", sa.String(64), nullable=False),
        sa.Column("contact_name", sa.String(255), nullable=False),
        sa.Column("tracking", sa.Text(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("grain", "period", "account_code", "ours", "contact", "contact_name",
                            "tracking", name="uq_accounts_sync_xero_line_sums_grain"),
    )
    op.create_index("ix_accounts_sync_xero_journal_lines_unclaimed", LINES,
                    ["source_type", "source_id"],
                    sqlite_where=sa.text("record_erp_id IS NULL"),
                    postgresql_where=sa.text("record_erp_id IS NULL"))
    month = ("CAST(date_trunc('month', journal_date) AS date)"
             if op.get_bind().dialect.name == "postgresql"
             else "date(journal_date, 'start of month')")
    for grain, period in (("day", "journal_date"), ("month", month)):
        op.execute(
            f"INSERT INTO {TABLE} (grain, period, account_code, ours, contact, contact_name, "
            f"tracking, lines, amount) "
            f"SELECT '{grain}', {period}, account_code, record_erp_id IS NOT NULL, contact, "
            f"contact_name, tracking, COUNT(*), SUM(amount) FROM {LINES} "
            f"GROUP BY {period}, account_code, record_erp_id IS NOT NULL, contact, contact_name, "
            f"tracking")


def downgrade() -> None:
    op.drop_index("ix_accounts_sync_xero_journal_lines_unclaimed", table_name=LINES)
    op.drop_table(TABLE)
