"""Reconcile: Xero against the ERP at a closing date, account by account (DESIGN: "Books over
time"), and ExplainDifference: the documents, journals and Xero entries behind one account's
difference.

Reading only, apart from the plugin's own copy of Xero's general ledger: each reconciliation
first reads the journals Xero posted since the last one (GET /Journals by offset, a page of 100
at a time, each page committed as it comes), so Xero's side per contact and per tracking option,
and what someone else posted there, are summed by the database like the ERP's side.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from ..domain.corrections import Correction, CorrectionAction, SentState
from ..domain.documents import Kind, LineAmountTypes, TradeDocument
from ..domain.errors import InvalidRequest
from ..domain.inventory import STOCK_STAGES
from ..domain.journals import AccountJournal, JournalBuild, JournalMemo, build_journals
from ..domain.mapping import AccountMapping
from ..domain.money import ZERO
from ..domain.reconciliation import (
    AccountInfo,
    Cause,
    Chart,
    ContactSum,
    ErpState,
    LineSum,
    ReconcileInput,
    Reconciliation,
    account_postings,
    postings_of,
    reconcile,
    sent_sums_of,
)
from ..domain.sync import SyncRecord
from .plan_corrections import CorrectionsRequest, PlanCorrections
from .ports import (
    AccountingGateway,
    ChartOfAccounts,
    RefusalFilter,
    TrialBalanceRow,
    UnitOfWork,
    UnitOfWorkFactory,
    XeroJournal,
)
from .value_inventory import DEFAULT_YEAR_END, FINANCIAL_YEAR_END, financial_year_start

log = logging.getLogger(__name__)

KIND_OF_TYPE = {"ACCREC": Kind.SALES_ORDERS, "ACCPAY": Kind.PURCHASE_ORDERS,
                "ACCRECCREDIT": Kind.REFUNDS}
JOURNAL_PAGE = 100
# A reconciliation reads at most this many pages of Xero's ledger (100 journals each, about
# half a minute at Xero's 60 calls a minute); a first reconciliation of a large organisation
# reads on at the next one and says so meanwhile.
MAX_JOURNAL_PAGES = 30
FAILED_LIMIT = 100_000
# Corrections that change the original object itself (the others create objects of their own).
IN_PLACE = frozenset({CorrectionAction.UPDATE, CorrectionAction.VOID, CorrectionAction.DELETE,
                      CorrectionAction.REWRITE_JOURNAL, CorrectionAction.DELETE_JOURNAL})


@dataclass(frozen=True)
class ReconcileRequest:
    closing_date: date
    read_xero_ledger: bool = True


class Reconcile:
    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway,
                 max_journal_pages: int = MAX_JOURNAL_PAGES) -> None:
        self.uow = uow
        self.gateway = gateway
        self.max_journal_pages = max_journal_pages

    def execute(self, request: ReconcileRequest) -> Reconciliation:
        closing = request.closing_date
        chart = self.gateway.chart()
        notes: list[str] = []
        complete = not request.read_xero_ledger or self.read_ledger()
        if not complete:
            notes.append(
                f"Xero's general ledger is still being read ({self.max_journal_pages * 100:,} "
                f"journals at a time, at Xero's pace of 60 calls a minute): the parts per "
                f"contact and tracking option, and what others posted in Xero, cover only what "
                f"was read so far. Reconcile again to read on.")
        rows = self.gateway.trial_balance(closing)
        trial_balance = {row.account_code: row.balance for row in rows}
        with self.uow() as uow:
            mapping = uow.settings.mapping()
            start = financial_year_start(closing, uow.settings.preference(
                FINANCIAL_YEAR_END, DEFAULT_YEAR_END))
            data = ReconcileInput(closing, start, reconciliation_chart(chart, mapping, rows),
                                  trial_balance=trial_balance, notes=notes,
                                  ledger_complete=complete)
            erp_lines, data.erp_totals = uow.documents.document_sums(closing, start)
            data.erp_lines = list(_mapped_lines(erp_lines, mapping))
            data.erp_lines.extend(self._journal_lines(uow, mapping, closing, start, notes))
            data.sent_lines, data.sent_totals = uow.ledger.sent_sums(closing, start)
            self._applied_in_flight(uow, data, closing, start)
            data.xero_lines = uow.ledger.xero_line_sums(closing, start)
        return reconcile(data)

    def _applied_in_flight(self, uow: UnitOfWork, data: ReconcileInput, closing: date,
                           start: date) -> None:
        """A correction that changes an object in place (update, void, delete, a journal
        rewritten), or one whose own object (a credit note still to be allocated) the record
        already names, and whose run was interrupted after Xero applied it: what Xero holds
        from us is already its outcome, which our record only learns when the next run looks
        it up."""
        in_flight = {kind: uow.ledger.in_flight(kind) for kind in Kind}
        interrupted = sum(len(records) for records in in_flight.values())
        if interrupted:
            data.notes.append(
                f"{interrupted} document{'s' if interrupted != 1 else ''}, journal"
                f"{'s' if interrupted != 1 else ''} or correction{'s' if interrupted != 1 else ''} "
                f"were interrupted while being sent: the next run looks them up in Xero and "
                f"settles them. Until then, what Xero already made of them shows as posted by "
                f"someone else.")
        pending = [(r, _object_in_xero(r)) for r in in_flight[Kind.CORRECTIONS]
                   if r.correction is not None and r.correction.previous is not None
                   and r.sent is not None]
        pending = [(r, xero_id) for r, xero_id in pending if xero_id]
        if not pending:
            return
        in_xero = uow.ledger.xero_source_sums([xero_id for _, xero_id in pending])
        for record, xero_id in pending:
            link = record.correction
            assert link is not None and link.previous is not None and record.sent is not None
            if in_xero.get(xero_id, {}) != _postings_when_applied(record, data.chart):
                continue  # not applied (or not read from Xero's ledger yet): sent as it was
            original = uow.ledger.records(link.original_kind, [link.original_erp_id],
                                          lines=False).get(link.original_erp_id)
            state = "draft" if original and original.xero_status in ("DRAFT", "SUBMITTED") \
                else "posted"
            for sent, sign in ((link.previous, -1), (record.sent, 1)):
                if sent.date > closing:
                    continue
                lines, totals = sent_sums_of(sent, state, start, sign)
                data.sent_lines.extend(lines)
                data.sent_totals.extend(totals)

    def read_ledger(self) -> bool:
        """Read the journals Xero posted since the last look; False when more remain."""
        for _ in range(self.max_journal_pages):
            with self.uow() as uow:
                offset = uow.ledger.xero_journal_offset()
            page = self.gateway.journals(offset)
            with self.uow() as uow:
                uow.ledger.save_xero_journals(page)
                if len(page) < JOURNAL_PAGE:
                    uow.ledger.claim_xero_journals()
                uow.commit()
            if len(page) < JOURNAL_PAGE:
                return True
        return False

    def _journal_lines(self, uow: UnitOfWork, mapping: AccountMapping, closing: date,
                       start: date, notes: list[str]) -> Iterable[LineSum]:
        failed = frozenset(r.erp_id for r in uow.ledger.failed(Kind.JOURNALS, FAILED_LIMIT))
        unsynced = _UNSYNCED_JOURNALS.build(uow.documents.cost_flows(closing), mapping)
        synced = _SYNCED_JOURNALS.build(uow.documents.synced_cost_flows(closing), mapping)
        unbuilt = len(unsynced.problems) + len(synced.problems)
        if unbuilt:
            notes.append(
                f"{unbuilt} cost journal problem{'s' if unbuilt != 1 else ''} (such as a stage "
                f"without an account) keep some cost entries out of every account until the "
                f"mapping is completed: " + "; ".join(
                    p.message for p in (*unsynced.problems, *synced.problems)[:3]))
        yield from _UNSYNCED_SUMS.sums(unsynced, failed, start)
        yield from _SYNCED_SUMS.sums(synced, None, start)


class _JournalSums:
    """The lines of the journals of one build as LineSums, reused while the build is the very
    same object (JournalMemo hands back the last one while the flows are the same objects)
    and the failed journals and the financial year's start are the same: a reconciliation
    over a year of costs would otherwise make tens of thousands of them again each time.
    `failed` None: every journal synced."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[JournalBuild, frozenset[str] | None, date, list[LineSum]] | None = None

    def sums(self, build: JournalBuild, failed: frozenset[str] | None, start: date) -> list[LineSum]:
        with self._lock:
            last = self._last
        if last is not None and last[0] is build and last[1] == failed and last[2] == start:
            return last[3]
        found: list[LineSum] = []
        for journal in build.journals:
            state = ErpState.SYNCED if failed is None else (
                ErpState.FAILED if journal.key in failed else ErpState.NOT_SYNCED)
            found.extend(journal_line_sums(journal, state, start))
        found = summed_line_sums(found)
        with self._lock:
            self._last = (build, failed, start, found)
        return found


