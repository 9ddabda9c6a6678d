"""Xero's business rules for invoices, bills, credit notes, journals, contacts, payments and
credit note allocations (docs/xero-rules.md says which rule comes from where).

Each `build_*` function checks one request element against one organisation and either
returns the validation messages Xero would give, or a `commit` callable that stores the new
or changed document and brings the general ledger up to date (ledger.py). Nothing is stored
for an element with errors. Elements are processed in order, so a number used, a payment made
or a credit allocated by an earlier element of the same request counts.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from . import ledger
from .formats import CENT, FOUR_DP, SIX_DP, ZERO, lock_date_text, money, parse_xero_date, to_decimal
from .seed import new_contact
from .state import CONTACTS, CREDIT_NOTES, INVOICES, MANUAL_JOURNALS, Kind, Org

ZERO_ID = "00000000-0000-0000-0000-000000000000"
LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
INVOICE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED")
JOURNAL_STATUSES = ("DRAFT", "POSTED")
# Control accounts Xero keeps for itself: documents cannot post to them directly.
RESERVED_SYSTEM_ACCOUNTS = ("DEBTORS", "CREDITORS", "GST")
MAX_TRACKING = 2


@dataclass
class WriteContext:
    org: Org
    now_ms: int
    today: str  # YYYY-MM-DD in the organisation's books
    unitdp: int = 2
    is_post: bool = False
    # contacts created because a document named one that did not exist (Xero's duplicate trap)
    contacts_created: list[dict] = field(default_factory=list)


@dataclass
class Built:
    errors: list[str]
    warnings: list[str]
    commit: Callable[[], dict] | None = None
    updated: bool = False  # an existing document changed (POST with its id), not a new one


Builder = Callable[..., Built]  # (raw, ctx) or, for updatable kinds, (raw, ctx, existing)


_DECIMALS: dict[str, Decimal] = {}


def _keep(value: Decimal | None) -> Decimal | None:
    """Share equal amounts between stored lines (same digits, same exponent): amounts repeat
    a lot across 100k documents. `setdefault` is atomic, so sandboxes may share the cache."""
    if value is None:
        return None
    if len(_DECIMALS) > 100_000:
        _DECIMALS.clear()
    return _DECIMALS.setdefault(str(value), value)


class _Errors(list):
    def add(self, message: str) -> None:
        if message not in self:
            self.append(message)


# --- shared pieces -------------------------------------------------------------------------

def _number(raw: dict, key: str, errors: _Errors, where: str) -> Decimal | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        return to_decimal(value)
    except ValueError:
        errors.add(f"{key} on {where} must be a number.")
        return None


def _text(raw: dict, key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _date(raw: dict, key: str, errors: _Errors, default: str | None) -> str | None:
    value = raw.get(key)
    if value in (None, ""):
        return default
    try:
        return sys.intern(parse_xero_date(value).isoformat())  # dates repeat across docs
    except ValueError:
        errors.add(f"{key} '{value}' is not a valid date.")
        return default


def _check_lock_dates(org: Org, day: str | None, errors: _Errors) -> None:
    if day is None:
        return
    if org.end_of_year_lock_date and day <= org.end_of_year_lock_date:
        errors.add("The document date cannot be before the end of year lock date, currently "
                   f"set at {lock_date_text(org.end_of_year_lock_date)}")
    elif org.period_lock_date and day <= org.period_lock_date:
        errors.add("The document date cannot be before the period lock date, currently set "
                   f"at {lock_date_text(org.period_lock_date)}")


def _account(org: Org, raw: dict, errors: _Errors, required: bool) -> dict | None:
    code = _text(raw, "AccountCode")
    account_id = _text(raw, "AccountID")
    account = None
    if code:
        account = org.accounts.get(code.strip())
        label = code
    elif account_id:
        account = org.accounts_by_id.get(account_id.lower())
        label = account_id
    else:
        if required:
            errors.add("Account code '' is not a valid code for this document.")
        return None
    if account is None:
        errors.add(f"Account code '{label}' is not a valid code for this document.")
        return None
    if account["Status"] != "ACTIVE":
        errors.add(f"Account code '{account['Code']}' has been archived, or deleted. Each line "
                   "item must reference a valid account.")
        return None
    if account.get("SystemAccount") in RESERVED_SYSTEM_ACCOUNTS:
        errors.add(f"Account code '{account['Code']}' is not a valid code for this document.")
        return None
    return account


def _tax(org: Org, raw: dict, account: dict | None, amount: Decimal, line_amount_types: str,
         errors: _Errors, where: str) -> tuple[str | None, Decimal]:
    given = _text(raw, "TaxType")
    tax_type = given or (account.get("TaxType") if account else None)
    if given:
        rate_row = org.tax_rates.get(given)
        if rate_row is None or rate_row["Status"] != "ACTIVE":
            errors.add(f"The TaxType code '{given}' does not exist or cannot be used for this "
                       "type of transaction.")
            return given, ZERO
    if line_amount_types == "NoTax":
        return tax_type or org.no_tax_type(), ZERO
    override = _number(raw, "TaxAmount", errors, where)
    if override is not None:
        return tax_type, money(override)
    if not tax_type:
        return tax_type, ZERO
    rate = org.tax_rates[tax_type]["EffectiveRate"]
    if line_amount_types == "Inclusive":
        return tax_type, money(amount * rate / (Decimal(100) + rate))
    return tax_type, money(amount * rate / Decimal(100))


def _tracking(org: Org, raw: dict, errors: _Errors) -> list[dict]:
    items = raw.get("Tracking")
    if items in (None, []):
        return []
    if not isinstance(items, list):
        errors.add("Tracking must be a list of tracking categories.")
        return []
    if len(items) > MAX_TRACKING:
        errors.add("A line item can have a maximum of 2 tracking categories.")
    out: list[dict] = []
    used: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            errors.add("Each tracking entry must name a category and an option.")
            continue
        category = None
        if item.get("TrackingCategoryID"):
            category = org.tracking_by_id.get(str(item["TrackingCategoryID"]).lower())
        if category is None and item.get("Name"):
            category = org.tracking_by_name.get(str(item["Name"]).strip().lower())
        if category is None:
            name = item.get("Name") or item.get("TrackingCategoryID") or ""
            errors.add(f"The tracking category {name} does not exist")
            continue
        if category["TrackingCategoryID"] in used:
            errors.add(f"The tracking category {category['Name']} is used more than once on a "
                       "line.")
            continue
        used.add(category["TrackingCategoryID"])
        option = None
        wanted_id = str(item.get("TrackingOptionID") or "").lower()
        wanted_name = str(item.get("Option") or "").strip().lower()
        for candidate in category["Options"]:
            if (wanted_id and candidate["TrackingOptionID"] == wanted_id) or (
                    wanted_name and candidate["Name"].lower() == wanted_name):
                option = candidate
                break
        if option is None or option["Status"] != "ACTIVE":
            label = item.get("Option") or item.get("TrackingOptionID") or ""
            errors.add(f"The tracking option {label} does not exist for the tracking category "
                       f"{category['Name']}")
            continue
        out.append(org.shared(
            ("tracking", category["TrackingCategoryID"], option["TrackingOptionID"]),
            lambda c=category, o=option: {"TrackingCategoryID": c["TrackingCategoryID"],
                                          "TrackingOptionID": o["TrackingOptionID"],
                                          "Name": c["Name"], "Option": o["Name"]}))
    return out


def _url(raw: dict, errors: _Errors) -> str | None:
    url = _text(raw, "Url")
    if url and not url.lower().startswith(("http://", "https://")):
        errors.add(f"The Url '{url}' is not a valid absolute http(s) URL.")
    return url or None


def _currency(org: Org, raw: dict, errors: _Errors) -> tuple[str, Decimal]:
    code = _text(raw, "CurrencyCode") or org.base_currency
    if code not in org.currencies:
        errors.add(f"The currency {code} is not enabled for this organisation.")
    rate_value = raw.get("CurrencyRate")
    rate = Decimal(1)
    if rate_value is not None and code != org.base_currency:
        try:
            rate = to_decimal(rate_value)
        except ValueError:
            errors.add("CurrencyRate must be a number.")
    return code, rate.quantize(SIX_DP)


def _line_amount_types(raw: dict, errors: _Errors, default: str) -> str:
    value = _text(raw, "LineAmountTypes") or default
    if value not in LINE_AMOUNT_TYPES:
        errors.add(f"LineAmountTypes '{value}' is not valid: use Exclusive, Inclusive or NoTax.")
        return default
    return value


def _resolve_contact(ctx: WriteContext, raw: dict,
                     errors: _Errors) -> tuple[dict | None, str | None]:
    """(existing contact, name of a contact to create on commit).

    A contact named but not identified is matched by exact name or else created: that is how
    Xero behaves, and how a typo turns into a duplicate contact.
    """
    contact = raw.get("Contact")
    if not isinstance(contact, dict) or not any(contact.get(k) for k in
                                                 ("ContactID", "Name", "ContactNumber")):
        errors.add("A Contact must be specified for this type of transaction")
        return None, None
    org = ctx.org
    if contact.get("ContactID"):
        found = org.contacts.get(str(contact["ContactID"]))
        if found is None:
            errors.add(f"The contact with ContactID '{contact['ContactID']}' does not exist.")
        elif found.get("ContactStatus") == "ARCHIVED":
            errors.add(f"The contact {found['Name']} has been archived.")
        return found, None
    if contact.get("ContactNumber"):
        matches = org.contacts.find("ContactNumber", str(contact["ContactNumber"]))
        if matches:
            return matches[0], None
    name = str(contact.get("Name") or "").strip()
    if not name:
        errors.add(f"The contact with ContactNumber '{contact.get('ContactNumber')}' does not "
                   "exist.")
        return None, None
    found = org.contact_by_name(name)
    return (found, None) if found else (None, name)


def _commit_contact(ctx: WriteContext, existing: dict | None, new_name: str | None,
                    doc_type: str) -> dict:
    if existing is not None:
        return existing
    assert new_name is not None
    contact = new_contact(ctx.org, {"Name": new_name,
                                    "IsCustomer": doc_type.startswith("ACCREC"),
                                    "IsSupplier": doc_type.startswith("ACCPAY")},
                          ctx.now_ms, contact_id=str(uuid.uuid4()))
    ctx.org.contacts.add(contact)
    ctx.contacts_created.append(contact)
    return contact


def _line_items(ctx: WriteContext, raw_lines: Any, line_amount_types: str, errors: _Errors,
                require_account: bool, allow_discount: bool) -> list[dict]:
    if raw_lines is None:
        return []
    if not isinstance(raw_lines, list):
        errors.add("LineItems must be a list.")
        return []
    org = ctx.org
    unit_step = FOUR_DP if ctx.unitdp == 4 else CENT
    lines = []
    for number, raw in enumerate(raw_lines, start=1):
        where = f"line item {number}"
        if not isinstance(raw, dict):
            errors.add(f"Line item {number} must be an object.")
            continue
        quantity = _number(raw, "Quantity", errors, where)
        unit = _number(raw, "UnitAmount", errors, where)
        given = _number(raw, "LineAmount", errors, where)
        discount = _number(raw, "DiscountRate", errors, where) if allow_discount else None
        if unit is not None:
            unit = unit.quantize(unit_step, rounding=ROUND_HALF_UP)
        if quantity is not None:
            quantity = quantity.quantize(FOUR_DP, rounding=ROUND_HALF_UP)
        if quantity is None and unit is None and given is None:
            amount = ZERO  # a description-only line
        elif given is not None and (quantity is None or unit is None):
            amount = money(given)
            if quantity is None and unit is None:
                quantity, unit = Decimal("1.0000"), amount.quantize(unit_step)
            elif quantity is None:
                quantity = (amount / unit).quantize(FOUR_DP, ROUND_HALF_UP) if unit else \
                    Decimal("1.0000")
            else:
                unit = (amount / quantity).quantize(unit_step, ROUND_HALF_UP) if quantity else \
                    amount.quantize(unit_step)
        else:
            quantity = quantity if quantity is not None else Decimal("1.0000")
            unit = unit if unit is not None else Decimal("0").quantize(unit_step)
            gross = quantity * unit
            if discount:
                gross = gross * (Decimal(100) - discount) / Decimal(100)
            amount = money(gross)
            if given is not None and money(given) != amount:
                errors.add(f"The LineAmount ({money(given)}) of line item {number} does not equal "
                           f"Quantity x UnitAmount ({amount}).")
        account = _account(org, raw, errors, required=require_account)
        tax_type, tax = _tax(org, raw, account, amount, line_amount_types, errors, where)
        line = {
            "LineItemID": str(uuid.uuid4()),
            "Description": _text(raw, "Description") or "",
            "Quantity": _keep(quantity),
            "UnitAmount": _keep(unit),
            "LineAmount": _keep(amount),
            "TaxAmount": _keep(tax),
            "Tracking": _tracking(org, raw, errors),
        }
        if account is not None:
            line["AccountCode"] = account["Code"]
            line["AccountID"] = account["AccountID"]
        if tax_type:
            line["TaxType"] = tax_type
        if discount:
            line["DiscountRate"] = discount
        if raw.get("ItemCode"):
            line["ItemCode"] = _text(raw, "ItemCode")
        lines.append(line)
    return lines


def _totals(lines: list[dict], line_amount_types: str) -> tuple[Decimal, Decimal, Decimal]:
    line_total = sum((line["LineAmount"] for line in lines), ZERO)
    tax_total = sum((line["TaxAmount"] for line in lines), ZERO)
    sub_total = line_total - tax_total if line_amount_types == "Inclusive" else line_total
    return sub_total, tax_total, sub_total + tax_total


def _existing_id(ctx: WriteContext, raw: dict, kind: Kind, errors: _Errors) -> None:
    doc_id = raw.get(kind.id_field)
    if doc_id and ctx.org.collection(kind).get(str(doc_id)) is not None:
        errors.add(f"{kind.singular} {doc_id} already exists: PUT creates; POST updates.")


# --- status rules (docs/xero-rules.md, sections 1, 2 and 5) --------------------------------

DOCUMENT_MOVES = {
    "DRAFT": ("DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"),
    "SUBMITTED": ("DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"),
    "AUTHORISED": ("AUTHORISED", "VOIDED"),
}
JOURNAL_MOVES = {"DRAFT": ("DRAFT", "POSTED", "DELETED"), "POSTED": ("POSTED", "VOIDED")}
MSG_NOT_VALID_STATUS = "Invoice not of valid status for modification"
MSG_APPLIED = ("This document cannot be edited as it has a payment or credit note allocated "
               "to it.")
MSG_DUE_DATE = "Due Date must be specified."
MSG_NEGATIVE = "The document total must not be negative."
MSG_POSTED_JOURNAL = ("A posted manual journal cannot be edited through the API; void it, or "
                      "post an adjustment.")


def amount_paid(doc: dict) -> Decimal:
    return sum((p["Amount"] for p in doc.get("Payments") or ()), ZERO)


def amount_credited(doc: dict) -> Decimal:
    """Invoices: credit allocated to them; credit notes: credit allocated away."""
    items = doc.get("Allocations") if "CreditNoteID" in doc else doc.get("CreditNotes")
    return sum((a["Amount"] for a in items or ()), ZERO)


def amount_due(doc: dict) -> Decimal:
    """AmountDue of an invoice, RemainingCredit of a credit note."""
    return doc["Total"] - amount_paid(doc) - amount_credited(doc)


def has_applications(doc: dict) -> bool:
    return bool(doc.get("Payments")) or amount_credited(doc) != 0


def _lock_problem(org: Org, day: str | None) -> str | None:
    errors = _Errors()
    _check_lock_dates(org, day, errors)
    return errors[0] if errors else None


def _stamped(doc: dict, ctx: WriteContext, **changes: Any) -> dict:
    """A new version of a stored document (stored dicts are never mutated in place)."""
    return {**doc, **changes, "UpdatedDateUTC": ctx.now_ms}


def _store(ctx: WriteContext, kind: Kind, before: dict | None, doc: dict) -> dict:
    """Keep a new or changed document and bring the ledger up to date."""
    collection = ctx.org.collection(kind)
    if before is None:
        collection.add(doc)
    else:
        collection.replace(doc)
    if kind.name != CONTACTS.name:
        was_posted = before is not None and ledger.is_posted(kind.name, before)
        if was_posted or ledger.is_posted(kind.name, doc):
            ledger.repost(ctx.org, kind.name, doc, was_posted, ctx.now_ms)
    return doc


def _status_change(ctx: WriteContext, kind: Kind, doc: dict, status: str,
                   errors: _Errors, warnings: _Errors) -> Built:
    """VOIDED or DELETED: only the status changes; a void reverses the posting."""
    if status == "VOIDED":
        problem = _lock_problem(ctx.org, doc["Date"])
        if problem:
            errors.add(problem)
    if errors:
        return Built(errors, warnings)
    return Built(errors, warnings, lambda: _store(ctx, kind, doc, _stamped(doc, ctx, Status=status)),
                 updated=True)


# --- invoices, bills and credit notes ------------------------------------------------------

def _build_trade_document(raw: dict, ctx: WriteContext, kind: Kind,
                          existing: dict | None = None) -> Built:
    """A new document (PUT, or POST without an id), or an update of `existing` (POST with its
    id): what the element leaves out stays as it was; LineItems, when given, replace all."""
    errors, warnings = _Errors(), _Errors()
    org = ctx.org
    is_credit = kind is CREDIT_NOTES
    types = ("ACCRECCREDIT", "ACCPAYCREDIT") if is_credit else ("ACCREC", "ACCPAY")
    number_field = "CreditNoteNumber" if is_credit else "InvoiceNumber"
    label = "Credit note" if is_credit else "Invoice"
    old = existing or {}
    if existing is None:
        _existing_id(ctx, raw, kind, errors)

    doc_type = _text(raw, "Type") or old.get("Type")
    if not doc_type:
        errors.add(f"{label} Type must be specified ({' or '.join(types)}).")
    elif doc_type not in types:
        errors.add(f"{label} Type '{doc_type}' is not valid here: use {' or '.join(types)}.")
    elif existing is not None and doc_type != existing["Type"]:
        errors.add(f"The Type of a {label.lower()} cannot be changed ({existing['Type']}).")
    current = old.get("Status")
    status = _text(raw, "Status") or current or "DRAFT"
    if existing is not None:
        if current == "PAID" or has_applications(existing):
            errors.add(MSG_APPLIED)
            return Built(errors, warnings)
        if status not in DOCUMENT_MOVES.get(current, ()):
            errors.add(MSG_NOT_VALID_STATUS)
            return Built(errors, warnings)
        if status in ("VOIDED", "DELETED"):
            return _status_change(ctx, kind, existing, status, errors, warnings)
    elif status not in INVOICE_STATUSES:
        errors.add(f"{label} not of valid status for creation")
    if existing is not None and raw.get("Contact") is None:
        existing_contact = org.contacts.get(existing["Contact"]["ContactID"])
        new_contact_name = None
    else:
        existing_contact, new_contact_name = _resolve_contact(ctx, raw, errors)
    day = _date(raw, "Date", errors, default=old.get("Date") or ctx.today)
    due = _date(raw, "DueDate", errors, default=old.get("DueDate"))
    if status == "AUTHORISED":
        # posting on a locked date, or moving a posting out of one, both change a locked period
        _check_lock_dates(org, day, errors)
        if current == "AUTHORISED":
            _check_lock_dates(org, old.get("Date"), errors)
    if not is_credit and status in ("SUBMITTED", "AUTHORISED") and not due:
        errors.add(MSG_DUE_DATE)
    line_amount_types = _line_amount_types(raw, errors, old.get("LineAmountTypes", "Exclusive"))
    if existing is not None and raw.get("CurrencyCode") is None:
        currency, currency_rate = existing["CurrencyCode"], existing["CurrencyRate"]
    else:
        currency, currency_rate = _currency(org, raw, errors)
    url = _url(raw, errors) if "Url" in raw else old.get("Url")

    number = (_text(raw, number_field) or old.get(number_field) or "").strip()
    unique_numbers = doc_type == ("ACCRECCREDIT" if is_credit else "ACCREC")
    collection = org.collection(kind)
    if number and unique_numbers and any(
            doc["Type"] == doc_type and doc[kind.id_field] != old.get(kind.id_field)
            for doc in collection.find(number_field, number)):
        errors.add("Credit Note # must be unique." if is_credit else "Invoice # must be unique.")

    if existing is not None and raw.get("LineItems") is None:
        lines = existing["LineItems"]
    else:
        lines = _line_items(ctx, raw.get("LineItems"), line_amount_types, errors,
                            require_account=status != "DRAFT",
                            allow_discount=doc_type == "ACCREC")
    if status != "DRAFT" and not lines:
        errors.add(f"A {status} {label.lower()} must have at least one line item.")
    sub_total, total_tax, total = _totals(lines, line_amount_types)
    if total < 0:
        errors.add(MSG_NEGATIVE)
    if errors:
        return Built(errors, warnings)

    def commit() -> dict:
        contact = _commit_contact(ctx, existing_contact, new_contact_name, doc_type or "")
        doc_number = number
        if not doc_number and unique_numbers:
            doc_number = _next_number(org, kind, "CN" if is_credit else "INV", number_field,
                                      doc_type or "")
        doc = {
            **old,
            kind.id_field: old.get(kind.id_field) or str(uuid.uuid4()),
            "Type": doc_type,
            number_field: doc_number,
            "Reference": _text(raw, "Reference") if "Reference" in raw else
            old.get("Reference", ""),
            "Contact": org.shared(("contact", contact["ContactID"]),
                                  lambda: {"ContactID": contact["ContactID"],
                                           "Name": contact["Name"]}),
            "Date": day,
            "DueDate": due,
            "Status": status,
            "LineAmountTypes": line_amount_types,
            "LineItems": lines,
            "SubTotal": sub_total,
            "TotalTax": total_tax,
            "Total": total,
            "CurrencyCode": currency,
            "CurrencyRate": currency_rate,
            "Url": url,
            "SentToContact": old.get("SentToContact", False),
            "UpdatedDateUTC": ctx.now_ms,
        }
        if doc["Reference"] is None:
            doc["Reference"] = ""
        if raw.get("BrandingThemeID"):
            doc["BrandingThemeID"] = _text(raw, "BrandingThemeID")
        return _store(ctx, kind, existing, doc)

    return Built(errors, warnings, commit, updated=existing is not None)


def _next_number(org: Org, kind: Kind, prefix: str, number_field: str, doc_type: str) -> str:
    collection = org.collection(kind)
    while True:
        candidate = f"{prefix}-{org.next_number[prefix]:04d}"
        org.next_number[prefix] += 1
        if not any(doc["Type"] == doc_type for doc in collection.find(number_field, candidate)):
            return candidate


def build_invoice(raw: dict, ctx: WriteContext, existing: dict | None = None) -> Built:
    return _build_trade_document(raw, ctx, INVOICES, existing)


def build_credit_note(raw: dict, ctx: WriteContext, existing: dict | None = None) -> Built:
    return _build_trade_document(raw, ctx, CREDIT_NOTES, existing)


# --- manual journals -----------------------------------------------------------------------

_JOURNAL_CONTENT = ("Narration", "Date", "JournalLines", "LineAmountTypes", "Url",
                    "ShowOnCashBasisReports")


def _raw_journal_lines(doc: dict) -> list[dict]:
    """A stored journal's lines as a request would carry them (to rebuild a draft)."""
    out = []
    for line in doc["JournalLines"]:
        raw: dict[str, Any] = {"LineAmount": line["LineAmount"],
                               "Description": line.get("Description", "")}
        for key in ("AccountCode", "TaxType"):
            if line.get(key):
                raw[key] = line[key]
        if doc["LineAmountTypes"] != "NoTax":
            raw["TaxAmount"] = line["TaxAmount"]
        raw["Tracking"] = [{"TrackingCategoryID": t["TrackingCategoryID"],
                            "TrackingOptionID": t["TrackingOptionID"]}
                           for t in line.get("Tracking", [])]
        out.append(raw)
    return out


