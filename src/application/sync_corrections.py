"""SyncCorrections: carry out a corrections run, with the protocol that protects creations.

Each correction is a record of its own (kind `corrections`, its erp_id naming the original and
a sequence number, see `CorrectionLink`), so it goes through exactly what a creation does:
1. its record is stored `in_flight` under an idempotency key of the content it brings Xero to,
   and committed, before anything is sent;
2. the batch goes to Xero under one Idempotency-Key (the gateway retries transport failures
   under the same key);
3. each element's outcome is committed together with what it changes in the original's record
   (the lines Xero now holds from us, the status, what is still owing).
A correction left `in_flight` by a crash is looked up in Xero before anything is planned again
(`_settle_in_flight`): an adjustment by its number, a journal by its narration marker, a void by
the status, an allocation in the credit note's allocations, an update by the total Xero holds.
Only what is truly absent is planned and sent again, so no correction is ever applied twice.

A credit note that lowers an invoice (an adjustment, or a credit in full) is allocated to it in
a second step of the same record: the record stays `in_flight` with the credit note's id until
the allocation is made (or found made), then settles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from ..domain.corrections import (
    Correction,
    CorrectionAction,
    SentLine,
    XeroSeen,
    XeroStatus,
)
from ..domain.documents import CREDIT_NOTE_TYPES, Kind, TradeDocument
from ..domain.money import ZERO, money
from ..domain.sync import (
    CorrectionLink,
    JournalMode,
    SyncRecord,
    SyncRun,
    SyncState,
    SyncWindow,
)
from .batches import batch_key
from .common import read_chart
from .plan_corrections import CorrectionsRequest, PlanCorrections
from .ports import (
    AccountingGateway,
    Allocation,
    Clock,
    DocumentUpdate,
    PushResult,
    StatusChange,
    UnitOfWork,
    UnitOfWorkFactory,
    XeroObjectState,
)
from .xero_changes import LookAtXero, LookRequest

log = logging.getLogger(__name__)

BATCH_SIZE = 50
NOT_FOUND = "Not found in Xero after the run that sent it stopped; it is planned again."
UNKNOWN_OUTCOME = ("Xero's answer for this correction was lost; the next run looks it up in Xero "
                   "before sending anything again.")

# Corrections are sent in this order: what frees an invoice (voids, deletes, credits) before
# what is allocated to it; rewrites before adjustments of the same journals.
_FAMILIES: tuple[tuple[CorrectionAction, ...], ...] = (
    (CorrectionAction.ACCEPT,),
    (CorrectionAction.UPDATE,),
    (CorrectionAction.VOID, CorrectionAction.DELETE, CorrectionAction.DELETE_JOURNAL),
    (CorrectionAction.ADJUST, CorrectionAction.CREDIT),
    (CorrectionAction.REWRITE_JOURNAL,),
    (CorrectionAction.ADJUST_JOURNAL,),
    (CorrectionAction.ALLOCATE,),
)


@dataclass(frozen=True)
class _Outgoing:
    correction: Correction
    record: SyncRecord  # the correction's own record, in flight


class SyncCorrections:
    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway, clock: Clock,
                 planner: PlanCorrections, batch_size: int = BATCH_SIZE) -> None:
        self.uow = uow
        self.gateway = gateway
        self.clock = clock
        self.planner = planner
        self.batch_size = batch_size
        self.look = LookAtXero(uow, gateway, clock)

    def run(self, run: SyncRun) -> SyncRun:
        chart, _ = read_chart(self.gateway)
        if chart is None:
            chart = self.gateway.chart()  # raises the plain reason Xero can't be used
        SyncWindow.open(run.closing_date, self.clock.today(), lock_date=chart.organisation.lock_date)
        self._settle_in_flight(run)
        # What people did in Xero since the last look is recorded first (payments, voids,
        # edits), so the records say what the plan below reads afresh.
        self.look.execute(LookRequest(force=True))
        planned_at = self.clock.now()  # the ERP's content each correction brings Xero to
        plan = self.planner.execute(CorrectionsRequest(run.closing_date, fresh=True))
        with self.uow() as uow:
            busy = {(c.correction.original_kind, c.correction.original_erp_id)
                    for c in uow.ledger.in_flight(Kind.CORRECTIONS) if c.correction}
            todo = [c for c in plan.corrections
                    if c.sendable and (c.kind, c.erp_id) not in busy]
            run = run.start(len(todo), self.clock.now())
            uow.ledger.save_run(run)
            for kind in {kind for kind, _ in plan.unchanged}:
                uow.ledger.mark_read(kind, [i for k, i in plan.unchanged if k is kind], planned_at)
            uow.commit()
        for family in _FAMILIES:
            items = [c for c in todo if c.action in family]
            for start in range(0, len(items), self.batch_size):
                run = self._send_batch(run, items[start:start + self.batch_size], planned_at)
        with self.uow() as uow:
            run = run.finish(self.clock.now())
            uow.ledger.save_run(run)
            uow.commit()
        log.info("corrections run %s %s: %s", run.id, run.state.value, run.message)
        return run

    # ------------------------------------------------------------------ one batch

    def _send_batch(self, run: SyncRun, corrections: list[Correction],
                    planned_at: datetime) -> SyncRun:
        now = self.clock.now()
        with self.uow() as uow:
            originals = _originals(uow, corrections)
            earlier = uow.ledger.corrections_of([(c.kind, c.erp_id) for c in corrections])
            outgoing = []
            for correction in corrections:
                original = originals.get((correction.kind, correction.erp_id))
                if original is None or original.state is not SyncState.SYNCED:
                    continue
                record = correction_record(correction, earlier.get((correction.kind,
                                                                     correction.erp_id), []))
                outgoing.append(_Outgoing(correction, record.start(
                    run.id, record.fingerprint, record.sent, planned_at)))
            uow.ledger.save_records([o.record for o in outgoing])
            uow.commit()

        accepted = [o for o in outgoing if o.correction.action is CorrectionAction.ACCEPT]
        sent = [o for o in outgoing if o.correction.action is not CorrectionAction.ACCEPT]
        results = self._push(sent) if sent else {}
        outcomes: list[tuple[_Outgoing, PushResult | None]] = [
            (o, PushResult(o.record.erp_id, xero_id=o.correction.xero_id or "-")) for o in accepted
        ] + [(o, results.get(o.record.erp_id)) for o in sent]

        to_allocate: list[SyncRecord] = []
        settled: list[SyncRecord] = []
        failures: list[tuple[str, str]] = []
        for out, result in outcomes:
            record = out.record
            if result is None or result.outcome_unknown:
                # Xero may have applied it: never failed (a failed one is planned afresh); it
                # stays in flight for the next run to look up.
                failures.append((record.number, UNKNOWN_OUTCOME))
                settled.append(replace(record, last_error=UNKNOWN_OUTCOME))
            elif result.errors or not result.xero_id:
                reason = " ".join(result.errors + result.warnings) or \
                    "Xero refused this correction without a reason."
                failures.append((record.number, reason))
                settled.append(record.fail(reason))
            elif out.correction.allocate_after:
                # Made; still to be allocated to the invoice it lowers (the second step).
                kept = replace(record, xero_id=result.xero_id, last_error="")
                settled.append(kept)
                to_allocate.append(kept)
            else:
                settled.append(record.succeed(_own_id(out.correction, result), now,
                                              result.status, result.updated_at))
        run = self._settle(run, settled, failures, now, pending=len(to_allocate))
        if to_allocate:
            run = self._allocate(run, to_allocate, count_progress=True)
        return run

    def _push(self, outgoing: list[_Outgoing]) -> dict[str, PushResult]:
        """One or a few calls per batch, by what Xero must do; results by the record's erp_id."""
        results: dict[str, PushResult] = {}
        key = batch_key([o.record for o in outgoing])
        by_action: dict[str, list[_Outgoing]] = {}
        for out in outgoing:
            correction = out.correction
            group = correction.action.value
            if correction.document is not None and correction.action in (
                    CorrectionAction.ADJUST, CorrectionAction.CREDIT):
                group = "credit_notes" if correction.document.is_credit_note else "invoices"
            elif correction.action is CorrectionAction.ADJUST_JOURNAL:
                group = f"journals-{correction.adjustment_status}"
            by_action.setdefault(group, []).append(out)
        for group, items in by_action.items():
            sub_key = f"{key[:100]}-{group}"[:128]
            for result in self._call(group, items, sub_key):
                results[result.erp_id] = result
        return results

    def _call(self, group: str, items: list[_Outgoing], key: str) -> list[PushResult]:
        gateway = self.gateway
        if group == CorrectionAction.UPDATE.value:
            return gateway.update_documents([
                DocumentUpdate(o.correction.xero_id, replace(_document(o), erp_id=o.record.erp_id))
                for o in items], key)
        if group in (CorrectionAction.VOID.value, CorrectionAction.DELETE.value,
                     CorrectionAction.DELETE_JOURNAL.value):
            return gateway.change_status([status_change(o.record, o.correction) for o in items],
                                         key)
        if group in ("invoices", "credit_notes"):
            documents = [replace(_document(o), erp_id=o.record.erp_id) for o in items]
            push: Callable[[Sequence[TradeDocument], str], list[PushResult]] = (
                gateway.push_credit_notes if group == "credit_notes" else gateway.push_invoices)
            return push(documents, key)
        if group == CorrectionAction.REWRITE_JOURNAL.value:
            by_key = {o.correction.erp_id: o.record.erp_id for o in items}
            answers = gateway.update_manual_journals(
                [(o.correction.xero_id, o.correction.journal) for o in items  # type: ignore[misc]
                 if o.correction.journal is not None], JournalMode.DRAFT, key)
            return [replace(a, erp_id=by_key.get(a.erp_id, a.erp_id)) for a in answers]
        if group.startswith("journals-"):
            mode = JournalMode(group.removeprefix("journals-"))
            journals = [o.correction.journal for o in items if o.correction.journal is not None]
            by_key = {o.correction.journal.key: o.record.erp_id for o in items
                      if o.correction.journal is not None}
            answers = gateway.push_manual_journals(journals, mode, key)
            return [replace(a, erp_id=by_key.get(a.erp_id, a.erp_id)) for a in answers]
        if group == CorrectionAction.ALLOCATE.value:
            return gateway.allocate([
                allocation_of(o.record, o.correction) for o in items], key)
        raise ValueError(f"no Xero call for {group}")

    # ------------------------------------------------------------------ second step: allocations

    def _allocate(self, run: SyncRun, records: list[SyncRecord], count_progress: bool) -> SyncRun:
        """Allocate credit notes just created (or found created) to the invoices they lower."""
        now = self.clock.now()
        key = batch_key([replace(r, idempotency_key=r.idempotency_key + "-allocate")
                         for r in records])
        allocations = []
        for record in records:
            link = record.correction
            assert link is not None and record.xero_id
            allocations.append(Allocation(record.erp_id, record.xero_id, link.allocate_to,
                                          allocation_amount(link), _allocation_day(record)))
        answers = {a.erp_id: a for a in self.gateway.allocate(allocations, key)}
        settled: list[SyncRecord] = []
        failures: list[tuple[str, str]] = []
        for record in records:
            answer = answers.get(record.erp_id)
            if answer is None or answer.outcome_unknown:
                failures.append((record.number, UNKNOWN_OUTCOME))
                settled.append(replace(record, last_error=UNKNOWN_OUTCOME))
            elif answer.errors:
                # The credit note exists, so the correction is made; only its allocation is left
                # to a person (Xero said why). Never resent: the credit note would be made twice.
                reason = "The credit note was made but not allocated: " + " ".join(answer.errors)
                failures.append((record.number, reason))
                settled.append(replace(record.succeed(record.xero_id or "", now),
                                       last_error=reason))
            else:
                settled.append(record.succeed(record.xero_id or "", now))
        return self._settle(run, settled, failures, now, count_progress=count_progress)

    # ------------------------------------------------------------------ settling

    def _settle(self, run: SyncRun, settled: Sequence[SyncRecord], failures: list[tuple[str, str]],
                now: datetime, count_progress: bool = True, pending: int = 0) -> SyncRun:
        """`pending` of the settled records are still in flight for a second step, counted
        when it ends."""
        """Commit each correction's outcome together with what it changes in its original."""
        with self.uow() as uow:
            done = [r for r in settled if r.state is SyncState.SYNCED]
            originals = _originals_of(uow, done)
            changed: list[SyncRecord] = []
            for record in done:
                link = record.correction
                assert link is not None
                original = originals.get((link.original_kind, link.original_erp_id))
                if original is not None:
                    changed.append(applied(original, record, now))
                changed += _invoice_after_allocation(uow, record)
            uow.ledger.save_records(list(settled) + changed)
            if count_progress:
                run = uow.ledger.get_run(run.id).progress(
                    done=len(settled) - pending, created=len(done),
                    failed=len(settled) - pending - len(done), failures=failures, at=now)
                uow.ledger.save_run(run)
            uow.commit()
        return run

    def _settle_in_flight(self, run: SyncRun) -> None:
        """Corrections a dead run left in flight: whatever Xero has applied is settled, the rest
        failed (so a fresh plan sends it again); a credit note made but not yet allocated is
        allocated now."""
        with self.uow() as uow:
            stuck = [r for r in uow.ledger.in_flight(Kind.CORRECTIONS) if r.correction]
        if not stuck:
            return
        now = self.clock.now()
        settled: list[SyncRecord] = []
        to_allocate: list[SyncRecord] = []
        for batch in chunks(stuck, self.batch_size):
            for record, found_id in self._look_up(batch):
                link = record.correction
                assert link is not None
                if found_id is None:
                    settled.append(record.fail(NOT_FOUND))
                elif link.allocate_to and link.action is not CorrectionAction.ALLOCATE \
                        and not self._allocated(found_id, link.allocate_to):
                    to_allocate.append(replace(record, xero_id=found_id))
                else:
                    settled.append(record.succeed(found_id, now))
        self._settle(run, settled, [], now, count_progress=False)
        if to_allocate:
            with self.uow() as uow:
                uow.ledger.save_records(to_allocate)
                uow.commit()
            self._allocate(run, to_allocate, count_progress=False)
        log.info("corrections run %s: %d of %d in-flight corrections were applied in Xero",
                 run.id, sum(1 for r in settled if r.state is SyncState.SYNCED), len(stuck))

    def _allocated(self, credit_note_id: str, invoice_id: str) -> bool:
        state = self.gateway.object_states(Kind.REFUNDS, [credit_note_id]).get(credit_note_id)
        return state is not None and any(i == invoice_id for i, _ in state.allocations)

    def _look_up(self, records: list[SyncRecord]) -> list[tuple[SyncRecord, str | None]]:
        """Each in-flight correction with the Xero id showing it was applied, or None."""
        found: dict[str, str | None] = {}
        numbers: dict[str, list[SyncRecord]] = {}
        journals: list[SyncRecord] = []
        states: dict[Kind, list[SyncRecord]] = {}
        for record in records:
            link = record.correction
            assert link is not None
            if link.action is CorrectionAction.ACCEPT:
                found[record.erp_id] = link.target_xero_id or "-"  # nothing was sent
            elif link.action in (CorrectionAction.ADJUST, CorrectionAction.CREDIT):
                if record.xero_id:
                    found[record.erp_id] = record.xero_id  # made; only its allocation is left
                else:
                    numbers.setdefault(link.document_type, []).append(record)
            elif link.action is CorrectionAction.ADJUST_JOURNAL:
                journals.append(record)
            else:
                kind = Kind.REFUNDS if link.action is CorrectionAction.ALLOCATE \
                    else link.original_kind
                states.setdefault(kind, []).append(record)
        for document_type, group in numbers.items():
            ids = self.gateway.find_by_number(document_type, [_link(r).number for r in group])
            found.update((r.erp_id, ids.get(_link(r).number)) for r in group)
        if journals:
            probes = [SyncRecord(Kind.JOURNALS, _link(r).number, _link(r).number, "")
                      for r in journals]
            ids = self.gateway.find_existing(Kind.JOURNALS, probes)
            found.update((r.erp_id, ids.get(_link(r).number)) for r in journals)
        for kind, group in states.items():
            read = self.gateway.object_states(kind, [_link(r).target_xero_id for r in group])
            for record in group:
                state = read.get(_link(record).target_xero_id)
                found[record.erp_id] = _link(record).target_xero_id \
                    if state is not None and _shows_applied(record, state) else None
        return [(r, found.get(r.erp_id)) for r in records]


