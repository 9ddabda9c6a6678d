"""The two demo organisations the sandbox starts with (and returns to on reset)."""

from __future__ import annotations

import calendar
import uuid
from datetime import date
from decimal import Decimal

from .. import winery_chart as chart
from .state import Org

AU_TENANT_ID = "6c3f6f8c-1b38-4d1e-9a3e-2f3f0c2b9a01"
NZ_TENANT_ID = "6c3f6f8c-1b38-4d1e-9a3e-2f3f0c2b9a02"

# Stable ids (uuid5) so accounts, tracking and seed contacts keep their ids across resets and
# restarts, as they would in a real organisation.
_NAMESPACE = uuid.UUID("9b7c1c52-3f0e-4d5a-8f57-4f5b8f0f1a10")

_CLASS_BY_TYPE = {
    "BANK": "ASSET", "CURRENT": "ASSET", "INVENTORY": "ASSET", "FIXED": "ASSET",
    "NONCURRENT": "ASSET", "PREPAYMENT": "ASSET", "CURRLIAB": "LIABILITY",
    "LIABILITY": "LIABILITY", "TERMLIAB": "LIABILITY", "EQUITY": "EQUITY",
    "REVENUE": "REVENUE", "SALES": "REVENUE", "OTHERINCOME": "REVENUE",
    "DIRECTCOSTS": "EXPENSE", "EXPENSE": "EXPENSE", "OVERHEADS": "EXPENSE",
    "DEPRECIATN": "EXPENSE",
}

SEED_CONTACTS = (
    {"Name": "Cellar Door Sales", "IsCustomer": True},
    {"Name": "Vintage Cellars Distribution Pty Ltd", "IsCustomer": True,
     "EmailAddress": "orders@vintagecellars.example"},
    {"Name": "Thames Wine Imports Ltd", "IsCustomer": True,
     "EmailAddress": "buying@thames.example"},
    {"Name": "Barossa Growers Co-operative", "IsSupplier": True},
    {"Name": "Adelaide Glass & Closures", "IsSupplier": True},
    {"Name": "Tonnellerie du Sud", "IsSupplier": True},
    {"Name": "Fermentis Supplies Australia", "IsSupplier": True},
)


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def period_lock_for(today: date) -> date:
    """The last day of the month 13 months before `today`: set, yet outside the demo's year."""
    month_index = today.year * 12 + (today.month - 1) - 13
    year, month = divmod(month_index, 12)
    month += 1
    return date(year, month, calendar.monthrange(year, month)[1])


def _accounts(tenant_id: str, country: str, now_ms: int) -> dict[str, dict]:
    defaults = chart.DEFAULT_TAX_TYPES[country]
    accounts = {}
    for spec in chart.ACCOUNTS:
        account = {
            "AccountID": stable_id(tenant_id, "account", spec["Code"]),
            "Code": spec["Code"],
            "Name": spec["Name"],
            "Status": spec.get("Status", "ACTIVE"),
            "Type": spec["Type"],
            "TaxType": defaults[spec.get("TaxUse", "none")],
            "Class": _CLASS_BY_TYPE.get(spec["Type"], "ASSET"),
            "EnablePaymentsToAccount": False,
            "ShowInExpenseClaims": False,
            "BankAccountType": "",
            "ReportingCode": "",
            "ReportingCodeName": "",
            "HasAttachments": False,
            "AddToWatchlist": False,
            "UpdatedDateUTC": now_ms,
        }
        if spec.get("SystemAccount"):
            account["SystemAccount"] = spec["SystemAccount"]
        if spec["Type"] == "BANK":
            account.update(BankAccountNumber="062000 1234 5678", BankAccountType="BANK",
                           CurrencyCode="AUD" if country == "AU" else "NZD",
                           EnablePaymentsToAccount=True)
        accounts[spec["Code"]] = account
    return accounts


