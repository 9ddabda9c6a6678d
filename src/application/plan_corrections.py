"""PlanCorrections: what must change in Xero so it says what the ERP says now.

For every record already synced (DESIGN: "Books over time"): documents edited, cancelled or
deleted in the ERP since, journals whose cost entries were added, edited or removed since, and
refunds of synced sales whose credit note is not allocated yet. The rules are the domain's pure
planner (`domain.corrections`); this use case only gathers its inputs: what each record sent
(kept in the ledger), the ERP now (the DocumentSource), and what Xero says — the status last
seen for a preview, a fresh read by id for a run (`fresh=True`), so a run never acts on a
stale status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from ..domain.corrections import (
    GONE,
    Correction,
    CorrectionAction,
    Original,
    Period,
    XeroSide,
    XeroStatus,
    plan_allocation,
    plan_document,
    plan_journal,
)
from ..domain.documents import TRADE_KINDS, Kind
from ..domain.journals import JournalMemo
from ..domain.mapping import AccountMapping
from ..domain.money import ZERO, money
from ..domain.sync import SyncRecord, SyncState
from .checks import with_defaults
from .common import period_of, read_chart
from .ports import (
    AccountingGateway,
    ChartOfAccounts,
    Clock,
    ErpDocumentNow,
    UnitOfWork,
    UnitOfWorkFactory,
    XeroObjectState,
)

# Candidates read per kind in one plan: edits after a sync are few; a plan that meets more
# handles these first and the rest in the next run.
CANDIDATES = 20_000
KIND_ORDER = {kind: position for position, kind in enumerate(Kind)}
LOOKUP_BATCH = 50  # ids per Xero read

# Journals of the synced days as the ERP has them now, rebuilt only where their flows changed.
_SYNCED_JOURNALS = JournalMemo()


@dataclass(frozen=True)
class CorrectionsRequest:
    closing_date: date
    fresh: bool = False  # read each original's state from Xero first (a run does)


@dataclass(frozen=True)
class CorrectionsPlan:
    closing_date: date
    corrections: tuple[Correction, ...]
    # Records synced before Accounts Sync kept what it sent: their difference is unknown.
    unknown: tuple[str, ...] = ()
    # Synced documents the ERP saved again without changing what Xero holds: a corrections run
    # marks them read, so later plans stop reading them.
    unchanged: tuple[tuple[Kind, str], ...] = ()

    @property
    def to_send(self) -> tuple[Correction, ...]:
        return tuple(c for c in self.corrections if c.sendable and c.action.sends)

    @property
    def to_decide(self) -> tuple[Correction, ...]:
        return tuple(c for c in self.corrections if c.action is CorrectionAction.DECIDE)

    @property
    def held(self) -> tuple[Correction, ...]:
        return tuple(c for c in self.corrections if c.held)

    @property
    def count(self) -> int:
        return len(self.corrections)

    @property
    def net_change(self) -> Decimal:
        return money(sum((c.net_change for c in self.corrections
                          if c.action is not CorrectionAction.DECIDE), ZERO))

    def find(self, kind: Kind, erp_id: str) -> Correction | None:
        return next((c for c in self.corrections if c.kind is kind and c.erp_id == erp_id), None)


class PlanCorrections:
    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway, clock: Clock) -> None:
        self.uow = uow
        self.gateway = gateway
        self.clock = clock

    def execute(self, request: CorrectionsRequest) -> CorrectionsPlan:
        chart, _ = read_chart(self.gateway)
        with self.uow() as uow:
            period = period_of(chart, uow.settings)
            gathered = _gather(uow, request.closing_date)
        states: dict[str, XeroObjectState] = {}
        if request.fresh:
            states = self._read_states(gathered.xero_ids())
        return _plan(request.closing_date, gathered, states, period)

    def within(self, uow: UnitOfWork, request: CorrectionsRequest,
               chart: ChartOfAccounts | None) -> CorrectionsPlan:
        """The plan read in the caller's unit of work, with the chart it read (a preview: what
        it reads of the cost entries and records is read once, in one transaction). Never
        fresh: reading Xero inside a transaction would hold it open."""
        period = period_of(chart, uow.settings)
        return _plan(request.closing_date, _gather(uow, request.closing_date), {}, period)

    def _read_states(self, ids: dict[Kind, list[str]]) -> dict[str, XeroObjectState]:
        found: dict[str, XeroObjectState] = {}
        for kind, xero_ids in ids.items():
            for start in range(0, len(xero_ids), LOOKUP_BATCH):
                found.update(self.gateway.object_states(kind, xero_ids[start:start + LOOKUP_BATCH]))
        return found


# ------------------------------------------------------------------------ gathering


@dataclass
class _Candidate:
    record: SyncRecord
    now: object  # ErpDocumentNow, or the journal (or None) for journals
    corrections: list[SyncRecord]


@dataclass
class _Gathered:
    documents: list[_Candidate]
    journals: list[_Candidate]
    refunds: list[tuple[SyncRecord, SyncRecord]]  # (refund, the sale it refunds)
    unknown: list[str]
    unchanged: list[tuple[Kind, str]]  # stamped after their sync, their content the same

    def xero_ids(self) -> dict[Kind, list[str]]:
        ids: dict[Kind, list[str]] = {}
        for candidate in self.documents + self.journals:
            ids.setdefault(candidate.record.kind, []).append(candidate.record.xero_id or "")
        for refund, sale in self.refunds:
            ids.setdefault(Kind.REFUNDS, []).append(refund.xero_id or "")
            ids.setdefault(Kind.SALES_ORDERS, []).append(sale.xero_id or "")
        return {kind: sorted({i for i in values if i}) for kind, values in ids.items()}


def _gather(uow: UnitOfWork, closing_date: date) -> _Gathered:
    mapping = uow.settings.mapping()
    documents: list[_Candidate] = []
    unknown: list[str] = []
    unchanged: list[tuple[Kind, str]] = []
    for kind in TRADE_KINDS:
        ids = [c.erp_id for c in uow.documents.changed_after_sync(kind, CANDIDATES)]
        ids += uow.documents.removed_after_sync(kind, CANDIDATES)
        ids = list(dict.fromkeys(ids))
        if not ids:
            continue
        # Compared on the records' fingerprints first: what they sent (their lines, the bulk
        # of a record) is read only for those that really differ (most were saved unchanged).
        records = uow.ledger.records(kind, ids, lines=False)
        now = uow.documents.documents_now(kind, ids)
        differing: list[tuple[str, ErpDocumentNow]] = []
        for erp_id in ids:
            verdict, current = _compare(records.get(erp_id), now.get(erp_id), closing_date, mapping)
            if verdict == "unchanged":
                unchanged.append((kind, erp_id))  # saved again, same content
            elif verdict == "differs":
                differing.append((erp_id, current))
        whole = uow.ledger.records(kind, [erp_id for erp_id, _ in differing]) if differing else {}
        for erp_id, current in differing:
            record = whole.get(erp_id)
            verdict, _ = _compare(record, current, closing_date, mapping)  # as read again
            if record is None or verdict != "differs":
                if verdict == "unchanged":
                    unchanged.append((kind, erp_id))
                continue
            if record.sent is None:
                unknown.append(record.number)
                continue
            documents.append(_Candidate(record, current, []))

    journals: list[_Candidate] = []
    fingerprints = uow.ledger.synced_journals(closing_date)
    if fingerprints:
        built = _SYNCED_JOURNALS.build(uow.documents.synced_cost_flows(closing_date), mapping)
        by_key = {j.key: j for j in built.journals}
        changed = [
            key for key, fingerprint in fingerprints.items()
            if (by_key[key].fingerprint != fingerprint if key in by_key
                else not fingerprint.startswith("removed:"))
        ]
        # Those that kept nothing of what they sent are only named: their records are not read.
        without_sent = uow.ledger.sent_unknown(Kind.JOURNALS, changed) if changed else {}
        records = uow.ledger.records(Kind.JOURNALS, [k for k in changed if k not in without_sent])
        for key in changed:
            record, journal = records.get(key), by_key.get(key)
            if record is None or record.sent is None:
                number = record.number if record is not None else without_sent.get(key)
                if number is not None:
                    unknown.append(number)
                continue
            if journal is not None:
                journal = replace(journal, url=uow.documents.journal_url(key),
                                  tax_type=mapping.journal_tax_type)
            journals.append(_Candidate(record, journal, []))

    refunds: list[tuple[SyncRecord, SyncRecord]] = []
    pairs = uow.documents.refunds_to_allocate(closing_date, CANDIDATES)
    if pairs:
        refund_records = uow.ledger.records(Kind.REFUNDS, [r for r, _ in pairs])
        # Of the sales, only their state in Xero is needed, not the lines they sent.
        sale_records = uow.ledger.records(Kind.SALES_ORDERS, [s for _, s in pairs], lines=False)
        for refund_id, sale_id in pairs:
            refund, sale = refund_records.get(refund_id), sale_records.get(sale_id)
            if refund and sale and refund.xero_id and sale.xero_id and refund.sent is not None:
                refunds.append((refund, sale))

    corrections = uow.ledger.corrections_of(
        [(c.record.kind, c.record.erp_id) for c in documents + journals])
    for candidate in documents + journals:
        candidate.corrections = corrections.get((candidate.record.kind, candidate.record.erp_id), [])
    return _Gathered(documents, journals, refunds, unknown, unchanged)


def _compare(record: SyncRecord | None, current: ErpDocumentNow | None, closing_date: date,
             mapping: AccountMapping) -> tuple[str, ErpDocumentNow | None]:
    """A synced document against the ERP now: "unchanged" (saved again, same content),
    "differs" (edited, cancelled or deleted since; the document with the mapping's defaults), or
    "" (nothing to plan: not synced, after the closing date, or its removal already handled)."""
    if record is None or record.state is not SyncState.SYNCED or current is None:
        return "", current
    document = current.document
    if document is not None:
        if document.date > closing_date:
            return "", current
        document = with_defaults(document, mapping)
        if document.fingerprint == record.fingerprint:
            return "unchanged", current
        return "differs", replace(current, document=document)
    if record.fingerprint.startswith("removed:"):
        return "", current
    return "differs", current


# ------------------------------------------------------------------------ planning


def _plan(closing_date: date, gathered: _Gathered, states: dict[str, XeroObjectState],
          period: Period) -> CorrectionsPlan:
    planned: list[Correction] = []
    for candidate in gathered.documents:
        record, now = candidate.record, candidate.now
        original = original_of(record, states.get(record.xero_id or ""))
        correction = plan_document(
            original, now.document, period, cancelled=now.gone,  # type: ignore[attr-defined]
            adjustments_made=adjustments_made(candidate.corrections))
        if correction is not None:
            planned.append(correction)
    for candidate in gathered.journals:
        record = candidate.record
        original = original_of(record, states.get(record.xero_id or ""))
        correction = plan_journal(original, candidate.now, period,  # type: ignore[arg-type]
                                  adjustments_made=adjustments_made(candidate.corrections))
        if correction is not None:
            planned.append(correction)
    corrected = {(c.kind, c.erp_id) for c in planned}
    for refund, sale in gathered.refunds:
        if (refund.kind, refund.erp_id) in corrected:
            continue  # the refund itself changes first; its allocation comes in the next run
        sale_state = states.get(sale.xero_id or "")
        invoice = xero_side(sale, sale_state) if sale_state is not None or sale.xero_status else None
        correction = plan_allocation(original_of(refund, states.get(refund.xero_id or "")),
                                     sale.xero_id or "", invoice, period)
        if correction is not None:
            planned.append(correction)
    planned.sort(key=lambda c: (KIND_ORDER[c.kind], natural_key(c.number)))
    return CorrectionsPlan(closing_date, tuple(planned), tuple(gathered.unknown),
                           tuple(gathered.unchanged))


def adjustments_made(corrections: Iterable[SyncRecord]) -> int:
    """How many adjustment documents or journals an original already has in Xero."""
    return sum(
        1 for c in corrections
        if c.state is SyncState.SYNCED and c.correction is not None
        and c.correction.action in (CorrectionAction.ADJUST, CorrectionAction.CREDIT,
                                    CorrectionAction.ADJUST_JOURNAL)
    )


def default_status(record: SyncRecord) -> str:
    """What a record's object is in Xero when no status was ever seen for it."""
    if record.kind is Kind.JOURNALS:
        return XeroStatus.DRAFT.value
    return XeroStatus.AUTHORISED.value


def xero_side(record: SyncRecord, state: XeroObjectState | None) -> XeroSide:
    """What the planner knows of the record's object in Xero: a fresh read when there is one,
    else what was last seen (a sync, a correction or a look at Xero's changes)."""
    seen = record.xero_seen
    written = seen.total if seen is not None else None
    if state is not None:
        gone = state.status in GONE and bool(record.sent and record.sent.lines)
        retotalled = (record.kind is not Kind.JOURNALS and written is not None
                      and money(state.total) != written)
        return XeroSide(
            status=state.status,
            amount_due=money(state.amount_due) if record.kind is not Kind.JOURNALS else None,
            has_applications=state.has_applications,
            changed_in_xero=gone or retotalled,
        )
    status = record.xero_status or default_status(record)
    if seen is not None:
        due = seen.amount_due
        if due is None and status == XeroStatus.AUTHORISED.value:
            due = seen.total
        return XeroSide(status, ZERO if status == XeroStatus.PAID.value else due,
                        seen.has_applications or status == XeroStatus.PAID.value,
                        seen.changed_in_xero)
    total = record.sent.total if record.sent else None
    return XeroSide(status, total if status == XeroStatus.AUTHORISED.value else None,
                    status == XeroStatus.PAID.value)


def original_of(record: SyncRecord, state: XeroObjectState | None) -> Original:
    assert record.sent is not None
    return Original(
        kind=record.kind,
        erp_id=record.erp_id,
        number=record.number,
        xero_id=record.xero_id or "",
        fingerprint=record.fingerprint,
        sent=record.sent,
        xero=xero_side(record, state),
        decision=record.decision,
    )


def natural_key(text: str) -> list:
    """'PO-00011' after 'PO-00010', 'SO-9' before 'SO-10': digits compare as numbers."""
    parts: list = []
    number = ""
    for char in text:
        if char.isdigit():
            number += char
            continue
        if number:
            parts.append((0, int(number), ""))
            number = ""
        parts.append((1, 0, char))
    if number:
        parts.append((0, int(number), ""))
    return parts
