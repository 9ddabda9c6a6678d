"""Reconciliation (DESIGN: "Books over time"): does Xero agree with the ERP at a closing date?

Per account (per contact for receivables and payables, per tracking option for inventory)
three figures, each summed by SQL before it gets here:

- the ERP's: its documents and cost journals through the mapping, synced or not;
- what Accounts Sync has sent: the lines it keeps per synced record (`SentState`);
- Xero's: its trial balance for the account, its general ledger's journals for the parts.

Every difference ERP − Xero is split into named causes, each an amount with the same sign:

    not yet synced      the ERP's documents and journals no run has sent yet
    failed              those a run tried and Xero (or the checks) refused
    correction pending  synced ones the ERP changed since: ERP now − what was sent
    awaiting approval   sent as drafts, which Xero keeps out of its ledger until approved
    posted by others    journals in Xero that no Accounts Sync object made (payments,
                        manual journals, bank rules): Xero has them, the ERP does not

and what is left is **unexplained**. Revenue and expense accounts count from the first day of
the financial year, as Xero's trial balance does; earlier years' go to retained earnings.

Xero posts a document as the journal its own ledger would (ledger rules in docs/xero-rules.md):
each line's net amount to the line's account, the tax to the GST account, the total to the
receivables or payables account; a sale credits its lines, a bill debits them, a credit note
reverses its type. Pure functions: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from .corrections import SentState
from .documents import TrackingRef
from .money import ZERO, money


class Cause(StrEnum):
    NOT_SYNCED = "not yet synced"
    FAILED = "failed"
    CORRECTION = "correction pending"
    AWAITING_APPROVAL = "awaiting approval in Xero"
    OTHERS = "posted in Xero by someone else"

    @property
    def sentence(self) -> str:
        return CAUSE_SENTENCES[self]


CAUSE_SENTENCES = {
    Cause.NOT_SYNCED: "In the ERP, not sent to Xero yet: the next sync sends it.",
    Cause.FAILED: "A sync tried to send it and it was refused; fix the problem and sync again.",
    Cause.CORRECTION: "Changed, cancelled or added to in the ERP after it was synced: "
                      "the Corrections list sends the difference.",
    Cause.AWAITING_APPROVAL: "Sent as a draft: Xero keeps drafts out of its balances until "
                             "someone approves them there.",
    Cause.OTHERS: "Entered in Xero, not by Accounts Sync (payments, manual journals, "
                  "bank rules): the ERP has no such entry.",
}


class ErpState(StrEnum):
    """Where an ERP document or journal stands with Accounts Sync."""

    SYNCED = "synced"
    NOT_SYNCED = "not_synced"
    FAILED = "failed"


# Xero's account types whose balance restarts each financial year (the profit and loss).
PROFIT_AND_LOSS_TYPES = frozenset({
    "REVENUE", "SALES", "OTHERINCOME", "EXPENSE", "DIRECTCOSTS", "OVERHEADS", "DEPRECIATN",
})
# How each document type posts its lines (its total goes the other way to the control account).
LINE_SIGN = {"ACCREC": -1, "ACCRECCREDIT": 1, "ACCPAY": 1, "ACCPAYCREDIT": -1}
RECEIVABLE_TYPES = frozenset({"ACCREC", "ACCRECCREDIT"})
# The journal sources that are objects Accounts Sync makes; a payment's journal has the payment
# as its source (ACCRECPAYMENT, ARCREDITPAYMENT, ...): never ours (docs/xero-rules.md §9).
OBJECT_SOURCES = frozenset({"ACCREC", "ACCPAY", "ACCRECCREDIT", "ACCPAYCREDIT", "MANJOURNAL"})


@dataclass(frozen=True)
class LineSum:
    """Document lines summed (by SQL) per document type, state, account and tracking.

    `net` is the lines' amount exclusive of tax, `tax` their tax, both as the document states
    them (positive on an ordinary document). For a journal (document_type "") `net` is signed,
    debit positive, as the journal's LineAmount.
    """

    document_type: str
    state: str  # an ErpState for the ERP's figures; "posted" or "draft" for what was sent
    earlier: bool  # dated before the financial year of the closing date
    account_code: str
    tracking: tuple[TrackingRef, ...]
    net: Decimal
    tax: Decimal = ZERO
    # The ERP's batch attributes of the lines (the mapping makes tracking of them).
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ContactSum:
    """Document totals (lines and tax) summed per document type, state and contact."""

    document_type: str
    state: str
    contact: str
    contact_name: str
    total: Decimal


@dataclass(frozen=True)
class XeroLineSum:
    """Lines of Xero's general ledger (GET /Journals), summed per account and part; `ours`
    when the journal's source is an object Accounts Sync made."""

    account_code: str
    earlier: bool
    ours: bool
    amount: Decimal  # debit positive
    contact: str = ""
    contact_name: str = ""
    tracking: tuple[TrackingRef, ...] = ()


