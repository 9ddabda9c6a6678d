"""Request bodies for Xero, built from domain objects by pure functions.

Money never passes through a float: amounts are Decimals from the domain, and `encode_json`
writes a Decimal as its exact text, so `Decimal("0.30")` reaches Xero as `0.30`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ...application.ports import Allocation
from ...domain.documents import (
    CREDIT_NOTE_TYPES,
    INVOICE_TYPES,
    Contact,
    DocumentLine,
    Kind,
    LineAmountTypes,
    TrackingRef,
    TradeDocument,
)
from ...domain.journals import AccountJournal, reference_marker
from ...domain.money import money
from ...domain.sync import JournalMode
from .config import MAX_ELEMENTS_PER_REQUEST, MAX_REQUEST_BYTES

UNIT_DP = 4  # sent as ?unitdp=4 with invoices and credit notes
FOUR_DP = Decimal("0.0001")
MAX_TRACKING = 2
ZERO_ID = "00000000-0000-0000-0000-000000000000"  # the id Xero gives an element it refused

# The id field of each Xero object, by the type word a StatusChange carries.
ID_FIELDS = {"ACCREC": "InvoiceID", "ACCPAY": "InvoiceID", "ACCRECCREDIT": "CreditNoteID",
             "ACCPAYCREDIT": "CreditNoteID", "MANJOURNAL": "ManualJournalID"}
CONTACT_ROLES = {Kind.SALES_ORDERS: "customer", Kind.REFUNDS: "customer", Kind.PURCHASE_ORDERS: "supplier"}


class PayloadProblem(ValueError):
    """A document Xero could not accept as it is; reported as that document's error, unsent."""


# ------------------------------------------------------------------------------ JSON


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; Decimal as an exact number, floats refused (they lost the cent)."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts).encode("utf-8")


# json.dumps(text, ensure_ascii=False) is this C function, without building an encoder per
# call (a sync encodes a few hundred thousand strings); field names repeat, so they are kept.
_quote = json.encoder.encode_basestring
_KEYS: dict[str, str] = {}
_KEYS_KEPT = 10_000
_LITERALS = {None: "null", True: "true", False: "false"}


