"""The plugin's own tables, all prefixed `accounts_sync_`, on their own MetaData.

Migrations (see `migrations/`) create exactly these; the host's tables (`host_schema.py`) live
on another MetaData and are never touched. Timestamps are stored as naive UTC and read back
as aware UTC, so SQLite and PostgreSQL compare them the same way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PREFIX = "accounts_sync_"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ACTIVE_RUN_STATES = ("queued", "running")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC out; stored naive UTC (host timestamps are naive too)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class PluginBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


def utcnow() -> datetime:
    return datetime.now(UTC)


class SyncRecordRow(PluginBase):
    """One ERP document or journal as Accounts Sync knows it in Xero (domain `SyncRecord`)."""

    __tablename__ = "accounts_sync_sync_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    erp_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12))
    idempotency_key: Mapped[str] = mapped_column(String(120), default="")
    xero_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts_sync_runs.id", ondelete="SET NULL")
    )
    synced_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Filled for journals from their key, so the journal anti-join compares plain columns.
    journal_date: Mapped[date | None] = mapped_column(Date)
    movement_type: Mapped[str | None] = mapped_column(String(20))
    # Books over time (domain SentState, Decision, CorrectionLink as JSON).
    sent: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    xero_status: Mapped[str] = mapped_column(String(12), default="", server_default="")
    xero_updated_at: Mapped[datetime | None]
    xero_seen: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    read_at: Mapped[datetime | None]
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    original_kind: Mapped[str | None] = mapped_column(String(20))
    original_erp_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(20))
    correction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Who refused a failed record: 'accounts_sync' (before sending) or 'xero'.
    refused_by: Mapped[str] = mapped_column(String(20), default="", server_default="")

    __table_args__ = (
        UniqueConstraint("kind", "erp_id", name="uq_accounts_sync_sync_records_kind_erp_id"),
        # The unique (kind, erp_id) serves the "is this document synced?" probe; this one
        # the in_flight/failed lists and the oldest sync time of changed_after_sync.
        Index("ix_accounts_sync_sync_records_kind_state", "kind", "state", "synced_at"),
        # The "is this document synced?" probe of every unsynced count, answered from the index
        # alone (the unique (kind, erp_id) one leads to the wide row for its state). Unique,
        # as (kind, erp_id) is: SQLite then prefers it for the probe.
        Index("uq_accounts_sync_sync_records_kind_erp_id_state", "kind", "erp_id", "state",
              unique=True),
        # When the oldest synced record's content was read (changed_after_sync): one seek.
        Index("ix_accounts_sync_sync_records_read", "kind", "state",
              text("coalesce(read_at, synced_at)")),
        # What one run sent, for its history page with links to Xero.
        Index("ix_accounts_sync_sync_records_run", "run_id", "kind", "erp_id"),
        Index(
            "ix_accounts_sync_sync_records_journal",
            "journal_date", "movement_type", "kind", "state",
        ),
        # The corrections of one original, and the record behind an object seen in Xero.
        Index("ix_accounts_sync_sync_records_original", "original_kind", "original_erp_id", "action"),
        Index("ix_accounts_sync_sync_records_xero_id", "xero_id"),
    )


class RunRow(PluginBase):
    """One sync run (domain `SyncRun`)."""

    __tablename__ = "accounts_sync_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    closing_date: Mapped[date] = mapped_column(Date)
    mode: Mapped[str | None] = mapped_column(String(10))
    requested_by: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(12))
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    # [[number, reason, refused by], ...]; rows from before 0004 have no third item.
    failures: Mapped[list[Any]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")  # while running
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    # The worker working on the run ("host:pid:token"), taken and kept with a heartbeat; a
    # worker whose heartbeat finds another owner was taken over and stops sending.
    owner: Mapped[str | None] = mapped_column(String(120))

    __table_args__ = (
        # One active run per kind, enforced by the database across processes and workers.
        Index(
            "uq_accounts_sync_runs_one_active_per_kind",
            "kind",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )


class MarkRow(PluginBase):
    """Per kind, the closing date of the last finished run ("last synced up to")."""

    __tablename__ = "accounts_sync_marks"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_synced_up_to: Mapped[date] = mapped_column(Date)


class AccountMappingRow(PluginBase):
    """One fact of the account mapping; all rows together make a domain `AccountMapping`.

    section            key              category   columns used
    stage              stage            ''         account_code
    category_override  stage            category   account_code
    tracking           batch attribute  ''         xero_name (Xero tracking category), position
    rounding           ''               ''         account_code
    journal_tax        ''               ''         tax_type
    trade_default      kind             ''         account_code, tax_type
    """

    __tablename__ = "accounts_sync_account_mappings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(40), default="")
    category: Mapped[str] = mapped_column(String(20), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    account_code: Mapped[str] = mapped_column(String(20), default="")
    tax_type: Mapped[str] = mapped_column(String(40), default="")
    xero_name: Mapped[str] = mapped_column(String(100), default="")

    __table_args__ = (
        UniqueConstraint("section", "key", "category", name="uq_accounts_sync_account_mappings_entry"),
    )


class PreferenceRow(PluginBase):
    __tablename__ = "accounts_sync_preferences"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class ConnectionRow(PluginBase):
    """A Xero organisation the plugin is connected to; tokens are stored encrypted."""

    __tablename__ = "accounts_sync_connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), unique=True)
    organisation_name: Mapped[str] = mapped_column(String(200), default="")
    base_currency: Mapped[str] = mapped_column(String(3), default="")
    connected_by: Mapped[str] = mapped_column(String(120), default="")
    connected_at: Mapped[datetime | None]
    needs_reauthorisation: Mapped[bool] = mapped_column(Boolean, default=False)
    token_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    token_expires_at: Mapped[float | None] = mapped_column(Float)  # epoch seconds
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    rate_limit_remaining: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # When Xero last issued the tokens (its refresh token lapses after 60 days unused).
    tokens_refreshed_at: Mapped[datetime | None]


class ContactRow(PluginBase):
    """The Xero contact an ERP customer or supplier was matched or created as."""

    __tablename__ = "accounts_sync_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    erp_contact_ref: Mapped[str] = mapped_column(String(40))  # 'customer:12', 'supplier:7'
    xero_contact_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("tenant_id", "erp_contact_ref", name="uq_accounts_sync_contacts_tenant_ref"),
    )


class XeroChangeRow(PluginBase):
    """An invoice, credit note or manual journal changed in Xero since Accounts Sync last looked
    (by someone in Xero, or made there); `record_erp_id` names our record when it is ours."""

    __tablename__ = "accounts_sync_xero_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    xero_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(255), default="", server_default="")
    status: Mapped[str] = mapped_column(String(12), default="", server_default="")
    document_type: Mapped[str] = mapped_column(String(16), default="", server_default="")
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"), server_default="0")
    updated_at: Mapped[datetime | None]
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    record_erp_id: Mapped[str | None] = mapped_column(String(64))
    web_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    summary: Mapped[str] = mapped_column(Text, default="", server_default="")

    __table_args__ = (
        UniqueConstraint("kind", "xero_id", name="uq_accounts_sync_xero_changes_kind_xero_id"),
        Index("ix_accounts_sync_xero_changes_updated_at", "updated_at"),
    )


class XeroJournalLineRow(PluginBase):
    """One line of Xero's general ledger (GET /Journals), read incrementally by journal number
    for reconciliation. `record_kind`/`record_erp_id` name the Accounts Sync record whose object
    the journal's source is (none: someone else posted it in Xero)."""

    __tablename__ = "accounts_sync_xero_journal_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    journal_number: Mapped[int] = mapped_column(BigInteger)
    line_no: Mapped[int] = mapped_column(Integer)
    journal_id: Mapped[str] = mapped_column(String(64))
    journal_date: Mapped[date] = mapped_column(Date)
    source_type: Mapped[str] = mapped_column(String(24), default="", server_default="")
    source_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    reference: Mapped[str] = mapped_column(String(255), default="", server_default="")
    account_code: Mapped[str] = mapped_column(String(20), default="", server_default="")
    amount: Mapped[int] = mapped_column(BigInteger)  # net, debit positive, in cents
    tracking: Mapped[str] = mapped_column(Text, default="", server_default="")  # JSON pairs
    record_kind: Mapped[str | None] = mapped_column(String(20))
    record_erp_id: Mapped[str | None] = mapped_column(String(64))
    contact: Mapped[str] = mapped_column(String(64), default="", server_default="")
    contact_name: Mapped[str] = mapped_column(String(255), default="", server_default="")

    __table_args__ = (
        # Journals never change in Xero: two reconciliations reading the same page at once
        # keep each line once (the second insert does nothing).
        UniqueConstraint("journal_number", "line_no",
                         name="uq_accounts_sync_xero_journal_lines_journal_number"),
        Index("ix_accounts_sync_xero_journal_lines_account", "account_code", "journal_date"),
        Index("ix_accounts_sync_xero_journal_lines_source", "source_id"),
        # The lines no record has claimed yet, by source: what a claim looks through.
        Index("ix_accounts_sync_xero_journal_lines_unclaimed", "source_type", "source_id",
              sqlite_where=text("record_erp_id IS NULL"),
              postgresql_where=text("record_erp_id IS NULL")),
    )