def build_manual_journal(raw: dict, ctx: WriteContext, existing: dict | None = None) -> Built:
    errors, warnings = _Errors(), _Errors()
    if existing is not None:
        current = existing["Status"]
        status = _text(raw, "Status") or current
        if status not in JOURNAL_MOVES.get(current, ()):
            errors.add(MSG_NOT_VALID_STATUS if current != "POSTED" else
                       f"The status '{status}' cannot be applied to a posted manual journal.")
            return Built(errors, warnings)
        if status in ("VOIDED", "DELETED"):
            return _status_change(ctx, MANUAL_JOURNALS, existing, status, errors, warnings)
        if current == "POSTED":
            if any(key in raw for key in _JOURNAL_CONTENT):
                errors.add(MSG_POSTED_JOURNAL)
                return Built(errors, warnings)
            return Built(errors, warnings, lambda: existing, updated=True)  # nothing to change
        merged = {"Narration": existing["Narration"], "Date": existing["Date"],
                  "LineAmountTypes": existing["LineAmountTypes"], "Url": existing.get("Url"),
                  "ShowOnCashBasisReports": existing["ShowOnCashBasisReports"],
                  "JournalLines": _raw_journal_lines(existing)}
        merged.update({key: raw[key] for key in _JOURNAL_CONTENT if key in raw})
        merged["Status"] = status
        raw = merged
    org = ctx.org
    if existing is None:
        _existing_id(ctx, raw, MANUAL_JOURNALS, errors)
    narration = (_text(raw, "Narration") or "").strip()
    if not narration:
        errors.add("Narration must be specified.")
    status = _text(raw, "Status") or "DRAFT"
    if existing is None and status not in JOURNAL_STATUSES:
        errors.add(f"Manual journal status '{status}' is not valid for creation: use DRAFT or "
                   "POSTED.")
    day = _date(raw, "Date", errors, default=ctx.today)
    if status == "POSTED":  # draft journals may be saved in a locked period (Xero Central)
        _check_lock_dates(org, day, errors)
    line_amount_types = _line_amount_types(raw, errors, "NoTax")
    url = _url(raw, errors)

    raw_lines = raw.get("JournalLines")
    if raw_lines is not None and not isinstance(raw_lines, list):
        errors.add("JournalLines must be a list.")
        raw_lines = []
    raw_lines = raw_lines or []
    if len(raw_lines) < 2:
        errors.add("A manual journal must have at least two journal lines.")
    lines = []
    debits = credits = ZERO
    for number, raw_line in enumerate(raw_lines, start=1):
        where = f"journal line {number}"
        if not isinstance(raw_line, dict):
            errors.add(f"Journal line {number} must be an object.")
            continue
        amount = _number(raw_line, "LineAmount", errors, where)
        if amount is None:
            errors.add(f"LineAmount must be specified on journal line {number}.")
            continue
        amount = money(amount)
        account = _account(org, raw_line, errors, required=True)
        tax_type, tax = _tax(org, raw_line, account, amount, line_amount_types, errors, where)
        gross = amount + tax if line_amount_types == "Exclusive" else amount
        if gross > 0:
            debits += gross
        else:
            credits += gross
        line = {
            "LineAmount": _keep(amount),
            "Description": _text(raw_line, "Description") or "",
            "TaxAmount": _keep(tax),
            "Tracking": _tracking(org, raw_line, errors),
            "IsBlank": False,
        }
        if account is not None:
            line["AccountCode"] = account["Code"]
            line["AccountID"] = account["AccountID"]
        if tax_type:
            line["TaxType"] = tax_type
        lines.append(line)
    if len(raw_lines) >= 2 and debits + credits != 0:
        errors.add(f"The total debits ({debits}) must equal total credits ({credits})")
    if errors:
        return Built(errors, warnings)

    show_on_cash = raw.get("ShowOnCashBasisReports")

    def commit() -> dict:
        doc = {
            "ManualJournalID": existing["ManualJournalID"] if existing else str(uuid.uuid4()),
            "Narration": narration,
            "Date": day,
            "Status": status,
            "LineAmountTypes": line_amount_types,
            "JournalLines": lines,
            "Url": url,
            "ShowOnCashBasisReports": show_on_cash if isinstance(show_on_cash, bool) else True,
            "UpdatedDateUTC": ctx.now_ms,
        }
        return _store(ctx, MANUAL_JOURNALS, existing, doc)

    return Built(errors, warnings, commit, updated=existing is not None)