def _key(key: Any) -> str:
    found = _KEYS.get(key) if isinstance(key, str) else None
    if found is None:
        if not isinstance(key, str):
            raise TypeError(f"JSON object keys must be text, not {type(key).__name__}")
        found = _quote(key)
        if len(_KEYS) < _KEYS_KEPT:
            _KEYS[key] = found
    return found


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_quote(value))
    elif value is None or isinstance(value, bool):
        out.append(_LITERALS[value])
    elif isinstance(value, Decimal):
        out.append(decimal_text(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        raise TypeError("floats are never sent to Xero; build amounts from Decimal")
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(_key(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} cannot be sent to Xero as JSON")


def decimal_text(value: Decimal) -> str:
    """`Decimal('1234567.8900')` → `1234567.8900`; never exponents, never `-0`."""
    if not value.is_finite():
        raise ValueError(f"{value} is not an amount")
    if value.is_zero():
        value = abs(value)
    return format(value, "f")


def decode_json(body: bytes | str) -> Any:
    """Xero's JSON with every fractional number kept exact."""
    return json.loads(body, parse_float=Decimal)


# ------------------------------------------------------------------------------ dates

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def xero_date(day: date) -> str:
    return day.isoformat()


def parse_xero_date(value: Any) -> date | None:
    """`/Date(1546214400000+0000)/`, `2019-01-01` or `2019-01-01T00:00:00` → the calendar day.

    The offset is not applied: Xero stores document dates without a time zone, and moving
    them through UTC is the day-shift bug the SDKs have.
    """
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    text = str(value).strip()
    match = _MS_DATE.match(text)
    if match:
        return date(1970, 1, 1) + timedelta(milliseconds=int(match[1]))
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def parse_xero_datetime(value: Any) -> datetime | None:
    """`/Date(1546214400000+0000)/` or an ISO timestamp → an aware UTC datetime."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    match = _MS_DATE.match(text)
    if match:
        return datetime.fromtimestamp(int(match[1]) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def http_timestamp(moment: datetime) -> str:
    """The If-Modified-Since value Xero takes: UTC, `YYYY-MM-DDTHH:MM:SS` (whole seconds, so
    the moment is rounded down and nothing at its edge is missed)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


# ------------------------------------------------------------------------------ contacts


def contact_ref(document: TradeDocument) -> str:
    """The key of the contact cache: 'customer:12' or 'supplier:7'."""
    erp_id = document.contact.erp_id
    if ":" in erp_id:
        return erp_id
    return f"{CONTACT_ROLES.get(document.kind, 'contact')}:{erp_id}"


def contact_payload(contact: Contact) -> dict[str, Any]:
    """A contact to create; Xero keeps contact names unique, so the name is the match key."""
    body: dict[str, Any] = {"Name": contact_name(contact)}
    if contact.email:
        body["EmailAddress"] = contact.email
    return body


def contact_name(contact: Contact) -> str:
    name = " ".join(contact.name.split())
    if not name:
        raise PayloadProblem("The contact has no name; enter one in the ERP.")
    if len(name) > 255:
        raise PayloadProblem(f"The contact name '{name[:40]}...' is longer than Xero's 255 characters.")
    return name


# ------------------------------------------------------------------------------ documents


def invoice_payload(
    document: TradeDocument, status: str, contact_id: str | None = None, xero_id: str | None = None
) -> dict[str, Any]:
    """A sales order as an ACCREC invoice, a purchase order as an ACCPAY bill, or whatever
    invoice `document.xero_type` says (an adjustment of a refund is an ACCREC invoice).

    With `xero_id` it updates that invoice (POST): every line is sent, so the invoice becomes
    exactly the document; an empty `status` leaves Xero's status as it is.
    """
    kind = document.xero_type
    if kind not in INVOICE_TYPES:
        raise PayloadProblem(f"{document.number} is a {kind} in Xero, not an invoice or a bill.")
    if kind == "ACCPAY":
        # A bill carries the supplier's own invoice number, as the accountant keys it from the
        # paper; those need not be unique in Xero, so Reference carries the PO number, which
        # finds the bill again before any resend (XeroGateway.find_existing).
        _number(document)
        number = _checked_number(document.supplier_invoice_number)
        reference = document.number
    else:
        number = _number(document)
        reference = document.reference
    body: dict[str, Any] = {"InvoiceID": xero_id} if xero_id else {}
    body.update({
        "Type": kind,
        "Contact": _contact(document, contact_id),
        "Date": xero_date(document.date),
    })
    if document.due_date is not None:
        body["DueDate"] = xero_date(document.due_date)
    if number:  # a bill without the supplier's number goes without one, never with ours
        body["InvoiceNumber"] = number
    if reference:
        body["Reference"] = reference
    _common(body, document, status)
    return body


def credit_note_payload(
    document: TradeDocument, status: str, contact_id: str | None = None, xero_id: str | None = None
) -> dict[str, Any]:
    """A refund as an ACCRECCREDIT credit note (Reference names the refunded sale), or the
    credit note `document.xero_type` says (an adjustment of a bill is an ACCPAYCREDIT)."""
    kind = document.xero_type
    if kind not in CREDIT_NOTE_TYPES:
        raise PayloadProblem(f"{document.number} is a {kind} in Xero, not a credit note.")
    body: dict[str, Any] = {"CreditNoteID": xero_id} if xero_id else {}
    body.update({
        "Type": kind,
        "Contact": _contact(document, contact_id),
        "Date": xero_date(document.date),
        "CreditNoteNumber": _number(document),
    })
    if document.reference:
        body["Reference"] = document.reference
    # Xero's CreditNote has no Url (the spec lists none; Xero would drop it silently).
    _common(body, document, status, with_url=False)
    return body


def document_payload(
    document: TradeDocument, status: str, contact_id: str | None = None, xero_id: str | None = None
) -> dict[str, Any]:
    """The invoice or credit note a document is in Xero, by its Xero type."""
    build = credit_note_payload if document.is_credit_note else invoice_payload
    return build(document, status, contact_id, xero_id)


def status_payload(document_type: str, xero_id: str, status: str,
                   narration: str = "") -> dict[str, Any]:
    """Voiding or deleting an object is an update of its status and nothing else; a manual
    journal carries its narration too, the one field Xero's schema requires of it."""
    id_field = ID_FIELDS.get(document_type)
    if id_field is None:
        raise PayloadProblem(f"Xero has no object of type {document_type}.")
    if not xero_id:
        raise PayloadProblem("The object has no Xero id to change.")
    body: dict[str, Any] = {id_field: xero_id}
    if document_type == "MANJOURNAL":
        body["Narration"] = narration
    body["Status"] = status
    return body


def allocation_payload(allocation: Allocation) -> dict[str, Any]:
    """Part of a credit note applied to an invoice (PUT /CreditNotes/{id}/Allocations)."""
    amount = money(allocation.amount)
    if amount <= 0:
        raise PayloadProblem(f"An allocation of {amount:f} cannot be made; it must be positive.")
    return {"Invoice": {"InvoiceID": allocation.invoice_id}, "Amount": amount,
            "Date": xero_date(allocation.date)}


def _number(document: TradeDocument) -> str:
    number = document.number.strip()
    if not number:
        raise PayloadProblem("The document has no number; Xero needs one to find it again.")
    return _checked_number(number)


def _checked_number(number: str) -> str:
    number = number.strip()
    if len(number) > 255:
        raise PayloadProblem(f"The number '{number[:40]}...' is longer than Xero's 255 characters.")
    return number


def _contact(document: TradeDocument, contact_id: str | None) -> dict[str, str]:
    if contact_id:
        return {"ContactID": contact_id}
    return {"Name": contact_name(document.contact)}


def _common(body: dict[str, Any], document: TradeDocument, status: str, with_url: bool = True) -> None:
    body["LineAmountTypes"] = document.line_amount_types.value
    body["CurrencyCode"] = document.currency.upper()
    if status:
        body["Status"] = status
    if with_url and document.url:
        body["Url"] = document.url
    if not document.lines:
        raise PayloadProblem(f"{document.number} has no lines; Xero needs at least one.")
    with_tax = document.line_amount_types is not LineAmountTypes.NO_TAX
    body["LineItems"] = [_line_item(line, with_tax) for line in document.lines]


def _line_item(line: DocumentLine, with_tax: bool = True) -> dict[str, Any]:
    item: dict[str, Any] = {"Description": line.description or "-", "Quantity": line.quantity}
    unit = line.unit_amount
    if _places(unit) <= UNIT_DP:
        item["UnitAmount"] = unit
    else:
        # Xero keeps 4 places of a unit price: send the ERP's line amount instead and let Xero
        # derive the unit price, so the line (and the total) match the ERP to the cent.
        item["LineAmount"] = line.line_amount
        if line.quantity.is_zero():
            item["UnitAmount"] = unit.quantize(FOUR_DP, rounding=ROUND_HALF_UP)
    if line.account_code:
        item["AccountCode"] = line.account_code
    if line.tax_type:
        item["TaxType"] = line.tax_type
        if with_tax:
            # The ERP's own tax, so Xero's totals are the ERP's to the cent (an adjustment's tax
            # is a difference of the ERP's per-line taxes, which Xero's rate need not give).
            item["TaxAmount"] = money(line.tax_amount)
    if line.tracking:
        item["Tracking"] = _tracking(line.tracking)
    return item


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _tracking(refs: Sequence[TrackingRef]) -> list[dict[str, str]]:
    if len(refs) > MAX_TRACKING:
        raise PayloadProblem(
            f"A line has {len(refs)} tracking categories; Xero allows at most {MAX_TRACKING}."
        )
    return [{"Name": ref.category, "Option": ref.option} for ref in refs]


# ------------------------------------------------------------------------------ journals


def journal_narration(journal: AccountJournal) -> str:
    """The narration always carries the `[AS:key]` marker that finds the journal again."""
    marker = reference_marker(journal.key)
    narration = journal.narration.strip()
    return narration if marker in narration else f"{narration} {marker}".strip()


def manual_journal_payload(
    journal: AccountJournal, mode: JournalMode, tax_type: str = "", xero_id: str | None = None
) -> dict[str, Any]:
    """A production-cost journal; with `xero_id`, the rewrite of that (draft) journal."""
    if len(journal.lines) < 2:
        raise PayloadProblem(f"Journal {journal.key} has fewer than two lines; Xero needs two.")
    total = sum((money(line.amount) for line in journal.lines), Decimal(0))
    if total != 0:
        raise PayloadProblem(f"Journal {journal.key} does not balance (off by {total:f}); nothing was sent.")
    body: dict[str, Any] = {"ManualJournalID": xero_id} if xero_id else {}
    body.update({
        "Narration": journal_narration(journal),
        "Date": xero_date(journal.date),
        "Status": JournalMode(mode).value,
        "LineAmountTypes": "NoTax",
    })
    if journal.url:
        body["Url"] = journal.url
    lines = []
    for line in journal.lines:
        item: dict[str, Any] = {
            "LineAmount": money(line.amount),
            "AccountCode": line.account_code,
        }
        if line.description:
            item["Description"] = line.description
        if journal.tax_type or tax_type:
            item["TaxType"] = journal.tax_type or tax_type
        if line.tracking:
            item["Tracking"] = _tracking(line.tracking)
        lines.append(item)
    body["JournalLines"] = lines
    return body


# ------------------------------------------------------------------------------ batches


def wrap(plural: str, elements: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {plural: list(elements)}


@dataclass(frozen=True)
class PlannedRequest:
    """One PUT: the positions (in the caller's list) of the elements it carries, and its body."""

    positions: tuple[int, ...]
    body: bytes


@dataclass(frozen=True)
class BatchPlan:
    requests: tuple[PlannedRequest, ...]
    too_large: tuple[int, ...]  # elements that alone exceed the byte limit: never sent


def plan_requests(
    plural: str,
    elements: Sequence[dict[str, Any]],
    max_elements: int = MAX_ELEMENTS_PER_REQUEST,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> BatchPlan:
    """Split elements into requests of at most `max_elements` and `max_bytes`, in order."""
    head = b'{' + json.dumps(plural).encode() + b':['
    tail = b"]}"
    overhead = len(head) + len(tail)
    requests: list[PlannedRequest] = []
    too_large: list[int] = []
    positions: list[int] = []
    parts: list[bytes] = []
    size = overhead

    def flush() -> None:
        nonlocal positions, parts, size
        if positions:
            requests.append(PlannedRequest(tuple(positions), head + b",".join(parts) + tail))
        positions, parts, size = [], [], overhead

    for position, element in enumerate(elements):
        encoded = encode_json(element)
        if overhead + len(encoded) > max_bytes:
            too_large.append(position)
            continue
        extra = len(encoded) + (1 if parts else 0)
        if len(positions) >= max_elements or size + extra > max_bytes:
            flush()
            extra = len(encoded)
        positions.append(position)
        parts.append(encoded)
        size += extra
    flush()
    return BatchPlan(tuple(requests), tuple(too_large))
