"""In-memory twins of the ports, for unit tests. No base classes: the Protocols are structural.

`InMemoryStore` is the 'database'; `FakeUnitOfWork` gives each unit of work a private copy of
the ledger and settings and publishes it only on commit, so a test that crashes mid-run sees
exactly what a real database would have kept.
"""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from accounts_sync.application.ports import (
    AUTHORISED,
    DELETED,
    DRAFT,
    GONE_STATUSES,
    PAID,
    POSTED,
    SUBMITTED,
    VOIDED,
    Account,
    Allocation,
    ChangedDocument,
    ChangedPage,
    ChartOfAccounts,
    Connection,
    DocumentFacts,
    DocumentUpdate,
    ErpDocumentNow,
    KindTotals,
    Organisation,
    Page,
    PushResult,
    RefusalFilter,
    StatusChange,
    TaxRate,
    TokenSet,
    TrackingCategory,
    TrialBalanceRow,
    XeroChange,
    XeroJournal,
    XeroJournalLine,
    XeroObjectState,
    natural_order,
    parse_record_cursor,
)
from accounts_sync.domain.alerts import Alert, AlertKind
from accounts_sync.domain.corrections import SentLine
from accounts_sync.domain.costs import CostCategory, CostEntry, CostFlow, MovementType, Stage
from accounts_sync.domain.documents import (
    CREDIT_NOTE_TYPES,
    INVOICE_TYPES,
    DocumentSummary,
    Kind,
    LineAmountTypes,
    TradeDocument,
)
from accounts_sync.domain.errors import (
    NotConnected,
    NotFound,
    RateLimited,
    RunAlreadyActive,
)
from accounts_sync.domain.inventory import BatchRef, ProductRef, PurchaseBalance, StockBalance
from accounts_sync.domain.journals import AccountJournal, journal_key
from accounts_sync.domain.mapping import AccountMapping
from accounts_sync.domain.money import ZERO, money, total
from accounts_sync.domain.reconciliation import (
    OBJECT_SOURCES,
    ContactSum,
    ErpState,
    LineSum,
    XeroLineSum,
)
from accounts_sync.domain.schedules import ScheduleEntry
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
    xero_changes: dict[tuple[Kind, str], XeroChange] = field(default_factory=dict)
    schedules: dict[str, ScheduleEntry] = field(default_factory=dict)
    alerts: list[tuple[Alert, int | None]] = field(default_factory=list)  # (alert, repeat of)
    # Xero's general ledger as read so far: (journal, owning record or None)
    xero_journals: list[tuple[XeroJournal, SyncRecord | None]] = field(default_factory=list)


@dataclass(frozen=True)
class StockMove:
    """A cost entry as the valuation reads it: with the litres or cases that moved and the
    batch or product (the SQL adapter reads them from the host's cost entries)."""

    day: date
    from_stage: Stage
    to_stage: Stage
    category: CostCategory
    amount: Decimal
    litres: Decimal = Decimal(0)
    cases: Decimal = Decimal(0)
    batch: BatchRef | None = None
    product: ProductRef | None = None
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass
class InMemoryStore:
    documents: dict[Kind, list[TradeDocument]] = field(default_factory=dict)
    cost_entries: list[CostEntry] = field(default_factory=list)
    stock_moves: list[StockMove] = field(default_factory=list)
    edited_at: dict[tuple[Kind, str], datetime] = field(default_factory=dict)
    cancelled: dict[tuple[Kind, str], TradeDocument] = field(default_factory=dict)
    refund_of: dict[str, str] = field(default_factory=dict)  # refund erp id → sale erp id
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
        return self._flows(closing_date, synced=False)

    def _flows(self, closing_date: date, synced: bool) -> list[CostFlow]:
        sums: dict[tuple, list] = {}
        for e in self.store.cost_entries:
            if e.date > closing_date or self._journal_synced(e.date, e.movement_type) != synced:
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
            read_at = record.read_at or record.synced_at if record else None
            if k is kind and record and record.state is SyncState.SYNCED and read_at \
                    and at > read_at:
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
            attributes=frozenset(ln.attributes for d in docs for ln in d.lines),
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
                       or any(ref in refusal.tracking for ref in ln.tracking)
                       or (ln.attributes and ln.attributes in refusal.attributes)
                       for ln in d.lines)
            )
        found = [d for d in self._unsynced(kind, closing_date) if refused(d)]
        return len(found), found[:limit]

    def documents_now(self, kind: Kind, erp_ids: Sequence[str]) -> dict[str, ErpDocumentNow]:
        current = {d.erp_id: d for d in self.store.documents.get(kind, [])}
        found = {}
        for erp_id in erp_ids:
            refund_of = self.store.refund_of.get(erp_id, "") if kind is Kind.REFUNDS else ""
            if erp_id in current:
                found[erp_id] = ErpDocumentNow(erp_id, current[erp_id], refund_of=refund_of)
            elif (kind, erp_id) in self.store.cancelled:
                found[erp_id] = ErpDocumentNow(erp_id, None, "cancelled in the ERP", refund_of)
            else:
                found[erp_id] = ErpDocumentNow(erp_id, None, "deleted in the ERP", refund_of)
        return found

    def removed_after_sync(self, kind: Kind, limit: int) -> list[str]:
        present = {d.erp_id for d in self.store.documents.get(kind, [])}
        present |= {e for k, e in self.store.cancelled if k is kind}
        return [r.erp_id for (k, _), r in self.state.records.items()
                if k is kind and r.state is SyncState.SYNCED and r.erp_id not in present
                and not r.fingerprint.startswith("removed:")][:limit]

    def refunds_to_allocate(self, closing_date: date, limit: int) -> list[tuple[str, str]]:
        allocated = {r.correction.original_erp_id for r in self.state.records.values()
                     if r.correction is not None and r.state is SyncState.SYNCED
                     and r.correction.original_kind is Kind.REFUNDS
                     and r.correction.action.value == "allocate"}
        pairs = []
        for refund in sorted(self.store.documents.get(Kind.REFUNDS, []), key=lambda d: (d.date, d.erp_id)):
            sale = self.store.refund_of.get(refund.erp_id)
            refund_record = self.state.records.get((Kind.REFUNDS, refund.erp_id))
            sale_record = self.state.records.get((Kind.SALES_ORDERS, sale)) if sale else None
            if sale and refund.date <= closing_date and refund.erp_id not in allocated \
                    and self._synced(Kind.REFUNDS, refund.erp_id) \
                    and self._synced(Kind.SALES_ORDERS, sale) \
                    and refund_record.xero_status != "PAID" \
                    and sale_record.xero_status not in ("PAID", "VOIDED", "DELETED") \
                    and refund_record.xero_id and sale_record.xero_id \
                    and refund_record.sent is not None:
                pairs.append((refund.erp_id, sale))
        return pairs[:limit]

    def synced_cost_flows(self, closing_date: date) -> list[CostFlow]:
        return self._flows(closing_date, synced=True)

    def stock_balances(self, closing_date: date, since: date | None = None) -> list[StockBalance]:
        sums: dict[tuple, list[Decimal]] = {}
        for move in self.store.stock_moves:
            if move.day > closing_date or (since is not None and move.day < since):
                continue
            sides = [(move.to_stage, 1)] + ([] if move.from_stage == move.to_stage
                                            else [(move.from_stage, -1)])
            for stage, sign in sides:
                key = (stage, move.category, move.batch, move.product, move.attributes)
                acc = sums.setdefault(key, [Decimal(0)] * 3)
                acc[0] += sign * move.amount
                acc[1] += sign * move.litres
                acc[2] += sign * move.cases
        return [StockBalance(stage, category, amount, litres, cases, batch, product, attributes)
                for (stage, category, batch, product, attributes), (amount, litres, cases)
                in sums.items()]

    def document_sums(self, closing_date: date, period_start: date
                      ) -> tuple[list[LineSum], list[ContactSum]]:
        lines: list[LineSum] = []
        totals: list[ContactSum] = []
        for kind in (Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS, Kind.REFUNDS):
            for d in self.store.documents.get(kind, []):
                if d.date > closing_date:
                    continue
                record = self.state.records.get((kind, d.erp_id))
                state = (ErpState.SYNCED if record and record.state is SyncState.SYNCED
                         else ErpState.FAILED if record and record.state is SyncState.FAILED
                         else ErpState.NOT_SYNCED)
                whole = ZERO
                for line in d.lines:
                    net = line.line_amount - line.tax_amount \
                        if d.line_amount_types is LineAmountTypes.INCLUSIVE else line.line_amount
                    whole += net + line.tax_amount
                    lines.append(LineSum(d.xero_type, state, d.date < period_start,
                                         line.account_code, line.tracking, net, line.tax_amount,
                                         line.attributes))
                totals.append(ContactSum(d.xero_type, state, d.contact.erp_id, d.contact.name,
                                         whole))
        return lines, totals

    def purchases_by_account(self, account_codes: Sequence[str],
                             closing_date: date) -> list[PurchaseBalance]:
        sums: dict[tuple[str, tuple], Decimal] = {}
        for doc in self.store.documents.get(Kind.PURCHASE_ORDERS, []):
            if doc.date > closing_date:
                continue
            for line in doc.lines:
                if line.account_code in account_codes:
                    key = (line.account_code, line.attributes)
                    sums[key] = sums.get(key, Decimal(0)) + line.line_amount
        return [PurchaseBalance(code, amount, attributes)
                for (code, attributes), amount in sums.items()]