# ------------------------------------------------------------------------ records


def _originals(uow: UnitOfWork, corrections: Sequence[Correction]
               ) -> dict[tuple[Kind, str], SyncRecord]:
    found: dict[tuple[Kind, str], SyncRecord] = {}
    for kind in {c.kind for c in corrections}:
        records = uow.ledger.records(kind, [c.erp_id for c in corrections if c.kind is kind])
        found.update(((kind, erp_id), r) for erp_id, r in records.items())
    return found


def _originals_of(uow: UnitOfWork, records: Sequence[SyncRecord]
                  ) -> dict[tuple[Kind, str], SyncRecord]:
    wanted: dict[Kind, list[str]] = {}
    for record in records:
        link = _link(record)
        wanted.setdefault(link.original_kind, []).append(link.original_erp_id)
    found: dict[tuple[Kind, str], SyncRecord] = {}
    for kind, ids in wanted.items():
        found.update(((kind, erp_id), r) for erp_id, r in uow.ledger.records(kind, ids).items())
    return found


def correction_record(correction: Correction, earlier: Sequence[SyncRecord]) -> SyncRecord:
    """The record a correction travels under: numbered after the corrections its original
    already had applied, so a correction that failed or was not found is retried under its own
    record (same adjustment number, same key) rather than a new one."""
    settled = sum(1 for r in earlier if r.state is SyncState.SYNCED)
    erp_id = CorrectionLink.erp_id_for(correction.kind, correction.erp_id, settled + 1)
    existing = next((r for r in earlier if r.erp_id == erp_id), None)
    document, journal = correction.document, correction.journal
    makes_document = document is not None and correction.action in (
        CorrectionAction.ADJUST, CorrectionAction.CREDIT)
    if correction.allocate_after:
        allocate_to = correction.xero_id
    elif correction.allocation is not None:
        allocate_to = correction.allocation.invoice_xero_id
    else:
        allocate_to = ""
    link = CorrectionLink(
        original_kind=correction.kind,
        original_erp_id=correction.erp_id,
        action=correction.action,
        target_xero_id=correction.xero_id,
        net_change=correction.net_change,
        amount=correction.adjustment_amount,
        due_before=correction.xero_due,
        day=correction.date,
        number=(document.number if makes_document and document is not None
                else journal.key if journal is not None
                and correction.action is CorrectionAction.ADJUST_JOURNAL else ""),
        document_type=(document.xero_type if makes_document and document is not None
                       else correction.old.document_type if correction.old else ""),
        allocate_to=allocate_to,
        previous=correction.old,
        reason=correction.reason,
    )
    base = existing or SyncRecord(Kind.CORRECTIONS, erp_id, correction.number,
                                  correction.target_fingerprint)
    return replace(base, number=correction.number, fingerprint=correction.target_fingerprint,
                   sent=correction.settles_to, correction=link)