# Reconcile builds the cost journals of every day, unsynced and synced, as the preview and the
# corrections do: built again only where the flows changed (each build its own memo, which
# keeps only its last build).
_UNSYNCED_JOURNALS = JournalMemo()
_SYNCED_JOURNALS = JournalMemo()
_UNSYNCED_SUMS = _JournalSums()
_SYNCED_SUMS = _JournalSums()


def _object_in_xero(record: SyncRecord) -> str:
    """The Xero object whose journal an in-flight correction's outcome shows in: the original
    itself for a change in place; for one that makes an object of its own (a credit note
    whose allocation is still to come), that object once the record holds its id."""
    link = record.correction
    assert link is not None
    if link.action in IN_PLACE:
        return link.target_xero_id
    return record.xero_id if record.xero_id and record.xero_id != "-" else ""


def _postings_when_applied(record: SyncRecord, chart: Chart) -> dict[str, Decimal]:
    """What that object posts in Xero's ledger once the correction is applied: the new content
    in place, or the difference (new − previous) as an object of its own."""
    link = record.correction
    assert link is not None and link.previous is not None and record.sent is not None
    if link.action in IN_PLACE:
        return account_postings(record.sent, chart)
    new_lines, new_totals = sent_sums_of(record.sent, "posted", date.min)
    old_lines, old_totals = sent_sums_of(link.previous, "posted", date.min, -1)
    return postings_of(new_lines + old_lines, new_totals + old_totals, chart)


