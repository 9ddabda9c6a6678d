"""The ports use cases talk through. Adapters satisfy them structurally (no base classes)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol, Self

from ..domain.alerts import Alert
from ..domain.corrections import SentLine
from ..domain.costs import CostEntry, CostFlow, MovementType
from ..domain.documents import DocumentSummary, Kind, TrackingRef, TradeDocument
from ..domain.errors import AccountsSyncError, InvalidRequest
from ..domain.inventory import PurchaseBalance, StockBalance
from ..domain.journals import AccountJournal
from ..domain.mapping import AccountMapping
from ..domain.money import ZERO
from ..domain.reconciliation import ContactSum, LineSum, XeroLineSum
from ..domain.schedules import ScheduleEntry
from ..domain.sync import JournalMode, SyncRecord, SyncRun

# ---------------------------------------------------------------- values crossing the ports


@dataclass(frozen=True)
class KindTotals:
    count: int = 0
    total: Decimal = ZERO
    earliest: date | None = None


@dataclass(frozen=True)
class Page:
    items: tuple[DocumentSummary, ...]
    next_cursor: str | None  # keyset cursor: pass it back as `after` for the next page


@dataclass(frozen=True)
class ChangedDocument:
    """A document edited in the ERP after it was synced: shown, never silently re-sent."""

    kind: Kind
    erp_id: str
    number: str
    xero_id: str
    synced_at: datetime | None


@dataclass(frozen=True)
class ErpDocumentNow:
    """A synced document as the ERP has it now: what would be sent, or why nothing would."""

    erp_id: str
    document: TradeDocument | None  # None: it no longer counts (cancelled, deleted, ...)
    gone: str = ""  # why it no longer counts, e.g. "cancelled in the ERP"
    refund_of: str = ""  # refunds: the ERP id of the sale it refunds


@dataclass(frozen=True)
class XeroChange:
    """An invoice, credit note or manual journal changed in Xero since Accounts Sync last looked."""

    kind: Kind
    xero_id: str
    number: str
    status: str
    total: Decimal
    updated_at: datetime | None
    web_url: str = ""
    record_erp_id: str | None = None  # our record, when the object is one Accounts Sync sent
    summary: str = ""  # what changed, in words
    document_type: str = ""


@dataclass(frozen=True)
class Organisation:
    tenant_id: str
    name: str
    base_currency: str
    period_lock_date: date | None = None
    end_of_year_lock_date: date | None = None

    @property
    def lock_date(self) -> date | None:
        dates = [d for d in (self.period_lock_date, self.end_of_year_lock_date) if d]
        return max(dates) if dates else None


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    type: str
    status: str = "ACTIVE"
    system_account: str = ""
    account_id: str = ""  # Xero's AccountID (what reports name accounts by)

    @property
    def is_active(self) -> bool:
        return self.status == "ACTIVE"


@dataclass(frozen=True)
class TaxRate:
    tax_type: str
    name: str
    rate: Decimal = ZERO
    status: str = "ACTIVE"


@dataclass(frozen=True)
class TrackingCategory:
    name: str
    options: tuple[str, ...] = ()
    status: str = "ACTIVE"


@dataclass(frozen=True)
class ChartOfAccounts:
    """What Xero knows that a sync must respect, read once per preview or run."""

    organisation: Organisation
    accounts: tuple[Account, ...] = ()
    tax_rates: tuple[TaxRate, ...] = ()
    tracking: tuple[TrackingCategory, ...] = ()
    read_at: datetime | None = None  # when it was read from Xero (it is kept a few minutes)

    def account(self, code: str) -> Account | None:
        return self._accounts.get(code)

    @property
    def _accounts(self) -> dict[str, Account]:
        found = self.__dict__.get("_by_code")
        if found is None:
            found = {a.code: a for a in self.accounts}
            object.__setattr__(self, "_by_code", found)
        return found


@dataclass(frozen=True)
class DocumentFacts:
    """The values the checks look at, over a kind's unsynced documents (a superset will do:
    the checks only pick the bad ones out of it)."""

    accounts: frozenset[str] = frozenset()  # the lines' own codes; '' for a line without one
    tax_types: frozenset[str] = frozenset()  # '' for a line without one
    tracking: frozenset[TrackingRef] = frozenset()
    currencies: frozenset[str] = frozenset()
    without_due_date: bool = False
    without_lines: bool = False
    number_lengths: tuple[int, int] = (1, 1)  # shortest and longest number, trimmed
    contact_name_lengths: tuple[int, int] = (1, 1)  # shortest and longest contact name
    # The lines' batch attributes as the ERP has them (DocumentLine.attributes): the mapping
    # turns them into tracking, so the checks see what would be sent.
    attributes: frozenset[tuple[tuple[str, str], ...]] = frozenset()


@dataclass(frozen=True)
class RefusalFilter:
    """The unsynced documents the checks refuse: those with any of these values."""

    accounts: frozenset[str] = frozenset()
    tax_types: frozenset[str] = frozenset()
    tracking: frozenset[TrackingRef] = frozenset()
    currencies: frozenset[str] = frozenset()
    dated_up_to: date | None = None  # inside Xero's locked period
    without_due_date: bool = False
    without_lines: bool = False
    text_limit: int | None = None  # number or contact name empty, or longer than this
    attributes: frozenset[tuple[tuple[str, str], ...]] = frozenset()  # mapped to refused tracking

    @property
    def is_empty(self) -> bool:
        return not (self.accounts or self.tax_types or self.tracking or self.currencies
                    or self.dated_up_to or self.without_due_date or self.without_lines
                    or self.text_limit or self.attributes)


@dataclass(frozen=True)
class PushResult:
    """Xero's answer for one element of a batch, in the order the batch was sent."""

    erp_id: str
    xero_id: str | None = None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # Xero may or may not have created it (its answer for this element was lost): the record
    # stays in_flight, so the next run looks it up in Xero before anything is resent.
    outcome_unknown: bool = False
    # Refused by the adapter before it left (a body Xero could not take), not by Xero.
    refused_locally: bool = False
    status: str = ""  # the object's status in Xero after the write (AUTHORISED, DRAFT, ...)
    updated_at: datetime | None = None  # Xero's UpdatedDateUTC after the write

    @property
    def created(self) -> bool:
        return self.xero_id is not None and not self.errors