@dataclass(frozen=True)
class AccountInfo:
    code: str
    name: str
    type: str = ""

    @property
    def is_profit_and_loss(self) -> bool:
        return self.type in PROFIT_AND_LOSS_TYPES


@dataclass(frozen=True)
class Chart:
    """What reconciliation needs of Xero's chart: names, types and its system accounts."""

    accounts: Mapping[str, AccountInfo]
    receivables: str = "610"
    payables: str = "800"
    tax: str = "820"
    retained_earnings: str = "960"
    inventory: frozenset[str] = frozenset()  # reconciled per tracking option

    def info(self, code: str) -> AccountInfo:
        return self.accounts.get(code) or AccountInfo(code, code)

    def breaks_down_by_contact(self, code: str) -> bool:
        return code in (self.receivables, self.payables)


@dataclass(frozen=True)
class Figures:
    """ERP, sent and Xero for one account or one part of it, and the causes of ERP − Xero."""

    erp: Decimal = ZERO
    sent: Decimal = ZERO
    xero: Decimal = ZERO
    causes: tuple[tuple[Cause, Decimal], ...] = ()

    @property
    def difference(self) -> Decimal:
        return money(self.erp - self.xero)

    @property
    def explained(self) -> Decimal:
        return money(sum((amount for _, amount in self.causes), ZERO))

    @property
    def unexplained(self) -> Decimal:
        return money(self.difference - self.explained)

    def cause(self, cause: Cause) -> Decimal:
        return next((amount for c, amount in self.causes if c is cause), ZERO)


@dataclass(frozen=True)
class Part:
    """One contact of a receivables/payables account, or one tracking option of an inventory
    account."""

    label: str
    key: str  # the contact's ERP id, or the tracking as "Category=Option;..." ("" for none)
    figures: Figures


@dataclass(frozen=True)
class AccountReconciliation:
    code: str
    name: str
    type: str
    figures: Figures
    parts: tuple[Part, ...] = ()
    breakdown: str = ""  # "contact", "tracking" or ""

    @property
    def unexplained_parts(self) -> tuple[Part, ...]:
        """Parts with an unexplained difference (they may cancel out in the account's total,
        e.g. a payment in Xero against the wrong contact)."""
        return tuple(p for p in self.parts if p.figures.unexplained)

    @property
    def reconciled(self) -> bool:
        return self.figures.unexplained == 0 and not self.unexplained_parts


@dataclass(frozen=True)
class Reconciliation:
    closing_date: date
    period_start: date  # the first day of the financial year (revenue and expenses)
    accounts: tuple[AccountReconciliation, ...]
    notes: tuple[str, ...] = ()
    # False while Xero's general ledger is still being read (a first reconciliation of a large
    # organisation): the parts and what others posted cover only what was read.
    ledger_complete: bool = True

    @property
    def unexplained(self) -> tuple[AccountReconciliation, ...]:
        return tuple(a for a in self.accounts if not a.reconciled)

    @property
    def reconciled(self) -> bool:
        return not self.unexplained

    @property
    def differences(self) -> tuple[AccountReconciliation, ...]:
        return tuple(a for a in self.accounts if a.figures.difference)

    def account(self, code: str) -> AccountReconciliation | None:
        return next((a for a in self.accounts if a.code == code), None)

    def accounts_with(self, cause: Cause) -> tuple[AccountReconciliation, ...]:
        """The accounts a cause explains part of (amounts of different accounts don't add up:
        a bill's difference is a debit on one and a credit on another)."""
        return tuple(a for a in self.accounts if a.figures.cause(cause))


