"""ExecuteRun: carry out one claimed sync run, batch by batch, safe to crash at any point.

The order of every batch is what protects the books:
1. its records are stored `in_flight` with their idempotency keys and committed;
2. the batch is pushed (the gateway retries transport failures under the same key);
3. each element's outcome is committed.
A crash between 1 and 3 leaves records `in_flight`; the next run first looks them up in
Xero and only sends what is truly absent, so nothing is ever created twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime

from ..domain.corrections import (
    LockPolicy,
    SentState,
    carry_journal,
    sent_state_of_document,
    sent_state_of_journal,
)
from ..domain.documents import Kind, TradeDocument
from ..domain.errors import AccountsSyncError, SyncRefused
from ..domain.journals import AccountJournal, build_journals
from ..domain.sync import (
    Failure,
    JournalMode,
    RefusedBy,
    SyncRecord,
    SyncRun,
    SyncState,
    SyncWindow,
)
from .batches import batch_key
from .checks import Checks
from .common import period_of, read_chart, with_currencies
from .plan_corrections import PlanCorrections
from .ports import AccountingGateway, Clock, PushResult, UnitOfWorkFactory
from .sync_corrections import SyncCorrections

log = logging.getLogger(__name__)

BATCH_SIZE = 50  # Xero's recommended maximum elements per request
UNKNOWN_OUTCOME = ("Xero's answer for this document was lost; the next sync looks it up in Xero "
                   "before sending anything again.")
# Documents read from the ERP at a time: large enough that a run resolves its contacts in one
# or two calls, small enough that memory stays flat however many documents there are.
CHUNK_SIZE = 5000

Item = TradeDocument | AccountJournal


@dataclass(frozen=True)
class _Outgoing:
    item: Item
    record: SyncRecord


class ExecuteRun:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        gateway: AccountingGateway,
        clock: Clock,
        batch_size: int = BATCH_SIZE,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if not 1 <= batch_size <= BATCH_SIZE:
            raise ValueError(f"batch size must be 1..{BATCH_SIZE}")
        self.uow = uow
        self.gateway = gateway
        self.clock = clock
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        # Corrections share the run's life (claim, worker, heartbeat, abort) and the batch
        # protocol, through a component of their own.
        self.corrections = SyncCorrections(uow, gateway, clock, PlanCorrections(uow, gateway, clock),
                                           batch_size=batch_size)

    def execute(self, run_id: int) -> SyncRun:
        with self.uow() as uow:
            run = uow.ledger.get_run(run_id)
        if not run.is_active:
            return run
        self._xero_refused = False
        try:
            with self.gateway.observe(lambda note: self._note(run_id, note)):
                if run.kind is Kind.CORRECTIONS:
                    return self.corrections.run(run)
                return self._run(run)
        except AccountsSyncError as exc:
            # Refusals and an unreachable Xero end the run with a plain reason; records of
            # the current batch stay in_flight and are reconciled by the next run, and say so.
            log.warning("run %s stopped: %s", run_id, exc.message)
            with self.uow() as uow:
                current = uow.ledger.get_run(run_id)
                stopped = current.abort(exc.message, self.clock.now())
                uow.ledger.save_run(stopped)
                why = exc.message.split(";")[0].rstrip(". ")
                left = [r.unconfirmed(f"the sync stopped before Xero answered ({why}).")
                        for r in uow.ledger.in_flight(run.kind) if r.run_id == run_id]
                uow.ledger.save_records(left)
                uow.commit()
            return stopped
        finally:
            if self._xero_refused:
                # Xero refused something we had checked: its chart may have changed since it was
                # read (an account archived, a lock date moved). The next preview reads it again.
                self.gateway.forget_chart()

    def _note(self, run_id: int, note: str) -> None:
        """Say on the run what it is waiting for; never let the saying stop the run."""
        try:
            with self.uow() as uow:
                uow.ledger.note_run(run_id, note)
                uow.commit()
        except AccountsSyncError as exc:
            log.warning("run %s: could not note %r: %s", run_id, note, exc.message)

    # ------------------------------------------------------------------ the run

    def _run(self, run: SyncRun) -> SyncRun:
        # Every run checks against Xero as it is now (a Retry after restoring an account or
        # moving a lock date must see the change), not against a chart read minutes ago.
        self._note(run.id, "Reading Xero's chart of accounts and lock dates…")
        self.gateway.forget_chart()
        chart, _ = read_chart(self.gateway)
        if chart is None:
            chart = self.gateway.chart()  # raises the plain reason Xero can't be used
        # Before counting what is left to send: what a dead run already got into Xero is done.
        confirmed = self._reconcile_in_flight(run)
        read_at = self.clock.now()  # journals: their costs are read just below
        with self.uow() as uow:
            SyncWindow.open(
                run.closing_date,
                self.clock.today(),
                lock_date=chart.organisation.lock_date,
                last_synced_up_to=None,
            )
            mapping = uow.settings.mapping()
            period = period_of(chart, uow.settings)
            checks = Checks(chart, mapping, period=period)
            if run.kind is Kind.JOURNALS:
                build = build_journals(uow.documents.cost_flows(run.closing_date), mapping)
                # A locked day never blocks the rest: its journal is carried to the first open
                # day, or held back (a setting) and listed in the preview until the lock moves.
                journals = [
                    replace(carry_journal(j, period), url=uow.documents.journal_url(j.key),
                            tax_type=mapping.journal_tax_type)
                    for j in build.journals
                    if not (period.is_locked(j.date) and period.policy is LockPolicy.HOLD)
                ]
                problems = list(build.problems) + checks.journal_problems(journals)
                if problems:
                    raise SyncRefused(problems)
                total = len(journals)
            else:
                total = uow.documents.summarize_unsynced(run.kind, run.closing_date).count
            run = run.start(total, self.clock.now())
            uow.ledger.save_run(run)
            uow.commit()

        if run.kind is Kind.JOURNALS:
            chunks: Iterator[tuple[datetime, list[Item]]] = (
                (read_at, chunk) for chunk in _chunked(journals, self.chunk_size))
        else:
            chunks = self._document_chunks(run)
        for read_at, chunk in chunks:
            refusals: dict[str, list[str]] = {}
            if run.kind is not Kind.JOURNALS:
                documents = [d for d in chunk if isinstance(d, TradeDocument)]
                checks = with_currencies(checks, self.gateway, {d.currency for d in documents})
                chunk = [checks.prepare(d) for d in documents]
                refusals = {d.erp_id: reasons for d in chunk
                            if (reasons := checks.document_problems(d))}  # type: ignore[union-attr]
                # Contacts only for the documents that will be sent: a refused one costs Xero nothing.
                wanted = [d for d in chunk if _erp_id(d) not in refusals]
                if wanted:
                    self.gateway.prepare_contacts(wanted)
            for start in range(0, len(chunk), self.batch_size):
                run = self._send_batch(run, chunk[start:start + self.batch_size], refusals,
                                       read_at)

        with self.uow() as uow:
            run = run.finish(self.clock.now(), confirmed)
            uow.ledger.save_run(run)
            mark = uow.ledger.last_synced_up_to(run.kind)
            if mark is None or run.closing_date > mark:
                uow.ledger.set_last_synced_up_to(run.kind, run.closing_date)
            uow.commit()
        log.info("run %s %s: %s", run.id, run.state.value, run.message)
        return run

    def _document_chunks(self, run: SyncRun) -> Iterator[tuple[datetime, list[Item]]]:
        # A fresh unit of work per chunk, so no transaction stays open while Xero is called;
        # keyset paging moves past documents that fail in this run instead of seeing them again.
        # Each chunk comes with when it was read: an ERP edit after that is looked for later.
        after: tuple[date, str] | None = None
        while True:
            read_at = self.clock.now()
            with self.uow() as uow:
                chunk = uow.documents.next_unsynced(
                    run.kind, run.closing_date, after, self.chunk_size
                )
            if not chunk:
                return
            yield read_at, list(chunk)
            after = (chunk[-1].date, chunk[-1].erp_id)

    def _reconcile_in_flight(self, run: SyncRun) -> int:
        """Records left in_flight by a run that died: whatever Xero has is marked synced (how
        many is returned)."""
        with self.uow() as uow:
            stuck = uow.ledger.in_flight(run.kind)
        if not stuck:
            return 0
        self._note(run.id, f"Looking up in Xero {len(stuck):,} document"
                           f"{'s' if len(stuck) > 1 else ''} an earlier sync left unconfirmed…")
        found: dict[str, str] = {}
        for start in range(0, len(stuck), self.batch_size):
            found |= self.gateway.find_existing(run.kind, stuck[start:start + self.batch_size])
        now = self.clock.now()
        with self.uow() as uow:
            settled = [r.succeed(found[r.erp_id], now) for r in stuck if r.erp_id in found]
            uow.ledger.save_records(settled)
            uow.commit()
        log.info("run %s: %d of %d in-flight records were already in Xero",
                 run.id, len(settled), len(stuck))
        return len(settled)

    def _send_batch(self, run: SyncRun, items: list[Item], refusals: dict[str, list[str]],
                    read_at: datetime | None = None) -> SyncRun:
        """`refusals`: the reasons Accounts Sync refuses documents with (Checks.document_problems)."""
        refused: list[tuple[SyncRecord, str]] = []
        outgoing: list[_Outgoing] = []
        with self.uow() as uow:
            known = uow.ledger.records(run.kind, [_erp_id(i) for i in items])
            for item in items:
                erp_id = _erp_id(item)
                record = known.get(erp_id) or SyncRecord(
                    run.kind, erp_id, _number(item), item.fingerprint
                )
                if record.state is SyncState.SYNCED:
                    continue  # synced by a reconciliation or another path meanwhile
                record = record.start(run.id, item.fingerprint, sent_state_of(item), read_at)
                reasons = refusals.get(erp_id)
                if reasons:
                    refused.append((record, " ".join(reasons)))
                else:
                    outgoing.append(_Outgoing(item, record))
            failed_locally = [record.fail(reason, RefusedBy.ACCOUNTS_SYNC)
                              for record, reason in refused]
            uow.ledger.save_records([o.record for o in outgoing] + failed_locally)
            uow.commit()

        results = self._push(run, outgoing) if outgoing else []

        by_id = {r.erp_id: r for r in results}
        default_status = (run.mode or JournalMode.DRAFT).value if run.kind is Kind.JOURNALS else ""
        settled: list[SyncRecord] = list(failed_locally)
        failures = [Failure(r.number, r.last_error, RefusedBy.ACCOUNTS_SYNC.value)
                    for r in failed_locally]
        created = 0
        now = self.clock.now()
        for out in outgoing:
            result = by_id.get(out.record.erp_id)
            if result is None or result.outcome_unknown:
                # Xero may have created it: never mark it failed (a failed record is resent
                # without a look-up); it stays in_flight for the next run to reconcile.
                record = replace(out.record, last_error=UNKNOWN_OUTCOME)
                failures.append(Failure(record.number, record.last_error))
            elif result.created:
                created += 1
                record = out.record.succeed(result.xero_id or "", now,
                                            result.status or default_status, result.updated_at)
                if result.warnings:
                    # Created, so never sent again; the warning is kept for a person to see.
                    record = replace(record, last_error="Xero warned: " + " ".join(result.warnings))
                    failures.append(Failure(record.number, record.last_error))
            elif result.xero_id and not result.errors:
                record = out.record.succeed(result.xero_id, now, result.status or default_status,
                                            result.updated_at)
            else:
                by = RefusedBy.ACCOUNTS_SYNC if result.refused_locally else RefusedBy.XERO
                self._xero_refused = self._xero_refused or by is RefusedBy.XERO
                record = out.record.fail(" ".join(result.errors + result.warnings)
                                         or "Xero refused this document without a reason.", by)
            if record.state is SyncState.FAILED:
                failures.append(Failure(record.number, record.last_error,
                                        (record.refused_by or RefusedBy.XERO).value))
            settled.append(record)
        unsettled = sum(1 for r in settled if r.state is SyncState.IN_FLIGHT)
        with self.uow() as uow:
            uow.ledger.save_records(settled)
            run = uow.ledger.get_run(run.id).progress(
                done=len(settled),
                created=created,
                failed=sum(1 for r in settled if r.state is SyncState.FAILED) + unsettled,
                failures=failures,
                at=now,
            )
            uow.ledger.save_run(run)
            uow.commit()
        return run

    def _push(self, run: SyncRun, outgoing: list[_Outgoing]) -> list[PushResult]:
        key = batch_key([o.record for o in outgoing])
        items = [o.item for o in outgoing]
        if run.kind is Kind.JOURNALS:
            return self.gateway.push_manual_journals(items, run.mode or JournalMode.DRAFT, key)
        if run.kind is Kind.REFUNDS:
            return self.gateway.push_credit_notes(items, key)
        return self.gateway.push_invoices(items, key)


def sent_state_of(item: Item) -> SentState:
    if isinstance(item, TradeDocument):
        return sent_state_of_document(item)
    return sent_state_of_journal(item)


def _erp_id(item: Item) -> str:
    return item.erp_id if isinstance(item, TradeDocument) else item.key


def _number(item: Item) -> str:
    return item.number if isinstance(item, TradeDocument) else item.key


def _chunked(items: list[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

