"""Xero's answers about its side of the books, read into the port's values.

Pure functions from Xero's JSON (fractions already `Decimal`, see payloads.decode_json) to
`XeroObjectState`, `TrialBalanceRow` and `XeroJournal`. Nothing here calls Xero; a field Xero
leaves out reads as empty or zero rather than failing the whole answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ...application.ports import (
    Account,
    TrialBalanceRow,
    XeroJournal,
    XeroJournalLine,
    XeroObjectState,
)
from ...domain.corrections import SentLine
from ...domain.documents import Kind, TrackingRef
from ...domain.money import ZERO
from .payloads import parse_xero_date, parse_xero_datetime

XERO_KIND = {"ACCREC": Kind.SALES_ORDERS, "ACCPAY": Kind.PURCHASE_ORDERS,
             "ACCRECCREDIT": Kind.REFUNDS, "ACCPAYCREDIT": Kind.REFUNDS}

WebUrl = Callable[[Kind, str, str], str]  # (kind, document type, id) → where a person opens it


def amount(value: Any) -> Decimal:
    """A money field or a report cell's text; empty or unreadable is zero."""
    if value in (None, ""):
        return ZERO
    try:
        return Decimal(str(value).replace(",", ""))
    except InvalidOperation:
        return ZERO


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _tracking(items: Any) -> tuple[TrackingRef, ...]:
    refs = []
    for item in items or ():
        if isinstance(item, dict) and item.get("Name"):
            refs.append(TrackingRef(str(item["Name"]), _text(item.get("Option"))))
    return tuple(refs)


def _document_lines(element: Mapping[str, Any]) -> tuple[SentLine, ...]:
    """Line items as SentLines: net of tax (an inclusive LineAmount carries its tax)."""
    inclusive = element.get("LineAmountTypes") == "Inclusive"
    lines = []
    for item in element.get("LineItems") or ():
        if not isinstance(item, dict):
            continue
        tax = amount(item.get("TaxAmount"))
        net = amount(item.get("LineAmount"))
        if inclusive:
            net -= tax
        lines.append(SentLine(_text(item.get("AccountCode")), net, tax, _text(item.get("TaxType")),
                              _tracking(item.get("Tracking")), _text(item.get("Description"))))
    return tuple(lines)


def invoice_state(element: Mapping[str, Any], web_url: WebUrl) -> XeroObjectState:
    doc_type = _text(element.get("Type"))
    xero_id = _text(element.get("InvoiceID"))
    kind = XERO_KIND.get(doc_type, Kind.SALES_ORDERS)
    return XeroObjectState(
        kind=kind,
        xero_id=xero_id,
        number=_text(element.get("InvoiceNumber")),
        status=_text(element.get("Status")),
        document_type=doc_type,
        date=parse_xero_date(element.get("Date")),
        total=amount(element.get("Total")),
        amount_due=amount(element.get("AmountDue")),
        amount_paid=amount(element.get("AmountPaid")),
        amount_credited=amount(element.get("AmountCredited")),
        reference=_text(element.get("Reference")),
        contact_name=_text((element.get("Contact") or {}).get("Name")),
        updated_at=parse_xero_datetime(element.get("UpdatedDateUTC")),
        web_url=web_url(kind, doc_type, xero_id),
        lines=_document_lines(element),
        due_date=parse_xero_date(element.get("DueDate")),
        currency=_text(element.get("CurrencyCode")),
        url=_text(element.get("Url")),
    )


def credit_note_state(element: Mapping[str, Any], web_url: WebUrl) -> XeroObjectState:
    doc_type = _text(element.get("Type"))
    xero_id = _text(element.get("CreditNoteID"))
    allocations = tuple(
        (_text((a.get("Invoice") or {}).get("InvoiceID")), amount(a.get("Amount")))
        for a in element.get("Allocations") or () if isinstance(a, dict)
    )
    paid = sum((amount(p.get("Amount")) for p in element.get("Payments") or ()
                if isinstance(p, dict)), ZERO)
    allocated = sum((a for _, a in allocations), ZERO)
    applied = amount(element.get("AppliedAmount"))
    return XeroObjectState(
        kind=Kind.REFUNDS,
        xero_id=xero_id,
        number=_text(element.get("CreditNoteNumber")),
        status=_text(element.get("Status")),
        document_type=doc_type,
        date=parse_xero_date(element.get("Date")),
        total=amount(element.get("Total")),
        amount_due=amount(element.get("RemainingCredit")),
        amount_paid=paid,
        amount_credited=allocated if allocations else applied,
        allocations=allocations,
        reference=_text(element.get("Reference")),
        contact_name=_text((element.get("Contact") or {}).get("Name")),
        updated_at=parse_xero_datetime(element.get("UpdatedDateUTC")),
        web_url=web_url(Kind.REFUNDS, doc_type, xero_id),
        lines=_document_lines(element),
        currency=_text(element.get("CurrencyCode")),
    )


