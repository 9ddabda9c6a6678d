"""Organisations and their documents, with the indexes that keep look-ups O(1).

Documents are stored as plain dicts close to Xero's own shape (money as `Decimal`, dates as
`YYYY-MM-DD` strings, timestamps as epoch milliseconds), so rendering, filtering and saving
to a state file need no mapping layer. All access happens under the sandbox's lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import where as w

ACCREC, ACCPAY = "ACCREC", "ACCPAY"


class Collection:
    """Documents of one kind in one organisation, in creation order, with value indexes."""

    def __init__(self, index_fields: Iterable[str], id_field: str):
        self.id_field = id_field
        self.docs: dict[str, dict] = {}
        self._position: dict[str, int] = {}
        self._getters = {name.lower(): w.path_getter(name) for name in index_fields}
        # value -> one id, or a list of ids once a value repeats (most values never do, and a
        # one-element list per value and index costs real memory at 100k documents)
        self._indexes: dict[str, dict[Any, str | list[str]]] = {n: {} for n in self._getters}
        self._by_type: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self.docs)

    def add(self, doc: dict) -> None:
        doc_id = doc[self.id_field]
        self.docs[doc_id] = doc
        self._position[doc_id] = len(self._position)
        for name, get in self._getters.items():
            value = _index_key(get(doc))
            if value is None:
                continue
            index = self._indexes[name]
            held = index.get(value)
            if held is None:
                index[value] = doc_id
            elif isinstance(held, list):
                held.append(doc_id)
            else:
                index[value] = [held, doc_id]
        self._by_type.setdefault(doc.get("Type", ""), []).append(doc_id)

    def replace(self, doc: dict) -> None:
        """Store a changed version of a document: same id, same place, indexes brought up to
        date (numbers, references and contacts can change on an update)."""
        doc_id = doc[self.id_field]
        old = self.docs[doc_id]
        for name, get in self._getters.items():
            before, after = _index_key(get(old)), _index_key(get(doc))
            if before == after:
                continue
            index = self._indexes[name]
            if before is not None:
                held = index.get(before)
                if held == doc_id:
                    del index[before]
                elif isinstance(held, list):
                    held.remove(doc_id)
                    if len(held) == 1:
                        index[before] = held[0]
            if after is not None:
                held = index.get(after)
                if held is None:
                    index[after] = doc_id
                elif isinstance(held, list):
                    held.append(doc_id)
                else:
                    index[after] = [held, doc_id]
        self.docs[doc_id] = doc

    def position(self, doc: dict) -> int:
        return self._position[doc[self.id_field]]

    def get(self, doc_id: str) -> dict | None:
        return self.docs.get(doc_id.lower()) or self.docs.get(doc_id)

    def find(self, field_name: str, value: Any) -> list[dict]:
        held = self._indexes[field_name.lower()].get(_index_key(value))
        if held is None:
            return []
        if isinstance(held, str):
            return [self.docs[held]]
        return [self.docs[doc_id] for doc_id in held]

    def indexed(self) -> tuple[str, ...]:
        return tuple(self._indexes)

    def count_type(self, doc_type: str) -> int:
        return len(self._by_type.get(doc_type, ()))

    def of_type(self, doc_type: str | None, newest_first: bool = False) -> Iterator[dict]:
        if doc_type is None:
            values = reversed(self.docs.values()) if newest_first else iter(self.docs.values())
            return values
        ids = self._by_type.get(doc_type, [])
        ordered = reversed(ids) if newest_first else iter(ids)
        return (self.docs[doc_id] for doc_id in ordered)

    def page_of_type(self, doc_type: str | None, start: int, stop: int,
                     newest_first: bool = True) -> list[dict]:
        return list(itertools.islice(self.of_type(doc_type, newest_first), start, stop))


def _index_key(value: Any) -> Any:
    if value is None or value == "":
        return None
    # Guids compare case-insensitively in Xero; other strings exactly.
    return value.lower() if isinstance(value, str) and _looks_like_guid(value) else value


def _looks_like_guid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4


@dataclass(frozen=True)
class Kind:
    """One document family of the Accounting API and how the sandbox indexes it."""

    name: str  # collection path and envelope key, e.g. "Invoices"
    singular: str  # spec schema of one element, e.g. "Invoice"
    id_field: str
    attr: str  # attribute on Org
    index_fields: tuple[str, ...]
    where_fields: dict[str, w.Field]
    max_page_size: int = 1000
    ui_name: str = ""


INVOICE_WHERE = w.fields(
    Type=w.STRING, Status=w.STRING, InvoiceNumber=w.STRING, Reference=w.STRING,
    InvoiceID=w.GUID, Contact__ContactID=w.GUID, Contact__Name=w.STRING, Url=w.STRING,
    CurrencyCode=w.STRING, LineAmountTypes=w.STRING, Date=w.DATE, DueDate=w.DATE,
    SubTotal=w.NUMBER, TotalTax=w.NUMBER, Total=w.NUMBER, AmountDue=w.NUMBER,
    UpdatedDateUTC=w.DATETIME_MS,
)
CREDIT_NOTE_WHERE = w.fields(
    Type=w.STRING, Status=w.STRING, CreditNoteNumber=w.STRING, Reference=w.STRING,
    CreditNoteID=w.GUID, Contact__ContactID=w.GUID, Contact__Name=w.STRING, Url=w.STRING,
    CurrencyCode=w.STRING, LineAmountTypes=w.STRING, Date=w.DATE, SubTotal=w.NUMBER,
    TotalTax=w.NUMBER, Total=w.NUMBER, UpdatedDateUTC=w.DATETIME_MS,
)
JOURNAL_WHERE = w.fields(
    Narration=w.STRING, Status=w.STRING, ManualJournalID=w.GUID, Url=w.STRING,
    LineAmountTypes=w.STRING, Date=w.DATE, ShowOnCashBasisReports=w.BOOL,
    UpdatedDateUTC=w.DATETIME_MS,
)
CONTACT_WHERE = w.fields(
    Name=w.STRING, ContactID=w.GUID, ContactStatus=w.STRING, ContactNumber=w.STRING,
    AccountNumber=w.STRING, EmailAddress=w.STRING, FirstName=w.STRING, LastName=w.STRING,
    IsCustomer=w.BOOL, IsSupplier=w.BOOL, UpdatedDateUTC=w.DATETIME_MS,
)
ACCOUNT_WHERE = w.fields(
    Code=w.STRING, Name=w.STRING, Type=w.STRING, Status=w.STRING, Class=w.STRING,
    TaxType=w.STRING, SystemAccount=w.STRING, AccountID=w.GUID, ReportingCode=w.STRING,
    EnablePaymentsToAccount=w.BOOL, ShowInExpenseClaims=w.BOOL,
)
TAX_RATE_WHERE = w.fields(
    TaxType=w.STRING, Name=w.STRING, Status=w.STRING, ReportTaxType=w.STRING,
    EffectiveRate=w.NUMBER, DisplayTaxRate=w.NUMBER,
)
TRACKING_WHERE = w.fields(Name=w.STRING, Status=w.STRING, TrackingCategoryID=w.GUID)

INVOICES = Kind("Invoices", "Invoice", "InvoiceID", "invoices",
                ("InvoiceNumber", "Reference", "Url", "Contact.ContactID"), INVOICE_WHERE,
                ui_name="invoices")
CREDIT_NOTES = Kind("CreditNotes", "CreditNote", "CreditNoteID", "credit_notes",
                    ("CreditNoteNumber", "Reference", "Url", "Contact.ContactID"),
                    CREDIT_NOTE_WHERE, ui_name="credit-notes")
MANUAL_JOURNALS = Kind("ManualJournals", "ManualJournal", "ManualJournalID", "journals",
                       ("Narration", "Url"), JOURNAL_WHERE, ui_name="manual-journals")
CONTACTS = Kind("Contacts", "Contact", "ContactID", "contacts",
                ("Name", "ContactNumber", "EmailAddress"), CONTACT_WHERE, ui_name="contacts")

KINDS: dict[str, Kind] = {k.name.lower(): k for k in (INVOICES, CREDIT_NOTES, MANUAL_JOURNALS,
                                                        CONTACTS)}
UI_KINDS: dict[str, Kind] = {k.ui_name: k for k in KINDS.values()}


@dataclass
class Org:
    tenant_id: str
    name: str
    legal_name: str
    country: str
    base_currency: str
    currencies: tuple[str, ...]
    timezone: str
    short_code: str
    financial_year_end: tuple[int, int]  # (day, month)
    created_ms: int
    period_lock_date: str | None = None
    end_of_year_lock_date: str | None = None
    accounts: dict[str, dict] = field(default_factory=dict)  # by Code
    tax_rates: dict[str, dict] = field(default_factory=dict)  # by TaxType
    tracking: list[dict] = field(default_factory=list)
    invoices: Collection = field(default_factory=lambda: new_collection(INVOICES))
    credit_notes: Collection = field(default_factory=lambda: new_collection(CREDIT_NOTES))
    journals: Collection = field(default_factory=lambda: new_collection(MANUAL_JOURNALS))
    contacts: Collection = field(default_factory=lambda: new_collection(CONTACTS))
    next_number: dict[str, int] = field(default_factory=lambda: {"INV": 1, "CN": 1})
    # The general ledger (GET /Journals), in JournalNumber order; see ledger.py.
    ledger: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reindex_settings()
        self.reindex_ledger()

    def reindex_ledger(self) -> None:
        # (SourceType, SourceID) -> index of the last journal it posted, to reverse it
        self.last_journal: dict[tuple[str, str], int] = {
            (j["SourceType"], j["SourceID"]): i for i, j in enumerate(self.ledger)}

    def shared(self, key: tuple, build: Any) -> dict:
        """One dict per distinct tracking pair or contact reference, shared by every line
        that uses it: stored documents are never mutated, and 100k documents add up."""
        found = self._shared.get(key)
        if found is None:
            found = self._shared[key] = build()
        return found

    def reindex_settings(self) -> None:
        self._shared: dict[tuple, dict] = {}
        self.accounts_by_id = {a["AccountID"]: a for a in self.accounts.values()}
        self.tracking_by_name = {c["Name"].lower(): c for c in self.tracking}
        self.tracking_by_id = {c["TrackingCategoryID"]: c for c in self.tracking}

    def collection(self, kind: Kind) -> Collection:
        return getattr(self, kind.attr)

    def contact_by_name(self, name: str) -> dict | None:
        for contact in self.contacts.find("Name", name):
            if contact.get("ContactStatus", "ACTIVE") == "ACTIVE":
                return contact
        return None

    def tax_rate_for_account(self, account: dict) -> str | None:
        return account.get("TaxType")

    def no_tax_type(self) -> str:
        return "BASEXCLUDED" if self.country == "AU" else "NONE"


def new_collection(kind: Kind) -> Collection:
    return Collection((kind.id_field, *kind.index_fields), kind.id_field)


# --- saving and loading (STATE_FILE) --------------------------------------------------------

_SCALARS = ("tenant_id", "name", "legal_name", "country", "base_currency", "timezone",
            "short_code", "created_ms", "period_lock_date", "end_of_year_lock_date")


def org_to_dict(org: Org) -> dict:
    data = {key: getattr(org, key) for key in _SCALARS}
    data.update(
        currencies=list(org.currencies),
        financial_year_end=list(org.financial_year_end),
        accounts=list(org.accounts.values()),
        tax_rates=list(org.tax_rates.values()),
        tracking=org.tracking,
        next_number=org.next_number,
        contacts=list(org.contacts.docs.values()),
        invoices=list(org.invoices.docs.values()),
        credit_notes=list(org.credit_notes.docs.values()),
        journals=list(org.journals.docs.values()),
        ledger=org.ledger,
    )
    return data


def org_from_dict(data: dict) -> Org:
    org = Org(
        **{key: data.get(key) for key in _SCALARS},
        currencies=tuple(data["currencies"]),
        financial_year_end=tuple(data["financial_year_end"]),
        accounts={a["Code"]: a for a in data["accounts"]},
        tax_rates={t["TaxType"]: t for t in data["tax_rates"]},
        tracking=data["tracking"],
        next_number=data["next_number"],
        ledger=data.get("ledger", []),
    )
    for attr in ("contacts", "invoices", "credit_notes", "journals"):
        collection = getattr(org, attr)
        for doc in data.get(attr, []):
            collection.add(doc)
    return org