class FakeLedger:
    def __init__(self, state: LedgerState) -> None:
        self.state = state

    def records(self, kind: Kind, erp_ids: Sequence[str], lines: bool = True
                ) -> dict[str, SyncRecord]:
        found = {i: r for i in erp_ids if (r := self.state.records.get((kind, i)))}
        return found if lines else {i: replace(r, sent=None) for i, r in found.items()}

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

    def corrections_of(self, originals: Sequence[tuple[Kind, str]]
                       ) -> dict[tuple[Kind, str], list[SyncRecord]]:
        wanted = set(originals)
        found: dict[tuple[Kind, str], list[SyncRecord]] = {}
        for record in self.state.records.values():
            link = record.correction
            if link is not None and (link.original_kind, link.original_erp_id) in wanted:
                found.setdefault((link.original_kind, link.original_erp_id), []).append(record)
        return found

    def synced_journals(self, closing_date: date) -> dict[str, str]:
        return dict(sorted((r.erp_id, r.fingerprint) for (k, _), r in self.state.records.items()
                           if k is Kind.JOURNALS and r.state is SyncState.SYNCED
                           and date.fromisoformat(r.erp_id[:10]) <= closing_date))

    def sent_unknown(self, kind: Kind, erp_ids: Sequence[str]) -> dict[str, str]:
        return {i: r.number for i in erp_ids
                if (r := self.state.records.get((kind, i))) is not None and r.sent is None}

    def records_by_xero_id(self, xero_ids: Sequence[str]) -> dict[str, SyncRecord]:
        wanted = set(xero_ids)
        found: dict[str, SyncRecord] = {}
        for record in sorted(self.state.records.values(), key=lambda r: r.kind is not Kind.CORRECTIONS):
            if record.xero_id in wanted:
                found[record.xero_id] = record
        return found

    def mark_read(self, kind: Kind, erp_ids: Sequence[str], at: datetime) -> None:
        for erp_id in erp_ids:
            record = self.state.records.get((kind, erp_id))
            if record is not None and record.state is SyncState.SYNCED:
                self.state.records[(kind, erp_id)] = replace(record, read_at=at)

    def first_synced_at(self) -> datetime | None:
        times = [r.synced_at for r in self.state.records.values() if r.synced_at]
        return min(times) if times else None

    def sent_sums(self, closing_date: date, period_start: date
                  ) -> tuple[list[LineSum], list[ContactSum]]:
        lines: list[LineSum] = []
        totals: list[ContactSum] = []
        for record in self.state.records.values():
            sent = record.sent
            if record.kind is Kind.CORRECTIONS or record.state is not SyncState.SYNCED \
                    or sent is None or sent.date > closing_date:
                continue
            state = "draft" if record.xero_status in ("DRAFT", "SUBMITTED") else "posted"
            for line in sent.lines:
                lines.append(LineSum(sent.document_type, state, sent.date < period_start,
                                     line.account_code,
                                     tuple(sorted(line.tracking, key=lambda t: t.category)),
                                     line.amount, line.tax_amount))
            if sent.document_type:
                totals.append(ContactSum(sent.document_type, state, sent.contact,
                                         sent.contact_name, sent.net + sent.tax))
        return lines, totals

    def xero_journal_offset(self) -> int:
        return max((j.number for j, _ in self.state.xero_journals), default=0)

    def save_xero_journals(self, journals: Sequence[XeroJournal]) -> None:
        numbers = {j.number for j in journals}
        owners = self.records_by_xero_id([j.source_id for j in journals
                                          if j.source_type in OBJECT_SOURCES])
        self.state.xero_journals = [(j, r) for j, r in self.state.xero_journals
                                    if j.number not in numbers]
        self.state.xero_journals.extend((j, owners.get(j.source_id)) for j in journals)

    def claim_xero_journals(self) -> int:
        owners = self.records_by_xero_id([j.source_id for j, r in self.state.xero_journals
                                          if r is None and j.source_type in OBJECT_SOURCES])
        self.state.xero_journals = [(j, r or owners.get(j.source_id))
                                    for j, r in self.state.xero_journals]
        return len(owners)

    def xero_line_sums(self, closing_date: date, period_start: date) -> list[XeroLineSum]:
        sums: dict[tuple, Decimal] = defaultdict(Decimal)
        for journal, record in self.state.xero_journals:
            if journal.date > closing_date:
                continue
            sent = record.sent if record is not None else None
            contact = (sent.contact, sent.contact_name) if sent is not None else ("", "")
            for line in journal.lines:
                tracking = tuple(sorted(line.tracking, key=lambda t: t.category))
                sums[line.account_code, journal.date < period_start, record is not None,
                     *contact, tracking] += line.net_amount
        return [XeroLineSum(code, earlier, ours, amount, contact, name, tracking)
                for (code, earlier, ours, contact, name, tracking), amount in sums.items()
                if amount]

    def xero_source_sums(self, source_ids: Sequence[str]) -> dict[str, dict[str, Decimal]]:
        wanted = set(source_ids)
        out: dict[str, dict[str, Decimal]] = {}
        for journal, _ in self.state.xero_journals:
            if journal.source_id in wanted:
                for line in journal.lines:
                    sums = out.setdefault(journal.source_id, {})
                    sums[line.account_code] = sums.get(line.account_code, ZERO) + line.net_amount
        return {source: {c: a for c, a in sums.items() if a} for source, sums in out.items()}

    def xero_journal_entries(self, closing_date: date, account_code: str, others_only: bool,
                             limit: int) -> list[XeroJournal]:
        found = [replace(j, lines=tuple(ln for ln in j.lines if ln.account_code == account_code),
                         record_kind=r.kind.value if r else "", record_erp_id=r.erp_id if r else "")
                 for j, r in reversed(self.state.xero_journals)
                 if j.date <= closing_date and not (others_only and r is not None)
                 and any(ln.account_code == account_code for ln in j.lines)]
        return found[:limit]

    def save_xero_changes(self, changes: Sequence[XeroChange]) -> None:
        for change in changes:
            self.state.xero_changes[(change.kind, change.xero_id)] = change

    def xero_changes(self, limit: int, ours_only: bool = False) -> list[XeroChange]:
        changes = [c for c in self.state.xero_changes.values()
                   if not ours_only or c.record_erp_id is not None]
        changes.sort(key=lambda c: c.updated_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return changes[:limit]

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


class FakeScheduleStore:
    def __init__(self, state: LedgerState) -> None:
        self.state = state

    def entries(self) -> dict[str, ScheduleEntry]:
        return dict(self.state.schedules)

    def save(self, entry: ScheduleEntry) -> None:
        self.state.schedules[entry.name] = entry

    def fire(self, name: str, seen_due: datetime, next_due: datetime | None, at: datetime) -> bool:
        entry = self.state.schedules.get(name)
        if entry is None or entry.next_due_at != seen_due:
            return False
        self.state.schedules[name] = replace(entry, next_due_at=next_due, last_due_at=seen_due,
                                             last_fired_at=at, last_outcome="Starting…",
                                             last_run_id=None)
        return True

    def record_outcome(self, name: str, outcome: str, run_id: int | None) -> None:
        entry = self.state.schedules[name]
        self.state.schedules[name] = replace(entry, last_outcome=outcome, last_run_id=run_id)


class FakeAlertLog:
    def __init__(self, state: LedgerState) -> None:
        self.state = state

    def _find(self, alert_id: int) -> int:
        return next(i for i, (a, _) in enumerate(self.state.alerts) if a.id == alert_id)

    def _update(self, alert_id: int, **changes: object) -> None:
        i = self._find(alert_id)
        alert, of = self.state.alerts[i]
        self.state.alerts[i] = (replace(alert, **changes), of)

    def add(self, alert: Alert) -> Alert | None:
        if any(a.key == alert.key for a, _ in self.state.alerts):
            return None
        stored = replace(alert, id=len(self.state.alerts) + 1)
        self.state.alerts.append((stored, None))
        return stored

    def latest(self, topic: str) -> Alert | None:
        mine = [a for a, of in self.state.alerts if a.topic == topic and of is None]
        return mine[-1] if mine else None

    def known(self, keys) -> set[str]:
        return {a.key for a, _ in self.state.alerts} & set(keys)

    def repeat(self, original_id: int, key: str, at: datetime) -> bool:
        if any(a.key == key for a, _ in self.state.alerts):
            return False
        original = self.state.alerts[self._find(original_id)][0]
        self.state.alerts.append((replace(original, key=key, id=len(self.state.alerts) + 1),
                                  original_id))
        self._update(original_id, repeats=original.repeats + 1, last_repeated_at=at)
        return True

    def resolve(self, topic: str, at: datetime, raised_before: datetime) -> None:
        for alert, of in list(self.state.alerts):
            if (alert.topic == topic and of is None and alert.resolved_at is None
                    and alert.created_at is not None and alert.created_at < raised_before):
                self._update(alert.id, resolved_at=at)

    def emailed(self, alert_id: int, to: str, at: datetime) -> None:
        attempts = self.state.alerts[self._find(alert_id)][0].email_attempts
        self._update(alert_id, emailed_at=at, email_to=to, email_error="",
                     email_attempts=attempts + 1)

    def email_failed(self, alert_id: int, to: str, error: str) -> None:
        attempts = self.state.alerts[self._find(alert_id)][0].email_attempts
        self._update(alert_id, email_to=to, email_error=error, email_attempts=attempts + 1)

    def unsent(self, limit: int, max_attempts: int) -> list[Alert]:
        return [a for a, of in self.state.alerts if of is None and a.emailed_at is None
                and a.email_to and a.email_attempts < max_attempts][:limit]

    def recent(self, limit: int, before_id: int | None = None, shown_only: bool = False,
               digests: bool = False) -> list[Alert]:
        found = [a for a, of in reversed(self.state.alerts) if of is None
                 and (before_id is None or a.id < before_id)
                 and (not shown_only or a.dismissed_at is None)
                 and (digests or a.kind is not AlertKind.DIGEST)]
        return found[:limit]

    def dismiss(self, alert_id: int, by: str, at: datetime) -> bool:
        alert = self.state.alerts[self._find(alert_id)][0]
        if alert.dismissed_at is not None:
            return False
        self._update(alert_id, dismissed_at=at, dismissed_by=by)
        return True

    def shown(self) -> list[Alert]:
        """For tests: the alerts themselves (repeats left out), oldest first."""
        return [a for a, of in self.state.alerts if of is None]


class FakeUnitOfWork:
    def __init__(self, store: InMemoryStore) -> None:
        self.store = store

    def __enter__(self) -> FakeUnitOfWork:
        self._state = copy.deepcopy(self.store.state)
        self.documents = FakeDocumentSource(self.store, self._state)
        self.ledger = FakeLedger(self._state)
        self.settings = FakeSettings(self._state)
        self.schedules = FakeScheduleStore(self._state)
        self.alerts = FakeAlertLog(self._state)
        return self

    def __exit__(self, *exc: object) -> None:
        del self._state  # uncommitted changes vanish, as a rollback would

    def commit(self) -> None:
        self.store.state = copy.deepcopy(self._state)
        self.store.commits += 1


def uow_factory(store: InMemoryStore):
    return lambda: FakeUnitOfWork(store)


# ------------------------------------------------------------------------- Xero
#
# The fake follows the rules written down in docs/xero-rules.md (the sandbox follows the same
# page over HTTP): status moves, what a payment or an allocation blocks, lock dates, allocation
# limits, If-Modified-Since, and a general ledger (GET /Journals) from which the trial balance
# is summed. Messages are Xero's own where we know them; nothing in the product parses them.

# Xero's own accounts that documents post to (the demo chart's codes).
BANK_ACCOUNT, RECEIVABLES, PAYABLES, GST_ACCOUNT, RETAINED_EARNINGS = "090", "610", "800", "820", "960"

MSG_NOT_VALID_STATUS = "Invoice not of valid status for modification"
MSG_APPLIED = "This document cannot be edited as it has a payment or credit note allocated to it."
MSG_DUE_DATE = "Due Date must be specified."
MSG_NEGATIVE = "The document total must not be negative."
MSG_POSTED_JOURNAL = ("A posted manual journal cannot be edited through the API; void it, or post "
                      "an adjustment.")
MSG_PAID_OFF = "The invoice you are trying to allocate to has already been paid off"
MSG_OVER_ALLOCATED = "Credit Note cannot be allocated as amount is greater than amount outstanding"
MSG_WRONG_TYPE = "Credit Note cannot be allocated to an incorrect invoice type"

# Status moves the API allows (docs/xero-rules.md, "Statuses").
DOCUMENT_MOVES = {
    DRAFT: {DRAFT, SUBMITTED, AUTHORISED, DELETED},
    SUBMITTED: {DRAFT, SUBMITTED, AUTHORISED, DELETED},
    AUTHORISED: {AUTHORISED, VOIDED},
}
JOURNAL_MOVES = {DRAFT: {DRAFT, POSTED, DELETED}, POSTED: {VOIDED}}
XERO_KIND = {"ACCREC": Kind.SALES_ORDERS, "ACCPAY": Kind.PURCHASE_ORDERS,
             "ACCRECCREDIT": Kind.REFUNDS, "ACCPAYCREDIT": Kind.REFUNDS, "": Kind.JOURNALS}
# +1: the document's lines are debits (a bill, a customer credit note); -1: credits.
LINE_SIGN = {"ACCREC": -1, "ACCPAY": 1, "ACCRECCREDIT": 1, "ACCPAYCREDIT": -1}
CONTROL_ACCOUNT = {"ACCREC": RECEIVABLES, "ACCRECCREDIT": RECEIVABLES,
                   "ACCPAY": PAYABLES, "ACCPAYCREDIT": PAYABLES}
PAYMENT_SOURCE = {"ACCREC": "ACCRECPAYMENT", "ACCPAY": "ACCPAYPAYMENT",
                  "ACCRECCREDIT": "ARCREDITPAYMENT", "ACCPAYCREDIT": "APCREDITPAYMENT"}
SECTIONS = {
    "REVENUE": "Revenue", "SALES": "Revenue", "OTHERINCOME": "Revenue",
    "DIRECTCOSTS": "Expenses", "EXPENSE": "Expenses", "OVERHEADS": "Expenses",
    "DEPRECIATN": "Expenses",
    "BANK": "Assets", "CURRENT": "Assets", "INVENTORY": "Assets", "FIXED": "Assets",
    "NONCURRENT": "Assets", "PREPAYMENT": "Assets",
    "CURRLIAB": "Liabilities", "LIABILITY": "Liabilities", "TERMLIAB": "Liabilities",
    "EQUITY": "Equity",
}
PAGE = 100


@dataclass
class XeroObject:
    """One invoice, bill, credit note or manual journal as the fake Xero holds it.

    `kind` is the ERP kind it was pushed for (what `created(kind)` counts); the kind Xero
    files it under follows `document_type` (see XERO_KIND)."""

    kind: Kind
    erp_id: str
    number: str
    xero_id: str
    payload: object  # the TradeDocument or AccountJournal last sent (None when made in Xero)
    status: str = ""
    document_type: str = ""  # ACCREC ACCPAY ACCRECCREDIT ACCPAYCREDIT; "" for journals
    date: date | None = None
    due_date: date | None = None
    reference: str = ""
    contact: str = ""
    currency: str = "AUD"
    lines: tuple[SentLine, ...] = ()
    payments: list[tuple[Decimal, date]] = field(default_factory=list)
    allocations: list[tuple[str, Decimal, date]] = field(default_factory=list)  # credit notes
    credited: Decimal = ZERO  # invoices: credit allocated to them
    updated_at: datetime | None = None
    made_in_xero: bool = False  # by someone else, not by Accounts Sync

    @property
    def is_journal(self) -> bool:
        return self.document_type == ""

    @property
    def is_credit_note(self) -> bool:
        return self.document_type in CREDIT_NOTE_TYPES

    @property
    def total(self) -> Decimal:
        if self.is_journal:
            return money(sum((line.amount for line in self.lines if line.amount > 0), ZERO))
        return money(sum((line.amount + line.tax_amount for line in self.lines), ZERO))

    @property
    def paid(self) -> Decimal:
        return sum((amount for amount, _ in self.payments), ZERO)

    @property
    def allocated(self) -> Decimal:
        return sum((amount for _, amount, _ in self.allocations), ZERO)

    @property
    def amount_due(self) -> Decimal:
        """Invoices: AmountDue; credit notes: RemainingCredit."""
        if self.is_credit_note:
            return self.total - self.paid - self.allocated
        return self.total - self.paid - self.credited

    @property
    def has_applications(self) -> bool:
        return bool(self.payments) or bool(self.allocations) or self.credited != ZERO


def _document_lines(document: TradeDocument) -> tuple[SentLine, ...]:
    """A trade document's lines as Xero holds them: net of tax, with the line's tax."""
    lines = []
    for line in document.lines:
        tax = ZERO if document.line_amount_types is LineAmountTypes.NO_TAX else money(line.tax_amount)
        amount = line.line_amount
        if document.line_amount_types is LineAmountTypes.INCLUSIVE:
            amount -= tax
        lines.append(SentLine(line.account_code, amount, tax, line.tax_type, line.tracking,
                              line.description))
    return tuple(lines)


def _journal_lines(journal: AccountJournal) -> tuple[SentLine, ...]:
    return tuple(SentLine(line.account_code, money(line.amount), ZERO, journal.tax_type,
                          line.tracking, line.description) for line in journal.lines)


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
    system = (
        Account(BANK_ACCOUNT, "Business Bank Account", "BANK"),
        Account(RECEIVABLES, "Accounts Receivable", "CURRENT", system_account="DEBTORS"),
        Account(PAYABLES, "Accounts Payable", "CURRLIAB", system_account="CREDITORS"),
        Account(GST_ACCOUNT, "GST", "CURRLIAB", system_account="GST"),
        Account(RETAINED_EARNINGS, "Retained Earnings", "EQUITY",
                system_account="RETAINEDEARNINGS"),
    )
    return ChartOfAccounts(
        organisation=Organisation("tenant-1", "Barossa Ridge Wines", "AUD",
                                  period_lock_date=lock_date),
        accounts=tuple(Account(c, n, t) for c, n, t in accounts)
        + (Account("1460", "Old barrel stock", "INVENTORY", status="ARCHIVED"),) + system,
        tax_rates=(TaxRate("OUTPUT", "GST on Income", Decimal("10")),
                   TaxRate("INPUT", "GST on Expenses", Decimal("10")),
                   TaxRate("EXEMPTEXPORT", "GST Free Exports"),
                   TaxRate("BASEXCLUDED", "BAS Excluded")),
        tracking=(TrackingCategory("Vintage", ("2023", "2024", "2025", "2026")),
                  TrackingCategory("Brand", ("Estate", "Reserve"))),
    )


class FakeGateway:
    """Xero in memory: creates, updates, voids and allocates by Xero's rules; can refuse chosen
    elements, crash after committing a batch, answer 429 (as RateLimited, what the real gateway
    raises once its retries give up), and replays an Idempotency-Key like Xero does.

    Test helpers act as a person in Xero would: `pay`, `set_status`, `set_lock_date`, `edit`,
    `record_manual_journal`. Every change is stamped from `clock` (strictly increasing), which
    is what `changed_since` filters on.
    """

    def __init__(self, chart: ChartOfAccounts | None = None, clock: object | None = None,
                 year_end: tuple[int, int] = (30, 6)) -> None:
        self.chart_ = chart or default_chart()
        self.clock = clock or FakeClock()
        self.year_end = year_end  # (day, month) of the financial year's last day
        self.objects: dict[str, XeroObject] = {}
        self.ledger: list[XeroJournal] = []  # GET /Journals, in JournalNumber order
        self.fail_elements: dict[str, str] = {}  # erp_id → Xero's validation message
        self.warn_elements: dict[str, str] = {}
        self.lose_answers: set[str] = set()  # erp_ids created whose element answer is lost
        self.crash_after_commit_on_push: int | None = None  # 1-based push call number
        self.crash_after_commit_on_write: int | None = None  # 1-based, corrections' writes
        self.rate_limited_pushes: int = 0  # the next N writes answer 429
        self.connected = True
        self.needs_reauthorisation = False
        self.rate_limit_remaining: dict[str, int] = {}
        self.tokens_refreshed_at: datetime | None = None
        self.push_calls: list[tuple[Kind, int, str]] = []  # (kind, elements, idempotency key)
        self.write_calls: list[tuple[str, int, str]] = []  # (operation, elements, key)
        self.lookups: list[tuple[Kind, int]] = []
        self.state_reads: list[tuple[Kind, int]] = []  # object_states calls (kind, ids)
        self.prepared: list[int] = []  # chunk sizes whose contacts were prepared
        self.forgotten = 0  # how many times the chart was dropped, to be read again
        self.chart_reads = 0
        self.enabled_currencies: frozenset[str] = frozenset({"AUD", "NZD", "USD"})
        self.waits_on_push: list[str] = []  # notes told to the observer on the next push
        self.raise_on_push: list[BaseException] = []  # raised by the next pushes, in order
        self._listener = None
        self._replies: dict[str, list[PushResult]] = {}
        self._ids = itertools.count(1)
        self._last_stamp: datetime | None = None

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

    # ------------------------------------------------------------------ reads
    def connection(self) -> Connection | None:
        if not self.connected:
            return None
        return Connection(self.chart_.organisation.tenant_id, self.chart_.organisation.name,
                          needs_reauthorisation=self.needs_reauthorisation,
                          rate_limit_remaining=dict(self.rate_limit_remaining),
                          tokens_refreshed_at=self.tokens_refreshed_at)

    def web_url(self, kind: Kind, xero_id: str) -> str:
        return f"https://xero.test/{kind.value}/{xero_id}"

    def chart(self) -> ChartOfAccounts:
        self._require_connection()
        self.chart_reads += 1
        return self.chart_

    def tracking_categories(self):
        return self.chart().tracking

    def find_existing(self, kind: Kind, records: Sequence[SyncRecord]) -> dict[str, str]:
        self.lookups.append((kind, len(records)))
        wanted = {r.erp_id for r in records}
        return {o.erp_id: o.xero_id for o in self.objects.values()
                if o.kind is kind and o.erp_id in wanted and o.status not in GONE_STATUSES}

    def find_by_number(self, document_type: str, numbers: Sequence[str]) -> dict[str, str]:
        self.lookups.append((document_type, len(numbers)))
        wanted = set(numbers)
        return {o.number: o.xero_id for o in self.objects.values()
                if o.document_type == document_type and o.number in wanted
                and o.status not in GONE_STATUSES}

    def object_states(self, kind: Kind, xero_ids: Sequence[str]) -> dict[str, XeroObjectState]:
        self._require_connection()
        self.state_reads.append((kind, len(xero_ids)))
        return {i: self._state(self.objects[i]) for i in xero_ids if i in self.objects}

    def changed_since(self, kind: Kind, since: datetime | None, page: int = 1) -> ChangedPage:
        self._require_connection()
        matched = sorted(
            (o for o in self.objects.values() if XERO_KIND[o.document_type] is kind
             and (since is None or (o.updated_at is not None and o.updated_at >= since))),
            key=lambda o: (o.updated_at, o.xero_id))
        start = (max(page, 1) - 1) * PAGE
        chunk = matched[start:start + PAGE]
        more = start + PAGE < len(matched)
        return ChangedPage(tuple(self._state(o) for o in chunk), page + 1 if more else None)

    def trial_balance(self, day: date) -> tuple[TrialBalanceRow, ...]:
        """Summed from the ledger: balance-sheet accounts over all years, revenue and expenses
        from the start of the financial year (earlier years in Retained Earnings)."""
        self._require_connection()
        year_start = self._year_start(day)
        period_start = day.replace(day=1)
        sums: dict[str, list[Decimal]] = {}
        for journal in self.ledger:
            if journal.date > day:
                continue
            for line in journal.lines:
                account = line.account_code
                section = self._section(account)
                if section in ("Revenue", "Expenses") and journal.date < year_start:
                    account = RETAINED_EARNINGS
                totals = sums.setdefault(account, [ZERO, ZERO])
                totals[0] += line.net_amount
                if journal.date >= period_start:
                    totals[1] += line.net_amount
        rows = []
        for code, (ytd, month) in sorted(sums.items()):
            if ytd == 0 and month == 0:
                continue
            account = self.chart_.account(code)
            rows.append(TrialBalanceRow(
                account_id=f"account-{code}", account_code=code,
                name=account.name if account else code, account_type=account.type if account else "",
                debit=max(ytd, ZERO), credit=max(-ytd, ZERO), section=self._section(code),
                period_debit=max(month, ZERO), period_credit=max(-month, ZERO)))
        return tuple(rows)

    def journals(self, offset: int = 0) -> tuple[XeroJournal, ...]:
        self._require_connection()
        return tuple(j for j in self.ledger if j.number > offset)[:PAGE]

    # ------------------------------------------------------------------ writes
    def prepare_contacts(self, documents: Sequence[TradeDocument]) -> None:
        self.prepared.append(len(documents))

    def push_invoices(self, documents: Sequence[TradeDocument], idempotency_key: str):
        kind = documents[0].kind if documents else Kind.SALES_ORDERS
        return self._push(kind, documents, idempotency_key, AUTHORISED)

    def push_credit_notes(self, documents: Sequence[TradeDocument], idempotency_key: str):
        kind = documents[0].kind if documents else Kind.REFUNDS
        return self._push(kind, documents, idempotency_key, "AUTHORISED-CREDIT")

    def push_manual_journals(self, journals: Sequence[AccountJournal], mode: JournalMode,
                             idempotency_key: str):
        for j in journals:
            assert j.is_balanced, f"unbalanced journal {j.key} reached the gateway"
            assert len(j.lines) >= 2
        return self._push(Kind.JOURNALS, journals, idempotency_key, mode.value)

    def _push(self, kind: Kind, items: Sequence, key: str, status: str) -> list[PushResult]:
        """Creations (kept apart so tests can hook them); `status` says what is being made."""
        return self._batch(("push", kind), items, key,
                           lambda item: self._create(kind, item, status))

    def update_documents(self, updates: Sequence[DocumentUpdate], idempotency_key: str):
        return self._batch(("update_documents", None), updates, idempotency_key,
                           self._apply_update)

    def update_manual_journals(self, updates: Sequence[tuple[str, AccountJournal]],
                               mode: JournalMode, idempotency_key: str):
        for _, journal in updates:
            assert journal.is_balanced and len(journal.lines) >= 2
        return self._batch(("update_manual_journals", None), updates, idempotency_key,
                           lambda item: self._apply_journal_update(item[0], item[1], mode))

    def change_status(self, changes: Sequence[StatusChange], idempotency_key: str):
        return self._batch(("change_status", None), changes, idempotency_key,
                           self._apply_status_change)

    def allocate(self, allocations: Sequence[Allocation], idempotency_key: str):
        return self._batch(("allocate", None), allocations, idempotency_key,
                           self._apply_allocation)

    # ------------------------------------------------------------------ helpers for tests
    def created(self, kind: Kind) -> list[XeroObject]:
        return [o for o in self.objects.values() if o.kind is kind]

    def get(self, xero_id: str) -> XeroObject:
        return self.objects[xero_id]

    def pay(self, xero_id: str, amount: Decimal | str, day: date | None = None) -> None:
        """A payment (or a cash refund of a credit note) entered in Xero; Xero's rules apply."""
        obj = self.objects[xero_id]
        amount = money(Decimal(amount))
        day = day or obj.date or self.clock.now().date()
        if obj.status != AUTHORISED:
            raise ValueError(f"Payments can only be made against AUTHORISED documents ({obj.status})")
        if amount <= 0 or amount > obj.amount_due:
            raise ValueError("Payment amount exceeds the amount outstanding on this document")
        self._refuse_locked(day, "payment")
        obj.payments.append((amount, day))
        sign = LINE_SIGN[obj.document_type]
        control = CONTROL_ACCOUNT[obj.document_type]
        # As in Xero, a payment's journal has the payment as its source, not the invoice.
        self._post(day, PAYMENT_SOURCE[obj.document_type], self._new_id(), obj.number,
                   [XeroJournalLine(BANK_ACCOUNT, -sign * amount),
                    XeroJournalLine(control, sign * amount)])
        if obj.amount_due == 0:
            obj.status = PAID
        self._touch(obj)

    def set_status(self, xero_id: str, status: str) -> None:
        """Someone changes the status in Xero (no rule checked: an adviser can do much)."""
        obj = self.objects[xero_id]
        before = self._is_posted(obj)
        obj.status = status
        self._repost(obj, before)
        self._touch(obj)

    def set_lock_date(self, period: date | None = None, end_of_year: date | None = None) -> None:
        organisation = replace(self.chart_.organisation, period_lock_date=period,
                               end_of_year_lock_date=end_of_year)
        self.chart_ = replace(self.chart_, organisation=organisation)

    def edit(self, xero_id: str, **changes: object) -> None:
        """Someone edits an object in Xero (reference, date, lines...): stamped, reposted."""
        obj = self.objects[xero_id]
        before = self._is_posted(obj)
        for name, value in changes.items():
            setattr(obj, name, value)
        self._repost(obj, before)
        self._touch(obj)

    def record_manual_journal(self, day: date, lines: Sequence[tuple[str, Decimal | str]],
                              narration: str = "Adjustment made in Xero",
                              status: str = POSTED) -> str:
        """A manual journal made by someone else in Xero; returns its id."""
        sent = tuple(SentLine(code, money(Decimal(amount))) for code, amount in lines)
        assert sum(line.amount for line in sent) == 0, "a manual journal balances"
        obj = XeroObject(Kind.JOURNALS, "", narration, self._new_id(), None, status, "",
                         day, lines=sent, made_in_xero=True)
        self.objects[obj.xero_id] = obj
        self._repost(obj, False)
        self._touch(obj)
        return obj.xero_id

    # ------------------------------------------------------------------ the rules
    def _create(self, kind: Kind, item: object, status: str) -> tuple[str | None, str]:
        if isinstance(item, AccountJournal):
            obj = XeroObject(kind, item.key, item.key, "", item, status, "", item.date,
                             lines=_journal_lines(item))
            error = self._journal_problem(obj, status)
        else:
            credit = status.endswith("-CREDIT")
            status = status.removesuffix("-CREDIT")
            doc = item
            assert isinstance(doc, TradeDocument)
            if doc.is_credit_note != credit:
                label = "credit notes" if credit else "invoices"
                return None, f"A {doc.xero_type} document is not sent to Xero with the {label}."
            obj = self._from_document(kind, doc, status)
            error = self._document_problem(obj, status)
        if error:
            return None, error
        obj.xero_id = self._new_id()
        self.objects[obj.xero_id] = obj
        self._repost(obj, False)
        self._touch(obj)
        return obj.xero_id, ""

    def _from_document(self, kind: Kind, doc: TradeDocument, status: str) -> XeroObject:
        return XeroObject(kind, doc.erp_id, doc.number, "", doc, status, doc.xero_type, doc.date,
                          doc.due_date, doc.reference, doc.contact.name, doc.currency,
                          _document_lines(doc))

    def _document_problem(self, obj: XeroObject, status: str, old_date: date | None = None) -> str:
        if status in (SUBMITTED, AUTHORISED) and not obj.is_credit_note and obj.due_date is None:
            return MSG_DUE_DATE
        if obj.total < 0:
            return MSG_NEGATIVE
        if status == AUTHORISED:
            return self._lock_problem(obj.date, old_date)
        return ""

    def _journal_problem(self, obj: XeroObject, status: str, old_date: date | None = None) -> str:
        return self._lock_problem(obj.date, old_date) if status == POSTED else ""

    def _apply_update(self, update: DocumentUpdate) -> tuple[str | None, str]:
        obj = self.objects.get(update.xero_id)
        doc = update.document
        if obj is None or obj.is_journal:
            return None, f"Xero has no invoice or credit note with the id {update.xero_id}."
        if obj.document_type != doc.xero_type:
            return None, f"A {obj.document_type} cannot become a {doc.xero_type}."
        if obj.has_applications or obj.status == PAID:
            return None, MSG_APPLIED
        target = update.status or obj.status
        if target not in DOCUMENT_MOVES.get(obj.status, ()):
            return None, MSG_NOT_VALID_STATUS
        new = self._from_document(obj.kind, doc, target)
        old_date = obj.date if obj.status == AUTHORISED else None
        error = self._document_problem(new, target, old_date)
        if error:
            return None, error
        before = self._is_posted(obj)
        for name in ("payload", "status", "date", "due_date", "reference", "contact", "currency",
                     "lines", "number"):
            setattr(obj, name, getattr(new, name))
        self._repost(obj, before)
        self._touch(obj)
        return obj.xero_id, ""

    def _apply_journal_update(self, xero_id: str, journal: AccountJournal,
                              mode: JournalMode) -> tuple[str | None, str]:
        obj = self.objects.get(xero_id)
        if obj is None or not obj.is_journal:
            return None, f"Xero has no manual journal with the id {xero_id}."
        if obj.status == POSTED:
            return None, MSG_POSTED_JOURNAL
        if obj.status != DRAFT:
            return None, MSG_NOT_VALID_STATUS
        new = XeroObject(obj.kind, journal.key, journal.key, xero_id, journal, mode.value, "",
                         journal.date, lines=_journal_lines(journal))
        error = self._journal_problem(new, mode.value)
        if error:
            return None, error
        for name in ("payload", "status", "date", "lines", "number", "erp_id"):
            setattr(obj, name, getattr(new, name))
        self._repost(obj, False)
        self._touch(obj)
        return xero_id, ""

    def _apply_status_change(self, change: StatusChange) -> tuple[str | None, str]:
        obj = self.objects.get(change.xero_id)
        journal = change.document_type == "MANJOURNAL"
        if obj is None or obj.is_journal != journal or (
                not journal and obj.document_type != change.document_type):
            return None, f"Xero has no {change.document_type} with the id {change.xero_id}."
        if change.status not in (VOIDED, DELETED):
            return None, f"The status '{change.status}' cannot be applied to the document"
        if obj.status == change.status:
            return obj.xero_id, ""  # already there: Xero answers with the object as it is
        if not journal and (obj.has_applications or obj.status == PAID):
            return None, MSG_APPLIED
        moves = JOURNAL_MOVES if journal else DOCUMENT_MOVES
        if change.status not in moves.get(obj.status, ()):
            return None, MSG_NOT_VALID_STATUS
        if change.status == VOIDED:
            error = self._lock_problem(obj.date)
            if error:
                return None, error
        before = self._is_posted(obj)
        obj.status = change.status
        self._repost(obj, before)
        self._touch(obj)
        return obj.xero_id, ""

    def _apply_allocation(self, allocation: Allocation) -> tuple[str | None, str]:
        credit = self.objects.get(allocation.credit_note_id)
        invoice = self.objects.get(allocation.invoice_id)
        amount = money(allocation.amount)
        if credit is None or not credit.is_credit_note:
            return None, f"Xero has no credit note with the id {allocation.credit_note_id}."
        if invoice is None or invoice.document_type not in INVOICE_TYPES:
            return None, f"Xero has no invoice with the id {allocation.invoice_id}."
        if credit.status != AUTHORISED:
            return None, f"Credit note is {credit.status}; only an AUTHORISED credit note can be allocated."
        if invoice.document_type != credit.document_type.removesuffix("CREDIT"):
            return None, MSG_WRONG_TYPE
        if invoice.status == PAID or (invoice.status == AUTHORISED and invoice.amount_due <= 0):
            return None, MSG_PAID_OFF
        if invoice.status != AUTHORISED:
            return None, f"The invoice is {invoice.status}; only an AUTHORISED invoice takes a credit."
        if invoice.contact != credit.contact:
            return None, "The credit note and the invoice must be for the same contact."
        if invoice.currency != credit.currency:
            return None, "The credit note and the invoice must be in the same currency."
        if amount <= 0:
            return None, "The allocation amount must be greater than zero."
        if amount > credit.amount_due or amount > invoice.amount_due:
            return None, MSG_OVER_ALLOCATED
        if allocation.date < max(d for d in (credit.date, invoice.date) if d is not None):
            return None, "The allocation date cannot be before the credit note or invoice date."
        error = self._lock_problem(allocation.date)
        if error:
            return None, error
        credit.allocations.append((invoice.xero_id, amount, allocation.date))
        invoice.credited += amount
        for obj in (credit, invoice):
            if obj.amount_due == 0:
                obj.status = PAID
            self._touch(obj)
        return credit.xero_id, ""

    def _lock_problem(self, day: date | None, old_date: date | None = None) -> str:
        organisation = self.chart_.organisation
        for when in (old_date, day):
            if when is None:
                continue
            if organisation.end_of_year_lock_date and when <= organisation.end_of_year_lock_date:
                return ("The document date cannot be before the end of year lock date, currently "
                        f"set at {organisation.end_of_year_lock_date:%d-%b-%Y}")
            if organisation.period_lock_date and when <= organisation.period_lock_date:
                return ("The document date cannot be before the period lock date, currently set "
                        f"at {organisation.period_lock_date:%d-%b-%Y}")
        return ""

    def _refuse_locked(self, day: date, what: str) -> None:
        problem = self._lock_problem(day)
        if problem:
            raise ValueError(f"The {what} is dated in a locked period: {problem}")

    # ------------------------------------------------------------------ the ledger
    @staticmethod
    def _is_posted(obj: XeroObject) -> bool:
        """Whether the object's own postings are in the ledger (not counting payments)."""
        return obj.status in ((POSTED,) if obj.is_journal else (AUTHORISED, PAID))

    def _postings(self, obj: XeroObject) -> list[XeroJournalLine]:
        if obj.is_journal:
            return [XeroJournalLine(line.account_code, line.amount, ZERO, line.tracking,
                                    description=line.description) for line in obj.lines]
        sign = LINE_SIGN[obj.document_type]
        lines = [XeroJournalLine(line.account_code, sign * line.amount, sign * line.tax_amount,
                                 line.tracking, description=line.description)
                 for line in obj.lines]
        tax = sum((line.tax_amount for line in obj.lines), ZERO)
        if tax:
            lines.append(XeroJournalLine(GST_ACCOUNT, sign * tax))
        lines.append(XeroJournalLine(CONTROL_ACCOUNT[obj.document_type], -sign * obj.total))
        return lines

    def _repost(self, obj: XeroObject, was_posted: bool) -> None:
        """Xero never edits a ledger journal: a change reverses the last one and posts anew."""
        source = "MANJOURNAL" if obj.is_journal else obj.document_type
        if was_posted:
            last = next(j for j in reversed(self.ledger)
                        if j.source_id == obj.xero_id and j.source_type == source)
            self._post(last.date, source, obj.xero_id, last.reference,
                       [replace(line, net_amount=-line.net_amount, tax_amount=-line.tax_amount)
                        for line in last.lines])
        if self._is_posted(obj):
            assert obj.date is not None
            self._post(obj.date, source, obj.xero_id, obj.reference or obj.number,
                       self._postings(obj))

    def _post(self, day: date, source: str, source_id: str, reference: str,
              lines: Sequence[XeroJournalLine]) -> None:
        assert sum(line.net_amount for line in lines) == 0, "every ledger journal balances"
        self.ledger.append(XeroJournal(f"journal-{len(self.ledger) + 1}", len(self.ledger) + 1,
                                       day, source, source_id, reference, tuple(lines),
                                       self._stamp()))

    def _section(self, code: str) -> str:
        account = self.chart_.account(code)
        return SECTIONS.get(account.type, "") if account else ""

    def _year_start(self, day: date) -> date:
        end_day, end_month = self.year_end
        start = date(day.year, end_month, end_day) + timedelta(days=1)
        return start if start <= day else date(day.year - 1, end_month, end_day) + timedelta(days=1)

    # ------------------------------------------------------------------ plumbing
    def _state(self, obj: XeroObject) -> XeroObjectState:
        if obj.is_credit_note:
            amount_paid, amount_credited = obj.paid, obj.allocated
        else:
            amount_paid, amount_credited = obj.paid, obj.credited
        return XeroObjectState(
            kind=XERO_KIND[obj.document_type], xero_id=obj.xero_id,
            number=obj.number, status=obj.status, document_type=obj.document_type,
            date=obj.date, total=obj.total,
            amount_due=obj.amount_due if not obj.is_journal else ZERO,
            amount_paid=amount_paid, amount_credited=amount_credited,
            allocations=tuple((invoice, amount) for invoice, amount, _ in obj.allocations),
            reference=obj.reference, contact_name=obj.contact, updated_at=obj.updated_at,
            web_url=self.web_url(XERO_KIND[obj.document_type], obj.xero_id), lines=obj.lines,
            due_date=obj.due_date, currency=obj.currency if not obj.is_journal else "")

    def _stamp(self) -> datetime:
        now = self.clock.now()
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return now

    def _touch(self, obj: XeroObject) -> None:
        obj.updated_at = self._stamp()

    def _new_id(self) -> str:
        return f"xero-{next(self._ids)}"

    def _require_connection(self) -> None:
        if not self.connected:
            raise NotConnected()

    def _batch(self, operation: tuple[str, Kind | None], items: Sequence, key: str,
               apply) -> list[PushResult]:
        """One write call: replayed under the same key, 429s, per-element refusals, crashes."""
        assert 1 <= len(items) <= 50, "batches hold 1 to 50 elements"
        assert key, "every write carries an Idempotency-Key"
        self._require_connection()
        if key in self._replies:
            return self._replies[key]
        name, kind = operation
        if kind is not None:
            self.push_calls.append((kind, len(items), key))
        else:
            self.write_calls.append((name, len(items), key))
        while self.waits_on_push and self._listener is not None:
            self._listener(self.waits_on_push.pop(0))
        if self.raise_on_push:
            raise self.raise_on_push.pop(0)
        if self.rate_limited_pushes:
            self.rate_limited_pushes -= 1
            raise RateLimited(30, "minute")
        results = []
        for item in items:
            erp_id = _erp_id_of(item)
            if erp_id in self.fail_elements:
                results.append(PushResult(erp_id, errors=(self.fail_elements[erp_id],)))
                continue
            xero_id, error = apply(item)
            if error:
                results.append(PushResult(erp_id, errors=(error,)))
                continue
            warnings = (self.warn_elements[erp_id],) if erp_id in self.warn_elements else ()
            if erp_id in self.lose_answers:
                results.append(PushResult(erp_id, outcome_unknown=True, errors=("no answer",)))
                continue
            results.append(PushResult(erp_id, xero_id=xero_id, warnings=warnings))
        self._replies[key] = results
        if kind is not None and self.crash_after_commit_on_push == len(self.push_calls):
            raise SimulatedCrash("worker died after Xero committed the batch")
        if kind is None and self.crash_after_commit_on_write == len(self.write_calls):
            raise SimulatedCrash("worker died after Xero committed the write")
        return results


def _erp_id_of(item: object) -> str:
    if isinstance(item, AccountJournal):
        return item.key
    if isinstance(item, tuple):  # (xero_id, journal) of update_manual_journals
        return item[1].key
    if isinstance(item, DocumentUpdate):
        return item.document.erp_id
    return str(getattr(item, "erp_id"))


# ------------------------------------------------------------------------- time, queue, tokens


class FakeClock:
    """`zone`: the host's time zone today() is read in (UTC when not given)."""

    def __init__(self, now: datetime | None = None, zone=None) -> None:
        self._now = now or datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
        self.zone = zone

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return self._now.astimezone(self.zone).date() if self.zone else self._now.date()

    def advance(self, **kwargs: float) -> None:
        self._now += timedelta(**kwargs)


class FakeJobQueue:
    def __init__(self) -> None:
        self.enqueued: list[int] = []

    def enqueue(self, run_id: int) -> None:
        self.enqueued.append(run_id)


class FakeScheduler:
    def __init__(self) -> None:
        self.planned: list[datetime] = []

    def plan(self, at: datetime) -> None:
        self.planned.append(at)


class FakeNotifier:
    """Email in memory; `down` makes every send fail as an unreachable server would."""

    def __init__(self, configured: bool = True) -> None:
        self.configured = configured
        self.sent: list[tuple[tuple[str, ...], str, str]] = []
        self.down = False

    def send(self, to, subject: str, body: str) -> None:
        from accounts_sync.application.ports import NotificationFailed

        if self.down:
            raise NotificationFailed("The mail server did not answer (connection refused).")
        self.sent.append((tuple(to), subject, body))


class FakeKeeper:
    """Refreshes the fake connection's tokens (or fails as Xero would)."""

    def __init__(self, clock: FakeClock, gateway: FakeGateway | None = None) -> None:
        self.clock = clock
        self.gateway = gateway
        self.refreshed_at: datetime | None = None
        self.calls = 0
        self.fail: BaseException | None = None

    def keep_alive(self) -> datetime | None:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        self.refreshed_at = self.clock.now()
        if self.gateway is not None:
            self.gateway.tokens_refreshed_at = self.refreshed_at
        return self.refreshed_at


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


def cancel(store: InMemoryStore, document: TradeDocument, at: datetime) -> None:
    """The ERP cancels a document: it no longer counts, its edit time is recorded."""
    docs = store.documents[document.kind]
    docs.remove(next(d for d in docs if d.erp_id == document.erp_id))
    store.cancelled[(document.kind, document.erp_id)] = document
    store.edited_at[(document.kind, document.erp_id)] = at


def delete(store: InMemoryStore, document: TradeDocument) -> None:
    """The ERP deletes a document outright: no trace, no edit time."""
    docs = store.documents[document.kind]
    docs.remove(next(d for d in docs if d.erp_id == document.erp_id))
