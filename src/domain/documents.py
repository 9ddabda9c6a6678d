"""Trade documents as the ERP issues them: sales orders, purchase orders and refunds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from .errors import UnknownKind
from .money import ZERO, money


class Kind(StrEnum):
    """What a sync record is about. The value is the word used in URLs, the API and the CLI."""

    SALES_ORDERS = "sales_orders"
    PURCHASE_ORDERS = "purchase_orders"
    REFUNDS = "refunds"
    JOURNALS = "journals"
    CORRECTIONS = "corrections"  # changes to what was already sent (DESIGN: "Books over time")

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @classmethod
    def parse(cls, raw: str) -> Kind:
        try:
            return cls(raw.strip().lower().replace("-", "_"))
        except ValueError:
            raise UnknownKind(raw, tuple(k.value for k in cls)) from None


TRADE_KINDS = (Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS, Kind.REFUNDS)

# The Xero object each kind of trade document becomes (DESIGN: "What the product is").
XERO_TYPES = {
    Kind.SALES_ORDERS: "ACCREC",
    Kind.PURCHASE_ORDERS: "ACCPAY",
    Kind.REFUNDS: "ACCRECCREDIT",
}
INVOICE_TYPES = frozenset({"ACCREC", "ACCPAY"})
CREDIT_NOTE_TYPES = frozenset({"ACCRECCREDIT", "ACCPAYCREDIT"})


class LineAmountTypes(StrEnum):
    EXCLUSIVE = "Exclusive"
    INCLUSIVE = "Inclusive"
    NO_TAX = "NoTax"


@dataclass(frozen=True)
class TrackingRef:
    """A Xero tracking category and the option chosen in it, e.g. Vintage / 2024."""

    category: str
    option: str


@dataclass(frozen=True)
class Contact:
    erp_id: str
    name: str
    email: str = ""


@dataclass(frozen=True)
class DocumentLine:
    description: str
    quantity: Decimal
    unit_amount: Decimal
    account_code: str
    tax_type: str
    tax_amount: Decimal = ZERO
    tracking: tuple[TrackingRef, ...] = ()
    item_code: str = ""
    # The batch attributes the ERP gave the line (vintage, brand, ...): the mapping turns them
    # into `tracking` (AccountMapping.tracking_refs), as it does for cost entries.
    attributes: tuple[tuple[str, str], ...] = ()

    @property
    def line_amount(self) -> Decimal:
        return money(self.quantity * self.unit_amount)


@dataclass(frozen=True)
class TradeDocument:
    """An invoiced sales order, a received purchase order, or an approved refund."""

    kind: Kind
    erp_id: str
    number: str
    contact: Contact
    date: date
    due_date: date | None
    currency: str
    lines: tuple[DocumentLine, ...]
    line_amount_types: LineAmountTypes = LineAmountTypes.EXCLUSIVE
    reference: str = ""
    url: str = ""
    fingerprint: str = field(default="", compare=False)
    # The Xero type when it is not the kind's usual one: an adjustment of a sale that lowers it
    # is an ACCRECCREDIT credit note, of a bill an ACCPAYCREDIT one (see XERO_TYPES).
    document_type: str = ""
    # A bill's number on the supplier's own invoice; `number` stays the ERP's PO number.
    supplier_invoice_number: str = ""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", self.compute_fingerprint())

    @property
    def xero_type(self) -> str:
        """ACCREC, ACCPAY, ACCRECCREDIT or ACCPAYCREDIT."""
        return self.document_type or XERO_TYPES[self.kind]

    @property
    def is_credit_note(self) -> bool:
        return self.xero_type in CREDIT_NOTE_TYPES

    @property
    def subtotal(self) -> Decimal:
        return money(sum((line.line_amount for line in self.lines), ZERO))

    @property
    def total_tax(self) -> Decimal:
        return money(sum((line.tax_amount for line in self.lines), ZERO))

    @property
    def total(self) -> Decimal:
        if self.line_amount_types is LineAmountTypes.INCLUSIVE:
            return self.subtotal
        return money(self.subtotal + self.total_tax)

    def compute_fingerprint(self) -> str:
        """A digest of everything that reaches Xero; it changes when the ERP edits the document."""
        content = {
            "kind": self.kind.value,
            "number": self.number,
            "contact": self.contact.erp_id,
            "date": self.date.isoformat(),
            "due": self.due_date.isoformat() if self.due_date else None,
            "currency": self.currency,
            "lat": self.line_amount_types.value,
            "ref": self.reference,
            **({"type": self.document_type} if self.document_type else {}),
            **({"supplier_no": self.supplier_invoice_number}
               if self.supplier_invoice_number else {}),
            "lines": [
                [
                    line.description,
                    str(line.quantity),
                    str(line.unit_amount),
                    line.account_code,
                    line.tax_type,
                    str(money(line.tax_amount)),
                    [[t.category, t.option] for t in line.tracking],
                    *([[list(a) for a in line.attributes]] if line.attributes else []),
                ]
                for line in self.lines
            ],
        }
        return fingerprint_of(content)


def fingerprint_of(content: object) -> str:
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True)
class DocumentSummary:
    """One row of a document list: enough to show and link, without the lines."""

    kind: Kind
    erp_id: str
    number: str
    contact_name: str
    date: date
    total: Decimal
    currency: str
    url: str = ""
    sync_state: str = "pending"
    last_error: str = ""
