"""Stored objects -> the JSON shapes Xero answers with (dates as `/Date(...)/`, money 2 dp)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from . import ledger
from .documents import amount_credited, amount_due, amount_paid
from .formats import CENT, FOUR_DP, ZERO, date_string, ms_date, ms_timestamp
from .state import CONTACTS, CREDIT_NOTES, INVOICES, MANUAL_JOURNALS, Kind, Org


def _updated(doc: dict) -> str:
    return ms_timestamp(doc["UpdatedDateUTC"])


def _unit(value: Decimal | None, unitdp: int) -> Decimal | None:
    if value is None:
        return None
    return value.quantize(FOUR_DP if unitdp == 4 else CENT)


def _tracking(items: list[dict]) -> list[dict]:
    return [dict(item) for item in items]


def _contact_stub(contact: dict) -> dict:
    return {"ContactID": contact["ContactID"], "Name": contact["Name"], "Addresses": [],
            "Phones": [], "ContactGroups": [], "ContactPersons": [], "HasValidationErrors": False}


def _line_item(line: dict, unitdp: int) -> dict:
    out: dict[str, Any] = {"LineItemID": line["LineItemID"], "Description": line["Description"]}
    if line.get("Quantity") is not None:
        out["Quantity"] = line["Quantity"]
    if line.get("UnitAmount") is not None:
        out["UnitAmount"] = _unit(line["UnitAmount"], unitdp)
    for key in ("ItemCode", "AccountCode", "AccountID", "TaxType"):
        if line.get(key):
            out[key] = line[key]
    out["TaxAmount"] = line["TaxAmount"]
    out["LineAmount"] = line["LineAmount"]
    if line.get("DiscountRate") is not None:
        out["DiscountRate"] = line["DiscountRate"]
    out["Tracking"] = _tracking(line.get("Tracking", []))
    return out


def _dates(doc: dict, out: dict) -> None:
    if doc.get("Date"):
        out["DateString"] = date_string(doc["Date"])
        out["Date"] = ms_date(doc["Date"])
    if doc.get("DueDate"):
        out["DueDateString"] = date_string(doc["DueDate"])
        out["DueDate"] = ms_date(doc["DueDate"])


def _payment_stub(payment: dict) -> dict:
    return {"PaymentID": payment["PaymentID"], "Date": ms_date(payment["Date"]),
            "Amount": payment["Amount"], "Reference": payment.get("Reference", ""),
            "CurrencyRate": payment.get("CurrencyRate", Decimal(1)), "HasAccount": False,
            "HasValidationErrors": False}


def _credit_stub(credit: dict) -> dict:
    """An invoice's `CreditNotes`: the credit notes allocated to it."""
    return {"CreditNoteID": credit["CreditNoteID"], "CreditNoteNumber": credit["CreditNoteNumber"],
            "AppliedAmount": credit["Amount"], "Total": credit["Amount"],
            "DateString": date_string(credit["Date"]), "Date": ms_date(credit["Date"]),
            "HasErrors": False}