class XeroLineSumRow(PluginBase):
    """Xero's ledger lines (XeroJournalLineRow) summed per day and per month (`grain`), per
    account, ours or not, contact and tracking: kept in the transaction that adds or claims
    lines, so reconciliation sums a few thousand rows instead of every line. `lines` counts
    the lines summed (a row whose lines were all claimed away keeps 0 and is not read)."""

    __tablename__ = "accounts_sync_xero_line_sums"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grain: Mapped[str] = mapped_column(String(5))  # 'day' or 'month'
    period: Mapped[date] = mapped_column(Date)  # the day, or the month's first day
    account_code: Mapped[str] = mapped_column(String(20))
    ours: Mapped[bool] = mapped_column(Boolean)
    contact: Mapped[str] = mapped_column(String(64))
    contact_name: Mapped[str] = mapped_column(String(255))
    tracking: Mapped[str] = mapped_column(Text)
    lines: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)  # in cents

    __table_args__ = (
        UniqueConstraint("grain", "period", "account_code", "ours", "contact", "contact_name",
                         "tracking", name="uq_accounts_sync_xero_line_sums_grain"),
    )


class SentLineSumRow(PluginBase):
    """What the synced records sent (their `sent` JSON), summed per day and per month (`grain`;
    `period` the sent date as written, or its first seven characters), per document type,
    state ('draft'/'posted'), account and tracking: kept exact by triggers on the records table
    (migration 0013), so reconciliation reads sums instead of unnesting every record. `lines`
    counts the lines summed (a row whose lines all left keeps 0 and is not read)."""

    __tablename__ = "accounts_sync_sent_line_sums"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grain: Mapped[str] = mapped_column(String(5))
    period: Mapped[str] = mapped_column(Text)
    doc_type: Mapped[str] = mapped_column(Text)
    st: Mapped[str] = mapped_column(Text)
    account: Mapped[str] = mapped_column(Text)
    tracking: Mapped[str] = mapped_column(Text)  # the line's tracking as the database's JSON
    lines: Mapped[int] = mapped_column(Integer)
    net: Mapped[int] = mapped_column(BigInteger)  # in cents
    tax: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("grain", "period", "doc_type", "st", "account", "tracking",
                         name="uq_accounts_sync_sent_line_sums_grain"),
    )