def applied(original: SyncRecord, correction: SyncRecord, now: datetime) -> SyncRecord:
    """The original's record once its correction is applied in Xero."""
    link = _link(correction)
    assert correction.sent is not None
    action = link.action
    status, seen = original.xero_status, original.xero_seen
    if action is CorrectionAction.VOID:
        status = XeroStatus.VOIDED.value
    elif action in (CorrectionAction.DELETE, CorrectionAction.DELETE_JOURNAL):
        status = XeroStatus.DELETED.value
    if action in (CorrectionAction.UPDATE, CorrectionAction.REWRITE_JOURNAL):
        seen = XeroSeen.written(correction.sent, original.kind is Kind.JOURNALS,
                                status or XeroStatus.AUTHORISED.value)
    elif link.allocate_to and not correction.last_error and seen is not None and (
            action is CorrectionAction.ALLOCATE or link.document_type in CREDIT_NOTE_TYPES):
        # A credit allocated to the original invoice, or the refund's own credit used up.
        due = next(d for d in (link.due_before, seen.amount_due, seen.total) if d is not None)
        seen = replace(seen, amount_due=money(max(due - allocation_amount(link), ZERO)),
                       has_applications=True)
        if seen.amount_due == ZERO and status == XeroStatus.AUTHORISED.value:
            status = XeroStatus.PAID.value
    if seen is not None and action is not CorrectionAction.ACCEPT:
        seen = replace(seen, changed_in_xero=False, note="")
    return replace(original, fingerprint=correction.fingerprint, sent=correction.sent,
                   synced_at=now, read_at=correction.read_at or now, decision=None,
                   xero_status=status, xero_seen=seen)


