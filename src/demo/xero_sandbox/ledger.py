"""The general ledger the sandbox keeps, as Xero does (docs/xero-rules.md, sections 9 and 10).

Every posting is a journal that is never edited: approving a document posts it, changing an
approved document reverses its last journal and posts a new one, voiding posts the reversal,
a payment moves money between the bank and the receivable or payable. `GET /Journals` pages
through these journals and `GET /Reports/TrialBalance` sums them. Allocations post nothing.

Amounts are in the organisation's base currency: a foreign-currency line is divided by the
document's CurrencyRate and rounded per line (the sandbox books no exchange gains or losses).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .formats import ZERO, money
from .seed import stable_id
from .state import Org

# +1: the document's lines are debits (a bill, a customer credit note); -1: credits.
LINE_SIGN = {"ACCREC": -1, "ACCPAY": 1, "ACCRECCREDIT": 1, "ACCPAYCREDIT": -1}
CONTROL = {"ACCREC": "DEBTORS", "ACCRECCREDIT": "DEBTORS",
           "ACCPAY": "CREDITORS", "ACCPAYCREDIT": "CREDITORS"}
PAYMENT_SOURCE = {"ACCREC": "ACCRECPAYMENT", "ACCPAY": "ACCPAYPAYMENT",
                  "ACCRECCREDIT": "ARCREDITPAYMENT", "ACCPAYCREDIT": "APCREDITPAYMENT"}
SECTION_OF_CLASS = {"REVENUE": "Revenue", "EXPENSE": "Expenses", "ASSET": "Assets",
                    "LIABILITY": "Liabilities", "EQUITY": "Equity"}
SECTIONS = ("Revenue", "Expenses", "Assets", "Liabilities", "Equity")
PROFIT_AND_LOSS = ("Revenue", "Expenses")
PAGE = 100


def is_posted(kind_name: str, doc: dict) -> bool:
    """Whether the document's own postings are in the ledger (payments aside)."""
    if kind_name == "ManualJournals":
        return doc["Status"] == "POSTED"
    return doc["Status"] in ("AUTHORISED", "PAID")


# --- accounts --------------------------------------------------------------------------------

def system_account(org: Org, system: str, code: str, name: str, account_type: str) -> dict:
    """The organisation's account for a Xero system role; a stand-in when the chart lacks it
    (every real Xero chart has receivables, payables, GST and retained earnings)."""
    for account in org.accounts.values():
        if account.get("SystemAccount") == system:
            return account
    found = org.accounts.get(code)
    if found is not None:
        return found
    return {"AccountID": stable_id(org.tenant_id, "system-account", system), "Code": code,
            "Name": name, "Type": account_type,
            "Class": "EQUITY" if account_type == "EQUITY" else "LIABILITY"
            if account_type == "CURRLIAB" else "ASSET"}


def control_account(org: Org, doc_type: str) -> dict:
    if CONTROL[doc_type] == "DEBTORS":
        return system_account(org, "DEBTORS", "610", "Accounts Receivable", "CURRENT")
    return system_account(org, "CREDITORS", "800", "Accounts Payable", "CURRLIAB")


def tax_account(org: Org) -> dict:
    return system_account(org, "GST", "820", "GST", "CURRLIAB")


def retained_earnings(org: Org) -> dict:
    return system_account(org, "RETAINEDEARNINGS", "960", "Retained Earnings", "EQUITY")


def section_of(account: dict) -> str:
    return SECTION_OF_CLASS.get(str(account.get("Class") or ""), "")


# --- journals --------------------------------------------------------------------------------
# A stored journal line is a tuple (AccountCode, NetAmount, TaxAmount, Description, TaxType,
# Tracking): 100k documents post half a million lines, so they stay small and the answer's
# fields (account name and type, gross amount, line id) are filled in when a journal is read.

CODE, NET, TAX, DESCRIPTION, TAX_TYPE, TRACKING = range(6)


def _line(code: str, net: Decimal, tax: Decimal = ZERO, description: str = "",
          tax_type: str | None = None, tracking: list[dict] | None = None) -> tuple:
    return (code, net, tax, description, tax_type, tracking or ())