def journal_line_sums(journal: AccountJournal, state: str, start: date) -> Iterable[LineSum]:
    for line in journal.lines:
        yield LineSum("", state, journal.date < start, line.account_code, line.tracking,
                      line.amount)


def summed_line_sums(lines: Iterable[LineSum]) -> list[LineSum]:
    """Line sums of one document type, state, side of the year's start, account, tracking
    and attributes added up: what the reconciliation adds them into anyway (forty thousand
    journal lines become a few hundred sums). Where some of them net to nothing, those lines
    themselves, so that the account is still there, as it is when they are posted one by one."""
    groups: dict[tuple, list[LineSum]] = {}
    for line in lines:
        groups.setdefault((line.document_type, line.state, line.earlier, line.account_code,
                           line.tracking, line.attributes), []).append(line)
    found: list[LineSum] = []
    for members in groups.values():
        if len(members) == 1:
            found.append(members[0])
            continue
        net = sum((m.net for m in members), ZERO)
        tax = sum((m.tax for m in members), ZERO)
        if (net or not any(m.net for m in members)) and (tax or not any(m.tax for m in members)):
            found.append(replace(members[0], net=net, tax=tax))
        else:
            found.extend(m for m in members if m.net or m.tax)
    return found


def _mapped_lines(lines: Iterable[LineSum], mapping: AccountMapping) -> Iterable[LineSum]:
    """The ERP's lines as a sync sends them: the kind's default account where the ERP left
    none, tracking from the batch attributes."""
    refs: dict[tuple, tuple] = {}
    for line in lines:
        code = line.account_code
        if not code:
            kind = KIND_OF_TYPE.get(line.document_type)
            code = mapping.defaults_for(kind).account_code if kind else ""
        tracking = line.tracking
        if line.attributes:  # as a sync does: the batch attributes become the mapped tracking
            tracking = refs.get(line.attributes)
            if tracking is None:
                tracking = refs[line.attributes] = mapping.tracking_refs(line.attributes)
        yield replace(line, account_code=code, attributes=(),
                      tracking=tuple(sorted(tracking, key=lambda t: t.category)))


