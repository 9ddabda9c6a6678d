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

from ..domain.costs import CostEntry, CostFlow, MovementType
from ..domain.documents import DocumentSummary, Kind, TrackingRef, TradeDocument
from ..domain.errors import InvalidRequest
from ..domain.journals import AccountJournal
from ..domain.mapping import AccountMapping
from ..domain.money import ZERO
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

    @property
    def is_empty(self) -> bool:
        return not (self.accounts or self.tax_types or self.tracking or self.currencies
                    or self.dated_up_to or self.without_due_date or self.without_lines
                    or self.text_limit)


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


class SyncLedger(Protocol):
    """The plugin's own state: records, runs and the per-kind 'last synced up to' mark."""

    def records(self, kind: Kind, erp_ids: Sequence[str]) -> dict[str, SyncRecord]: ...

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


class UnitOfWork(Protocol):
    """One database transaction; rolls back on exit unless commit() was called."""

    documents: DocumentSource
    ledger: SyncLedger
    settings: SettingsStore

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


class TokenStore(Protocol):
    def load(self, tenant_id: str) -> TokenSet | None: ...

    def save(self, tenant_id: str, tokens: TokenSet) -> None: ...

    def lock(self, tenant_id: str) -> AbstractContextManager[None]: ...


class JobQueue(Protocol):
    def enqueue(self, run_id: int) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...