def _base(amount: Decimal, rate: Decimal) -> Decimal:
    return money(amount / rate) if rate and rate != 1 else amount


def document_postings(org: Org, kind_name: str, doc: dict) -> list[tuple]:
    """The journal lines of an approved document or a posted manual journal."""
    if kind_name == "ManualJournals":
        return _journal_postings(org, doc)
    sign = LINE_SIGN[doc["Type"]]
    rate = Decimal(doc.get("CurrencyRate") or 1)
    inclusive = doc["LineAmountTypes"] == "Inclusive"
    lines, tax_total, total = [], ZERO, ZERO
    for item in doc["LineItems"]:
        tax = _base(item["TaxAmount"], rate)
        net = _base(item["LineAmount"] - item["TaxAmount"] if inclusive else item["LineAmount"],
                    rate)
        if not net and not tax:
            continue
        tax_total += tax
        total += net + tax
        lines.append(_line(item.get("AccountCode") or "", sign * net, sign * tax,
                           item.get("Description", ""), item.get("TaxType"),
                           item.get("Tracking")))
    if tax_total:
        lines.append(_line(tax_account(org)["Code"], sign * tax_total))
    lines.append(_line(control_account(org, doc["Type"])["Code"], -sign * total))
    return lines


def _journal_postings(org: Org, doc: dict) -> list[tuple]:
    """A manual journal's lines; with tax, each line posts its net amount and the tax goes to
    the GST account (an inclusive LineAmount is gross)."""
    inclusive = doc["LineAmountTypes"] == "Inclusive"
    lines, tax_total = [], ZERO
    for item in doc["JournalLines"]:
        tax = item.get("TaxAmount", ZERO)
        net = item["LineAmount"] - tax if inclusive else item["LineAmount"]
        tax_total += tax
        lines.append(_line(item.get("AccountCode") or "", net, tax, item.get("Description", ""),
                           item.get("TaxType"), item.get("Tracking")))
    if tax_total:
        lines.append(_line(tax_account(org)["Code"], tax_total))
    return lines


def post(org: Org, day: str, source_type: str, source_id: str, reference: str,
         lines: list[tuple], now_ms: int) -> dict:
    total = sum((line[NET] for line in lines), ZERO)
    if total != 0:  # rounding of foreign-currency lines: the receivable/payable absorbs it
        last = lines[-1]
        lines[-1] = (last[CODE], last[NET] - total, *last[TAX:])
    number = len(org.ledger) + 1
    journal = {
        "JournalID": str(uuid.uuid4()),
        "JournalDate": day,
        "JournalNumber": number,
        "CreatedDateUTC": now_ms,
        "Reference": reference,
        "SourceID": source_id,
        "SourceType": source_type,
        "JournalLines": lines,
    }
    org.ledger.append(journal)
    org.last_journal[(source_type, source_id)] = number - 1
    return journal


def repost(org: Org, kind_name: str, doc: dict, was_posted: bool, now_ms: int) -> None:
    """After a document changed: reverse what it had posted, post what it says now."""
    source_type = "MANJOURNAL" if kind_name == "ManualJournals" else doc["Type"]
    id_field = {"Invoices": "InvoiceID", "CreditNotes": "CreditNoteID",
                "ManualJournals": "ManualJournalID"}[kind_name]
    source_id = doc[id_field]
    if was_posted:
        last = org.ledger[org.last_journal[(source_type, source_id)]]
        reversed_lines = [(line[CODE], -line[NET], -line[TAX], *line[DESCRIPTION:])
                          for line in last["JournalLines"]]
        post(org, last["JournalDate"], source_type, source_id, last["Reference"],
             reversed_lines, now_ms)
    if is_posted(kind_name, doc):
        reference = doc.get("Narration") if kind_name == "ManualJournals" else (
            doc.get("Reference") or doc.get("InvoiceNumber") or doc.get("CreditNoteNumber") or "")
        post(org, doc["Date"], source_type, source_id, reference or "",
             document_postings(org, kind_name, doc), now_ms)