def tracking_key(tracking: Iterable[TrackingRef]) -> str:
    return ";".join(f"{t.category}={t.option}" for t in sorted(tracking,
                                                                 key=lambda t: t.category))


def tracking_label(tracking: Iterable[TrackingRef]) -> str:
    refs = sorted(tracking, key=lambda t: t.category)
    return " · ".join(f"{t.category}: {t.option}" for t in refs) or "No tracking"


# --------------------------------------------------------------------- turning sums into postings

class _Book:
    """Postings gathered per (account, part) and per state."""

    def __init__(self, chart: Chart) -> None:
        self.chart = chart
        self.amounts: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
            lambda: defaultdict(lambda: ZERO))
        self.labels: dict[tuple[str, str], str] = {}

    def add(self, code: str, earlier: bool, state: str, amount: Decimal,
            tracking: tuple[TrackingRef, ...] = (), contact: str = "",
            contact_name: str = "") -> None:
        if not amount:
            return
        info = self.chart.info(code)
        if earlier and info.is_profit_and_loss:
            code, tracking = self.chart.retained_earnings, ()
        if self.chart.breaks_down_by_contact(code):
            part, label = contact, contact_name or contact or "No contact"
        elif code in self.chart.inventory:
            part, label = tracking_key(tracking), tracking_label(tracking)
        else:
            part, label = "", ""
        self.amounts[code, part][state] += amount
        self.labels.setdefault((code, part), label)

    def total(self, code: str, part: str, *states: str) -> Decimal:
        found = self.amounts.get((code, part))
        if not found:
            return ZERO
        return sum((v for s, v in found.items() if not states or s in states), ZERO)


def post_lines(book: _Book, sums: Iterable[LineSum]) -> None:
    """Each document line to its account, its tax to the GST account (journals: as signed)."""
    for s in sums:
        sign = LINE_SIGN.get(s.document_type, 1)
        book.add(s.account_code, s.earlier, s.state, sign * s.net, s.tracking)
        book.add(book.chart.tax, s.earlier, s.state, sign * s.tax)


def post_totals(book: _Book, sums: Iterable[ContactSum]) -> None:
    """Each document's total to receivables or payables, against its contact."""
    for s in sums:
        sign = LINE_SIGN.get(s.document_type)
        if sign is None:
            continue
        control = book.chart.receivables if s.document_type in RECEIVABLE_TYPES \
            else book.chart.payables
        book.add(control, False, s.state, -sign * s.total, contact=s.contact,
                 contact_name=s.contact_name)


def sent_sums_of(sent: SentState, state: str, period_start: date, sign: int = 1
                 ) -> tuple[list[LineSum], list[ContactSum]]:
    """One record's sent lines summed as the ledger's sent_sums sums them (sign -1 takes them
    away)."""
    lines = [LineSum(sent.document_type, state, sent.date < period_start, line.account_code,
                     line.tracking, sign * line.amount, sign * line.tax_amount)
             for line in sent.lines]
    totals = [ContactSum(sent.document_type, state, sent.contact, sent.contact_name,
                         sign * (sent.net + sent.tax))] if sent.document_type else []
    return lines, totals


def postings_of(lines: Iterable[LineSum], totals: Iterable[ContactSum], chart: Chart
                ) -> dict[str, Decimal]:
    """What these lines and totals post to each account in Xero's ledger (parts summed)."""
    book = _Book(chart)
    post_lines(book, lines)
    post_totals(book, totals)
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for (code, _), amounts in book.amounts.items():
        out[code] += sum(amounts.values(), ZERO)
    return {code: amount for code, amount in out.items() if amount}


def account_postings(sent: SentState, chart: Chart) -> dict[str, Decimal]:
    """What the object Accounts Sync sent posts to each account in Xero's ledger."""
    return postings_of(*sent_sums_of(sent, "posted", date.min), chart)


# --------------------------------------------------------------------------------- reconcile