def _invoice_after_allocation(uow: UnitOfWork, record: SyncRecord) -> list[SyncRecord]:
    """A refund allocated to a sale: the sale's invoice owes that much less."""
    link = _link(record)
    if link.action is not CorrectionAction.ALLOCATE or record.last_error:
        return []
    invoice = uow.ledger.records_by_xero_id([link.allocate_to]).get(link.allocate_to)
    if invoice is None or invoice.kind is Kind.CORRECTIONS or invoice.xero_seen is None:
        return []
    seen = invoice.xero_seen
    due = seen.amount_due if seen.amount_due is not None else seen.total
    left = money(max(due - allocation_amount(link), ZERO))
    status = XeroStatus.PAID.value if left == ZERO else invoice.xero_status
    return [replace(invoice, xero_status=status,
                    xero_seen=replace(seen, amount_due=left, has_applications=True))]


def status_change(record: SyncRecord, correction: Correction) -> StatusChange:
    if correction.action is CorrectionAction.DELETE_JOURNAL:
        return StatusChange(record.erp_id, correction.xero_id, "MANJOURNAL",
                            XeroStatus.DELETED.value)
    status = XeroStatus.VOIDED.value if correction.action is CorrectionAction.VOID \
        else XeroStatus.DELETED.value
    assert correction.old is not None
    return StatusChange(record.erp_id, correction.xero_id, correction.old.document_type, status)