def manual_journal_state(element: Mapping[str, Any], web_url: WebUrl) -> XeroObjectState:
    xero_id = _text(element.get("ManualJournalID"))
    lines = tuple(
        SentLine(_text(line.get("AccountCode")), amount(line.get("LineAmount")),
                 amount(line.get("TaxAmount")), _text(line.get("TaxType")),
                 _tracking(line.get("Tracking")), _text(line.get("Description")))
        for line in element.get("JournalLines") or () if isinstance(line, dict)
    )
    return XeroObjectState(
        kind=Kind.JOURNALS,
        xero_id=xero_id,
        number=_text(element.get("Narration")),
        status=_text(element.get("Status")),
        date=parse_xero_date(element.get("Date")),
        total=sum((line.amount for line in lines if line.amount > 0), ZERO),
        updated_at=parse_xero_datetime(element.get("UpdatedDateUTC")),
        web_url=web_url(Kind.JOURNALS, "", xero_id),
        lines=lines,
        url=_text(element.get("Url")),
    )


# ------------------------------------------------------------------------------ reports


def trial_balance_rows(body: Any, accounts: Iterable[Account]) -> tuple[TrialBalanceRow, ...]:
    """`GET /Reports/TrialBalance`: one row per account, named by its AccountID attribute.

    Columns: Account, Debit, Credit (the month of the report), YTD Debit, YTD Credit.
    """
    by_id = {a.account_id.lower(): a for a in accounts if a.account_id}
    reports = body.get("Reports") if isinstance(body, dict) else None
    if not reports or not isinstance(reports[0], dict):
        return ()
    rows: list[TrialBalanceRow] = []
    for section in reports[0].get("Rows") or ():
        if not isinstance(section, dict) or section.get("RowType") != "Section":
            continue
        for row in section.get("Rows") or ():
            if not isinstance(row, dict) or row.get("RowType") != "Row":
                continue
            cells = [c for c in row.get("Cells") or () if isinstance(c, dict)]
            if len(cells) < 5:
                continue
            account_id = _account_id(cells)
            label = _text(cells[0].get("Value"))
            known = by_id.get(account_id.lower())
            name, code = _split_label(label)
            rows.append(TrialBalanceRow(
                account_id=account_id,
                account_code=known.code if known else code,
                name=known.name if known else name,
                account_type=known.type if known else "",
                debit=amount(cells[3].get("Value")),
                credit=amount(cells[4].get("Value")),
                section=_text(section.get("Title")),
                period_debit=amount(cells[1].get("Value")),
                period_credit=amount(cells[2].get("Value")),
            ))
    return tuple(rows)


def _account_id(cells: list[dict[str, Any]]) -> str:
    for cell in cells:
        for attribute in cell.get("Attributes") or ():
            if isinstance(attribute, dict) and attribute.get("Id") == "account":
                return _text(attribute.get("Value"))
    return ""


def _split_label(label: str) -> tuple[str, str]:
    """'Accounts Receivable (610)' → ('Accounts Receivable', '610')."""
    if label.endswith(")") and "(" in label:
        name, _, code = label[:-1].rpartition("(")
        return name.strip(), code.strip()
    return label, ""


# ------------------------------------------------------------------------------ journals


def ledger_journal(element: Mapping[str, Any]) -> XeroJournal:
    lines = tuple(
        XeroJournalLine(
            account_code=_text(line.get("AccountCode")),
            net_amount=amount(line.get("NetAmount")),
            tax_amount=amount(line.get("TaxAmount")),
            tracking=_tracking(line.get("TrackingCategories")),
            account_id=_text(line.get("AccountID")),
            account_type=_text(line.get("AccountType")),
            description=_text(line.get("Description")),
        )
        for line in element.get("JournalLines") or () if isinstance(line, dict)
    )
    return XeroJournal(
        journal_id=_text(element.get("JournalID")),
        number=int(element.get("JournalNumber") or 0),
        date=parse_xero_date(element.get("JournalDate")) or date.min,
        source_type=_text(element.get("SourceType")),
        source_id=_text(element.get("SourceID")),
        reference=_text(element.get("Reference")),
        lines=lines,
        created_at=parse_xero_datetime(element.get("CreatedDateUTC")),
    )