@dataclass(frozen=True)
class Connection:
    tenant_id: str
    organisation_name: str
    connected_by: str = ""
    connected_at: datetime | None = None
    needs_reauthorisation: bool = False
    rate_limit_remaining: dict[str, int] = field(default_factory=dict)
    # When Xero last issued the refresh token (it lapses after 60 days unused): what the
    # keep-alive looks at.
    tokens_refreshed_at: datetime | None = None


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    expires_at: float  # epoch seconds
    scope: tuple[str, ...] = ()


def record_cursor(record: SyncRecord) -> str:
    """Where the next page of a run's records starts: after this record (see records_for_run)."""
    raw = f"{record.kind.value}\x1f{record.number}\x1f{record.erp_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parse_record_cursor(cursor: str) -> tuple[str, str, str]:
    """(kind, number, erp_id) of a record_cursor; a plain refusal when it is not one."""
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        kind, number, erp_id = raw.split("\x1f")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("That page link is no longer valid; open the run again.") from None
    return kind, number, erp_id


def natural_order(record: SyncRecord) -> tuple[str, int, str, str]:
    """The order a run lists its records in: PO-9 before PO-10."""
    return (record.kind.value, len(record.number), record.number, record.erp_id)


# ---------------------------------------------------------------- Xero's side of the books
# What Xero holds after a sync and what may still be done to it. The rules these values follow
# (statuses, what a payment or allocation blocks, lock dates) are in docs/xero-rules.md.