def reconciliation_chart(chart: ChartOfAccounts, mapping: AccountMapping,
                         trial_balance: Iterable[TrialBalanceRow] = ()) -> Chart:
    def system(role: str, default: str) -> str:
        return next((a.code for a in chart.accounts if a.system_account == role), default)

    inventory = {a.code for a in chart.accounts if a.type == "INVENTORY"}
    inventory |= {code for stage in STOCK_STAGES if (code := mapping.stage_accounts.get(stage))}
    accounts = {row.account_code: AccountInfo(row.account_code, row.name, row.account_type)
                for row in trial_balance}
    accounts.update({a.code: AccountInfo(a.code, a.name, a.type) for a in chart.accounts})
    return Chart(
        accounts=accounts,
        receivables=system("DEBTORS", "610"),
        payables=system("CREDITORS", "800"),
        tax=system("GST", "820"),
        retained_earnings=system("RETAINEDEARNINGS", "960"),
        inventory=frozenset(inventory),
    )


# ------------------------------------------------------------------------------ drill-down


@dataclass(frozen=True)
class DocumentBehind:
    """An ERP document or cost journal behind a difference on one account."""

    kind: Kind
    erp_id: str  # a journal's key
    number: str
    date: date
    amount: Decimal  # what it posts to the account, debit positive
    cause: Cause
    erp_url: str = ""
    xero_url: str = ""
    note: str = ""


@dataclass(frozen=True)
class XeroEntry:
    journal: XeroJournal
    amount: Decimal  # on the account, debit positive
    ours: bool
    xero_url: str = ""


@dataclass(frozen=True)
class Explanation:
    closing_date: date
    account_code: str
    name: str
    documents: tuple[DocumentBehind, ...] = ()
    others: tuple[XeroEntry, ...] = ()
    ours: tuple[XeroEntry, ...] = ()
    limited: bool = False  # more documents than shown
    notes: tuple[str, ...] = field(default=())


SOURCE_KINDS = {"ACCREC": Kind.SALES_ORDERS, "ACCPAY": Kind.PURCHASE_ORDERS,
                "ACCRECCREDIT": Kind.REFUNDS, "ACCPAYCREDIT": Kind.REFUNDS,
                "MANJOURNAL": Kind.JOURNALS}


