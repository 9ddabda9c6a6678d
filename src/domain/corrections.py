"""Books over time: what was sent to Xero, line by line, and how a later ERP change is corrected.

DESIGN.md ("Books over time"): the plugin keeps, per synced record, what it sent (`SentState`),
so the difference between what Xero holds from us and what the ERP says now is computed per
(account, tracking, tax type) without asking Xero. The planner here is pure: sent state + the
ERP now + what Xero says about the object → one `Correction`. The rules it applies are Xero's,
written down with their sources in docs/xero-rules.md; each reads as a sentence below.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from .costs import MovementType
from .documents import (
    CREDIT_NOTE_TYPES,
    Contact,
    DocumentLine,
    Kind,
    LineAmountTypes,
    TrackingRef,
    TradeDocument,
    fingerprint_of,
)
from .journals import AccountJournal, JournalLine, parse_journal_key, reference_marker
from .money import ZERO, format_money, money


@dataclass(frozen=True)
class SentLine:
    """One line as Accounts Sync sent it to Xero.

    `amount` is the line's net amount: exclusive of tax for trade documents, signed for
    journals (debit positive, credit negative, as Xero's LineAmount). `tax_amount` is the tax
    the ERP computed for the line (trade documents only).
    """

    account_code: str
    amount: Decimal
    tax_amount: Decimal = ZERO
    tax_type: str = ""
    tracking: tuple[TrackingRef, ...] = ()
    description: str = ""

    @property
    def key(self) -> LineKey:
        """What a difference is computed per: account, tracking and tax type."""
        return (self.account_code, self.tracking, self.tax_type)


LineKey = tuple[str, tuple[TrackingRef, ...], str]


@dataclass(frozen=True)
class SentState:
    """What the object in Xero holds from Accounts Sync, all corrections included.

    For a trade document: its header as sent and its lines; after a void, a delete or a full
    credit, no lines (it counts for nothing). For a journal: its day and its lines.
    """

    date: date
    lines: tuple[SentLine, ...] = ()
    contact: str = ""  # the ERP's contact id
    contact_name: str = ""
    currency: str = ""
    document_type: str = ""  # ACCREC ACCPAY ACCRECCREDIT ACCPAYCREDIT; "" for journals
    line_amount_types: str = ""

    @property
    def net(self) -> Decimal:
        return money(sum((line.amount for line in self.lines), ZERO))

    @property
    def tax(self) -> Decimal:
        return money(sum((line.tax_amount for line in self.lines), ZERO))

    @property
    def total(self) -> Decimal:
        """What the document is worth: net plus tax (tax included in the lines when Inclusive)."""
        if self.line_amount_types == LineAmountTypes.INCLUSIVE.value:
            return self.net
        return money(self.net + self.tax)

    @property
    def debit_total(self) -> Decimal:
        """For journals: the sum of the debit lines."""
        return money(sum((line.amount for line in self.lines if line.amount > 0), ZERO))

    def to_json(self) -> dict:
        return {
            "date": self.date.isoformat(),
            "contact": self.contact,
            "contact_name": self.contact_name,
            "currency": self.currency,
            "type": self.document_type,
            "lat": self.line_amount_types,
            "lines": [
                [ln.account_code, format_money(ln.amount), format_money(ln.tax_amount), ln.tax_type,
                 [[t.category, t.option] for t in ln.tracking], ln.description]
                for ln in self.lines
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> SentState:
        # A plan reads thousands of these: tracking pairs recur, and are made once each.
        refs: dict[tuple, tuple[TrackingRef, ...]] = {}
        lines = []
        for account, amount, tax, tax_type, tracking, description in data.get("lines", ()):
            key = tuple(map(tuple, tracking))
            found = refs.get(key)
            if found is None:
                found = refs[key] = tuple(TrackingRef(c, o) for c, o in tracking)
            lines.append(SentLine(account, Decimal(amount), Decimal(tax), tax_type, found,
                                  description))
        return cls(
            date=date.fromisoformat(data["date"]),
            contact=data.get("contact", ""),
            contact_name=data.get("contact_name", ""),
            currency=data.get("currency", ""),
            document_type=data.get("type", ""),
            line_amount_types=data.get("lat", ""),
            lines=tuple(lines),
        )


def sent_state_of_document(document: TradeDocument) -> SentState:
    return SentState(
        date=document.date,
        lines=tuple(
            SentLine(line.account_code, line.line_amount, money(line.tax_amount), line.tax_type,
                     line.tracking, line.description)
            for line in document.lines
        ),
        contact=document.contact.erp_id,
        contact_name=document.contact.name,
        currency=document.currency.upper(),
        document_type=document.xero_type,
        line_amount_types=document.line_amount_types.value,
    )


def sent_state_of_journal(journal: AccountJournal) -> SentState:
    return SentState(
        date=journal.date,
        lines=tuple(
            SentLine(line.account_code, money(line.amount), tracking=line.tracking,
                     description=line.description)
            for line in journal.lines
        ),
    )


def line_difference(old: Iterable[SentLine], new: Iterable[SentLine]) -> tuple[SentLine, ...]:
    """new − old per (account, tracking, tax type); keys whose amount and tax both stay are
    left out. Ordered by account, tracking, tax type, so a plan is stable."""
    amounts: dict[LineKey, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    descriptions: dict[LineKey, str] = {}
    for sign, lines in ((-1, old), (1, new)):
        for line in lines:
            pair = amounts[line.key]
            pair[0] += sign * line.amount
            pair[1] += sign * line.tax_amount
            if sign == 1 or line.key not in descriptions:
                descriptions[line.key] = line.description
    return tuple(
        SentLine(key[0], money(amount), money(tax), key[2], key[1], descriptions.get(key, ""))
        for key, (amount, tax) in sorted(amounts.items(), key=_key_order)
        if money(amount) != ZERO or money(tax) != ZERO
    )


def _key_order(item: tuple[LineKey, list[Decimal]]) -> tuple:
    (account, tracking, tax_type), _ = item
    return (account, [(t.category, t.option) for t in tracking], tax_type)


def combine(lines: Iterable[SentLine]) -> tuple[SentLine, ...]:
    """Lines summed per key: what Xero holds in effect after an original and its adjustments."""
    return line_difference((), lines)


# ------------------------------------------------------------------------ Xero's side


class XeroStatus(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    AUTHORISED = "AUTHORISED"
    PAID = "PAID"
    VOIDED = "VOIDED"
    DELETED = "DELETED"
    POSTED = "POSTED"
    ARCHIVED = "ARCHIVED"


GONE = frozenset({XeroStatus.VOIDED.value, XeroStatus.DELETED.value})
UNAPPROVED = frozenset({XeroStatus.DRAFT.value, XeroStatus.SUBMITTED.value})


@dataclass(frozen=True)
class XeroSeen:
    """What Accounts Sync last knew of its object in Xero beyond its status: the total the
    object itself has (as we wrote it), what is still owing on it, whether anything is applied
    to it, and whether someone changed it in Xero (its total or status is not what we wrote)."""

    total: Decimal
    amount_due: Decimal | None = None
    has_applications: bool = False
    changed_in_xero: bool = False
    note: str = ""  # what changed in Xero, in words

    def to_json(self) -> dict:
        return {
            "total": format_money(self.total),
            "due": None if self.amount_due is None else format_money(self.amount_due),
            "applied": self.has_applications,
            "changed": self.changed_in_xero,
            "note": self.note,
        }

    @classmethod
    def written(cls, sent: SentState, journal: bool, status: str) -> XeroSeen:
        """Right after we wrote the object: its own total, all of it owing when approved."""
        total = sent.debit_total if journal else sent.total
        due = None if journal else (total if status == XeroStatus.AUTHORISED.value else None)
        return cls(total, due)

    @classmethod
    def from_json(cls, data: dict | None) -> XeroSeen | None:
        if not data:
            return None
        due = data.get("due")
        return cls(Decimal(data.get("total", "0")), None if due is None else Decimal(due),
                   bool(data.get("applied")), bool(data.get("changed")), data.get("note", ""))


@dataclass(frozen=True)
class XeroSide:
    """What the planner knows of the object in Xero: fresh before a correction is sent, the
    last status seen (by a sync or a look at Xero's changes) in a preview."""

    status: str
    amount_due: Decimal | None = None  # None: not known (a preview before any look)
    has_applications: bool = False  # a payment, credit or allocation is applied to it
    changed_in_xero: bool = False  # someone changed it in Xero after we last wrote it


class LockPolicy(StrEnum):
    """What happens to something dated inside Xero's locked period."""

    CARRY = "carry"  # dated the first open day instead, with the original date noted
    HOLD = "hold"  # kept back and listed until the lock date moves

    @classmethod
    def parse(cls, raw: str) -> LockPolicy:
        try:
            return cls((raw or cls.CARRY.value).strip().lower())
        except ValueError:
            return cls.CARRY


@dataclass(frozen=True)
class Period:
    """Xero's lock date and what to do with what falls on or before it."""

    lock_date: date | None = None
    policy: LockPolicy = LockPolicy.CARRY

    def is_locked(self, day: date) -> bool:
        return self.lock_date is not None and day <= self.lock_date

    @property
    def first_open_day(self) -> date | None:
        return self.lock_date + timedelta(days=1) if self.lock_date else None

    def dated(self, day: date) -> date:
        """The day something dated `day` gets in Xero: itself when open, else the first open day."""
        if self.is_locked(day):
            return self.first_open_day  # type: ignore[return-value]
        return day


def carried_note(original: date) -> str:
    return f"dated {original.isoformat()} in the ERP; carried past Xero's lock date"


def carry_document(document: TradeDocument, period: Period) -> TradeDocument:
    """A document dated inside the locked period, dated the first open day instead; the
    reference keeps the original date. Unchanged when its day is open."""
    if not period.is_locked(document.date):
        return document
    day = period.dated(document.date)
    note = f"ERP date {document.date.isoformat()}"
    reference = f"{document.reference} ({note})" if document.reference else note
    due = max(document.due_date, day) if document.due_date else None
    # The fingerprint stays the ERP's: carrying is how it is sent, not an edit.
    return replace(document, date=day, due_date=due, reference=reference[:255],
                   fingerprint=document.fingerprint)


def carry_journal(journal: AccountJournal, period: Period) -> AccountJournal:
    if not period.is_locked(journal.date):
        return journal
    day = period.dated(journal.date)
    marker = reference_marker(journal.key)
    narration = journal.narration.replace(marker, "").strip()
    return replace(journal, date=day,
                   narration=f"{narration} ({carried_note(journal.date)}) {marker}")


# ------------------------------------------------------------------------ corrections


class CorrectionAction(StrEnum):
    UPDATE = "update"  # the object in Xero is rewritten with the ERP's content
    ADJUST = "adjust"  # an adjustment document for the difference only
    VOID = "void"
    DELETE = "delete"
    CREDIT = "credit"  # a credit note for the whole amount, allocated to the original
    ALLOCATE = "allocate"  # a credit note allocated to the invoice it credits
    REWRITE_JOURNAL = "rewrite_journal"  # a DRAFT journal rewritten in place
    ADJUST_JOURNAL = "adjust_journal"  # an adjustment journal with the difference only
    DELETE_JOURNAL = "delete_journal"  # a DRAFT journal whose costs were all removed
    DECIDE = "decide"  # only a person can decide: nothing is sent until they do
    ACCEPT = "accept"  # a person chose to leave Xero as it is: only our record changes

    @property
    def label(self) -> str:
        return {
            CorrectionAction.UPDATE: "Update in Xero",
            CorrectionAction.ADJUST: "Send an adjustment",
            CorrectionAction.VOID: "Void in Xero",
            CorrectionAction.DELETE: "Delete in Xero",
            CorrectionAction.CREDIT: "Credit in full",
            CorrectionAction.ALLOCATE: "Allocate the credit note",
            CorrectionAction.REWRITE_JOURNAL: "Rewrite the draft journal",
            CorrectionAction.ADJUST_JOURNAL: "Post an adjustment journal",
            CorrectionAction.DELETE_JOURNAL: "Delete the draft journal",
            CorrectionAction.DECIDE: "Needs your decision",
            CorrectionAction.ACCEPT: "Leave Xero as it is",
        }[self]

    @property
    def sends(self) -> bool:
        return self not in (CorrectionAction.DECIDE,)


class Choice(StrEnum):
    """What a person can decide for a correction only they can decide."""

    ADJUST = "adjust"  # send the adjustment / credit anyway (the credit stays unallocated)
    OVERWRITE = "overwrite"  # overwrite what someone changed in Xero with the ERP's content
    ACCEPT = "accept"  # leave Xero as it is; Accounts Sync stops proposing this correction

    @classmethod
    def parse(cls, raw: str) -> Choice:
        from .errors import InvalidRequest

        try:
            return cls((raw or "").strip().lower())
        except ValueError:
            raise InvalidRequest(
                f"'{raw}' is not a decision; choose {', '.join(c.value for c in cls)}.") from None

    @property
    def label(self) -> str:
        return {
            Choice.ADJUST: "Send it anyway",
            Choice.OVERWRITE: "Apply the ERP's change in Xero",
            Choice.ACCEPT: "Leave Xero as it is",
        }[self]


@dataclass(frozen=True)
class Decision:
    """A person's say on one correction; it holds only for the ERP content it was taken on."""

    choice: Choice
    fingerprint: str
    by: str = ""


@dataclass(frozen=True)
class Allocation:
    credit_note_xero_id: str
    invoice_xero_id: str
    amount: Decimal
    date: date


@dataclass(frozen=True)
class Correction:
    """One planned correction of one synced record (its *original*)."""

    kind: Kind  # the original's kind
    erp_id: str  # the original's ERP id (a journal's key)
    number: str
    action: CorrectionAction
    reason: str  # why this action, in a sentence
    old: SentState | None  # what Xero holds from us
    new: SentState | None  # what the ERP says now (None: cancelled or deleted)
    target_fingerprint: str  # the ERP content this correction brings Xero to
    xero_id: str = ""  # the original's object in Xero
    date: date | None = None  # the day the correction is dated in Xero
    carried_from: date | None = None  # the day it would have had, inside the locked period
    held: bool = False  # dated inside the locked period and the setting holds it back
    choices: tuple[Choice, ...] = ()
    document: TradeDocument | None = None  # what UPDATE, ADJUST or CREDIT sends
    journal: AccountJournal | None = None  # what REWRITE_JOURNAL or ADJUST_JOURNAL sends
    allocation: Allocation | None = None
    allocate_after: bool = False  # the credit note ADJUST/CREDIT creates is allocated next
    difference: tuple[SentLine, ...] = field(default=())
    xero_status: str = ""  # the original's status in Xero when planned
    xero_due: Decimal | None = None  # what was still owing on it (or left of a credit) then
    erp_url: str = ""  # the ERP page of the original (empty once the ERP deleted it)

    @property
    def settles_to(self) -> SentState:
        """What Xero holds from us for the original once this correction is applied."""
        old = self.old
        assert old is not None
        empty = replace(old, lines=())
        action = self.action
        if action in (CorrectionAction.VOID, CorrectionAction.DELETE, CorrectionAction.CREDIT,
                      CorrectionAction.DELETE_JOURNAL):
            return empty
        if action is CorrectionAction.ACCEPT:
            # Leaving Xero as it is: it holds what it held, nothing when it voided the object.
            return empty if self.xero_status in GONE else old
        if action is CorrectionAction.ALLOCATE:
            return old
        if action in (CorrectionAction.UPDATE, CorrectionAction.REWRITE_JOURNAL):
            return self.new or empty
        # An adjustment: the original and its adjustments together hold the ERP's lines, on the
        # original's own day and header.
        return replace(old, lines=self.new.lines if self.new is not None else ())

    @property
    def adjustment_amount(self) -> Decimal:
        """What an adjustment document or an allocation is worth (positive)."""
        if self.allocation is not None:
            return self.allocation.amount
        if self.document is not None:
            return self.document.total
        return ZERO

    @property
    def adjustment_status(self) -> str:
        """The status an adjustment journal is made in: posted when its original is."""
        return XeroStatus.DRAFT.value if self.xero_status == XeroStatus.DRAFT.value \
            else XeroStatus.POSTED.value

    @property
    def old_total(self) -> Decimal:
        return _worth(self.old, self.kind)

    @property
    def new_total(self) -> Decimal:
        return _worth(self.new, self.kind)

    @property
    def net_change(self) -> Decimal:
        """What the correction changes, in the original's own terms (a refund's credit too)."""
        if self.action is CorrectionAction.ALLOCATE and self.allocation:
            return ZERO
        return money(self.new_total - self.old_total)

    @property
    def sendable(self) -> bool:
        return self.action is not CorrectionAction.DECIDE and not self.held


def _worth(state: SentState | None, kind: Kind) -> Decimal:
    if state is None:
        return ZERO
    return state.debit_total if kind is Kind.JOURNALS else state.total


@dataclass(frozen=True)
class Original:
    """A synced record: what Xero holds from us and what we last saw of it there."""

    kind: Kind
    erp_id: str
    number: str
    xero_id: str
    fingerprint: str
    sent: SentState
    xero: XeroSide
    decision: Decision | None = None


# ------------------------------------------------------------------------ the rules


def can_edit_in_place(xero: XeroSide, old: SentState, new_day: date, period: Period) -> str:
    """Xero lets a document be rewritten while it is a draft or submitted, or authorised with
    nothing applied to it, and neither its old nor its new date is locked (docs/xero-rules.md).
    Returns why not, or '' when it can."""
    if xero.status in GONE:
        return f"it is {xero.status.lower()} in Xero"
    if xero.status == XeroStatus.PAID.value:
        return "it is paid in Xero"
    if xero.status == XeroStatus.AUTHORISED.value and xero.has_applications:
        return "a payment or credit is applied to it in Xero"
    if xero.status not in UNAPPROVED | {XeroStatus.AUTHORISED.value}:
        return f"Xero does not allow changes to a {xero.status.lower()} document"
    for day in (old.date, new_day):
        if period.is_locked(day):
            return f"{day.isoformat()} is inside Xero's locked period (up to {period.lock_date})"
    return ""


def can_remove(xero: XeroSide, old: SentState, period: Period) -> tuple[CorrectionAction | None, str]:
    """A draft or submitted document is deleted, an authorised one with nothing applied is
    voided, in an open period; otherwise it can only be credited."""
    if period.is_locked(old.date):
        return None, f"its date {old.date.isoformat()} is inside Xero's locked period"
    if xero.status in UNAPPROVED:
        return CorrectionAction.DELETE, "it is still a draft in Xero"
    if xero.status == XeroStatus.AUTHORISED.value and not xero.has_applications:
        return CorrectionAction.VOID, "nothing is applied to it in Xero yet"
    if xero.status == XeroStatus.PAID.value:
        return None, "it is paid in Xero"
    if xero.has_applications:
        return None, "a payment or credit is applied to it in Xero"
    return None, f"it is {xero.status.lower()} in Xero"


def has_adjustments(adjustments_made: int) -> str:
    """An original with adjustments in Xero is never rewritten, voided or deleted on its own:
    its adjustments would then count twice, or stay behind. Returns why, or ''."""
    if not adjustments_made:
        return ""
    return (f"it already has {adjustments_made} adjustment{'s' if adjustments_made > 1 else ''} "
            f"in Xero")


def plan_document(
    original: Original,
    now: TradeDocument | None,
    period: Period,
    cancelled: str = "",
    adjustments_made: int = 0,
) -> Correction | None:
    """The correction of one synced trade document, or None when Xero already agrees.

    `now` is the document as the ERP has it (None with `cancelled` saying why when the ERP
    cancelled or deleted it); `adjustments_made` numbers the next adjustment document.
    """
    old = original.sent
    if now is None:
        return _plan_removal(original, period, cancelled or "cancelled in the ERP", adjustments_made)
    new = sent_state_of_document(now)
    if now.fingerprint == original.fingerprint:
        return None
    base = dict(kind=original.kind, erp_id=original.erp_id, number=original.number,
                old=old, new=new, target_fingerprint=now.fingerprint, xero_id=original.xero_id,
                xero_status=original.xero.status, xero_due=original.xero.amount_due,
                erp_url=now.url)
    decision = _decision_for(original, now.fingerprint)
    if decision is not None and decision.choice is Choice.ACCEPT:
        return Correction(action=CorrectionAction.ACCEPT, reason=_accepted(decision), **base)
    xero = original.xero
    if xero.status in GONE:
        return Correction(
            action=CorrectionAction.DECIDE,
            reason=f"{original.number} is {xero.status.lower()} in Xero, so the ERP's edit "
                   f"cannot be applied to it; leave Xero as it is, or void it in the ERP too.",
            choices=(Choice.ACCEPT,), **base)
    if xero.changed_in_xero and not (decision and decision.choice is Choice.OVERWRITE):
        return Correction(
            action=CorrectionAction.DECIDE,
            reason=f"{original.number} was changed in Xero after Accounts Sync sent it, and "
                   f"edited in the ERP since: apply the ERP's change over Xero's, or leave Xero "
                   f"as it is.",
            choices=(Choice.OVERWRITE, Choice.ACCEPT), **base)
    why_not = can_edit_in_place(xero, old, now.date, period) or has_adjustments(adjustments_made)
    header_changed = (new.contact, new.currency) != (old.contact, old.currency)
    if not why_not:
        return Correction(action=CorrectionAction.UPDATE, date=now.date,
                          reason=f"{original.number} can still be changed in Xero.",
                          document=now, **base)
    if header_changed:
        return Correction(
            action=CorrectionAction.DECIDE,
            reason=f"{original.number} cannot be changed in Xero ({why_not}) and its contact or "
                   f"currency changed in the ERP: credit it in Xero and send it again by hand, "
                   f"or leave Xero as it is.",
            choices=(Choice.ACCEPT,), **base)
    difference = line_difference(old.lines, new.lines)
    if not difference:
        # Only what Xero ignores for the books changed (a description, a due date, a date we
        # cannot move): nothing to send; the record takes the new content.
        return Correction(action=CorrectionAction.ACCEPT, difference=(),
                          reason=f"{original.number} changed in the ERP in ways that do not "
                                 f"change any account ({why_not}); Xero is left as it is.",
                          **base)
    change = money(_worth(new, original.kind) - _worth(old, original.kind))
    day, carried_from, held = _dated(max(now.date, old.date), period)
    document = adjustment_document(original, now, difference, change, day, adjustments_made + 1)
    due = xero.amount_due
    # A credit note lowering an invoice is allocated to it, for what is still owing; what was
    # already paid would become credit to refund, which only a person can decide.
    credits_invoice = document.is_credit_note and not _is_credit(original.kind, old)
    if credits_invoice and (due is None or due < document.total):
        if decision is None or decision.choice is not Choice.ADJUST:
            owed = "nothing" if not due else f"{format_money(due)}"
            return Correction(
                action=CorrectionAction.DECIDE, difference=difference, document=document,
                date=day, carried_from=carried_from, held=held,
                reason=f"{original.number} went down by {format_money(-change if change < 0 else change)} "
                       f"in the ERP but {owed} is still owing on it in Xero ({why_not}): send a "
                       f"credit note anyway (it stays as credit to refund or use), or leave Xero "
                       f"as it is.",
                choices=(Choice.ADJUST, Choice.ACCEPT), **base)
    return Correction(
        action=CorrectionAction.ADJUST, difference=difference, document=document, date=day,
        carried_from=carried_from, held=held,
        allocate_after=credits_invoice and due is not None and due >= document.total,
        reason=f"{original.number} cannot be changed in Xero ({why_not}); an adjustment "
               f"carries the difference only.",
        **base)


def _plan_removal(original: Original, period: Period, cancelled: str,
                  adjustments_made: int) -> Correction | None:
    old = original.sent
    if not old.lines:
        return None  # already voided, deleted or credited in full
    base = dict(kind=original.kind, erp_id=original.erp_id, number=original.number,
                old=old, new=None, target_fingerprint=f"removed:{original.fingerprint[:16]}",
                xero_id=original.xero_id, xero_status=original.xero.status, xero_due=original.xero.amount_due)
    xero = original.xero
    if xero.status in GONE:
        return Correction(action=CorrectionAction.ACCEPT,
                          reason=f"{original.number} was {cancelled}, and is already "
                                 f"{xero.status.lower()} in Xero.", **base)
    decision = _decision_for(original, base["target_fingerprint"])
    if decision is not None and decision.choice is Choice.ACCEPT:
        return Correction(action=CorrectionAction.ACCEPT, reason=_accepted(decision), **base)
    action, why = can_remove(xero, old, period)
    if action is not None and adjustments_made:
        action, why = None, has_adjustments(adjustments_made)
    if action is not None:
        return Correction(action=action, date=old.date,
                          reason=f"{original.number} was {cancelled}; {why}.", **base)
    difference = line_difference(old.lines, ())
    day, carried_from, held = _dated(old.date, period)
    document = adjustment_document(original, None, difference, -_worth(old, original.kind), day,
                                   adjustments_made + 1, whole=True)
    due = xero.amount_due
    credits_invoice = not _is_credit(original.kind, old)
    if credits_invoice and not due and (decision is None or decision.choice is not Choice.ADJUST):
        return Correction(
            action=CorrectionAction.DECIDE, difference=difference, document=document, date=day,
            carried_from=carried_from, held=held,
            reason=f"{original.number} was {cancelled} but cannot be voided ({why}) and nothing "
                   f"is owing on it: send a credit note for the whole amount anyway (to refund "
                   f"or keep as credit), or leave Xero as it is.",
            choices=(Choice.ADJUST, Choice.ACCEPT), **base)
    return Correction(
        action=CorrectionAction.CREDIT, difference=difference, document=document, date=day,
        carried_from=carried_from, held=held, allocate_after=credits_invoice and bool(due),
        reason=f"{original.number} was {cancelled} but cannot be voided ({why}); a credit note "
               f"for the whole amount is allocated to it.",
        **base)


def plan_allocation(refund: Original, invoice_xero_id: str, invoice: XeroSide | None,
                    period: Period) -> Correction | None:
    """A refund of a synced sale: its credit note is allocated to that sale's invoice, for
    what is still owing on the invoice and left on the credit note."""
    if refund.xero.status not in (XeroStatus.AUTHORISED.value,) or not refund.sent.lines:
        return None
    credit = refund.xero.amount_due if refund.xero.amount_due is not None else refund.sent.total
    if credit <= ZERO:
        return None
    if invoice is not None:
        if invoice.status != XeroStatus.AUTHORISED.value:
            return None  # paid, voided or not approved: nothing to allocate to
        if invoice.amount_due is not None:
            credit = min(credit, invoice.amount_due)
    if credit <= ZERO:
        return None
    day, carried_from, held = _dated(refund.sent.date, period)
    return Correction(
        kind=refund.kind, erp_id=refund.erp_id, number=refund.number,
        action=CorrectionAction.ALLOCATE, old=refund.sent, new=refund.sent,
        target_fingerprint=f"allocated:{invoice_xero_id}", xero_id=refund.xero_id, date=day,
        carried_from=carried_from, held=held, xero_status=refund.xero.status,
        xero_due=refund.xero.amount_due,
        allocation=Allocation(refund.xero_id, invoice_xero_id, money(credit), day),
        reason=f"{refund.number} refunds a sale already in Xero; its credit note is allocated "
               f"to that invoice.",
    )


def plan_journal(
    original: Original,
    now: AccountJournal | None,
    period: Period,
    adjustments_made: int = 0,
) -> Correction | None:
    """A journal whose costs changed after it was sent. A DRAFT journal in an open period is
    rewritten in place (or deleted when nothing is left); otherwise an adjustment journal
    carries only the difference per (account, tracking), on the original day when open, else
    on the first open day with the original date in the narration."""
    new = sent_state_of_journal(now) if now is not None else SentState(original.sent.date)
    target = now.fingerprint if now is not None else f"removed:{original.erp_id}"
    if target == original.fingerprint:
        return None
    old = original.sent
    difference = line_difference(old.lines, new.lines)
    base = dict(kind=Kind.JOURNALS, erp_id=original.erp_id, number=original.number, old=old,
                new=new, target_fingerprint=target, xero_id=original.xero_id,
                difference=difference, xero_status=original.xero.status,
                xero_due=original.xero.amount_due, erp_url=now.url if now is not None else "")
    if not difference:
        return Correction(action=CorrectionAction.ACCEPT,
                          reason="The journal's cost entries changed but its lines did not.",
                          **base)
    decision = _decision_for(original, target)
    if decision is not None and decision.choice is Choice.ACCEPT:
        return Correction(action=CorrectionAction.ACCEPT, reason=_accepted(decision), **base)
    xero = original.xero
    if xero.status in GONE | {XeroStatus.ARCHIVED.value} or (
            xero.changed_in_xero and not (decision and decision.choice is Choice.OVERWRITE)):
        state = xero.status.lower() if xero.status in GONE | {XeroStatus.ARCHIVED.value} \
            else "changed"
        return Correction(
            action=CorrectionAction.DECIDE,
            reason=f"The journal was {state} in Xero after Accounts Sync sent it, and its costs "
                   f"changed in the ERP since: post the difference anyway, or leave Xero as it is.",
            choices=(Choice.OVERWRITE, Choice.ACCEPT) if xero.status not in GONE
            else (Choice.ACCEPT,), **base)
    if xero.status == XeroStatus.DRAFT.value and not period.is_locked(old.date) \
            and not adjustments_made:
        if now is None:
            return Correction(action=CorrectionAction.DELETE_JOURNAL, date=old.date,
                              reason="Every cost entry of this draft journal was removed in the "
                                     "ERP; the draft is deleted in Xero.", **base)
        return Correction(action=CorrectionAction.REWRITE_JOURNAL, date=now.date, journal=now,
                          reason="The journal is still a draft in Xero; it is rewritten in place.",
                          **base)
    day, carried_from, held = _dated(old.date, period)
    journal = adjustment_journal(original, difference, day, adjustments_made + 1)
    why = "posted" if xero.status == XeroStatus.POSTED.value else "inside the locked period"
    return Correction(action=CorrectionAction.ADJUST_JOURNAL, date=day, journal=journal,
                      carried_from=carried_from, held=held,
                      reason=f"The journal is {why} in Xero; an adjustment journal carries only "
                             f"the difference.", **base)


def _decision_for(original: Original, fingerprint: str) -> Decision | None:
    decision = original.decision
    if decision is None or decision.fingerprint != fingerprint:
        return None
    return decision


def _accepted(decision: Decision) -> str:
    who = f" by {decision.by}" if decision.by else ""
    return f"Left as it is in Xero, as decided{who}."


def _is_credit(kind: Kind, state: SentState) -> bool:
    return state.document_type in CREDIT_NOTE_TYPES if state.document_type else kind is Kind.REFUNDS


def _dated(day: date, period: Period) -> tuple[date, date | None, bool]:
    if not period.is_locked(day):
        return day, None, False
    return period.dated(day), day, period.policy is LockPolicy.HOLD


# ------------------------------------------------------------------------ what is sent

_OPPOSITE = {"ACCREC": "ACCRECCREDIT", "ACCRECCREDIT": "ACCREC",
             "ACCPAY": "ACCPAYCREDIT", "ACCPAYCREDIT": "ACCPAY"}


def adjustment_number(number: str, sequence: int) -> str:
    return f"{number}-ADJ{sequence}"


def adjustment_document(
    original: Original,
    now: TradeDocument | None,
    difference: Sequence[SentLine],
    change: Decimal,
    day: date,
    sequence: int,
    whole: bool = False,
) -> TradeDocument:
    """The adjustment of a trade document: the same type as the original when it raises it,
    the opposite (a credit note of an invoice, an invoice of a credit note) when it lowers it.
    Lines carry the difference per (account, tracking, tax type), with the ERP's tax; a line
    that goes the other way than the whole adjustment is a negative line."""
    old = original.sent
    original_type = old.document_type
    raises = change > ZERO or (change == ZERO and sum(d.amount for d in difference) >= 0)
    document_type = original_type if raises else _OPPOSITE[original_type]
    sign = Decimal(1) if raises else Decimal(-1)
    what = "Credit in full of" if whole else "Adjustment to"
    lines = tuple(
        DocumentLine(
            description=f"{what} {original.number}" + (f": {d.description}" if d.description else ""),
            quantity=Decimal(1),
            unit_amount=money(sign * d.amount),
            account_code=d.account_code,
            tax_type=d.tax_type,
            tax_amount=money(sign * d.tax_amount),
            tracking=d.tracking,
        )
        for d in difference
    )
    contact = now.contact if now is not None else Contact(old.contact, old.contact_name)
    return TradeDocument(
        kind=original.kind,
        erp_id=original.erp_id,
        number=adjustment_number(original.number, sequence),
        contact=contact,
        date=day,
        due_date=max(day, now.due_date) if now is not None and now.due_date else day,
        currency=old.currency or (now.currency if now is not None else ""),
        lines=lines,
        line_amount_types=LineAmountTypes(old.line_amount_types or LineAmountTypes.EXCLUSIVE.value),
        reference=f"{what} {original.number}",
        url=now.url if now is not None else "",
        document_type=document_type,
    )


def adjustment_journal(original: Original, difference: Sequence[SentLine], day: date,
                       sequence: int) -> AccountJournal:
    key = f"{original.erp_id}#adj{sequence}"
    on = original.sent.date.isoformat()
    narration = f"Adjustment to the journal of {on} ({original.number})"
    lines = tuple(
        JournalLine(account_code=d.account_code, amount=d.amount, tracking=d.tracking,
                    description=d.description)
        for d in sorted(difference, key=lambda d: (d.amount < 0, d.account_code))
    )
    return AccountJournal(
        key=key,
        date=day,
        movement_type=_movement_of(original.erp_id),
        narration=f"{narration} {reference_marker(key)}",
        lines=lines,
        entry_count=0,
        fingerprint=fingerprint_of([key, [[d.account_code, format_money(d.amount)] for d in difference]]),
    )


def _movement_of(key: str) -> MovementType:
    return parse_journal_key(key.split("#", 1)[0])[1]