class SentContactSumRow(PluginBase):
    """The same lines summed per document type, state, contact and contact name (net + tax)."""

    __tablename__ = "accounts_sync_sent_contact_sums"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grain: Mapped[str] = mapped_column(String(5))
    period: Mapped[str] = mapped_column(Text)
    doc_type: Mapped[str] = mapped_column(Text)
    st: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(Text)
    contact_name: Mapped[str] = mapped_column(Text)
    lines: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(BigInteger)  # in cents

    __table_args__ = (
        UniqueConstraint("grain", "period", "doc_type", "st", "contact", "contact_name",
                         name="uq_accounts_sync_sent_contact_sums_grain"),
    )


class SentDeltaRow(PluginBase):
    """PostgreSQL only (SQLite's triggers add to the sums directly): what each statement on
    the records table changed in the sums, appended by statement triggers, signed, per day;
    folded into the two sums tables by a reader (see sqlalchemy_reconciliation)."""

    __tablename__ = "accounts_sync_sent_deltas"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True)
    day: Mapped[str] = mapped_column(Text)
    doc_type: Mapped[str] = mapped_column(Text)
    st: Mapped[str] = mapped_column(Text)
    account: Mapped[str] = mapped_column(Text)
    tracking: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(Text)
    contact_name: Mapped[str] = mapped_column(Text)
    lines: Mapped[int] = mapped_column(Integer)
    net: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)


class AuditEventRow(PluginBase):
    __tablename__ = "accounts_sync_audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120), default="")
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class FlowSumRow(PluginBase):
    """The cost-flow cache's sums (see SqlDocumentSource.cost_flows), kept so that a new process
    starts from them instead of summing every cost entry again: the host's entries summed per
    day, movement, category, stages and tracking, as read at FlowStateRow.read_at. A cache:
    emptying it costs one full read, never a wrong figure."""

    __tablename__ = "accounts_sync_flow_sums"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_date: Mapped[date] = mapped_column(Date)
    movement_type: Mapped[str] = mapped_column(String(64))
    cost_category: Mapped[str] = mapped_column(String(64))
    from_stage: Mapped[str] = mapped_column(String(64))
    to_stage: Mapped[str] = mapped_column(String(64))
    vintage: Mapped[str | None] = mapped_column(String(64))
    brand: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)  # in 1/10000
    entries: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_accounts_sync_flow_sums_entry_date", "entry_date"),)