def allocation_of(record: SyncRecord, correction: Correction) -> Allocation:
    assert correction.allocation is not None
    a = correction.allocation
    return Allocation(record.erp_id, a.credit_note_xero_id, a.invoice_xero_id, a.amount, a.date)


def allocation_amount(link: CorrectionLink) -> Decimal:
    """A credit note is allocated for what it is worth, or what is still owing when less."""
    if link.due_before is None:
        return link.amount
    return money(min(link.amount, link.due_before))


def _allocation_day(record: SyncRecord) -> date:
    """A credit note is allocated on its own day, which the plan chose open and never before
    the invoice it credits."""
    link = _link(record)
    assert record.sent is not None
    day = link.day or record.sent.date
    return max(day, link.previous.date) if link.previous is not None else day


def _link(record: SyncRecord) -> CorrectionLink:
    assert record.correction is not None
    return record.correction


def _document(out: _Outgoing) -> TradeDocument:
    assert out.correction.document is not None
    return out.correction.document


def _own_id(correction: Correction, result: PushResult) -> str:
    """The object a settled correction names: what it created, else the original it changed."""
    if correction.action in (CorrectionAction.ADJUST, CorrectionAction.CREDIT,
                             CorrectionAction.ADJUST_JOURNAL):
        return result.xero_id or ""
    return correction.xero_id or result.xero_id or ""


def _shows_applied(record: SyncRecord, state: XeroObjectState) -> bool:
    link = _link(record)
    action = link.action
    if action is CorrectionAction.VOID:
        return state.status == XeroStatus.VOIDED.value
    if action in (CorrectionAction.DELETE, CorrectionAction.DELETE_JOURNAL):
        return state.status == XeroStatus.DELETED.value
    if action is CorrectionAction.ALLOCATE:
        return any(i == link.allocate_to for i, _ in state.allocations)
    if action in (CorrectionAction.UPDATE, CorrectionAction.REWRITE_JOURNAL):
        target = record.sent
        if target is None:
            return False
        if state.lines:
            return _line_keys(state.lines) == _line_keys(target.lines)
        return link.original_kind is not Kind.JOURNALS and money(state.total) == target.total
    return False


def _line_keys(lines: Sequence[SentLine]) -> list[tuple]:
    return sorted((ln.account_code, money(ln.amount), [(t.category, t.option) for t in ln.tracking])
                  for ln in lines)


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
