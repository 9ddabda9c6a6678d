"""In-memory twins of the ports, for unit tests. No base classes: the Protocols are structural.

`InMemoryStore` is the 'database'; `FakeUnitOfWork` gives each unit of work a private copy of
the ledger and settings and publishes it only on commit, so a test that crashes mid-run sees
exactly what a real database would have kept.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from accounts_sync.application.ports import (
    Account,
    ChangedDocument,
    ChartOfAccounts,
    Connection,
    DocumentFacts,
    KindTotals,
    Organisation,
    Page,
    PushResult,
    RefusalFilter,
    TaxRate,
    TokenSet,
    TrackingCategory,
    natural_order,
    parse_record_cursor,
)
from accounts_sync.domain.costs import CostEntry, CostFlow, MovementType
from accounts_sync.domain.documents import DocumentSummary, Kind, TradeDocument
from accounts_sync.domain.errors import (
    NotConnected,
    NotFound,
    RateLimited,
    RunAlreadyActive,
)
from accounts_sync.domain.journals import AccountJournal, journal_key
from accounts_sync.domain.mapping import AccountMapping
from accounts_sync.domain.money import ZERO, total
from accounts_sync.domain.sync import JournalMode, SyncRecord, SyncRun, SyncState


class SimulatedCrash(BaseException):
    """The process dying: not an Exception, so nothing in the product catches it."""


# ------------------------------------------------------------------------- store and UoW


@dataclass
class LedgerState:
    records: dict[tuple[Kind, str], SyncRecord] = field(default_factory=dict)
    runs: dict[int, SyncRun] = field(default_factory=dict)
    marks: dict[Kind, date] = field(default_factory=dict)
    mapping: AccountMapping = field(default_factory=AccountMapping)
    preferences: dict[str, str] = field(default_factory=dict)
    next_run_id: int = 1
    owners: dict[int, str | None] = field(default_factory=dict)  # run id → worker holding it
    notes: list[tuple[int, str]] = field(default_factory=list)  # every note a run was given


@dataclass
class InMemoryStore:
    documents: dict[Kind, list[TradeDocument]] = field(default_factory=dict)
    cost_entries: list[CostEntry] = field(default_factory=list)
    edited_at: dict[tuple[Kind, str], datetime] = field(default_factory=dict)
    state: LedgerState = field(default_factory=LedgerState)
    commits: int = 0

    def add(self, *documents: TradeDocument) -> None:
        for doc in documents:
            self.documents.setdefault(doc.kind, []).append(doc)

    def record(self, kind: Kind, erp_id: str) -> SyncRecord | None:
        return self.state.records.get((kind, erp_id))


class FakeDocumentSource:
    def __init__(self, store: InMemoryStore, state: LedgerState) -> None:
        self.store = store
        self.state = state

    def _unsynced(self, kind: Kind, closing_date: date) -> list[TradeDocument]:
        docs = [
            d for d in self.store.documents.get(kind, [])
            if d.date <= closing_date and not self._synced(kind, d.erp_id)
        ]
        return sorted(docs, key=lambda d: (d.date, d.erp_id))

    def _synced(self, kind: Kind, erp_id: str) -> bool:
        record = self.state.records.get((kind, erp_id))
        return record is not None and record.state is SyncState.SYNCED

    def summarize_unsynced(self, kind: Kind, closing_date: date) -> KindTotals:
        docs = self._unsynced(kind, closing_date)
        return KindTotals(len(docs), total(d.total for d in docs) if docs else ZERO,
                          docs[0].date if docs else None)

    def list_unsynced(self, kind: Kind, closing_date: date, after: str | None, limit: int) -> Page:
        docs = self._unsynced(kind, closing_date)
        start = int(after) if after else 0
        chunk = docs[start:start + limit]
        items = tuple(
            DocumentSummary(d.kind, d.erp_id, d.number, d.contact.name, d.date, d.total,
                            d.currency, d.url)
            for d in chunk
        )
        more = start + limit < len(docs)
        return Page(items, str(start + limit) if more else None)

    def next_unsynced(self, kind: Kind, closing_date: date, after: tuple[date, str] | None,
                      limit: int) -> list[TradeDocument]:
        docs = self._unsynced(kind, closing_date)
        if after is not None:
            docs = [d for d in docs if (d.date, d.erp_id) > after]
        return docs[:limit]

    def get_documents(self, kind: Kind, erp_ids: Sequence[str]) -> list[TradeDocument]:
        wanted = set(erp_ids)
        return [d for d in self.store.documents.get(kind, []) if d.erp_id in wanted]

    def _journal_synced(self, day: date, movement: MovementType) -> bool:
        return self._synced(Kind.JOURNALS, journal_key(day, movement))

    def cost_flows(self, closing_date: date) -> list[CostFlow]:
        sums: dict[tuple, list] = {}
        for e in self.store.cost_entries:
            if e.date > closing_date or self._journal_synced(e.date, e.movement_type):
                continue
            key = (e.date, e.movement_type, e.category, e.from_stage, e.to_stage, e.tracking)
            acc = sums.setdefault(key, [Decimal(0), 0])
            acc[0] += e.amount
            acc[1] += 1
        return [
            CostFlow(d, m, c, f, t, amount, tracking, count)
            for (d, m, c, f, t, tracking), (amount, count) in sums.items()
        ]

    def cost_entries(self, day: date, movement: MovementType) -> list[CostEntry]:
        return [e for e in self.store.cost_entries if e.date == day and e.movement_type == movement]

    def changed_after_sync(self, kind: Kind, limit: int) -> list[ChangedDocument]:
        changed = []
        for (k, erp_id), at in self.store.edited_at.items():
            record = self.state.records.get((k, erp_id))
            if k is kind and record and record.state is SyncState.SYNCED and record.synced_at \
                    and at > record.synced_at:
                changed.append(ChangedDocument(kind, erp_id, record.number, record.xero_id or "",
                                               record.synced_at))
        return changed[:limit]

    def journal_url(self, key: str) -> str:
        return f"http://erp.test/accounts/sync/journals/{key}"

    def unsynced_facts(self, kind: Kind, closing_date: date) -> DocumentFacts:
        docs = self._unsynced(kind, closing_date)
        if not docs:
            return DocumentFacts()
        numbers = [len(d.number.strip()) for d in docs]
        names = [len(d.contact.name.strip()) for d in docs]
        return DocumentFacts(
            accounts=frozenset(ln.account_code for d in docs for ln in d.lines),
            tax_types=frozenset(ln.tax_type for d in docs for ln in d.lines),
            tracking=frozenset(ref for d in docs for ln in d.lines for ref in ln.tracking),
            currencies=frozenset(d.currency for d in docs),
            without_due_date=any(d.due_date is None for d in docs),
            without_lines=any(not d.lines for d in docs),
            number_lengths=(min(numbers), max(numbers)),
            contact_name_lengths=(min(names), max(names)),
        )

    def refused_unsynced(self, kind: Kind, closing_date: date, refusal: RefusalFilter,
                         limit: int) -> tuple[int, list[TradeDocument]]:
        def refused(d: TradeDocument) -> bool:
            limit_ = refusal.text_limit
            return (
                d.currency in refusal.currencies
                or (refusal.dated_up_to is not None and d.date <= refusal.dated_up_to)
                or (refusal.without_due_date and d.due_date is None)
                or (refusal.without_lines and not d.lines)
                or bool(limit_ and not all(1 <= len(t.strip()) <= limit_
                                           for t in (d.number, d.contact.name)))
                or any(ln.account_code in refusal.accounts or ln.tax_type in refusal.tax_types
                       or any(ref in refusal.tracking for ref in ln.tracking) for ln in d.lines)
            )
        found = [d for d in self._unsynced(kind, closing_date) if refused(d)]
        return len(found), found[:limit]


class FakeLedger:
    def __init__(self, state: LedgerState) -> None:
        self.state = state

    def records(self, kind: Kind, erp_ids: Sequence[str]) -> dict[str, SyncRecord]:
        return {i: r for i in erp_ids if (r := self.state.records.get((kind, i)))}

    def save_records(self, records: Sequence[SyncRecord]) -> None:
        for r in records:
            self.state.records[(r.kind, r.erp_id)] = r

    def in_flight(self, kind: Kind) -> list[SyncRecord]:
        return [r for (k, _), r in self.state.records.items()
                if k is kind and r.state is SyncState.IN_FLIGHT]

    def failed(self, kind: Kind, limit: int) -> list[SyncRecord]:
        return [r for (k, _), r in self.state.records.items()
                if k is kind and r.state is SyncState.FAILED][:limit]

    def records_for_run(self, run_id: int, limit: int, after: str | None = None) -> list[SyncRecord]:
        records = sorted((r for r in self.state.records.values() if r.run_id == run_id),
                         key=natural_order)
        if after is not None:
            kind, number, erp_id = parse_record_cursor(after)
            start = (kind, len(number), number, erp_id)
            records = [r for r in records if natural_order(r) > start]
        return records[:limit]

    def unsettled(self) -> dict[Kind, tuple[int, int]]:
        counts: dict[Kind, list[int]] = {}
        for r in self.state.records.values():
            if r.state in (SyncState.FAILED, SyncState.IN_FLIGHT):
                slot = counts.setdefault(r.kind, [0, 0])
                slot[0 if r.state is SyncState.FAILED else 1] += 1
        return {k: (f, i) for k, (f, i) in counts.items()}

    def last_runs(self) -> dict[Kind, SyncRun]:
        found: dict[Kind, SyncRun] = {}
        for run in sorted(self.state.runs.values(), key=lambda r: r.id):
            found[run.kind] = run
        return found

    def note_run(self, run_id: int, note: str) -> None:
        run = self.state.runs.get(run_id)
        if run is not None and run.is_active:
            self.state.runs[run_id] = replace(run, note=note)
            self.state.notes.append((run_id, note))

    def claim_run(self, kind: Kind, closing_date: date, requested_by: str,
                  mode: JournalMode | None, at: datetime) -> SyncRun:
        active = self.active_run(kind)
        if active is not None:
            raise RunAlreadyActive(active.id, kind.value)
        run = SyncRun(self.state.next_run_id, kind, closing_date, requested_by, mode=mode,
                      created_at=at)
        self.state.next_run_id += 1
        self.state.runs[run.id] = run
        return run

    def get_run(self, run_id: int) -> SyncRun:
        try:
            return self.state.runs[run_id]
        except KeyError:
            raise NotFound(f"There is no sync run {run_id}.") from None

    def save_run(self, run: SyncRun) -> None:
        self.state.runs[run.id] = run

    def active_run(self, kind: Kind) -> SyncRun | None:
        return next((r for r in self.state.runs.values() if r.kind is kind and r.is_active), None)

    def list_runs(self, limit: int, before_id: int | None = None) -> list[SyncRun]:
        runs = sorted(self.state.runs.values(), key=lambda r: -r.id)
        return [r for r in runs if before_id is None or r.id < before_id][:limit]

    def last_synced_up_to(self, kind: Kind) -> date | None:
        return self.state.marks.get(kind)

    def set_last_synced_up_to(self, kind: Kind, day: date) -> None:
        self.state.marks[kind] = day

    # workers and stuck runs
    def _last_sign_of_life(self, run: SyncRun) -> datetime:
        return run.heartbeat_at or run.created_at or datetime.min.replace(tzinfo=UTC)

    def stale_runs(self, stale_before: datetime) -> list[SyncRun]:
        return sorted((r for r in self.state.runs.values()
                       if r.is_active and self._last_sign_of_life(r) < stale_before),
                      key=lambda r: r.id)

    def _set(self, run_id: int, owner: str | None, at: datetime) -> SyncRun:
        run = replace(self.state.runs[run_id], heartbeat_at=at)
        self.state.runs[run_id] = run
        self.state.owners[run_id] = owner
        return run

    def take_run(self, run_id: int, owner: str, at: datetime, stale_before: datetime) -> SyncRun | None:
        run = self.state.runs.get(run_id)
        if run is None or not run.is_active:
            return None
        holder = self.state.owners.get(run_id)
        free = (holder is None and run.state.value == "queued") or holder == owner \
            or self._last_sign_of_life(run) < stale_before
        return self._set(run_id, owner, at) if free else None

    def beat_run(self, run_id: int, owner: str, at: datetime) -> bool:
        run = self.state.runs.get(run_id)
        if run is None or not run.is_active or self.state.owners.get(run_id) != owner:
            return False
        self._set(run_id, owner, at)
        return True

    def seize_stale_run(self, run_id: int, stale_before: datetime, at: datetime,
                        owner: str | None) -> SyncRun | None:
        run = self.state.runs.get(run_id)
        if run is None or not run.is_active or self._last_sign_of_life(run) >= stale_before:
            return None
        return self._set(run_id, owner, at)


class FakeSettings:
    def __init__(self, state: LedgerState) -> None:
        self.state = state

    def mapping(self) -> AccountMapping:
        return self.state.mapping

    def save_mapping(self, mapping: AccountMapping) -> None:
        self.state.mapping = mapping

    def preference(self, name: str, default: str = "") -> str:
        return self.state.preferences.get(name, default)

    def set_preference(self, name: str, value: str) -> None:
        self.state.preferences[name] = value


class FakeUnitOfWork:
    def __init__(self, store: InMemoryStore) -> None:
        self.store = store

    def __enter__(self) -> FakeUnitOfWork:
        self._state = copy.deepcopy(self.store.state)
        self.documents = FakeDocumentSource(self.store, self._state)
        self.ledger = FakeLedger(self._state)
        self.settings = FakeSettings(self._state)
        return self

    def __exit__(self, *exc: object) -> None:
        del self._state  # uncommitted changes vanish, as a rollback would

    def commit(self) -> None:
        self.store.state = copy.deepcopy(self._state)
        self.store.commits += 1


def uow_factory(store: InMemoryStore):
    return lambda: FakeUnitOfWork(store)


# ------------------------------------------------------------------------- Xero


@dataclass
class XeroObject:
    kind: Kind
    erp_id: str
    number: str
    xero_id: str
    payload: object
    status: str = ""


def default_chart(lock_date: date | None = None) -> ChartOfAccounts:
    accounts = [
        ("1410", "Fruit inventory", "INVENTORY"), ("1420", "Additives inventory", "INVENTORY"),
        ("1430", "Dry goods inventory", "INVENTORY"), ("1440", "Bulk wine WIP", "INVENTORY"),
        ("1450", "Bottled wine inventory", "INVENTORY"), ("5000", "COGS - wine", "DIRECTCOSTS"),
        ("5100", "Wine losses", "EXPENSE"), ("5900", "Production overhead recovered", "DIRECTCOSTS"),
        ("4000", "Wine sales", "REVENUE"), ("4010", "Export sales", "REVENUE"),
        ("4100", "Freight recovered", "REVENUE"), ("6100", "Contract services", "EXPENSE"),
        ("860", "Rounding", "EXPENSE"),
    ]
    return ChartOfAccounts(
        organisation=Organisation("tenant-1", "Barossa Ridge Wines", "AUD",
                                  period_lock_date=lock_date),
        accounts=tuple(Account(c, n, t) for c, n, t in accounts)
        + (Account("1460", "Old barrel stock", "INVENTORY", status="ARCHIVED"),),
        tax_rates=(TaxRate("OUTPUT", "GST on Income", Decimal("10")),
                   TaxRate("INPUT", "GST on Expenses", Decimal("10")),
                   TaxRate("EXEMPTEXPORT", "GST Free Exports"),
                   TaxRate("BASEXCLUDED", "BAS Excluded")),
        tracking=(TrackingCategory("Vintage", ("2023", "2024", "2025", "2026")),
                  TrackingCategory("Brand", ("Estate", "Reserve"))),
    )


class FakeGateway:
    """Xero in memory: creates objects, can refuse chosen elements, crash after committing a
    batch, answer 429 (as RateLimited, what the real gateway raises once its retries give up),
    and replays an Idempotency-Key like Xero does."""

    def __init__(self, chart: ChartOfAccounts | None = None) -> None:
        self.chart_ = chart or default_chart()
        self.objects: dict[str, XeroObject] = {}
        self.fail_elements: dict[str, str] = {}  # erp_id → Xero's validation message
        self.warn_elements: dict[str, str] = {}
        self.lose_answers: set[str] = set()  # erp_ids created whose element answer is lost
        self.crash_after_commit_on_push: int | None = None  # 1-based push call number
        self.rate_limited_pushes: int = 0  # the next N pushes answer 429
        self.connected = True
        self.push_calls: list[tuple[Kind, int, str]] = []  # (kind, elements, idempotency key)
        self.lookups: list[tuple[Kind, int]] = []
        self.prepared: list[int] = []  # chunk sizes whose contacts were prepared
        self.forgotten = 0  # how many times the chart was dropped, to be read again
        self.chart_reads = 0
        self.enabled_currencies: frozenset[str] = frozenset({"AUD", "NZD", "USD"})
        self.waits_on_push: list[str] = []  # notes told to the observer on the next push
        self.raise_on_push: list[BaseException] = []  # raised by the next pushes, in order
        self._listener = None
        self._replies: dict[str, list[PushResult]] = {}
        self._ids = itertools.count(1)

    def forget_chart(self) -> None:
        self.forgotten += 1

    def currencies(self) -> frozenset[str]:
        return self.enabled_currencies

    @contextmanager
    def observe(self, listener):
        previous, self._listener = self._listener, listener
        try:
            yield
        finally:
            self._listener = previous

    # reads
    def connection(self) -> Connection | None:
        if not self.connected:
            return None
        return Connection(self.chart_.organisation.tenant_id, self.chart_.organisation.name)

    def web_url(self, kind: Kind, xero_id: str) -> str:
        return f"https://xero.test/{kind.value}/{xero_id}"

    def chart(self) -> ChartOfAccounts:
        if not self.connected:
            raise NotConnected()
        self.chart_reads += 1
        return self.chart_

    def tracking_categories(self):
        return self.chart().tracking

    def find_existing(self, kind: Kind, records: Sequence[SyncRecord]) -> dict[str, str]:
        self.lookups.append((kind, len(records)))
        wanted = {r.erp_id for r in records}
        return {o.erp_id: o.xero_id for o in self.objects.values()
                if o.kind is kind and o.erp_id in wanted}

    # writes
    def prepare_contacts(self, documents: Sequence[TradeDocument]) -> None:
        self.prepared.append(len(documents))

    def push_invoices(self, documents: Sequence[TradeDocument], idempotency_key: str):
        kind = documents[0].kind if documents else Kind.SALES_ORDERS
        return self._push(kind, documents, idempotency_key, "AUTHORISED")

    def push_credit_notes(self, documents: Sequence[TradeDocument], idempotency_key: str):
        return self._push(Kind.REFUNDS, documents, idempotency_key, "AUTHORISED")

    def push_manual_journals(self, journals: Sequence[AccountJournal], mode: JournalMode,
                             idempotency_key: str):
        for j in journals:
            assert j.is_balanced, f"unbalanced journal {j.key} reached the gateway"
            assert len(j.lines) >= 2
        return self._push(Kind.JOURNALS, journals, idempotency_key, mode.value)

    def _push(self, kind: Kind, items: Sequence, key: str, status: str) -> list[PushResult]:
        assert 1 <= len(items) <= 50, "batches hold 1 to 50 elements"
        assert key, "every write carries an Idempotency-Key"
        if key in self._replies:
            return self._replies[key]
        self.push_calls.append((kind, len(items), key))
        while self.waits_on_push and self._listener is not None:
            self._listener(self.waits_on_push.pop(0))
        if self.raise_on_push:
            raise self.raise_on_push.pop(0)
        if self.rate_limited_pushes:
            self.rate_limited_pushes -= 1
            raise RateLimited(30, "minute")
        results = []
        for item in items:
            erp_id = item.key if isinstance(item, AccountJournal) else item.erp_id
            number = item.key if isinstance(item, AccountJournal) else item.number
            if erp_id in self.fail_elements:
                results.append(PushResult(erp_id, errors=(self.fail_elements[erp_id],)))
                continue
            xero_id = f"xero-{next(self._ids)}"
            self.objects[xero_id] = XeroObject(kind, erp_id, number, xero_id, item, status)
            warnings = (self.warn_elements[erp_id],) if erp_id in self.warn_elements else ()
            if erp_id in self.lose_answers:
                results.append(PushResult(erp_id, outcome_unknown=True, errors=("no answer",)))
                continue
            results.append(PushResult(erp_id, xero_id=xero_id, warnings=warnings))
        self._replies[key] = results
        if self.crash_after_commit_on_push == len(self.push_calls):
            raise SimulatedCrash("worker died after Xero committed the batch")
        return results

    def created(self, kind: Kind) -> list[XeroObject]:
        return [o for o in self.objects.values() if o.kind is kind]


# ------------------------------------------------------------------------- time, queue, tokens


class FakeClock:
    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return self._now.date()

    def advance(self, **kwargs: float) -> None:
        self._now += timedelta(**kwargs)


class FakeJobQueue:
    def __init__(self) -> None:
        self.enqueued: list[int] = []

    def enqueue(self, run_id: int) -> None:
        self.enqueued.append(run_id)


class FakeTokenStore:
    def __init__(self) -> None:
        self.tokens: dict[str, TokenSet] = {}

    def load(self, tenant_id: str) -> TokenSet | None:
        return self.tokens.get(tenant_id)

    def save(self, tenant_id: str, tokens: TokenSet) -> None:
        self.tokens[tenant_id] = tokens

    @contextmanager
    def lock(self, tenant_id: str):
        yield


def edited(store: InMemoryStore, document: TradeDocument, at: datetime) -> TradeDocument:
    """Simulate an ERP edit after sync: new content, new fingerprint, edit time recorded."""
    changed = replace(document, reference=document.reference + " (edited)", fingerprint="")
    docs = store.documents[document.kind]
    docs[docs.index(document)] = changed
    store.edited_at[(document.kind, document.erp_id)] = at
    return changed