class ExplainDifference:
    """The documents, journals and Xero entries behind one account's difference."""

    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway,
                 plan_corrections: PlanCorrections, limit: int = 50) -> None:
        self.uow = uow
        self.gateway = gateway
        self.plan_corrections = plan_corrections
        self.limit = limit

    def execute(self, closing: date, account_code: str) -> Explanation:
        code = account_code.strip()
        if not code or len(code) > 20:
            raise InvalidRequest("Choose an account by its code, e.g. 1440.")
        chart = self.gateway.chart()
        found: list[DocumentBehind] = []
        limited = False
        with self.uow() as uow:
            mapping = uow.settings.mapping()
            rchart = reconciliation_chart(chart, mapping)
            start = financial_year_start(closing, uow.settings.preference(
                FINANCIAL_YEAR_END, DEFAULT_YEAR_END))
            for kind in (Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS, Kind.REFUNDS):
                limited |= self._documents(uow, kind, closing, code, rchart, mapping, found)
            limited |= self._journals(uow, mapping, closing, code, found)
            others = uow.ledger.xero_journal_entries(closing, code, True, self.limit)
            ours = uow.ledger.xero_journal_entries(closing, code, False, self.limit)
        for correction in self.plan_corrections.execute(CorrectionsRequest(closing)).corrections:
            amount = _correction_amount(correction, code, rchart)
            if amount:
                found.append(DocumentBehind(
                    correction.kind, correction.erp_id, correction.number,
                    correction.date or (correction.new or correction.old).date,  # type: ignore[union-attr]
                    amount, Cause.CORRECTION, correction.erp_url,
                    self.gateway.web_url(correction.kind, correction.xero_id)
                    if correction.xero_id else "", correction.reason))
        info = rchart.info(code)
        notes = ()
        if info.is_profit_and_loss:
            notes = (f"Revenue and expense accounts count from {start.isoformat()}, the first "
                     f"day of the financial year, as Xero's trial balance does.",)
        return Explanation(
            closing, code, info.name, tuple(found),
            tuple(self._entry(j, False) for j in others),
            tuple(self._entry(j, True) for j in ours if j.record_erp_id),
            limited, notes)

    def _entry(self, journal: XeroJournal, ours: bool) -> XeroEntry:
        kind = SOURCE_KINDS.get(journal.source_type)
        url = self.gateway.web_url(kind, journal.source_id) if kind and journal.source_id else ""
        amount = sum((line.net_amount for line in journal.lines), ZERO)
        return XeroEntry(journal, amount, ours, url)

    def _documents(self, uow: UnitOfWork, kind: Kind, closing: date, code: str, chart: Chart,
                   mapping: AccountMapping, found: list[DocumentBehind]) -> bool:
        errors = {r.erp_id: r.last_error for r in uow.ledger.failed(kind, FAILED_LIMIT)}
        shown = 0
        for document in self._candidates(uow, kind, closing, code, chart, mapping):
            amount = document_amount(document, code, chart, mapping)
            if not amount:
                continue
            if shown >= self.limit:
                return True
            cause = Cause.FAILED if document.erp_id in errors else Cause.NOT_SYNCED
            found.append(DocumentBehind(kind, document.erp_id, document.number, document.date,
                                        amount, cause, document.url,
                                        note=errors.get(document.erp_id, "")))
            shown += 1
        return False

    def _candidates(self, uow: UnitOfWork, kind: Kind, closing: date, code: str, chart: Chart,
                    mapping: AccountMapping) -> Iterable[TradeDocument]:
        """The unsynced documents that may post to the account, in (date, id) order."""
        if code not in (chart.receivables, chart.payables, chart.tax):
            # A line account: the database finds the documents with a line on it (a line
            # without an account posts to the kind's default one).
            codes = {code} | ({""} if mapping.defaults_for(kind).account_code == code else set())
            yield from uow.documents.refused_unsynced(
                kind, closing, RefusalFilter(accounts=frozenset(codes)), self.limit + 1)[1]
            return
        # Receivables, payables and tax: (nearly) every document posts there.
        after: tuple[date, str] | None = None
        while chunk := uow.documents.next_unsynced(kind, closing, after, 500):
            yield from chunk
            after = (chunk[-1].date, chunk[-1].erp_id)

    def _journals(self, uow: UnitOfWork, mapping: AccountMapping, closing: date, code: str,
                  found: list[DocumentBehind]) -> bool:
        errors = {r.erp_id: r.last_error for r in uow.ledger.failed(Kind.JOURNALS, FAILED_LIMIT)}
        shown = 0
        for journal in build_journals(uow.documents.cost_flows(closing), mapping).journals:
            amount = sum((line.amount for line in journal.lines if line.account_code == code),
                         ZERO)
            if not amount:
                continue
            if shown >= self.limit:
                return True
            cause = Cause.FAILED if journal.key in errors else Cause.NOT_SYNCED
            found.append(DocumentBehind(Kind.JOURNALS, journal.key, journal.narration,
                                        journal.date, amount, cause, journal.url,
                                        note=errors.get(journal.key, "")))
            shown += 1
        return False


def document_amount(document: TradeDocument, code: str, chart: Chart,
                    mapping: AccountMapping) -> Decimal:
    """What the document posts to the account as Xero would post it, debit positive."""
    default = mapping.defaults_for(document.kind).account_code
    inclusive = document.line_amount_types is LineAmountTypes.INCLUSIVE
    lines = [LineSum(document.xero_type, "", False, line.account_code or default, (),
                     line.line_amount - line.tax_amount if inclusive else line.line_amount,
                     line.tax_amount)
             for line in document.lines]
    total = sum((line.net + line.tax for line in lines), ZERO)
    totals = [ContactSum(document.xero_type, "", document.contact.erp_id, "", total)]
    return postings_of(lines, totals, chart).get(code, ZERO)


def _correction_amount(correction: Correction, code: str, chart: Chart) -> Decimal:
    def posted(state: SentState | None) -> Decimal:
        return account_postings(state, chart).get(code, ZERO) if state is not None else ZERO

    return posted(correction.new) - posted(correction.old)