# --- contacts ------------------------------------------------------------------------------

def build_contact(raw: dict, ctx: WriteContext) -> Built:
    errors, warnings = _Errors(), _Errors()
    org = ctx.org
    _existing_id(ctx, raw, CONTACTS, errors)
    name = (_text(raw, "Name") or "").strip()
    if not name:
        errors.add("The contact name must be specified.")
    elif org.contact_by_name(name) is not None:
        errors.add(f"The contact name {name} is already assigned to another contact. The "
                   "contact name must be unique across all active contacts.")
    if errors:
        return Built(errors, warnings)

    def commit() -> dict:
        contact = new_contact(org, {**raw, "Name": name}, ctx.now_ms, contact_id=str(uuid.uuid4()))
        org.contacts.add(contact)
        return contact

    return Built(errors, warnings, commit)


# --- payments (PUT /Payments) -----------------------------------------------------------

def _target(ctx: WriteContext, raw: Any, kind: Kind, number_field: str,
            errors: _Errors) -> dict | None:
    if not isinstance(raw, dict):
        return None
    collection = ctx.org.collection(kind)
    if raw.get(kind.id_field):
        found = collection.get(str(raw[kind.id_field]))
        if found is None:
            errors.add(f"{kind.singular} {raw[kind.id_field]} could not be found.")
        return found
    if raw.get(number_field):
        found = collection.find(number_field, str(raw[number_field]))
        if not found:
            errors.add(f"{kind.singular} {raw[number_field]} could not be found.")
        return found[0] if found else None
    return None