def post_payment(org: Org, doc: dict, payment: dict, bank: dict, now_ms: int) -> None:
    sign = LINE_SIGN[doc["Type"]]
    amount = _base(payment["Amount"], Decimal(doc.get("CurrencyRate") or 1))
    lines = [_line(bank["Code"], -sign * amount, description=payment.get("Reference", "")),
             _line(control_account(org, doc["Type"])["Code"], sign * amount)]
    post(org, payment["Date"], PAYMENT_SOURCE[doc["Type"]], payment["PaymentID"],
         payment.get("Reference", ""), lines, now_ms)


def account_of(org: Org, code: str) -> dict:
    """The account a journal line names (system stand-ins included)."""
    found = org.accounts.get(code)
    if found is not None:
        return found
    for account in (control_account(org, "ACCREC"), control_account(org, "ACCPAY"),
                    tax_account(org), retained_earnings(org)):
        if account["Code"] == code:
            return account
    return {"AccountID": "", "Code": code, "Name": code, "Type": "", "Class": ""}


def journal_lines(org: Org, journal: dict) -> list[dict]:
    """A journal's lines as GET /Journals answers them."""
    out = []
    for index, line in enumerate(journal["JournalLines"]):
        account = account_of(org, line[CODE])
        item: dict[str, Any] = {
            "JournalLineID": str(uuid.uuid5(uuid.UUID(journal["JournalID"]), str(index))),
            "AccountID": account["AccountID"],
            "AccountCode": line[CODE],
            "AccountType": account.get("Type", ""),
            "AccountName": account.get("Name", ""),
            "Description": line[DESCRIPTION] or "",
            "NetAmount": line[NET],
            "GrossAmount": line[NET] + line[TAX],
            "TaxAmount": line[TAX],
        }
        if line[TAX_TYPE]:
            item["TaxType"] = line[TAX_TYPE]
            rate = org.tax_rates.get(line[TAX_TYPE])
            if rate is not None:
                item["TaxName"] = rate["Name"]
        item["TrackingCategories"] = [
            {"Name": t["Name"], "Option": t["Option"], "TrackingCategoryID": t["TrackingCategoryID"],
             "TrackingOptionID": t["TrackingOptionID"]} for t in line[TRACKING] or ()]
        out.append(item)
    return out


def journals_after(org: Org, offset: int, since_ms: int | None = None) -> list[dict]:
    """Up to 100 journals with JournalNumber > offset (created since `since_ms`, if given)."""
    out = []
    for journal in org.ledger[max(offset, 0):]:
        if since_ms is not None and journal["CreatedDateUTC"] < since_ms:
            continue
        out.append(journal)
        if len(out) == PAGE:
            break
    return out


# --- the trial balance -----------------------------------------------------------------------

def year_start(org: Org, day: date) -> date:
    end_day, end_month = org.financial_year_end
    start = date(day.year, end_month, end_day) + timedelta(days=1)
    return start if start <= day else date(day.year - 1, end_month, end_day) + timedelta(days=1)


def trial_balance(org: Org, day: date) -> list[tuple[dict, str, Decimal, Decimal]]:
    """(account, section, year-to-date balance, month balance) per account with either,
    debit positive; revenue and expenses of earlier years sit in retained earnings."""
    first_day = year_start(org, day).isoformat()
    month_start = day.replace(day=1).isoformat()
    last = day.isoformat()
    retained = retained_earnings(org)
    sums: dict[str, list[Any]] = {}
    for journal in org.ledger:
        when = journal["JournalDate"]
        if when > last:
            continue
        for line in journal["JournalLines"]:
            account = org.accounts.get(line[CODE]) or account_of(org, line[CODE])
            section = section_of(account)
            if section in PROFIT_AND_LOSS and when < first_day:
                account, section = retained, "Equity"
            entry = sums.setdefault(account["Code"], [account, section, ZERO, ZERO])
            entry[2] += line[NET]
            if when >= month_start:
                entry[3] += line[NET]
    rows = [(account, section, ytd, month) for account, section, ytd, month in sums.values()
            if ytd != 0 or month != 0]
    return sorted(rows, key=lambda r: (SECTIONS.index(r[1]) if r[1] in SECTIONS else 9,
                                       r[0]["Code"]))
