"""`AccountingGateway` on Xero: batches out, one result per element back, look-ups before resends."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ...application.ports import (
    Account,
    Allocation,
    ChangedPage,
    ChartOfAccounts,
    Connection,
    DocumentUpdate,
    Organisation,
    PushResult,
    StatusChange,
    TaxRate,
    TrackingCategory,
    TrialBalanceRow,
    XeroJournal,
    XeroObjectState,
)
from ...domain.documents import Kind, TradeDocument
from ...domain.errors import GatewayUnavailable
from ...domain.journals import AccountJournal, reference_marker
from ...domain.sync import JournalMode, SyncRecord
from ..erp_sql.plugin_tables import ContactRow, utcnow
from . import answers, payloads
from .client import XeroHttpClient, XeroRejected, XeroResponse
from .config import XeroSettings
from .oauth import XeroConnector
from .payloads import PayloadProblem

log = logging.getLogger(__name__)

GONE_STATUSES = frozenset({"VOIDED", "DELETED"})
WHERE_BUDGET = 6000  # characters of `where` per look-up call, well under URL limits
PAGE_SIZE = 100  # Xero's page size for invoices, credit notes, journals and contacts
MAX_PAGES = 50
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
XERO_REFUSED = "Xero refused the contact"  # a contact error from Xero, not from our own checks


@dataclass(frozen=True)
class _Endpoint:
    path: str
    plural: str
    id_field: str
    number_field: str | None
    params: tuple[tuple[str, str], ...]


INVOICES = _Endpoint("Invoices", "Invoices", "InvoiceID", "InvoiceNumber",
                     (("summarizeErrors", "false"), ("unitdp", "4")))
CREDIT_NOTES = _Endpoint("CreditNotes", "CreditNotes", "CreditNoteID", "CreditNoteNumber",
                         (("summarizeErrors", "false"), ("unitdp", "4")))
MANUAL_JOURNALS = _Endpoint("ManualJournals", "ManualJournals", "ManualJournalID", None,
                            (("summarizeErrors", "false"),))
CONTACTS = _Endpoint("Contacts", "Contacts", "ContactID", None, (("summarizeErrors", "false"),))


@dataclass
class _Outgoing:
    position: int  # in the caller's list
    erp_id: str
    body: dict[str, Any]
    match: str  # what identifies the element in Xero's answer (number or narration marker)
    xero_id: str = ""  # the object an update changes (identifies it in the answer too)


@dataclass
class _CachedChart:
    chart: ChartOfAccounts
    at: float


class XeroGateway:
    def __init__(
        self,
        client: XeroHttpClient,
        connector: XeroConnector,
        session_factory: sessionmaker[Session],
        settings: XeroSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.connector = connector
        self.settings = settings
        self._sessions = session_factory
        self._clock = clock
        self._charts: dict[str, _CachedChart] = {}
        self._currencies: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reads

    def connection(self) -> Connection | None:
        return self.connector.connection()

    def web_url(self, kind: Kind, xero_id: str) -> str:
        template = {
            Kind.SALES_ORDERS: self.settings.invoice_web_url,
            Kind.PURCHASE_ORDERS: self.settings.bill_web_url,
            Kind.REFUNDS: self.settings.credit_note_web_url,
            Kind.JOURNALS: self.settings.journal_web_url,
        }[kind]
        return template.format(id=quote(xero_id, safe=""))

    def chart(self) -> ChartOfAccounts:
        tenant = self.connector.active_tenant_id()
        with self._lock:
            cached = self._charts.get(tenant)
        if cached is not None and self._clock() - cached.at < self.settings.chart_cache_seconds:
            return cached.chart
        chart = self._read_chart(tenant)
        with self._lock:
            self._charts[tenant] = _CachedChart(chart, self._clock())
        return chart

    def tracking_categories(self) -> tuple[TrackingCategory, ...]:
        """Read with the chart: the checks before a sync look at every line's tracking option."""
        return self.chart().tracking

    def _tracking(self, tenant: str) -> tuple[TrackingCategory, ...]:
        return tuple(
            TrackingCategory(
                name=str(c.get("Name") or ""),
                options=tuple(
                    str(o.get("Name") or "") for o in c.get("Options") or ()
                    if isinstance(o, dict) and (o.get("Status") or "ACTIVE") == "ACTIVE"
                ),
                status=str(c.get("Status") or "ACTIVE"),
            )
            for c in self._items(self._get(tenant, "TrackingCategories"), "TrackingCategories")
        )

    def forget_chart(self) -> None:
        """Drop the cached chart (someone may have changed Xero: the next read asks it again)."""
        with self._lock:
            self._charts.clear()
            self._currencies.clear()

    def currencies(self) -> frozenset[str]:
        """The organisation's enabled currencies (GET /Currencies), kept with the chart; empty
        when Xero will not say, and then only Xero decides."""
        tenant = self.connector.active_tenant_id()
        with self._lock:
            cached = self._currencies.get(tenant)
        if cached is not None:
            return cached
        try:
            codes = frozenset(str(c.get("Code") or "").upper()
                              for c in self._items(self._get(tenant, "Currencies"), "Currencies"))
        except XeroRejected as exc:
            log.warning("Xero's currencies could not be read: %s", exc.message)
            codes = frozenset()
        with self._lock:
            self._currencies[tenant] = codes
        return codes

    def observe(self, listener: Callable[[str], None]) -> Any:
        return self.client.observe(listener)

    def _read_chart(self, tenant: str) -> ChartOfAccounts:
        organisations = self._items(self._get(tenant, "Organisation"), "Organisations")
        if not organisations:
            raise GatewayUnavailable("Xero did not describe the organisation; retry in a moment.")
        org = organisations[0]
        organisation = Organisation(
            tenant_id=tenant,
            name=str(org.get("Name") or ""),
            base_currency=str(org.get("BaseCurrency") or ""),
            period_lock_date=payloads.parse_xero_date(org.get("PeriodLockDate")),
            end_of_year_lock_date=payloads.parse_xero_date(org.get("EndOfYearLockDate")),
        )
        self.connector.update_organisation(tenant, organisation.name, organisation.base_currency)
        accounts = tuple(
            Account(
                code=str(a.get("Code") or ""),
                name=str(a.get("Name") or ""),
                type=str(a.get("Type") or ""),
                status=str(a.get("Status") or "ACTIVE"),
                system_account=str(a.get("SystemAccount") or ""),
                account_id=str(a.get("AccountID") or ""),
            )
            for a in self._items(self._get(tenant, "Accounts"), "Accounts")
        )
        tax_rates = tuple(
            TaxRate(
                tax_type=str(t.get("TaxType") or ""),
                name=str(t.get("Name") or ""),
                rate=_decimal(t.get("EffectiveRate", t.get("DisplayTaxRate"))),
                status=str(t.get("Status") or "ACTIVE"),
            )
            for t in self._items(self._get(tenant, "TaxRates"), "TaxRates")
        )
        return ChartOfAccounts(organisation, accounts, tax_rates, self._tracking(tenant),
                               read_at=datetime.now(UTC))

    # ------------------------------------------------------------------ pushes

    def push_invoices(self, documents: Sequence[TradeDocument], idempotency_key: str) -> list[PushResult]:
        """Invoices and bills (each document's `xero_type` says which; a credit-note type is
        refused for that document, nothing sent)."""
        status = self.settings.invoice_status

        def build(position: int, doc: TradeDocument, contact_id: str | None) -> dict[str, Any]:
            return payloads.invoice_payload(doc, status, contact_id)

        return self._push_documents(documents, idempotency_key, INVOICES, build)

    def push_credit_notes(self, documents: Sequence[TradeDocument], idempotency_key: str) -> list[PushResult]:
        """Credit notes of customers or suppliers, by each document's `xero_type`."""
        status = self.settings.credit_note_status

        def build(position: int, doc: TradeDocument, contact_id: str | None) -> dict[str, Any]:
            return payloads.credit_note_payload(doc, status, contact_id)

        return self._push_documents(documents, idempotency_key, CREDIT_NOTES, build)

    def push_manual_journals(
        self, journals: Sequence[AccountJournal], mode: JournalMode, idempotency_key: str
    ) -> list[PushResult]:
        tenant = self.connector.active_tenant_id()
        results: dict[int, PushResult] = {}
        outgoing: list[_Outgoing] = []
        for position, journal in enumerate(journals):
            try:
                body = payloads.manual_journal_payload(journal, mode, self.settings.journal_tax_type)
            except PayloadProblem as exc:
                results[position] = PushResult(journal.key, errors=(str(exc),), refused_locally=True)
                continue
            outgoing.append(_Outgoing(position, journal.key, body, reference_marker(journal.key)))
        results.update(self._send(tenant, MANUAL_JOURNALS, outgoing, idempotency_key))
        return [results[i] for i in range(len(journals))]

    def _push_documents(
        self,
        documents: Sequence[TradeDocument],
        idempotency_key: str,
        endpoint: _Endpoint,
        build: Callable[[int, TradeDocument, str | None], dict[str, Any]],
        method: str = "PUT",
        xero_ids: Sequence[str] = (),
    ) -> list[PushResult]:
        tenant = self.connector.active_tenant_id()
        results: dict[int, PushResult] = {}
        contacts, contact_errors = self._resolve_contacts(tenant, documents, idempotency_key)
        outgoing: list[_Outgoing] = []
        for position, doc in enumerate(documents):
            ref = payloads.contact_ref(doc)
            if ref in contact_errors:
                message = contact_errors[ref]
                results[position] = PushResult(doc.erp_id, errors=(message,),
                                               refused_locally=not message.startswith(XERO_REFUSED))
                continue
            try:
                body = build(position, doc, contacts.get(ref))
            except PayloadProblem as exc:
                results[position] = PushResult(doc.erp_id, errors=(str(exc),), refused_locally=True)
                continue
            outgoing.append(_Outgoing(position, doc.erp_id, body, doc.number.strip(),
                                      xero_ids[position] if xero_ids else ""))
        results.update(self._send(tenant, endpoint, outgoing, idempotency_key, method))
        return [results[i] for i in range(len(documents))]

    def _send(
        self, tenant: str, endpoint: _Endpoint, outgoing: list[_Outgoing], idempotency_key: str,
        method: str = "PUT",
    ) -> dict[int, PushResult]:
        results: dict[int, PushResult] = {}
        if not outgoing:
            return results
        plan = payloads.plan_requests(
            endpoint.plural, [o.body for o in outgoing], self.settings.max_elements,
            self.settings.max_request_bytes,
        )
        for index in plan.too_large:
            out = outgoing[index]
            results[out.position] = PushResult(out.erp_id, errors=(
                f"This document is larger than the {self.settings.max_request_bytes / 1e6:.1f} MB "
                f"Xero accepts in one request; split it in the ERP.",
            ), refused_locally=True)
        for number, request in enumerate(plan.requests):
            key = idempotency_key if len(plan.requests) == 1 else f"{idempotency_key}-{number + 1}"
            sent = [outgoing[i] for i in request.positions]
            write = self.client.post if method == "POST" else self.client.put
            answer = write(tenant, endpoint.path, request.body, key, dict(endpoint.params))
            for out, result in zip(sent, self._element_results(endpoint, sent, answer), strict=True):
                results[out.position] = result
        return results

    def _element_results(
        self, endpoint: _Endpoint, sent: list[_Outgoing], answer: XeroResponse
    ) -> list[PushResult]:
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status in (400, 413):
            # The whole request was refused and nothing was created: every element fails with
            # Xero's reason (its own, when Xero gave one per element), so it shows and can be fixed.
            elements = body.get("Elements") or []
            message = f"Xero refused the request: {_message(body, answer.text)}"
            return [
                PushResult(out.erp_id, errors=tuple(_messages(el.get("ValidationErrors"))) or (message,))
                if isinstance(el, dict) else PushResult(out.erp_id, errors=(message,))
                for out, el in _aligned(sent, elements)
            ]
        if not answer.ok:
            raise XeroRejected(
                f"Xero refused the {endpoint.plural} request ({answer.status}: "
                f"{_message(body, answer.text)}); nothing was created."
            )
        elements = body.get(endpoint.plural)
        if not isinstance(elements, list):
            raise GatewayUnavailable(
                f"Xero's answer to the {endpoint.plural} request was unreadable; nothing is lost, and "
                f"the next sync looks the documents up before sending them again."
            )
        if len(elements) != len(sent):
            elements = self._match_elements(endpoint, sent, elements)
        return [self._result(endpoint, out, el) for out, el in zip(sent, elements, strict=True)]

    def _match_elements(self, endpoint: _Endpoint, sent: list[_Outgoing], elements: list[Any]) -> list[Any]:
        """Xero answered with a different count: pair elements by number (or narration marker)."""
        by_id = {out.xero_id.lower(): out.match for out in sent if out.xero_id}

        def key_of(element: Any) -> str:
            if not isinstance(element, dict):
                return ""
            answered_id = str(element.get(endpoint.id_field) or "").lower()
            if answered_id in by_id:
                return by_id[answered_id]
            if endpoint.number_field:
                return str(element.get(endpoint.number_field) or "").strip()
            narration = str(element.get("Narration") or "")
            return next((o.match for o in sent if o.match in narration), "")

        by_key: dict[str, Any] = {}
        for element in elements:
            by_key.setdefault(key_of(element), element)
        return [by_key.get(out.match) for out in sent]

    def _result(self, endpoint: _Endpoint, out: _Outgoing, element: Any) -> PushResult:
        if not isinstance(element, dict):
            return PushResult(out.erp_id, outcome_unknown=True,
                              errors=("Xero gave no answer for this document; it will be "
                                      "looked up before it is sent again.",))
        errors = tuple(_messages(element.get("ValidationErrors")))
        warnings = tuple(_messages(element.get("Warnings")))
        status = str(element.get("StatusAttributeString") or "").upper()
        xero_id = element.get(endpoint.id_field)
        if status == "ERROR" and not errors:
            errors = ("Xero refused this document without a reason.",)
        if errors or not xero_id or str(xero_id) == payloads.ZERO_ID:
            return PushResult(out.erp_id, errors=errors or ("Xero did not return an id for this document.",),
                              warnings=warnings)
        return PushResult(out.erp_id, xero_id=str(xero_id), warnings=warnings,
                          status=str(element.get("Status") or ""),
                          updated_at=payloads.parse_xero_datetime(element.get("UpdatedDateUTC")))

    # ------------------------------------------------------------------ contacts

    def prepare_contacts(self, documents: Sequence[TradeDocument]) -> None:
        """Resolve the contacts of a whole chunk of documents up front, so a run spends one or
        two calls on contacts instead of two per batch. Problems resurface per document when
        its batch is pushed."""
        if not documents:
            return
        tenant = self.connector.active_tenant_id()
        refs = sorted({payloads.contact_ref(doc) for doc in documents})
        key = "as-contacts-" + hashlib.sha256("|".join(refs).encode()).hexdigest()[:40]
        self._resolve_contacts(tenant, documents, key)

    def _resolve_contacts(
        self, tenant: str, documents: Sequence[TradeDocument], idempotency_key: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        """ERP contact → Xero ContactID: cached, else found by exact name, else created once.

        One look-up for all the missing names and one create per 50 new contacts; a run calls
        this once per chunk of documents (prepare_contacts), so contacts cost a run one or two
        calls, not two per batch. Returns (ids by contact ref, error message by contact ref).
        """
        wanted: dict[str, tuple[str, Any]] = {}
        errors: dict[str, str] = {}
        for doc in documents:
            ref = payloads.contact_ref(doc)
            if ref in wanted or ref in errors:
                continue
            try:
                wanted[ref] = (payloads.contact_name(doc.contact), doc.contact)
            except PayloadProblem as exc:
                errors[ref] = str(exc)
        if not wanted:
            return {}, errors
        found = self._cached_contacts(tenant, list(wanted))
        missing = {ref: value for ref, value in wanted.items() if ref not in found}
        if not missing:
            return found, errors

        existing = self._contacts_by_name(tenant, {name for name, _ in missing.values()})
        new_rows: dict[str, tuple[str, str]] = {}
        to_create: dict[str, list[str]] = {}  # folded name -> refs (one contact per name)
        for ref, (name, _contact) in missing.items():
            contact_id = existing.get(name.casefold())
            if contact_id:
                found[ref] = contact_id
                new_rows[ref] = (contact_id, name)
            else:
                to_create.setdefault(name.casefold(), []).append(ref)
        groups = list(to_create.values())
        for start in range(0, len(groups), self.settings.max_elements):
            chunk = groups[start:start + self.settings.max_elements]
            bodies = [payloads.contact_payload(missing[refs[0]][1]) for refs in chunk]
            body = payloads.encode_json(payloads.wrap("Contacts", bodies))
            answer = self.client.put(tenant, CONTACTS.path, body,
                                     f"{idempotency_key}-contacts-{start}", dict(CONTACTS.params))
            sent = [_Outgoing(i, refs[0], b, missing[refs[0]][0])
                    for i, (refs, b) in enumerate(zip(chunk, bodies, strict=True))]
            for refs, result in zip(chunk, self._element_results(CONTACTS, sent, answer),
                                    strict=True):
                name = missing[refs[0]][0]
                for ref in refs:
                    if result.xero_id and not result.errors:
                        found[ref] = result.xero_id
                        new_rows[ref] = (result.xero_id, name)
                    else:
                        reason = " ".join(result.errors) or "no reason given"
                        errors[ref] = f"{XERO_REFUSED} '{name}': {reason}"
        self._cache_contacts(tenant, new_rows)
        return found, errors

    def _contacts_by_name(self, tenant: str, names: set[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        terms = [f"Name=={_quote(name)}" for name in sorted(names)]
        for where in _or_chunks(terms):
            for contact in self._list(tenant, "Contacts", "Contacts", {"where": where}):
                name = str(contact.get("Name") or "")
                contact_id = contact.get("ContactID")
                if not contact_id:
                    continue
                # Prefer an active contact when an archived one has the same name.
                active = (contact.get("ContactStatus") or "ACTIVE") == "ACTIVE"
                if active or name.casefold() not in found:
                    found[name.casefold()] = str(contact_id)
        return found

    def _cached_contacts(self, tenant: str, refs: list[str]) -> dict[str, str]:
        with self._session() as session:
            rows = session.scalars(
                select(ContactRow).where(ContactRow.tenant_id == tenant, ContactRow.erp_contact_ref.in_(refs))
            ).all()
            return {row.erp_contact_ref: row.xero_contact_id for row in rows}

    def _cache_contacts(self, tenant: str, rows: dict[str, tuple[str, str]]) -> None:
        for ref, (contact_id, name) in rows.items():
            try:
                with self._session(raise_integrity=True) as session:
                    row = session.scalars(_contact_row(tenant, ref)).first()
                    if row is None:
                        session.add(ContactRow(tenant_id=tenant, erp_contact_ref=ref,
                                               xero_contact_id=contact_id, name=name[:200]))
                    else:
                        row.xero_contact_id, row.name, row.updated_at = contact_id, name[:200], utcnow()
            except IntegrityError:
                continue  # another worker cached it at the same moment: theirs is as good

    def forget_contact(self, tenant: str, erp_contact_ref: str) -> None:
        with self._session() as session:
            row = session.scalars(_contact_row(tenant, erp_contact_ref)).first()
            if row is not None:
                session.delete(row)

    # ------------------------------------------------------------------ look-ups before a resend

    def find_existing(self, kind: Kind, records: Sequence[SyncRecord]) -> dict[str, str]:
        """erp_id → Xero id of every record already in Xero (voided or deleted ones do not count)."""
        if not records:
            return {}
        tenant = self.connector.active_tenant_id()
        if kind is Kind.SALES_ORDERS:
            return self._find_by_number(tenant, records, INVOICES, "ACCREC")
        if kind is Kind.PURCHASE_ORDERS:
            return self._find_bills(tenant, records)
        if kind is Kind.REFUNDS:
            return self._find_by_where(tenant, records, CREDIT_NOTES, "CreditNoteNumber", "ACCRECCREDIT")
        if kind is Kind.JOURNALS:
            return self._find_journals(tenant, records)
        raise ValueError(f"unknown kind {kind}")

    def find_by_number(self, document_type: str, numbers: Sequence[str]) -> dict[str, str]:
        if not numbers:
            return {}
        tenant = self.connector.active_tenant_id()
        records = [SyncRecord(Kind.SALES_ORDERS, n, n, "") for n in dict.fromkeys(numbers)]
        if document_type in ("ACCREC", "ACCPAY"):
            return self._find_by_number(tenant, records, INVOICES, document_type)
        return self._find_by_where(tenant, records, CREDIT_NOTES, "CreditNoteNumber", document_type)

    def _find_by_number(
        self, tenant: str, records: Sequence[SyncRecord], endpoint: _Endpoint, doc_type: str
    ) -> dict[str, str]:
        by_number = _by_number(records)
        # Invoice numbers with commas cannot travel in the comma list: ask with `where`.
        plain = [n for n in by_number if "," not in n]
        odd = [n for n in by_number if "," in n]
        found: dict[str, str] = {}
        for start in range(0, len(plain), self.settings.max_elements):
            chunk = plain[start:start + self.settings.max_elements]
            elements = self._list(tenant, endpoint.path, endpoint.plural, {"InvoiceNumbers": ",".join(chunk)})
            found |= self._collect(elements, endpoint, "InvoiceNumber", doc_type, by_number)
        if odd:
            terms = [f"InvoiceNumber=={_quote(n)}" for n in odd]
            for where in _or_chunks(terms, prefix=f'Type=="{doc_type}" AND '):
                elements = self._list(tenant, endpoint.path, endpoint.plural, {"where": where})
                found |= self._collect(elements, endpoint, "InvoiceNumber", doc_type, by_number)
        return found

    def _find_bills(self, tenant: str, records: Sequence[SyncRecord]) -> dict[str, str]:
        by_number = _by_number(records)
        terms = [f"Reference=={_quote(n)}" for n in by_number]
        found: dict[str, str] = {}
        for where in _or_chunks(terms, prefix='Type=="ACCPAY" AND '):
            elements = self._list(tenant, INVOICES.path, INVOICES.plural, {"where": where})
            found |= self._collect(elements, INVOICES, "Reference", "ACCPAY", by_number)
        return found

    def _find_by_where(
        self, tenant: str, records: Sequence[SyncRecord], endpoint: _Endpoint, field: str, doc_type: str
    ) -> dict[str, str]:
        by_number = _by_number(records)
        terms = [f"{field}=={_quote(n)}" for n in by_number]
        found: dict[str, str] = {}
        for where in _or_chunks(terms):
            elements = self._list(tenant, endpoint.path, endpoint.plural, {"where": where})
            found |= self._collect(elements, endpoint, field, doc_type, by_number)
        return found

    @staticmethod
    def _collect(
        elements: list[dict[str, Any]], endpoint: _Endpoint, field: str, doc_type: str,
        by_number: dict[str, list[str]],
    ) -> dict[str, str]:
        found: dict[str, str] = {}
        for element in elements:
            if str(element.get("Type") or doc_type) != doc_type:
                continue
            if str(element.get("Status") or "").upper() in GONE_STATUSES:
                continue
            number = str(element.get(field) or "").strip()
            xero_id = element.get(endpoint.id_field)
            for erp_id in by_number.get(number, ()):
                if xero_id and erp_id not in found:
                    found[erp_id] = str(xero_id)
        return found

    def _find_journals(self, tenant: str, records: Sequence[SyncRecord]) -> dict[str, str]:
        markers = {reference_marker(r.erp_id): r.erp_id for r in records}
        terms = [f"Narration.Contains({_quote(m)})" for m in markers]
        found: dict[str, str] = {}
        for where in _or_chunks(terms):
            for journal in self._list(tenant, MANUAL_JOURNALS.path, MANUAL_JOURNALS.plural, {"where": where}):
                if str(journal.get("Status") or "").upper() in GONE_STATUSES:
                    continue
                narration = str(journal.get("Narration") or "")
                journal_id = journal.get("ManualJournalID")
                for marker, erp_id in markers.items():
                    if marker in narration and journal_id and erp_id not in found:
                        found[erp_id] = str(journal_id)
        return found

    # ------------------------------------------------------------------ Xero's side of the books
    # docs/xero-rules.md is what these calls rely on; refusals come back per element.

    def object_states(self, kind: Kind, xero_ids: Sequence[str]) -> dict[str, XeroObjectState]:
        """By id, 50 a call: `IDs=` on Invoices, `where=...ID==Guid(...)` on credit notes and
        journals (their lists have no IDs= in Xero's spec). A trade id not found where `kind`
        points is looked for in the other place, so an adjustment's credit note is found too."""
        wanted = {i.lower(): i for i in dict.fromkeys(xero_ids) if _GUID.match(i)}
        if not wanted:
            return {}
        tenant = self.connector.active_tenant_id()
        places = {
            Kind.SALES_ORDERS: (INVOICES, CREDIT_NOTES),
            Kind.PURCHASE_ORDERS: (INVOICES, CREDIT_NOTES),
            Kind.REFUNDS: (CREDIT_NOTES, INVOICES),
            Kind.JOURNALS: (MANUAL_JOURNALS,),
        }.get(kind, (INVOICES, CREDIT_NOTES, MANUAL_JOURNALS))  # corrections: any of them
        found: dict[str, XeroObjectState] = {}
        for endpoint in places:
            missing = [i for i in wanted if i not in found]
            for start in range(0, len(missing), self.settings.max_elements):
                chunk = missing[start:start + self.settings.max_elements]
                for state in self._states(tenant, endpoint, chunk):
                    if state.xero_id.lower() in wanted:
                        found[state.xero_id.lower()] = state
        return {wanted[i]: state for i, state in found.items()}

    def _states(self, tenant: str, endpoint: _Endpoint, ids: list[str]) -> list[XeroObjectState]:
        params: dict[str, str] = {"page": "1"}
        if endpoint is INVOICES:
            params |= {"IDs": ",".join(ids), "unitdp": "4"}
        else:
            params["where"] = " OR ".join(f'{endpoint.id_field}==Guid("{i}")' for i in ids)
            if endpoint is CREDIT_NOTES:
                params["unitdp"] = "4"
        answer = self._get(tenant, endpoint.path, params)
        return [self._state(endpoint, element) for element in self._items(answer, endpoint.plural)]

    def _state(self, endpoint: _Endpoint, element: dict[str, Any]) -> XeroObjectState:
        if endpoint is INVOICES:
            return answers.invoice_state(element, self._object_url)
        if endpoint is CREDIT_NOTES:
            return answers.credit_note_state(element, self._object_url)
        return answers.manual_journal_state(element, self._object_url)

    def _object_url(self, kind: Kind, document_type: str, xero_id: str) -> str:
        if document_type == "ACCPAY":
            return self.settings.bill_web_url.format(id=quote(xero_id, safe=""))
        return self.web_url(kind, xero_id)

    def changed_since(self, kind: Kind, since: datetime | None, page: int = 1) -> ChangedPage:
        """One page (100) of what changed since `since`, oldest change first. The moment goes
        out rounded down to the second, so a caller that keeps the last UpdatedDateUTC it saw
        may meet a few objects again: drop repeats by id and time."""
        endpoint = {Kind.SALES_ORDERS: INVOICES, Kind.PURCHASE_ORDERS: INVOICES,
                    Kind.REFUNDS: CREDIT_NOTES, Kind.JOURNALS: MANUAL_JOURNALS}.get(kind)
        if endpoint is None:  # corrections are found under the kind of the object they made
            return ChangedPage((), None)
        tenant = self.connector.active_tenant_id()
        params = {"page": str(max(page, 1)), "order": "UpdatedDateUTC ASC"}
        if kind is Kind.SALES_ORDERS:
            params["where"] = 'Type=="ACCREC"'
        elif kind is Kind.PURCHASE_ORDERS:
            params["where"] = 'Type=="ACCPAY"'
        if endpoint is not MANUAL_JOURNALS:
            params["unitdp"] = "4"
        headers = {"If-Modified-Since": payloads.http_timestamp(since)} if since else None
        answer = self._get(tenant, endpoint.path, params, headers)
        items = tuple(self._state(endpoint, e) for e in self._items(answer, endpoint.plural))
        paging = answer.body.get("pagination") if isinstance(answer.body, dict) else None
        if isinstance(paging, dict) and paging.get("pageCount") is not None:
            more = page < int(paging.get("pageCount") or 0)
        else:
            more = len(items) >= PAGE_SIZE
        return ChangedPage(items, page + 1 if more else None)

    def update_documents(
        self, updates: Sequence[DocumentUpdate], idempotency_key: str
    ) -> list[PushResult]:
        """POST /Invoices and /CreditNotes with each object's id, built by the same payload
        builder as the creation: every line is sent, so Xero holds exactly the document."""
        results: dict[int, PushResult] = {}
        groups = [
            (INVOICES, [(i, u) for i, u in enumerate(updates) if not u.document.is_credit_note]),
            (CREDIT_NOTES, [(i, u) for i, u in enumerate(updates) if u.document.is_credit_note]),
        ]
        groups = [(endpoint, group) for endpoint, group in groups if group]
        for endpoint, group in groups:
            key = idempotency_key if len(groups) == 1 else \
                f"{idempotency_key}-{endpoint.path.lower()}"
            chosen = [u for _, u in group]

            def build(position: int, doc: TradeDocument, contact_id: str | None,
                      chosen: list[DocumentUpdate] = chosen) -> dict[str, Any]:
                update = chosen[position]
                if not _GUID.match(update.xero_id):
                    raise PayloadProblem(f"'{update.xero_id}' is not a Xero id.")
                return payloads.document_payload(doc, update.status, contact_id, update.xero_id)

            answered = self._push_documents([u.document for u in chosen], key, endpoint, build,
                                            "POST", [u.xero_id for u in chosen])
            for (position, _), result in zip(group, answered, strict=True):
                results[position] = result
        return [results[i] for i in range(len(updates))]

    def update_manual_journals(
        self, updates: Sequence[tuple[str, AccountJournal]], mode: JournalMode,
        idempotency_key: str,
    ) -> list[PushResult]:
        """POST /ManualJournals with each journal's id: a draft is rewritten (Xero keeps posted
        journals as they are; see docs/xero-rules.md)."""
        tenant = self.connector.active_tenant_id()
        results: dict[int, PushResult] = {}
        outgoing: list[_Outgoing] = []
        for position, (xero_id, journal) in enumerate(updates):
            try:
                if not _GUID.match(xero_id):
                    raise PayloadProblem(f"'{xero_id}' is not a Xero id.")
                body = payloads.manual_journal_payload(journal, mode, self.settings.journal_tax_type,
                                                       xero_id)
            except PayloadProblem as exc:
                results[position] = PushResult(journal.key, errors=(str(exc),))
                continue
            outgoing.append(_Outgoing(position, journal.key, body, reference_marker(journal.key),
                                      xero_id))
        results.update(self._send(tenant, MANUAL_JOURNALS, outgoing, idempotency_key, "POST"))
        return [results[i] for i in range(len(updates))]

    def change_status(
        self, changes: Sequence[StatusChange], idempotency_key: str
    ) -> list[PushResult]:
        """VOIDED or DELETED, as a POST of the object's id and new status (one call per kind of
        object). A manual journal's narration is read first: Xero's schema requires it."""
        tenant = self.connector.active_tenant_id()
        results: dict[int, PushResult] = {}
        endpoints = {"ACCREC": INVOICES, "ACCPAY": INVOICES, "ACCRECCREDIT": CREDIT_NOTES,
                     "ACCPAYCREDIT": CREDIT_NOTES, "MANJOURNAL": MANUAL_JOURNALS}
        narrations: dict[str, str] = {}
        journal_ids = [c.xero_id for c in changes if c.document_type == "MANJOURNAL"]
        if journal_ids:
            narrations = {i: s.number for i, s in self.object_states(Kind.JOURNALS, journal_ids).items()}
        grouped: dict[str, list[_Outgoing]] = {}
        for position, change in enumerate(changes):
            endpoint = endpoints.get(change.document_type)
            try:
                if endpoint is None:
                    raise PayloadProblem(f"Xero has no object of type {change.document_type}.")
                if change.status not in ("VOIDED", "DELETED"):
                    raise PayloadProblem(f"Accounts Sync only voids or deletes; '{change.status}' "
                                         f"is not one of those.")
                if not _GUID.match(change.xero_id):
                    raise PayloadProblem(f"'{change.xero_id}' is not a Xero id.")
                narration = ""
                if endpoint is MANUAL_JOURNALS:
                    if change.xero_id not in narrations:
                        raise PayloadProblem(f"Xero has no manual journal {change.xero_id}.")
                    narration = narrations[change.xero_id]
                body = payloads.status_payload(change.document_type, change.xero_id, change.status,
                                               narration)
            except PayloadProblem as exc:
                results[position] = PushResult(change.erp_id, errors=(str(exc),))
                continue
            grouped.setdefault(endpoint.path, []).append(
                _Outgoing(position, change.erp_id, body, change.xero_id, change.xero_id))
        by_path = {e.path: e for e in endpoints.values()}
        for path, outgoing in grouped.items():
            key = idempotency_key if len(grouped) == 1 else f"{idempotency_key}-{path.lower()}"
            results.update(self._send(tenant, by_path[path], outgoing, key, "POST"))
        return [results[i] for i in range(len(changes))]

    def allocate(self, allocations: Sequence[Allocation], idempotency_key: str) -> list[PushResult]:
        """One PUT /CreditNotes/{id}/Allocations per credit note. Xero honours the key only
        for minutes: after a lost answer, look the credit note's allocations up first."""
        tenant = self.connector.active_tenant_id()
        results: dict[int, PushResult] = {}
        grouped: dict[str, list[tuple[int, Allocation, dict[str, Any]]]] = {}
        for position, allocation in enumerate(allocations):
            try:
                if not _GUID.match(allocation.credit_note_id) or not _GUID.match(allocation.invoice_id):
                    raise PayloadProblem("An allocation needs the Xero ids of a credit note and an "
                                         "invoice.")
                body = payloads.allocation_payload(allocation)
            except PayloadProblem as exc:
                results[position] = PushResult(allocation.erp_id, errors=(str(exc),))
                continue
            grouped.setdefault(allocation.credit_note_id, []).append((position, allocation, body))
        for number, (credit_note_id, group) in enumerate(grouped.items(), start=1):
            key = idempotency_key if len(grouped) == 1 else f"{idempotency_key}-{number}"
            body = payloads.encode_json(payloads.wrap("Allocations", [b for _, _, b in group]))
            answer = self.client.put(tenant, f"CreditNotes/{quote(credit_note_id, safe='')}/Allocations",
                                     body, key, {"summarizeErrors": "false"})
            for (position, _, _), result in zip(
                    group, self._allocation_results(credit_note_id, group, answer), strict=True):
                results[position] = result
        return [results[i] for i in range(len(allocations))]

    def _allocation_results(
        self, credit_note_id: str, group: list[tuple[int, Allocation, dict[str, Any]]],
        answer: XeroResponse,
    ) -> list[PushResult]:
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status in (400, 404):
            elements = body.get("Elements") or []
            message = (f"Xero has no credit note {credit_note_id}." if answer.status == 404
                       else f"Xero refused the allocation: {_message(body, answer.text)}")
            return [
                PushResult(allocation.erp_id, errors=tuple(_messages(el.get("ValidationErrors")))
                           or (message,)) if isinstance(el, dict)
                else PushResult(allocation.erp_id, errors=(message,))
                for (_, allocation, _), el in zip(
                    group, [*elements, *([None] * len(group))][:len(group)], strict=True)
            ]
        if not answer.ok:
            raise XeroRejected(f"Xero refused the allocation request ({answer.status}: "
                               f"{_message(body, answer.text)}); nothing was allocated.")
        elements = body.get("Allocations")
        if not isinstance(elements, list) or len(elements) != len(group):
            return [PushResult(allocation.erp_id, outcome_unknown=True, errors=(
                "Xero's answer to the allocation was unreadable; look the credit note's "
                "allocations up before allocating again.",)) for _, allocation, _ in group]
        results = []
        for (_, allocation, _), element in zip(group, elements, strict=True):
            errors = tuple(_messages(element.get("ValidationErrors"))) if isinstance(element, dict) else ()
            status = str(element.get("StatusAttributeString") or "").upper() \
                if isinstance(element, dict) else ""
            if status == "ERROR" and not errors:
                errors = ("Xero refused the allocation without a reason.",)
            if errors:
                results.append(PushResult(allocation.erp_id, errors=errors))
            else:
                allocation_id = element.get("AllocationID") if isinstance(element, dict) else None
                results.append(PushResult(allocation.erp_id,
                                          xero_id=str(allocation_id or credit_note_id)))
        return results

    def trial_balance(self, day: date) -> tuple[TrialBalanceRow, ...]:
        """Xero's trial balance at `day` (its YTD columns; see TrialBalanceRow)."""
        tenant = self.connector.active_tenant_id()
        accounts = self.chart().accounts
        answer = self._get(tenant, "Reports/TrialBalance", {"date": payloads.xero_date(day)})
        if not isinstance(answer.body, dict) or not isinstance(answer.body.get("Reports"), list):
            raise GatewayUnavailable("Xero's trial balance was unreadable; retry in a moment.")
        return answers.trial_balance_rows(answer.body, accounts)

    def journals(self, offset: int = 0) -> tuple[XeroJournal, ...]:
        tenant = self.connector.active_tenant_id()
        answer = self._get(tenant, "Journals", {"offset": str(max(offset, 0))})
        return tuple(answers.ledger_journal(e) for e in self._items(answer, "Journals"))

    # ------------------------------------------------------------------ plumbing

    def _list(self, tenant: str, path: str, plural: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every element a filtered list returns, page after page (Xero pages by 100)."""
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            answer = self._get(tenant, path, {**params, "page": str(page)})
            batch = self._items(answer, plural)
            items.extend(batch)
            paging = answer.body.get("pagination") if isinstance(answer.body, dict) else None
            if isinstance(paging, dict) and paging.get("pageCount") is not None:
                more = page < int(paging.get("pageCount") or 0)
            else:
                more = len(batch) >= PAGE_SIZE
            if not more:
                return items
        log.warning("Xero %s look-up stopped after %d pages", path, MAX_PAGES)
        return items

    def _get(self, tenant: str, path: str, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> XeroResponse:
        answer = self.client.get(tenant, path, params, headers) if headers else \
            self.client.get(tenant, path, params)
        if not answer.ok:
            body = answer.body if isinstance(answer.body, dict) else {}
            raise XeroRejected(
                f"Xero refused to read {path} ({answer.status}: {_message(body, answer.text)}); "
                f"nothing was changed."
            )
        return answer

    @staticmethod
    def _items(answer: XeroResponse, plural: str) -> list[dict[str, Any]]:
        body = answer.body if isinstance(answer.body, dict) else {}
        items = body.get(plural)
        if not isinstance(items, list):
            raise GatewayUnavailable(f"Xero's answer about {plural} was unreadable; retry in a moment.")
        return [item for item in items if isinstance(item, dict)]

    @contextmanager
    def _session(self, raise_integrity: bool = False) -> Iterator[Session]:
        try:
            with self._sessions() as session, session.begin():
                yield session
        except IntegrityError:
            if raise_integrity:
                raise
            raise GatewayUnavailable(
                "Accounts Sync could not store a Xero contact; retry the sync."
            ) from None
        except SQLAlchemyError as exc:
            log.error("Xero contact cache error: %s", type(exc).__name__)
            raise GatewayUnavailable(
                "Accounts Sync could not read its Xero contact list from the database; retry the sync."
            ) from None


# ------------------------------------------------------------------------------ helpers


def _contact_row(tenant: str, ref: str) -> Any:
    return select(ContactRow).where(ContactRow.tenant_id == tenant, ContactRow.erp_contact_ref == ref)


def _by_number(records: Sequence[SyncRecord]) -> dict[str, list[str]]:
    by_number: dict[str, list[str]] = {}
    for record in records:
        number = record.number.strip()
        if number:
            by_number.setdefault(number, []).append(record.erp_id)
    return by_number


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _or_chunks(terms: Iterable[str], prefix: str = "") -> Iterator[str]:
    """`a OR b OR ...` filters, each within the length budget (in brackets after a prefix)."""
    chunk: list[str] = []
    size = len(prefix)
    for term in terms:
        if chunk and size + len(term) + 4 > WHERE_BUDGET:
            yield _joined(prefix, chunk)
            chunk, size = [], len(prefix)
        chunk.append(term)
        size += len(term) + 4
    if chunk:
        yield _joined(prefix, chunk)


def _joined(prefix: str, terms: list[str]) -> str:
    body = " OR ".join(terms)
    return f"{prefix}({body})" if prefix else body


def _messages(items: Any) -> Iterator[str]:
    for item in items or ():
        if isinstance(item, dict) and item.get("Message"):
            yield str(item["Message"])
        elif isinstance(item, str) and item:
            yield item


def _message(body: dict[str, Any], text: str) -> str:
    for key in ("Message", "Detail", "Title"):
        if body.get(key):
            return str(body[key])[:300]
    return (text or "no details").strip()[:300]


def _aligned(sent: list[_Outgoing], elements: list[Any]) -> Iterator[tuple[_Outgoing, Any]]:
    for index, out in enumerate(sent):
        yield out, elements[index] if index < len(elements) else None


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal("0")
    except InvalidOperation:
        return Decimal("0")