def build_payment(raw: dict, ctx: WriteContext) -> Built:
    """A payment against an approved invoice or bill, or a cash refund of a credit note."""
    errors, warnings = _Errors(), _Errors()
    org = ctx.org
    invoice = _target(ctx, raw.get("Invoice"), INVOICES, "InvoiceNumber", errors)
    credit = None if invoice else _target(ctx, raw.get("CreditNote"), CREDIT_NOTES,
                                          "CreditNoteNumber", errors)
    doc, kind = (invoice, INVOICES) if invoice is not None else (credit, CREDIT_NOTES)
    if doc is None:
        if not errors:
            errors.add("A payment must name the Invoice or CreditNote it pays.")
        return Built(errors, warnings)
    account_raw = raw.get("Account") or {}
    account = None
    if isinstance(account_raw, dict) and account_raw.get("AccountID"):
        account = org.accounts_by_id.get(str(account_raw["AccountID"]).lower())
    elif isinstance(account_raw, dict) and account_raw.get("Code"):
        account = org.accounts.get(str(account_raw["Code"]))
    if account is None:
        errors.add("Account code '' is not a valid code for this document." if not account_raw
                   else "The account does not exist or is not enabled for payments.")
    elif account["Status"] != "ACTIVE" or not (account["Type"] == "BANK"
                                               or account.get("EnablePaymentsToAccount")):
        errors.add(f"Account code '{account['Code']}' is not a bank account or an account "
                   "enabled for payments.")
    amount = _number(raw, "Amount", errors, "the payment")
    day = _date(raw, "Date", errors, default=ctx.today)
    if doc["Status"] != "AUTHORISED":
        errors.add(f"Payments can only be made against AUTHORISED documents; this one is "
                   f"{doc['Status']}.")
    if amount is None:
        errors.add("Amount must be specified.")
    else:
        amount = money(amount)
        if amount <= 0:
            errors.add("The payment amount must be greater than zero.")
        elif amount > amount_due(doc):
            errors.add("Payment amount exceeds the amount outstanding on this document.")
    _check_lock_dates(org, day, errors)
    if errors:
        return Built(errors, warnings)

    def commit() -> dict:
        payment = {
            "PaymentID": str(uuid.uuid4()),
            "Date": day,
            "Amount": amount,
            "Reference": _text(raw, "Reference") or "",
            "CurrencyRate": doc["CurrencyRate"],
            "PaymentType": ledger.PAYMENT_SOURCE[doc["Type"]],
            "Status": "AUTHORISED",
            "IsReconciled": bool(raw.get("IsReconciled")),
            "AccountID": account["AccountID"],
            "AccountCode": account["Code"],
            "UpdatedDateUTC": ctx.now_ms,
        }
        changed = _stamped(doc, ctx, Payments=[*(doc.get("Payments") or ()), payment])
        if amount_due(changed) == 0:
            changed["Status"] = "PAID"
        ctx.org.collection(kind).replace(changed)
        ledger.post_payment(ctx.org, changed, payment, account, ctx.now_ms)
        return {**payment, "_document": changed, "_kind": kind.name}

    return Built(errors, warnings, commit)