def _tax_rates(country: str) -> dict[str, dict]:
    rows = chart.TAX_RATES_AU if country == "AU" else chart.TAX_RATES_NZ
    rates = {}
    for tax_type, name, rate, report_type in rows:
        value = Decimal(rate)
        rates[tax_type] = {
            "Name": name,
            "TaxType": tax_type,
            "ReportTaxType": report_type,
            "CanApplyToAssets": True,
            "CanApplyToEquity": True,
            "CanApplyToExpenses": True,
            "CanApplyToLiabilities": True,
            "CanApplyToRevenue": True,
            "DisplayTaxRate": value,
            "EffectiveRate": value,
            "Status": "ACTIVE",
            "TaxComponents": [{"Name": "GST", "Rate": value, "IsCompound": False,
                               "IsNonRecoverable": False}],
        }
    return rates


def _tracking(tenant_id: str) -> list[dict]:
    categories = []
    for name, options in chart.TRACKING_CATEGORIES:
        category_id = stable_id(tenant_id, "tracking", name)
        categories.append({
            "TrackingCategoryID": category_id,
            "Name": name,
            "Status": "ACTIVE",
            "Options": [
                {"TrackingOptionID": stable_id(tenant_id, "tracking", name, option),
                 "Name": option, "Status": "ACTIVE", "HasValidationErrors": False,
                 "IsDeleted": False, "IsArchived": False, "IsActive": True}
                for option in options
            ],
        })
    return categories


def _seed_contacts(org: Org, now_ms: int) -> None:
    for spec in SEED_CONTACTS:
        org.contacts.add(new_contact(org, spec, now_ms,
                                     contact_id=stable_id(org.tenant_id, "contact", spec["Name"])))


def new_contact(org: Org, spec: dict, now_ms: int, contact_id: str) -> dict:
    contact = {
        "ContactID": contact_id,
        "ContactStatus": "ACTIVE",
        "Name": spec["Name"],
        "FirstName": spec.get("FirstName", ""),
        "LastName": spec.get("LastName", ""),
        "EmailAddress": spec.get("EmailAddress", ""),
        "ContactNumber": spec.get("ContactNumber", ""),
        "AccountNumber": spec.get("AccountNumber", ""),
        "TaxNumber": spec.get("TaxNumber", ""),
        "IsSupplier": bool(spec.get("IsSupplier", False)),
        "IsCustomer": bool(spec.get("IsCustomer", False)),
        "DefaultCurrency": spec.get("DefaultCurrency", org.base_currency),
        "Addresses": spec.get("Addresses", []),
        "Phones": spec.get("Phones", []),
        "UpdatedDateUTC": now_ms,
    }
    return contact


def seed_organisations(today: date, now_ms: int) -> dict[str, Org]:
    au = Org(
        tenant_id=AU_TENANT_ID,
        name="Barossa Ridge Wines Pty Ltd",
        legal_name="Barossa Ridge Wines Pty Ltd",
        country="AU",
        base_currency="AUD",
        currencies=("AUD", "NZD", "USD", "GBP", "EUR"),
        timezone="CENAUSTRALIASTANDARDTIME",
        short_code="!bRw01",
        financial_year_end=(30, 6),
        created_ms=now_ms,
        period_lock_date=period_lock_for(today).isoformat(),
        accounts=_accounts(AU_TENANT_ID, "AU", now_ms),
        tax_rates=_tax_rates("AU"),
        tracking=_tracking(AU_TENANT_ID),
    )
    nz = Org(
        tenant_id=NZ_TENANT_ID,
        name="Barossa Ridge Wines (NZ Demo)",
        legal_name="Barossa Ridge Wines NZ Limited",
        country="NZ",
        base_currency="NZD",
        currencies=("NZD", "AUD", "USD"),
        timezone="NEWZEALANDSTANDARDTIME",
        short_code="!bRw02",
        financial_year_end=(31, 3),
        created_ms=now_ms,
        accounts=_accounts(NZ_TENANT_ID, "NZ", now_ms),
        tax_rates=_tax_rates("NZ"),
        tracking=_tracking(NZ_TENANT_ID),
    )
    for org in (au, nz):
        _seed_contacts(org, now_ms)
    return {au.tenant_id: au, nz.tenant_id: nz}