# The status words Xero uses; an object in a GONE status posts nothing to the ledger.
DRAFT, SUBMITTED, AUTHORISED, PAID, VOIDED, DELETED = (
    "DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
POSTED, ARCHIVED = "POSTED", "ARCHIVED"
GONE_STATUSES = frozenset({VOIDED, DELETED})


@dataclass(frozen=True)
class XeroObjectState:
    """What Xero holds for one object now."""

    # SALES_ORDERS for ACCREC invoices, PURCHASE_ORDERS for ACCPAY bills, REFUNDS for credit
    # notes (ACCRECCREDIT/ACCPAYCREDIT), JOURNALS for manual journals.
    kind: Kind
    xero_id: str
    number: str  # InvoiceNumber / CreditNoteNumber; a manual journal's Narration
    status: str  # Xero's status word
    document_type: str = ""  # ACCREC ACCPAY ACCRECCREDIT ACCPAYCREDIT; "" for journals
    date: date | None = None
    total: Decimal = ZERO
    amount_due: Decimal = ZERO  # invoices: AmountDue; credit notes: RemainingCredit
    amount_paid: Decimal = ZERO  # invoices: AmountPaid; credit notes: refunds paid out
    amount_credited: Decimal = ZERO  # invoices: AmountCredited; credit notes: amount allocated
    allocations: tuple[tuple[str, Decimal], ...] = ()  # credit notes: (InvoiceID, amount)
    reference: str = ""
    contact_name: str = ""
    updated_at: datetime | None = None  # UpdatedDateUTC, aware UTC
    web_url: str = ""
    # domain.corrections.SentLine, as Xero holds them (net of tax; journals signed), filled
    # where the read returns lines (single reads, IDs= lists, paged lists).
    lines: tuple[SentLine, ...] = ()
    due_date: date | None = None
    currency: str = ""
    url: str = ""  # the Url field: the ERP page it links back to, when we sent one

    @property
    def has_applications(self) -> bool:
        """A payment or a credit is applied: Xero then refuses edits, voids and deletes."""
        if self.document_type in ("ACCRECCREDIT", "ACCPAYCREDIT"):
            return bool(self.allocations) or self.amount_credited != ZERO \
                or self.amount_paid != ZERO
        return self.amount_paid != ZERO or self.amount_credited != ZERO

    @property
    def is_gone(self) -> bool:
        return self.status in GONE_STATUSES


@dataclass(frozen=True)
class ChangedPage:
    items: tuple[XeroObjectState, ...]
    next_page: int | None


@dataclass(frozen=True)
class DocumentUpdate:
    """Replace an existing Xero invoice or credit note's content; its status stays unless
    `status` is given. `document.xero_type` decides /Invoices or /CreditNotes."""

    xero_id: str
    document: TradeDocument
    status: str = ""


@dataclass(frozen=True)
class StatusChange:
    erp_id: str  # echoed in PushResult.erp_id
    xero_id: str
    document_type: str  # ACCREC ACCPAY ACCRECCREDIT ACCPAYCREDIT, or "MANJOURNAL"
    status: str  # VOIDED or DELETED


@dataclass(frozen=True)
class Allocation:
    erp_id: str  # echoed in PushResult.erp_id
    credit_note_id: str
    invoice_id: str
    amount: Decimal
    date: date


@dataclass(frozen=True)
class TrialBalanceRow:
    """One account of Xero's trial balance at a date, in the base currency.

    `debit`/`credit` are the report's YTD columns: for asset, liability and equity accounts
    the balance at the date (all years); for revenue and expense accounts the total since the
    start of the financial year (earlier years sit in Retained Earnings). `period_debit` and
    `period_credit` are the month-of-the-report columns.
    """

    account_id: str
    account_code: str
    name: str
    account_type: str
    debit: Decimal
    credit: Decimal
    section: str = ""  # Revenue, Expenses, Assets, Liabilities, Equity (the report's section)
    period_debit: Decimal = ZERO
    period_credit: Decimal = ZERO

    @property
    def balance(self) -> Decimal:
        """Debit positive, credit negative."""
        return self.debit - self.credit


@dataclass(frozen=True)
class XeroJournalLine:
    account_code: str
    net_amount: Decimal  # debit positive, credit negative, base currency
    tax_amount: Decimal = ZERO
    tracking: tuple[TrackingRef, ...] = ()
    account_id: str = ""
    account_type: str = ""
    description: str = ""


@dataclass(frozen=True)
class XeroJournal:
    """One entry of GET /Journals (the general ledger), for reconciliation."""

    journal_id: str
    number: int
    date: date
    source_type: str  # ACCREC ACCPAY ACCRECCREDIT ACCPAYCREDIT MANJOURNAL ACCRECPAYMENT ...
    source_id: str
    reference: str
    lines: tuple[XeroJournalLine, ...]
    created_at: datetime | None = None
    # Filled when read back from the plugin's own copy: the record whose object is the source.
    record_kind: str = ""
    record_erp_id: str = ""


# ---------------------------------------------------------------- ports


class DocumentSource(Protocol):
    """Reads the host ERP. Filtering and sums happen in the database, never row by row here."""

    def summarize_unsynced(self, kind: Kind, closing_date: date) -> KindTotals: ...

    def list_unsynced(
        self, kind: Kind, closing_date: date, after: str | None, limit: int
    ) -> Page: ...

    def next_unsynced(
        self, kind: Kind, closing_date: date, after: tuple[date, str] | None, limit: int
    ) -> list[TradeDocument]:
        """The next chunk of whole documents in (date, erp_id) order, after the given key."""
        ...

    def get_documents(self, kind: Kind, erp_ids: Sequence[str]) -> list[TradeDocument]: ...

    def cost_flows(self, closing_date: date) -> list[CostFlow]:
        """Cost entries of journals not yet synced, dated up to the closing date, summed."""
        ...

    def cost_entries(self, day: date, movement: MovementType) -> list[CostEntry]: ...

    def changed_after_sync(self, kind: Kind, limit: int) -> list[ChangedDocument]: ...

    def journal_url(self, key: str) -> str: ...

    def unsynced_facts(self, kind: Kind, closing_date: date) -> DocumentFacts:
        """The distinct values the checks look at, over the unsynced documents of a kind."""
        ...

    def refused_unsynced(
        self, kind: Kind, closing_date: date, refusal: RefusalFilter, limit: int
    ) -> tuple[int, list[TradeDocument]]:
        """How many unsynced documents have any refused value, and the first `limit` of them
        (in (date, id) order, dated as a sync sends them)."""
        ...

    # Books over time (DESIGN: "Books over time").

    def documents_now(self, kind: Kind, erp_ids: Sequence[str]) -> dict[str, ErpDocumentNow]:
        """The ERP's current version of these documents, in any status; every id is answered
        (a deleted one with document None and gone 'deleted in the ERP')."""
        ...

    def removed_after_sync(self, kind: Kind, limit: int) -> list[str]:
        """Synced documents the ERP deleted since (their host row is gone), not yet corrected."""
        ...

    def refunds_to_allocate(self, closing_date: date, limit: int) -> list[tuple[str, str]]:
        """(refund erp id, sale erp id) of synced refunds of synced sales, dated up to the
        closing date, whose credit note has not been allocated to the sale's invoice yet and
        can be: both known in Xero by id, and what the refund sent kept (a refund synced
        before Accounts Sync kept it cannot be planned)."""
        ...

    def synced_cost_flows(self, closing_date: date) -> list[CostFlow]:
        """The flows of the journals already synced, up to the closing date, summed (as
        cost_flows does for the unsynced ones): what their journals would say now."""
        ...

    # Inventory valuation (domain.inventory), synced or not: what the ERP holds.

    def stock_balances(self, closing_date: date, since: date | None = None) -> list[StockBalance]:
        """What the cost entries dated up to the closing date (and from `since`, when given)
        left at each stage: net cost, litres and cases per stage, cost category, batch,
        product and batch attributes. An entry adds to its to-stage and takes from its
        from-stage; one within a stage (a transfer) counts once, as signed. Summed in SQL."""
        ...

    # Reconciliation (domain.reconciliation): every document, synced or not, summed in SQL.

    def document_sums(
        self, closing_date: date, period_start: date
    ) -> tuple[list[LineSum], list[ContactSum]]:
        """The trade documents that count (invoiced, billed, approved), dated up to the closing
        date: their lines' net amounts (rounded per line as Xero rounds them) and tax per
        document type, ErpState, account and batch attributes, `earlier` when dated before
        `period_start`; and their totals per document type, ErpState and contact."""
        ...

    def purchases_by_account(
        self, account_codes: Sequence[str], closing_date: date
    ) -> list[PurchaseBalance]:
        """The net line amounts (tax excluded, to the cent per line as Xero rounds them) of
        the trade documents that become bills, dated up to the closing date, to these
        accounts, per account and the lines' batch attributes."""
        ...


class SyncLedger(Protocol):
    """The plugin's own state: records, runs and the per-kind 'last synced up to' mark."""

    def records(self, kind: Kind, erp_ids: Sequence[str], lines: bool = True
                ) -> dict[str, SyncRecord]:
        """The records of these documents; `lines=False` leaves out what they sent (`sent`
        stays None), for callers that only need their state and what was seen in Xero."""
        ...

    def save_records(self, records: Sequence[SyncRecord]) -> None: ...

    def in_flight(self, kind: Kind) -> list[SyncRecord]: ...

    def failed(self, kind: Kind, limit: int) -> list[SyncRecord]: ...

    def records_for_run(
        self, run_id: int, limit: int, after: str | None = None
    ) -> list[SyncRecord]:
        """A run's records in `natural_order`, after a `record_cursor`."""
        ...

    def claim_run(
        self,
        kind: Kind,
        closing_date: date,
        requested_by: str,
        mode: JournalMode | None,
        at: datetime,
    ) -> SyncRun:
        """Create a queued run, or raise RunAlreadyActive; exclusive per kind across processes."""
        ...

    def get_run(self, run_id: int) -> SyncRun: ...

    def save_run(self, run: SyncRun) -> None: ...

    def active_run(self, kind: Kind) -> SyncRun | None: ...

    def list_runs(self, limit: int, before_id: int | None = None) -> list[SyncRun]: ...

    def last_runs(self) -> dict[Kind, SyncRun]:
        """The latest run of each kind, active or ended."""
        ...

    def note_run(self, run_id: int, note: str) -> None:
        """What an active run is doing or waiting for (a no-op once it ended)."""
        ...

    def unsettled(self) -> dict[Kind, tuple[int, int]]:
        """Per kind, how many records failed and how many are still in flight."""
        ...

    def last_synced_up_to(self, kind: Kind) -> date | None: ...

    def corrections_of(
        self, originals: Sequence[tuple[Kind, str]]
    ) -> dict[tuple[Kind, str], list[SyncRecord]]:
        """The correction records of these originals, oldest first (originals with none left out)."""
        ...

    def synced_journals(self, closing_date: date) -> dict[str, str]:
        """key → fingerprint of the synced journals dated up to the closing date (the records
        themselves are read only for those whose costs changed)."""
        ...

    def sent_unknown(self, kind: Kind, erp_ids: Sequence[str]) -> dict[str, str]:
        """erp id → number of those of these records that kept nothing of what they sent
        (synced before Accounts Sync kept it): nothing to plan from, and no need to read them
        whole."""
        ...

    def records_by_xero_id(self, xero_ids: Sequence[str]) -> dict[str, SyncRecord]: ...

    def mark_read(self, kind: Kind, erp_ids: Sequence[str], at: datetime) -> None:
        """These records' content was read from the ERP again at `at` and found the same."""
        ...

    def first_synced_at(self) -> datetime | None:
        """When the first record was synced (what a first look at Xero's changes starts from)."""
        ...

    def save_xero_changes(self, changes: Sequence[XeroChange]) -> None: ...

    # Reconciliation: what was sent, and Xero's general ledger as read so far.

    def sent_sums(self, closing_date: date, period_start: date
                  ) -> tuple[list[LineSum], list[ContactSum]]:
        """What the synced records hold in Xero from Accounts Sync (their SentState, dated up
        to the closing date), summed like DocumentSource.document_sums; state 'draft' for
        records Xero holds as a draft or submitted, else 'posted'."""
        ...

    def xero_journal_offset(self) -> int:
        """The highest JournalNumber read from Xero so far (0: none)."""
        ...

    def save_xero_journals(self, journals: Sequence[XeroJournal]) -> None:
        """Keep these ledger journals' lines, each named by the record whose object is its
        source (none: someone else posted it)."""
        ...

    def claim_xero_journals(self) -> int:
        """Name the record of lines read before their record knew its Xero id; how many."""
        ...

    def xero_line_sums(self, closing_date: date, period_start: date) -> list[XeroLineSum]: ...

    def xero_source_sums(self, source_ids: Sequence[str]) -> dict[str, dict[str, Decimal]]:
        """What the journals read so far post per account, for each of these sources: what
        Xero's ledger holds of an object now."""
        ...

    def xero_journal_entries(self, closing_date: date, account_code: str, others_only: bool,
                             limit: int) -> list[XeroJournal]:
        """The journals read from Xero, dated up to the closing date, with a line on this
        account (only the account's lines), newest first."""
        ...

    def xero_changes(self, limit: int, ours_only: bool = False) -> list[XeroChange]:
        """What was seen changed in Xero, the latest first."""
        ...

    def set_last_synced_up_to(self, kind: Kind, day: date) -> None: ...

    # Workers and stuck runs. A run's last sign of life is its heartbeat (its creation while
    # no worker has touched it); every change below is one conditional update, so two workers
    # or two recoverers never both win.

    def stale_runs(self, stale_before: datetime) -> list[SyncRun]:
        """Active runs whose last sign of life is older than `stale_before`."""
        ...

    def take_run(
        self, run_id: int, owner: str, at: datetime, stale_before: datetime
    ) -> SyncRun | None:
        """Make `owner` the run's worker if it is active and free (queued and untouched, already
        its own, or stale); None when another live worker holds it or it has ended."""
        ...

    def beat_run(self, run_id: int, owner: str, at: datetime) -> bool:
        """A heartbeat; False when the run ended or another worker took it over."""
        ...

    def seize_stale_run(
        self, run_id: int, stale_before: datetime, at: datetime, owner: str | None
    ) -> SyncRun | None:
        """For recovery: take a run only if it is active and stale (None otherwise), setting its
        owner (None frees it for any worker) and heartbeat."""
        ...


class SettingsStore(Protocol):
    def mapping(self) -> AccountMapping: ...

    def save_mapping(self, mapping: AccountMapping) -> None: ...

    def preference(self, name: str, default: str = "") -> str: ...

    def set_preference(self, name: str, value: str) -> None: ...


class ScheduleStore(Protocol):
    """Schedules (per kind, and the digest and keep-alive duties) with their next firing.

    `fire` is the exactly-once step: one conditional update moves the next firing on only if
    it is still the one the caller saw, so of several processes that see a schedule due, one
    fires it."""

    def entries(self) -> dict[str, ScheduleEntry]: ...

    def save(self, entry: ScheduleEntry) -> None:
        """Insert or replace a schedule (what a person set) and its next firing."""
        ...

    def fire(self, name: str, seen_due: datetime, next_due: datetime | None, at: datetime) -> bool:
        """Compare-and-set: True for the one caller that moved `seen_due` on to `next_due`."""
        ...

    def record_outcome(self, name: str, outcome: str, run_id: int | None) -> None: ...


class AlertLog(Protocol):
    """Alerts raised, one per key, with what became of their email."""

    def add(self, alert: Alert) -> Alert | None:
        """Store it unless its key exists (then None): whoever stores it first sends it."""
        ...

    def latest(self, topic: str) -> Alert | None:
        """The newest alert of a topic that is not itself a repeat."""
        ...

    def known(self, keys: Sequence[str]) -> set[str]:
        """Which of these keys were raised already (as alerts or as repeats)."""
        ...

    def repeat(self, original_id: int, key: str, at: datetime) -> bool:
        """Count an occurrence on the original under its own key (False: already counted)."""
        ...

    def resolve(self, topic: str, at: datetime, raised_before: datetime) -> None:
        """The topic's alerts raised before that moment are over (a later run succeeded)."""
        ...

    def emailed(self, alert_id: int, to: str, at: datetime) -> None: ...

    def email_failed(self, alert_id: int, to: str, error: str) -> None: ...

    def unsent(self, limit: int, max_attempts: int) -> list[Alert]: ...

    def recent(self, limit: int, before_id: int | None = None, shown_only: bool = False,
               digests: bool = False) -> list[Alert]:
        """Newest first; `shown_only`: not dismissed; digests are left out unless asked."""
        ...

    def dismiss(self, alert_id: int, by: str, at: datetime) -> bool: ...


class UnitOfWork(Protocol):
    """One database transaction; rolls back on exit unless commit() was called."""

    documents: DocumentSource
    ledger: SyncLedger
    settings: SettingsStore
    schedules: ScheduleStore
    alerts: AlertLog

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class AccountingGateway(Protocol):
    """Xero, or anything that speaks like it. Raises domain errors only (GatewayUnavailable,
    RateLimited, NotConnected, ReauthorisationNeeded)."""

    def connection(self) -> Connection | None: ...

    def web_url(self, kind: Kind, xero_id: str) -> str:
        """Where a person opens the object in Xero."""
        ...

    def chart(self) -> ChartOfAccounts:
        """Organisation, accounts and tax rates (what every preview and run checks against)."""
        ...

    def tracking_categories(self) -> tuple[TrackingCategory, ...]: ...

    def prepare_contacts(self, documents: Sequence[TradeDocument]) -> None:
        """Make sure the documents' contacts exist in Xero (a chunk at a time, before pushing)."""
        ...

    def push_invoices(
        self, documents: Sequence[TradeDocument], idempotency_key: str
    ) -> list[PushResult]: ...

    def push_credit_notes(
        self, documents: Sequence[TradeDocument], idempotency_key: str
    ) -> list[PushResult]: ...

    def push_manual_journals(
        self, journals: Sequence[AccountJournal], mode: JournalMode, idempotency_key: str
    ) -> list[PushResult]: ...

    def find_existing(self, kind: Kind, records: Sequence[SyncRecord]) -> dict[str, str]:
        """Look records up in Xero (by number, reference or narration marker): erp_id → id."""
        ...

    def forget_chart(self) -> None:
        """The next chart() reads Xero again (someone may have changed it there)."""
        ...

    def currencies(self) -> frozenset[str]:
        """The currencies the organisation has enabled; empty when Xero would not say."""
        ...

    def observe(self, listener: Callable[[str], None]) -> AbstractContextManager[None]:
        """Within the block, `listener` hears (in plain words) whenever this thread waits on
        Xero: a limit reached, an answer that did not come and is tried again."""
        ...

    # Xero's side of the books (docs/xero-rules.md). Refusals come back per element in
    # PushResult.errors with Xero's own words; only transport and auth problems raise.

    def find_by_number(self, document_type: str, numbers: Sequence[str]) -> dict[str, str]:
        """number → Xero id of the invoices or credit notes of this type (ACCREC, ACCPAY,
        ACCRECCREDIT, ACCPAYCREDIT) with these numbers, voided and deleted ones left out: how an
        adjustment document is found again before anything is resent."""
        ...

    def object_states(self, kind: Kind, xero_ids: Sequence[str]) -> dict[str, XeroObjectState]:
        """By id, in as few calls as possible; deleted objects come back with status DELETED,
        unknown ids are absent. `kind` picks where to look first (a credit note is found
        whatever kind is given)."""
        ...

    def changed_since(self, kind: Kind, since: datetime | None, page: int = 1) -> ChangedPage:
        """Objects created or modified since `since` (If-Modified-Since; None = all), oldest
        change first, a page at a time. SALES_ORDERS → ACCREC invoices, PURCHASE_ORDERS →
        ACCPAY bills, REFUNDS → credit notes, JOURNALS → manual journals."""
        ...

    def update_documents(
        self, updates: Sequence[DocumentUpdate], idempotency_key: str
    ) -> list[PushResult]:
        """Rewrite invoices/credit notes in place; one result per update, in order, erp_id =
        update.document.erp_id."""
        ...

    def update_manual_journals(
        self,
        updates: Sequence[tuple[str, AccountJournal]],
        mode: JournalMode,
        idempotency_key: str,
    ) -> list[PushResult]:
        """(xero_id, journal): rewrite a DRAFT journal in place (it ends in `mode`);
        erp_id = journal.key. A POSTED journal is refused."""
        ...

    def change_status(
        self, changes: Sequence[StatusChange], idempotency_key: str
    ) -> list[PushResult]:
        """VOIDED or DELETED, per Xero's transitions; erp_id = change.erp_id."""
        ...

    def allocate(self, allocations: Sequence[Allocation], idempotency_key: str) -> list[PushResult]:
        """PUT /CreditNotes/{id}/Allocations. NOT idempotent in Xero beyond the key's minutes:
        before any resend, look the credit note's allocations up with object_states."""
        ...

    def trial_balance(self, day: date) -> tuple[TrialBalanceRow, ...]: ...

    def journals(self, offset: int = 0) -> tuple[XeroJournal, ...]:
        """One page of up to 100 ledger journals with JournalNumber > offset, in order."""
        ...


class TokenStore(Protocol):
    def load(self, tenant_id: str) -> TokenSet | None: ...

    def save(self, tenant_id: str, tokens: TokenSet) -> None: ...

    def lock(self, tenant_id: str) -> AbstractContextManager[None]: ...


class JobQueue(Protocol):
    def enqueue(self, run_id: int) -> None: ...


class Scheduler(Protocol):
    """What makes RunDueSchedules happen on time: a thread of the web process (embedded), or
    RQ's scheduler on the workers (Redis). Several may run at once; the store's `fire` keeps
    each firing to one."""

    def plan(self, at: datetime) -> None:
        """Have RunDueSchedules called at `at` (or soon after), besides any earlier plan."""
        ...


class NotificationFailed(AccountsSyncError):
    code = "notification_failed"


class Notifier(Protocol):
    """Sends alerts to people (email). Raises NotificationFailed with a plain reason."""

    @property
    def configured(self) -> bool: ...

    def send(self, to: Sequence[str], subject: str, body: str) -> None: ...


class ConnectionKeeper(Protocol):
    """Keeps the accounting connection alive while nothing is synced (Xero's refresh token
    lapses after 60 days unused)."""

    def keep_alive(self) -> datetime | None:
        """Refresh the tokens now; when Xero issued them (None: nothing connected). Raises
        ReauthorisationNeeded when Xero refuses, GatewayUnavailable when it cannot be asked."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...