# --- credit note allocations (PUT /CreditNotes/{id}/Allocations) ----------------------------

def build_allocation(raw: dict, ctx: WriteContext, credit: dict) -> Built:
    """Apply part of an approved credit note to an outstanding invoice of the same contact."""
    errors, warnings = _Errors(), _Errors()
    invoice = _target(ctx, raw.get("Invoice"), INVOICES, "InvoiceNumber", errors)
    if invoice is None:
        if not errors:
            errors.add("An allocation must name the Invoice it applies to.")
        return Built(errors, warnings)
    amount = _number(raw, "Amount", errors, "the allocation")
    day = _date(raw, "Date", errors, default=max(credit["Date"], invoice["Date"]))
    if credit["Status"] != "AUTHORISED":
        errors.add(f"Credit note is {credit['Status']}; only an AUTHORISED credit note can be "
                   "allocated.")
    if invoice["Type"] != credit["Type"].removesuffix("CREDIT"):
        errors.add("Credit Note cannot be allocated to an incorrect invoice type")
    if invoice["Status"] == "PAID" or (invoice["Status"] == "AUTHORISED"
                                       and amount_due(invoice) <= 0):
        errors.add("The invoice you are trying to allocate to has already been paid off")
    elif invoice["Status"] != "AUTHORISED":
        errors.add(f"The invoice is {invoice['Status']}; only an AUTHORISED invoice takes a "
                   "credit.")
    if invoice["Contact"]["ContactID"] != credit["Contact"]["ContactID"]:
        errors.add("The credit note and the invoice must be for the same contact.")
    if invoice["CurrencyCode"] != credit["CurrencyCode"]:
        errors.add("The credit note and the invoice must be in the same currency.")
    if amount is None:
        errors.add("Amount must be specified.")
    else:
        amount = money(amount)
        if amount <= 0:
            errors.add("The allocation amount must be greater than zero.")
        elif amount > amount_due(credit) or amount > amount_due(invoice):
            errors.add("Credit Note cannot be allocated as amount is greater than amount "
                       "outstanding")
    if day is not None and day < max(credit["Date"], invoice["Date"]):
        errors.add("The allocation date cannot be before the credit note or invoice date.")
    _check_lock_dates(ctx.org, day, errors)
    if errors:
        return Built(errors, warnings)

    def commit() -> dict:
        allocation_id = str(uuid.uuid4())
        current_credit = ctx.org.credit_notes.get(credit["CreditNoteID"]) or credit
        new_credit = _stamped(current_credit, ctx, Allocations=[
            *(current_credit.get("Allocations") or ()),
            {"AllocationID": allocation_id, "InvoiceID": invoice["InvoiceID"],
             "InvoiceNumber": invoice["InvoiceNumber"], "Amount": amount, "Date": day}])
        new_invoice = _stamped(invoice, ctx, CreditNotes=[
            *(invoice.get("CreditNotes") or ()),
            {"AllocationID": allocation_id, "CreditNoteID": credit["CreditNoteID"],
             "CreditNoteNumber": credit["CreditNoteNumber"], "Amount": amount, "Date": day}])
        for doc in (new_credit, new_invoice):
            if amount_due(doc) == 0:
                doc["Status"] = "PAID"
        ctx.org.credit_notes.replace(new_credit)
        ctx.org.invoices.replace(new_invoice)
        return {"AllocationID": allocation_id, "Amount": amount, "Date": day,
                "_invoice": new_invoice, "_credit_note": new_credit}

    return Built(errors, warnings, commit)


BUILDERS: dict[str, Builder] = {
    INVOICES.name: build_invoice,
    CREDIT_NOTES.name: build_credit_note,
    MANUAL_JOURNALS.name: build_manual_journal,
    CONTACTS.name: build_contact,
}