def _allocation_stub(allocation: dict) -> dict:
    return {"AllocationID": allocation["AllocationID"], "Amount": allocation["Amount"],
            "Date": ms_date(allocation["Date"]),
            "Invoice": {"InvoiceID": allocation["InvoiceID"],
                        "InvoiceNumber": allocation["InvoiceNumber"], "Payments": [],
                        "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                        "HasErrors": False, "IsDiscounted": False, "LineItems": []}}


def render_payment(payment: dict) -> dict:
    """A payment as PUT /Payments answers it."""
    doc = payment["_document"]
    out: dict[str, Any] = {
        "PaymentID": payment["PaymentID"],
        "Date": ms_date(payment["Date"]),
        "BankAmount": payment["Amount"],
        "Amount": payment["Amount"],
        "Reference": payment["Reference"],
        "CurrencyRate": payment["CurrencyRate"],
        "PaymentType": payment["PaymentType"],
        "Status": payment["Status"],
        "UpdatedDateUTC": ms_timestamp(payment["UpdatedDateUTC"]),
        "HasAccount": True,
        "IsReconciled": payment["IsReconciled"],
        "Account": {"AccountID": payment["AccountID"], "Code": payment["AccountCode"]},
    }
    if payment["_kind"] == INVOICES.name:
        out["Invoice"] = render_invoice(doc, summary_only=True)
    else:
        out["CreditNote"] = render_credit_note(doc, summary_only=True)
    out["HasValidationErrors"] = False
    return out


def render_allocation(allocation: dict) -> dict:
    """An allocation as PUT /CreditNotes/{id}/Allocations answers it."""
    return {
        "AllocationID": allocation["AllocationID"],
        "Amount": allocation["Amount"],
        "Date": ms_date(allocation["Date"]),
        "Invoice": render_invoice(allocation["_invoice"], summary_only=True),
        "CreditNote": {"CreditNoteID": allocation["_credit_note"]["CreditNoteID"],
                       "ID": allocation["_credit_note"]["CreditNoteID"], "LineItems": []},
    }


def render_journal(org: Org, journal: dict) -> dict:
    """One entry of GET /Journals (the general ledger)."""
    return {
        "JournalID": journal["JournalID"],
        "JournalDate": ms_date(journal["JournalDate"]),
        "JournalNumber": journal["JournalNumber"],
        "CreatedDateUTC": ms_timestamp(journal["CreatedDateUTC"]),
        "Reference": journal["Reference"],
        "SourceID": journal["SourceID"],
        "SourceType": journal["SourceType"],
        "JournalLines": ledger.journal_lines(org, journal),
    }


def render_trial_balance(org: Org, day: date, rows: list[tuple[dict, str, Decimal, Decimal]],
                         now_ms: int) -> dict:
    """Xero's report shape: a header, a section per class, a total (docs/xero-rules.md, 10)."""
    sections: dict[str, list[dict]] = {name: [] for name in ledger.SECTIONS}
    totals = [ZERO, ZERO, ZERO, ZERO]
    for account, section, ytd, month in rows:
        cells = _balance_cells(month, ytd) + _balance_cells(ytd, ytd)
        for index, text in enumerate(cells):
            if text:
                totals[index] += Decimal(text)
        attributes = [{"Value": account["AccountID"], "Id": "account"}]
        sections.setdefault(section or "Assets", []).append({"RowType": "Row", "Cells": [
            {"Value": value, "Attributes": [dict(a) for a in attributes]}
            for value in [f"{account['Name']} ({account['Code']})", *cells]]})
    report_rows: list[dict] = [{"RowType": "Header", "Cells": [
        {"Value": v} for v in ("Account", "Debit", "Credit", "YTD Debit", "YTD Credit")]}]
    for title, section_rows in sections.items():
        report_rows.append({"RowType": "Section", "Title": title, "Rows": section_rows})
    report_rows.append({"RowType": "Section", "Title": "", "Rows": [{"RowType": "SummaryRow",
                        "Cells": [{"Value": "Total"}, *({"Value": f"{t:.2f}"} for t in totals)]}]})
    when = f"{day.day} {day:%B %Y}"
    return {"Reports": [{
        "ReportID": "TrialBalance",
        "ReportName": "Trial Balance",
        "ReportType": "TrialBalance",
        "ReportTitles": ["Trial Balance", org.name, f"As at {when}"],
        "ReportDate": when,
        "UpdatedDateUTC": ms_timestamp(now_ms),
        "Fields": [],
        "Rows": report_rows,
    }]}


def _balance_cells(amount: Decimal, side: Decimal) -> list[str]:
    """(debit, credit) texts: the amount on its side; a zero shows on the side of `side`."""
    if amount > 0 or (amount == 0 and side > 0):
        return [f"{amount:.2f}", ""]
    return ["", f"{-amount:.2f}"]


def render_invoice(doc: dict, unitdp: int = 2, summary_only: bool = False) -> dict:
    out: dict[str, Any] = {
        "Type": doc["Type"],
        "InvoiceID": doc["InvoiceID"],
        "InvoiceNumber": doc["InvoiceNumber"],
        "Reference": doc["Reference"],
        "Payments": [_payment_stub(p) for p in doc.get("Payments") or ()],
        "CreditNotes": [_credit_stub(c) for c in doc.get("CreditNotes") or ()],
        "Prepayments": [],
        "Overpayments": [],
        "AmountDue": amount_due(doc),
        "AmountPaid": amount_paid(doc),
        "AmountCredited": amount_credited(doc),
        "SentToContact": doc.get("SentToContact", False),
        "CurrencyRate": doc["CurrencyRate"],
        "IsDiscounted": any(line.get("DiscountRate") for line in doc["LineItems"]),
        "HasAttachments": False,
        "HasErrors": False,
        "Contact": _contact_stub(doc["Contact"]),
    }
    _dates(doc, out)
    out.update(
        Status=doc["Status"],
        LineAmountTypes=doc["LineAmountTypes"],
        SubTotal=doc["SubTotal"],
        TotalTax=doc["TotalTax"],
        Total=doc["Total"],
        UpdatedDateUTC=_updated(doc),
        CurrencyCode=doc["CurrencyCode"],
    )
    if not summary_only:
        out["LineItems"] = [_line_item(line, unitdp) for line in doc["LineItems"]]
    if doc.get("Url"):
        out["Url"] = doc["Url"]
    if doc.get("BrandingThemeID"):
        out["BrandingThemeID"] = doc["BrandingThemeID"]
    return out


def render_credit_note(doc: dict, unitdp: int = 2, summary_only: bool = False) -> dict:
    out: dict[str, Any] = {
        "CreditNoteID": doc["CreditNoteID"],
        "CreditNoteNumber": doc["CreditNoteNumber"],
        "Type": doc["Type"],
        "Reference": doc["Reference"],
        "Payments": [_payment_stub(p) for p in doc.get("Payments") or ()],
        "Allocations": [_allocation_stub(a) for a in doc.get("Allocations") or ()],
        "RemainingCredit": amount_due(doc),
        "AppliedAmount": amount_credited(doc),
        "CurrencyRate": doc["CurrencyRate"],
        "HasAttachments": False,
        "HasErrors": False,
        "SentToContact": False,
        "Contact": _contact_stub(doc["Contact"]),
    }
    _dates(doc, out)
    out.update(
        Status=doc["Status"],
        LineAmountTypes=doc["LineAmountTypes"],
        SubTotal=doc["SubTotal"],
        TotalTax=doc["TotalTax"],
        Total=doc["Total"],
        UpdatedDateUTC=_updated(doc),
        CurrencyCode=doc["CurrencyCode"],
    )
    if not summary_only:
        out["LineItems"] = [_line_item(line, unitdp) for line in doc["LineItems"]]
    if doc.get("Url"):
        out["Url"] = doc["Url"]
    return out


def render_manual_journal(doc: dict, unitdp: int = 2, summary_only: bool = False) -> dict:
    out: dict[str, Any] = {
        "Date": ms_date(doc["Date"]),
        "Status": doc["Status"],
        "LineAmountTypes": doc["LineAmountTypes"],
        "UpdatedDateUTC": _updated(doc),
        "ManualJournalID": doc["ManualJournalID"],
        "Narration": doc["Narration"],
        "ShowOnCashBasisReports": doc["ShowOnCashBasisReports"],
        "HasAttachments": False,
    }
    if doc.get("Url"):
        out["Url"] = doc["Url"]
    if not summary_only:
        lines = []
        for line in doc["JournalLines"]:
            rendered: dict[str, Any] = {"LineAmount": line["LineAmount"]}
            for key in ("AccountCode", "AccountID", "Description", "TaxType"):
                if line.get(key):
                    rendered[key] = line[key]
            rendered["TaxAmount"] = line["TaxAmount"]
            rendered["Tracking"] = [{**item, "Options": []} for item in line.get("Tracking", [])]
            rendered["IsBlank"] = False
            lines.append(rendered)
        out["JournalLines"] = lines
    return out


def render_contact(doc: dict, unitdp: int = 2, summary_only: bool = False) -> dict:
    out = {key: value for key, value in doc.items() if value not in ("", None)}
    out["UpdatedDateUTC"] = _updated(doc)
    out.setdefault("Addresses", [])
    out.setdefault("Phones", [])
    out.update(ContactGroups=[], ContactPersons=[], HasAttachments=False,
               HasValidationErrors=False)
    return out


RENDERERS = {
    INVOICES.name: render_invoice,
    CREDIT_NOTES.name: render_credit_note,
    MANUAL_JOURNALS.name: render_manual_journal,
    CONTACTS.name: render_contact,
}


def render(kind: Kind, doc: dict, unitdp: int = 2, summary_only: bool = False) -> dict:
    return RENDERERS[kind.name](doc, unitdp, summary_only)


def render_account(account: dict) -> dict:
    out = dict(account)
    out["UpdatedDateUTC"] = ms_timestamp(account["UpdatedDateUTC"])
    return out


def render_tracking_category(category: dict, include_archived: bool = False) -> dict:
    options = [dict(o) for o in category["Options"]
               if include_archived or o["Status"] == "ACTIVE"]
    return {"Name": category["Name"], "Status": category["Status"],
            "TrackingCategoryID": category["TrackingCategoryID"], "Options": options}


def render_organisation(org: Org) -> dict:
    day, month = org.financial_year_end
    out: dict[str, Any] = {
        "OrganisationID": org.tenant_id,
        "APIKey": "",
        "Name": org.name,
        "LegalName": org.legal_name,
        "PaysTax": True,
        "Version": org.country,
        "OrganisationType": "COMPANY",
        "BaseCurrency": org.base_currency,
        "CountryCode": org.country,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "TaxNumber": "",
        "FinancialYearEndDay": day,
        "FinancialYearEndMonth": month,
        "SalesTaxBasis": "ACCRUALS" if org.country == "AU" else "INVOICE",
        "SalesTaxPeriod": "QUARTERLY",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": ms_timestamp(org.created_ms),
        "OrganisationEntityType": "COMPANY",
        "Timezone": org.timezone,
        "ShortCode": org.short_code,
        "Edition": "BUSINESS",
        "Class": "PREMIUM",
        "LineOfBusiness": "Wine manufacturing",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    }
    # Xero leaves the lock dates out entirely when they are not set.
    if org.period_lock_date:
        out["PeriodLockDate"] = ms_date(org.period_lock_date)
    if org.end_of_year_lock_date:
        out["EndOfYearLockDate"] = ms_date(org.end_of_year_lock_date)
    return out