ERP_CAUSES = ((ErpState.NOT_SYNCED, Cause.NOT_SYNCED), (ErpState.FAILED, Cause.FAILED))
POSTED, DRAFT = "posted", "draft"
OURS, OTHERS = "ours", "others"


@dataclass
class ReconcileInput:
    """The sums reconcile() works on (see the module's docstring)."""

    closing_date: date
    period_start: date
    chart: Chart
    erp_lines: list[LineSum] = field(default_factory=list)
    erp_totals: list[ContactSum] = field(default_factory=list)
    sent_lines: list[LineSum] = field(default_factory=list)
    sent_totals: list[ContactSum] = field(default_factory=list)
    xero_lines: list[XeroLineSum] = field(default_factory=list)
    trial_balance: dict[str, Decimal] = field(default_factory=dict)  # code → balance
    notes: list[str] = field(default_factory=list)
    ledger_complete: bool = True


def reconcile(data: ReconcileInput) -> Reconciliation:
    chart = data.chart
    erp, sent, xero = _Book(chart), _Book(chart), _Book(chart)
    post_lines(erp, data.erp_lines)
    post_totals(erp, data.erp_totals)
    post_lines(sent, data.sent_lines)
    post_totals(sent, data.sent_totals)
    for x in data.xero_lines:
        xero.add(x.account_code, x.earlier, OURS if x.ours else OTHERS, x.amount, x.tracking,
                 x.contact, x.contact_name)
    keys = set(erp.amounts) | set(sent.amounts) | set(xero.amounts)
    codes = {code for code, _ in keys} | {c for c, b in data.trial_balance.items() if b}
    accounts = []
    for code in sorted(codes, key=_account_order(chart)):
        parts = sorted(part for c, part in keys if c == code)
        figures_of_parts = [
            (part, _figures(erp, sent, xero, code, part, xero.total(code, part))) for part in parts
        ]
        # Xero's own figure for the account is its trial balance; the journals read for the
        # parts should add up to it, and any gap between the two is left unexplained.
        xero_total = money(data.trial_balance.get(code, ZERO))
        causes: dict[Cause, Decimal] = defaultdict(lambda: ZERO)
        totals = [ZERO, ZERO]
        for _, f in figures_of_parts:
            totals[0] += f.erp
            totals[1] += f.sent
            for cause, amount in f.causes:
                causes[cause] += amount
        account_figures = Figures(money(totals[0]), money(totals[1]), xero_total,
                                  tuple((c, money(a)) for c, a in causes.items() if a))
        info = chart.info(code)
        breakdown = "contact" if chart.breaks_down_by_contact(code) else \
            "tracking" if code in chart.inventory else ""
        shown_parts = tuple(
            Part(erp.labels.get((code, p)) or sent.labels.get((code, p))
                 or xero.labels.get((code, p)) or "", p, f)
            for p, f in figures_of_parts
            if breakdown and (f.erp or f.sent or f.xero)
        )
        accounts.append(AccountReconciliation(code, info.name, info.type, account_figures,
                                              shown_parts, breakdown))
    return Reconciliation(data.closing_date, data.period_start, tuple(accounts),
                          tuple(data.notes), data.ledger_complete)


def _figures(erp: _Book, sent: _Book, xero: _Book, code: str, part: str,
             xero_amount: Decimal) -> Figures:
    causes: list[tuple[Cause, Decimal]] = []
    for state, cause in ERP_CAUSES:
        causes.append((cause, erp.total(code, part, state)))
    causes.append((Cause.CORRECTION,
                   erp.total(code, part, ErpState.SYNCED) - sent.total(code, part)))
    causes.append((Cause.AWAITING_APPROVAL, sent.total(code, part, DRAFT)))
    causes.append((Cause.OTHERS, -xero.total(code, part, OTHERS)))
    return Figures(
        erp=money(erp.total(code, part)),
        sent=money(sent.total(code, part)),
        xero=money(xero_amount),
        causes=tuple((c, money(a)) for c, a in causes if money(a)),
    )


def _account_order(chart: Chart):
    def order(code: str) -> tuple:
        return (chart.info(code).is_profit_and_loss, code)
    return order