class FlowStateRow(PluginBase):
    """One row: which snapshot FlowSumRow holds (`version`, bumped by every write) and when it
    was read, in the host's terms (naive UTC, the stamps' clock; the highest entry id)."""

    __tablename__ = "accounts_sync_flow_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    read_at: Mapped[datetime] = mapped_column(DateTime)
    top_id: Mapped[int] = mapped_column(BigInteger)


class FactSignatureRow(PluginBase):
    """The document-facts cache's signatures (see document_facts.py), kept between processes:
    the distinct values the sync's checks look at (lines' account, tax type and batch
    attributes, currency, missing due date, number length) over the documents of a kind that
    are in the status that makes them sendable, each with how many documents carry it. Keyed
    by a digest of its content, so two processes name the same signature alike. A cache:
    emptying it costs one full read of the documents' lines, never a wrong check."""

    __tablename__ = "accounts_sync_fact_signatures"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    digest: Mapped[str] = mapped_column(String(32), primary_key=True)
    lines: Mapped[str] = mapped_column(Text)  # sorted lines: see _Signature.encoded_lines
    currency: Mapped[str] = mapped_column(String(16))
    without_due_date: Mapped[bool] = mapped_column(Boolean)
    number_length: Mapped[int] = mapped_column(Integer)
    documents: Mapped[int] = mapped_column(Integer)


class FactMemberRow(PluginBase):
    """Which signature each sendable document of a kind carries (as of FactStateRow.read_at)."""

    __tablename__ = "accounts_sync_fact_members"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    doc_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    digest: Mapped[str] = mapped_column(String(32))

    __table_args__ = (Index("ix_accounts_sync_fact_members_kind", "kind", "digest"),)


class FactStateRow(PluginBase):
    """Per kind: which snapshot the two tables above hold (`version`, bumped by every write,
    starting anywhere) and when it was read, in the host's terms (naive UTC, the stamps' clock;
    the highest document id)."""

    __tablename__ = "accounts_sync_fact_state"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    read_at: Mapped[datetime] = mapped_column(DateTime)
    top_id: Mapped[int] = mapped_column(BigInteger)


class ScheduleRow(PluginBase):
    """A schedule (domain `ScheduleEntry`): per kind, and the digest and keep-alive duties.

    `next_due_at` is moved on by one conditional update per firing (compare-and-set), so one
    process fires each due moment however many look at it."""

    __tablename__ = "accounts_sync_schedules"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    cadence: Mapped[str] = mapped_column(String(10), default="off")
    every_minutes: Mapped[int] = mapped_column(Integer, default=60)
    at_minute: Mapped[int] = mapped_column(Integer, default=360)  # minutes after local midnight
    weekday: Mapped[int] = mapped_column(Integer, default=0)  # Monday = 0
    closing_rule: Mapped[str] = mapped_column(String(20), default="today")
    journal_mode: Mapped[str] = mapped_column(String(10), default="DRAFT")
    next_due_at: Mapped[datetime | None]
    last_due_at: Mapped[datetime | None]
    last_fired_at: Mapped[datetime | None]
    last_outcome: Mapped[str] = mapped_column(Text, default="", server_default="")
    last_run_id: Mapped[int | None] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(120), default="", server_default="")
    updated_at: Mapped[datetime | None]


class AlertRow(PluginBase):
    """An alert (domain `Alert`), one per key; a repeat of an earlier alert is kept as a row of
    its own key pointing at it (`repeat_of`), so it is counted once and never sent."""

    __tablename__ = "accounts_sync_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    topic: Mapped[str] = mapped_column(String(60))
    signature: Mapped[str] = mapped_column(String(64), default="", server_default="")
    subject: Mapped[str] = mapped_column(String(300), default="", server_default="")
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    link: Mapped[str] = mapped_column(String(300), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    repeat_of: Mapped[int | None] = mapped_column(Integer)
    repeats: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_repeated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    dismissed_at: Mapped[datetime | None]
    dismissed_by: Mapped[str] = mapped_column(String(120), default="", server_default="")
    email_to: Mapped[str] = mapped_column(Text, default="", server_default="")
    emailed_at: Mapped[datetime | None]
    email_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    email_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("ix_accounts_sync_alerts_topic", "topic", "repeat_of", "id"),
        Index("ix_accounts_sync_alerts_unsent", "emailed_at", "repeat_of"),
    )


plugin_metadata = PluginBase.metadata
