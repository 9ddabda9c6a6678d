"""DocumentSource over the host ERP's tables (`host_schema`), read with SQLAlchemy 2.x Core.

Every filter, anti-join and sum runs in the database. Money is summed over values scaled to
integers (cents for documents, 1/10000 for cost entries) because SQLite stores NUMERIC as
floating point: a float sum of 100,000 totals is not a sum of money.

A document is unsynced while no sync record of its kind in state 'synced' exists for it (a
NOT EXISTS probe into the records' unique (kind, erp_id) index for totals, the equivalent left
join for pages, which also brings the record's state), so failed and in-flight documents stay
visible. Pages are keyset-paginated on (date, id), which the host's (status, date, id) index
serves. Journals are unsynced per (entry_date, movement_type) pair: see cost_flows.

At 100,000 documents and 1,000,000 cost entries, totals and pages take tens of milliseconds on
SQLite and PostgreSQL. Summing a million cost entries takes seconds, so cost_flows keeps the
sums per (day, movement) between calls, and in the plugin's tables between processes, and
brings them up to date from what changed (_FlowCache); changed_after_sync reads only recently
stamped rows.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Engine,
    Integer,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    union,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction, aliased

from ...application.ports import (
    ChangedDocument,
    DocumentFacts,
    ErpDocumentNow,
    KindTotals,
    Page,
    RefusalFilter,
)
from ...domain.costs import CostCategory, CostEntry, CostFlow, MovementType, Operation, Stage
from ...domain.documents import (
    Contact,
    DocumentLine,
    DocumentSummary,
    Kind,
    LineAmountTypes,
    TradeDocument,
)
from ...domain.errors import InvalidRequest
from ...domain.inventory import PurchaseBalance, StockBalance
from ...domain.money import money
from ...domain.sync import SyncState
from . import document_facts
from . import host_schema as host
from .errors import HostDataError
from .links import ErpLinks
from .plugin_tables import FlowStateRow, FlowSumRow, SyncRecordRow

log = logging.getLogger(__name__)

SYNCED = SyncState.SYNCED.value
NOT_ALLOCATABLE = ("PAID", "VOIDED", "DELETED")
IN_CHUNK = 500  # ids per IN (...) list


@dataclass(frozen=True)
class _Spec:
    """Where one kind of trade document lives in the host schema and when it counts."""

    kind: Kind
    table: Table
    lines: Table
    line_parent: str  # foreign key column on the lines table
    status: str  # the status that makes it a document to send
    date_column: str  # the date it is sent under
    fallback_dates: tuple[str, ...]  # for a document looked up by id in any status
    contact: Table
    contact_column: str
    contact_prefix: str
    has_due_date: bool

    @property
    def date(self) -> Any:
        return self.table.c[self.date_column]

    @property
    def any_date(self) -> Any:
        columns = [self.table.c[name] for name in (self.date_column, *self.fallback_dates)]
        return func.coalesce(*columns) if len(columns) > 1 else columns[0]


SPECS = {
    Kind.SALES_ORDERS: _Spec(
        Kind.SALES_ORDERS, host.sales_orders, host.sales_order_lines, "sales_order_id",
        "invoiced", "invoice_date", ("order_date",), host.customers, "customer_id", "customer", True,
    ),
    Kind.PURCHASE_ORDERS: _Spec(
        Kind.PURCHASE_ORDERS, host.purchase_orders, host.purchase_order_lines, "purchase_order_id",
        "billed", "bill_date", ("received_date", "order_date"), host.suppliers, "supplier_id",
        "supplier", True,
    ),
    Kind.REFUNDS: _Spec(
        Kind.REFUNDS, host.refunds, host.refund_lines, "refund_id",
        "approved", "refund_date", (), host.customers, "customer_id", "customer", False,
    ),
}


def scaled(column: Any, places: int) -> ColumnElement[int]:
    """The column as an exact integer of 10**-places units (cents for places=2)."""
    return cast(func.round(column * (10 ** places)), BigInteger)


def line_cents(lines: Any) -> ColumnElement[int]:
    """A line's quantity × unit price in cents, rounded as Xero rounds it (half away from
    zero), in integers so SQLite's floating NUMERIC adds exact cents."""
    micro = scaled(lines.c.quantity, 4) * scaled(lines.c.unit_price, 4)  # amount in 1e-8
    # Integer division truncates toward zero on SQLite and PostgreSQL: half away from zero.
    return case((micro >= 0, (micro + 500_000) // 1_000_000),
                else_=(micro - 500_000) // 1_000_000)


def unscaled(value: Any, places: int) -> Decimal:
    return Decimal(int(value or 0)).scaleb(-places)


def encode_cursor(day: date, erp_id: int | str) -> str:
    raw = f"{day.isoformat()}|{erp_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


MAX_ERP_ID = 2**31 - 1  # the host's keys are INTEGER (int4 on PostgreSQL)


def decode_cursor(cursor: str) -> tuple[date, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        day, erp_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        key = int(erp_id)
        if not 0 <= key <= MAX_ERP_ID:  # no such row, and the database would refuse the number
            raise ValueError(erp_id)
        return date.fromisoformat(day), key
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("That page link is no longer valid; open the list again.") from None


def _spec(kind: Kind) -> _Spec:
    try:
        return SPECS[kind]
    except KeyError:
        raise InvalidRequest(
            "Journals are not ERP documents; open them from the preview instead."
        ) from None


def _enum(enum: Any, value: str, what: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise HostDataError(
            f"The ERP has {what} '{value}', which Accounts Sync does not know; "
            f"correct it in the ERP or ask for it to be supported."
        ) from None


class _Lookup:
    """Host text → domain enum member, memoised; unknown values are a HostDataError."""

    def __init__(self, enum: Any, what: str) -> None:
        self.known = {member.value: member for member in enum}
        self.enum, self.what = enum, what

    def __call__(self, value: str) -> Any:
        member = self.known.get(value)
        return member if member is not None else _enum(self.enum, value, self.what)


class _TrackingCache(dict[tuple[str | None, str | None], tuple[tuple[str, str], ...]]):
    def __call__(self, brand: str | None, vintage: str | None) -> tuple[tuple[str, str], ...]:
        key = (brand, vintage)
        found = self.get(key)
        if found is None:
            found = self[key] = _tracking(brand, vintage)
        return found


def _int_ids(erp_ids: Iterable[str]) -> list[int]:
    return [int(i) for i in erp_ids if str(i).strip().lstrip("-").isdigit()]


class SqlDocumentSource:
    """Reads trade documents and cost entries; built per unit of work on its session."""

    def __init__(self, session: Session, links: ErpLinks) -> None:
        self.session = session
        self.links = links

    # ------------------------------------------------------------ trade documents

    def _synced(self, kind: Kind, id_column: Any) -> Any:
        record = aliased(SyncRecordRow, name="synced_record")  # apart from any joined record
        return exists().where(
            record.kind == kind.value,
            record.state == SYNCED,
            record.erp_id == cast(id_column, String),
        )

    def _unsynced_where(self, spec: _Spec, closing_date: date) -> list[Any]:
        return [
            spec.table.c.status == spec.status,
            spec.date <= closing_date,
            ~self._synced(spec.kind, spec.table.c.id),
        ]

    def summarize_unsynced(self, kind: Kind, closing_date: date) -> KindTotals:
        spec = _spec(kind)
        stmt = select(
            func.count(),
            func.sum(scaled(spec.table.c.total, 2)),
            func.min(spec.date),
        ).where(*self._unsynced_where(spec, closing_date))
        count, cents, earliest = self.session.execute(stmt).one()
        return KindTotals(int(count), money(unscaled(cents, 2)), earliest)

    def list_unsynced(self, kind: Kind, closing_date: date, after: str | None, limit: int) -> Page:
        spec = _spec(kind)
        if limit < 1:
            raise InvalidRequest("A page holds at least one document.")
        keyset = decode_cursor(after) if after else None
        page = self._unsynced_page(spec, closing_date, keyset, limit + 1)
        t, contact = spec.table, spec.contact
        stmt = (
            select(page.c.id, page.c.doc_date, page.c.state, page.c.last_error, t.c.number,
                   scaled(t.c.total, 2).label("cents"), t.c.currency, contact.c.name)
            .select_from(page.join(t, t.c.id == page.c.id)
                         .join(contact, contact.c.id == t.c[spec.contact_column]))
            .order_by(page.c.doc_date, page.c.id)
        )
        rows = self.session.execute(stmt).all()
        items = tuple(
            DocumentSummary(
                kind=kind,
                erp_id=str(row.id),
                number=row.number,
                contact_name=row.name,
                date=row.doc_date,
                total=money(unscaled(row.cents, 2)),
                currency=row.currency,
                url=self.links.document_url(kind, row.id),
                sync_state=row.state or SyncState.PENDING.value,
                last_error=row.last_error or "",
            )
            for row in rows[:limit]
        )
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.date, last.erp_id)
        return Page(items, next_cursor)

    def next_unsynced(
        self, kind: Kind, closing_date: date, after: tuple[date, str] | None, limit: int
    ) -> list[TradeDocument]:
        spec = _spec(kind)
        keyset = (after[0], int(after[1])) if after is not None else None
        page = self._unsynced_page(spec, closing_date, keyset, limit)
        stmt = self._headers(spec, page.c.doc_date, page=page).order_by(page.c.doc_date, page.c.id)
        return self._documents(spec, self.session.execute(stmt).all())

    def _unsynced_page(
        self, spec: _Spec, closing_date: date, after: tuple[date, int] | None, limit: int
    ) -> Any:
        """The ids of one keyset page of unsynced documents, in (date, id) order, with their
        record's state. Contacts and other columns are joined outside, to the page only.

        The record is left-joined on the unique (kind, erp_id): same answer as the NOT EXISTS
        of the totals (at most one record per document), and it brings state and last error.
        SQLite walks the (status, date, id) index with one probe per document; PostgreSQL
        hashes the records once instead of probing row by row under the LIMIT.
        """
        t, record = spec.table, SyncRecordRow
        stmt = (
            select(t.c.id, spec.date.label("doc_date"), record.state, record.last_error)
            .select_from(t.outerjoin(
                record, and_(record.kind == spec.kind.value, record.erp_id == cast(t.c.id, String))
            ))
            .where(
                t.c.status == spec.status,
                spec.date <= closing_date,
                or_(record.state.is_(None), record.state != SYNCED),
            )
            .order_by(spec.date, t.c.id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(_after(spec.date, t.c.id, after[0], after[1]))
        return stmt.subquery("page")

    def unsynced_facts(self, kind: Kind, closing_date: date) -> DocumentFacts:
        return document_facts.unsynced_facts(self.session, _spec(kind))

    def refused_unsynced(
        self, kind: Kind, closing_date: date, refusal: RefusalFilter, limit: int
    ) -> tuple[int, list[TradeDocument]]:
        spec = _spec(kind)
        found = document_facts.refused_unsynced(self.session, spec, closing_date, refusal)
        ids = [doc_id for _, doc_id in found[:limit]]
        stmt = self._headers(spec, spec.date).where(spec.table.c.id.in_(ids)) \
            .order_by(spec.date, spec.table.c.id)
        return len(found), self._documents(spec, self.session.execute(stmt).all()) if ids else []

    def get_documents(self, kind: Kind, erp_ids: Sequence[str]) -> list[TradeDocument]:
        spec = _spec(kind)
        ids = _int_ids(erp_ids)
        found: dict[int, TradeDocument] = {}
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start:start + IN_CHUNK]
            stmt = self._headers(spec, spec.any_date).where(spec.table.c.id.in_(chunk))
            for document in self._documents(spec, self.session.execute(stmt).all()):
                found[int(document.erp_id)] = document
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def _headers(self, spec: _Spec, date_expr: Any, page: Any = None) -> Select[Any]:
        t, contact = spec.table, spec.contact
        columns: list[Any] = [
            t.c.id, t.c.number, date_expr.label("doc_date"), t.c.currency,
            t.c.line_amount_types, contact.c.id.label("contact_id"),
            contact.c.name.label("contact_name"), contact.c.email.label("contact_email"),
        ]
        columns.append(t.c.due_date if spec.has_due_date else literal(None, Date).label("due_date"))
        joined = t if page is None else page.join(t, t.c.id == page.c.id)
        joined = joined.join(contact, contact.c.id == t.c[spec.contact_column])
        if spec.kind is Kind.SALES_ORDERS:
            columns.append(t.c.reference.label("reference"))
        elif spec.kind is Kind.PURCHASE_ORDERS:
            columns.append(t.c.number.label("reference"))
            columns.append(t.c.supplier_invoice_number.label("supplier_invoice_number"))
        else:
            # A credit note refers to the sale it refunds.
            original = host.sales_orders.alias("original_sale")
            joined = joined.outerjoin(original, original.c.id == t.c.sales_order_id)
            columns.append(func.coalesce(original.c.number, "").label("reference"))
        return select(*columns).select_from(joined)

    def _documents(self, spec: _Spec, headers: Sequence[Any]) -> list[TradeDocument]:
        if not headers:
            return []
        lines = self._lines(spec, [h.id for h in headers])
        # Syncs read whole documents by the hundred thousand: the few contacts and line amount
        # types are converted once per chunk.
        amount_types = _Lookup(LineAmountTypes, f"{spec.kind.label.lower()[:-1]} line amount type")
        contacts: dict[int, Contact] = {}

        def contact(h: Any) -> Contact:
            found = contacts.get(h.contact_id)
            if found is None:
                found = contacts[h.contact_id] = Contact(
                    f"{spec.contact_prefix}:{h.contact_id}", h.contact_name, h.contact_email or "")
            return found

        return [
            TradeDocument(
                kind=spec.kind,
                erp_id=str(h.id),
                number=h.number,
                contact=contact(h),
                date=h.doc_date,
                due_date=h.due_date,
                currency=h.currency,
                lines=tuple(lines.get(h.id, ())),
                line_amount_types=amount_types(h.line_amount_types),
                reference=h.reference or "",
                url=self.links.document_url(spec.kind, h.id),
                supplier_invoice_number=(h.supplier_invoice_number or ""
                                         if spec.kind is Kind.PURCHASE_ORDERS else ""),
            )
            for h in headers
        ]

    def _lines(self, spec: _Spec, ids: list[int]) -> dict[int, list[DocumentLine]]:
        lt = spec.lines
        parent = lt.c[spec.line_parent]
        stmt = (
            select(
                parent.label("parent_id"), lt.c.description, lt.c.item_code, lt.c.account_code,
                lt.c.tax_type, lt.c.vintage, lt.c.brand,
                scaled(lt.c.quantity, 4).label("quantity"),
                scaled(lt.c.unit_price, 4).label("unit_price"),
                scaled(lt.c.tax_amount, 2).label("tax_amount"),
            )
            .where(parent.in_(ids))
            .order_by(parent, lt.c.line_no, lt.c.id)
        )
        lines: dict[int, list[DocumentLine]] = defaultdict(list)
        # The batch attributes as the ERP has them; the application maps them to tracking.
        attributes = _TrackingCache()
        for (parent_id, description, item_code, account_code, tax_type, vintage, brand, quantity,
             unit_price, tax_amount) in self.session.execute(stmt).tuples():
            lines[parent_id].append(DocumentLine(
                description=description,
                quantity=unscaled(quantity, 4),
                unit_amount=unscaled(unit_price, 4),
                account_code=account_code or "",
                tax_type=tax_type or "",
                tax_amount=unscaled(tax_amount, 2),
                item_code=item_code or "",
                attributes=attributes(brand, vintage),
            ))
        return lines

    # ------------------------------------------------------------ cost entries

    def cost_flows(self, closing_date: date) -> list[CostFlow]:
        """The flows of the unsynced journals up to the closing date, summed per day, movement,
        category, stages and tracking.

        Up to FLOW_CACHE_MIN_ENTRIES cost entries, one query sums them (see _summed_flows). Past
        that, summing a million entries takes seconds, yet they hardly change between two
        previews: the sums per day and movement are kept per database (see _FlowCache), brought
        up to date from the entries stamped or deleted since they were read, and the unsynced
        pairs up to the closing date are picked from them.
        """
        return self._flows(closing_date, synced=False)

    def _flows(self, closing_date: date, synced: bool) -> list[CostFlow]:
        """The unsynced (or synced) flows; the cache is brought up to date once per transaction:
        a preview asks for both in one, and counting a million entries to see deletions takes
        ~0.1 s on PostgreSQL. Within one transaction, the second answer is the state the first
        read (SQLite reads one snapshot anyway; under read committed it is as if both were
        asked at the first moment). Which journals are synced is read on every call."""
        transaction = self.session.get_transaction()
        refreshed = self.session.info.get(_REFRESHED)
        if refreshed is not None and refreshed[0] is transaction and transaction is not None:
            cache = refreshed[1]
        else:
            ce = host.cost_entries
            entries = int(self.session.scalar(select(func.count()).select_from(ce)) or 0)
            if entries < FLOW_CACHE_MIN_ENTRIES:
                return self._summed_flows(closing_date, synced=synced)
            cache = _FlowCache.of(self.session)
            with cache.lock:
                cache.refresh(self.session, entries)
            self.session.info[_REFRESHED] = (self.session.get_transaction(), cache)
            cache.persist_after(self.session)
        with cache.lock:
            return cache.flows(closing_date, self._synced_journal_pairs(closing_date), synced=synced)

    def _synced_journal_pairs(self, closing_date: date) -> set[tuple[date, str]]:
        record = SyncRecordRow
        stmt = select(record.journal_date, record.movement_type).where(
            record.kind == Kind.JOURNALS.value,
            record.state == SYNCED,
            record.journal_date <= closing_date,
        )
        return {(day, movement) for day, movement in self.session.execute(stmt)}

    def _summed_flows(self, closing_date: date, synced: bool = False) -> list[CostFlow]:
        """One query: the unsynced (day, movement) pairs, then the sums of their entries only.

        Probing the journal records once per cost entry would cost a million probes at a
        million entries; instead the distinct pairs are walked with a loose index scan of
        (entry_date, movement_type), a few index seeks per pair, the synced ones dropped, and
        only the remaining pairs' entries are read and summed.
        """
        ce, record = host.cost_entries, SyncRecordRow
        pairs = _unsynced_journal_pairs(closing_date)
        journal_synced = exists().where(
            record.journal_date == pairs.c.d,
            record.movement_type == pairs.c.m,
            record.kind == Kind.JOURNALS.value,
            record.state == SYNCED,
        )
        stmt = (
            select(*_FLOW_KEYS, func.sum(scaled(ce.c.amount, 4)).label("amount"),
                   func.count().label("entries"))
            .select_from(pairs.join(ce, and_(ce.c.entry_date == pairs.c.d,
                                             ce.c.movement_type == pairs.c.m)))
            .where(journal_synced if synced else ~journal_synced)
            .group_by(*_FLOW_KEYS)  # no ORDER BY: hashing beats sorting text keys; sorted below
        )
        return _FlowMaker().flows(sorted(self.session.execute(stmt).tuples(), key=_flow_order))

    def cost_entries(self, day: date, movement: MovementType) -> list[CostEntry]:
        ce, op = host.cost_entries, host.operations
        stmt = (
            select(
                ce.c.id, ce.c.entry_date, ce.c.movement_type, ce.c.cost_category, ce.c.from_stage,
                ce.c.to_stage, ce.c.vintage, ce.c.brand, ce.c.description,
                scaled(ce.c.amount, 4).label("amount"),
                op.c.id.label("op_id"), op.c.number.label("op_number"),
                op.c.description.label("op_description"),
            )
            .join(op, op.c.id == ce.c.operation_id)
            .where(ce.c.entry_date == day, ce.c.movement_type == movement.value)
            .order_by(ce.c.id)
        )
        # The largest journals have thousands of entries from a few hundred operations, a few
        # categories, stages and batches: each distinct one is converted once.
        categories, stages, tracking = _Lookup(CostCategory, "cost category"), \
            _Lookup(Stage, "stage"), _TrackingCache()
        operations: dict[int, Operation] = {}

        def operation(op_id: int, number: str, description: str) -> Operation:
            found = operations.get(op_id)
            if found is None:
                found = operations[op_id] = Operation(str(op_id), number, description,
                                                      self.links.operation_url(op_id))
            return found

        return [
            CostEntry(
                erp_id=str(entry_id),
                operation=operation(op_id, op_number, op_description),
                date=entry_date,
                movement_type=movement,
                category=categories(category),
                amount=Decimal(int(amount or 0)).scaleb(-4),
                from_stage=stages(from_stage),
                to_stage=stages(to_stage),
                tracking=tracking(brand, vintage),
                description=description or "",
            )
            for (entry_id, entry_date, _, category, from_stage, to_stage, vintage, brand, description,
                 amount, op_id, op_number, op_description) in self.session.execute(stmt).tuples()
        ]

    # ------------------------------------------------------------ changes after sync

    def changed_after_sync(self, kind: Kind, limit: int) -> list[ChangedDocument]:
        """Synced documents (journals) the ERP edited (or added entries to) after their sync.

        Driven from the host rows stamped after the oldest sync, so an index on the host's
        updated_at/created_at (recommended) makes it a range scan; without one it is a single
        sequential scan, never a probe per synced record.
        """
        record = SyncRecordRow
        synced = (record.kind == kind.value, record.state == SYNCED)
        # Compared with when the record's content was read from the ERP (not when it was
        # settled: a record found in Xero hours after its run died holds content read then).
        read_at = func.coalesce(record.read_at, record.synced_at)
        oldest = self.session.scalar(select(func.min(read_at)).where(*synced))
        if oldest is None:
            return []
        since = oldest.astimezone(UTC).replace(tzinfo=None)  # host stamps are naive UTC
        columns = (record.erp_id, record.number, record.xero_id, record.synced_at)
        if kind is Kind.JOURNALS:
            ce = host.cost_entries
            # Materialised first: SQLite filters the entries in one pass instead of walking the
            # (entry_date, movement_type) index to save the GROUP BY a sort; PostgreSQL never
            # drives the join from the records (see the documents below).
            stamped = (
                select(ce.c.entry_date, ce.c.movement_type, ce.c.updated_at, ce.c.created_at)
                .where(or_(ce.c.updated_at > since, ce.c.created_at > since))
                .cte("stamped")
                .prefix_with("MATERIALIZED", dialect="sqlite")
                .prefix_with("MATERIALIZED", dialect="postgresql")
            )
            touched = (
                select(stamped.c.entry_date, stamped.c.movement_type,
                       func.max(stamped.c.updated_at).label("updated"),
                       func.max(stamped.c.created_at).label("created"))
                .group_by(stamped.c.entry_date, stamped.c.movement_type)
                .subquery("touched")
            )
            stmt = (
                select(*columns)
                .join(touched, and_(touched.c.entry_date == record.journal_date,
                                    touched.c.movement_type == record.movement_type))
                .where(*synced, or_(touched.c.updated > read_at, touched.c.created > read_at))
                .order_by(record.journal_date, record.movement_type)
            )
        else:
            t = _spec(kind).table
            # The documents stamped since the oldest sync first (a range of the updated_at
            # index), then their records. Materialised, so the join can never turn around: right
            # after a large sync, PostgreSQL's statistics may still say the records are few, and
            # it would scan the documents once per record (seconds at 20,000 records).
            stamped = (
                select(t.c.id, t.c.updated_at).where(t.c.updated_at > since)
                .cte("stamped")
                .prefix_with("MATERIALIZED", dialect="sqlite")
                .prefix_with("MATERIALIZED", dialect="postgresql")
            )
            stmt = (
                select(*columns)
                .select_from(stamped)
                .join(record, and_(record.kind == kind.value,
                                   record.erp_id == cast(stamped.c.id, String)))
                .where(record.state == SYNCED, stamped.c.updated_at > read_at)
                .order_by(stamped.c.id)
            )
        return [
            ChangedDocument(kind, erp_id, number, xero_id or "", synced_at)
            for erp_id, number, xero_id, synced_at in self.session.execute(stmt.limit(limit))
        ]

    def journal_url(self, key: str) -> str:
        return self.links.journal_url(key)

    # ------------------------------------------------------------ books over time

    def documents_now(self, kind: Kind, erp_ids: Sequence[str]) -> dict[str, ErpDocumentNow]:
        spec = _spec(kind)
        t = spec.table
        ids = _int_ids(erp_ids)
        status: dict[int, tuple[str, str]] = {}
        link = t.c.sales_order_id if kind is Kind.REFUNDS else literal(None, Integer)
        for start in range(0, len(ids), IN_CHUNK):
            stmt = select(t.c.id, t.c.status, link).where(t.c.id.in_(ids[start:start + IN_CHUNK]))
            status.update((row_id, (state, "" if sale is None else str(sale)))
                          for row_id, state, sale in self.session.execute(stmt))
        counting = [i for i, (state, _) in status.items() if state == spec.status]
        documents = {d.erp_id: d for d in self.get_documents(kind, [str(i) for i in counting])}
        found: dict[str, ErpDocumentNow] = {}
        for erp_id in erp_ids:
            try:
                row_id = int(erp_id)
            except ValueError:
                continue
            if row_id not in status:
                found[erp_id] = ErpDocumentNow(erp_id, None, "deleted in the ERP")
                continue
            state, sale = status[row_id]
            document = documents.get(str(row_id))
            if state == spec.status and document is not None:
                found[erp_id] = ErpDocumentNow(erp_id, document, refund_of=sale)
            else:
                found[erp_id] = ErpDocumentNow(erp_id, None, f"{state} in the ERP", refund_of=sale)
        return found

    def removed_after_sync(self, kind: Kind, limit: int) -> list[str]:
        spec, record = _spec(kind), SyncRecordRow
        t = spec.table
        # The anti-join walks the covering (kind, erp_id, state) index, not the records' wide
        # rows (a third of the time on SQLite once most documents are synced); only the few
        # whose document is gone are then read for their fingerprint.
        probed = aliased(SyncRecordRow, name="probed_record")
        gone = select(probed.id).where(
            probed.kind == kind.value, probed.state == SYNCED,
            ~exists().where(t.c.id == cast(probed.erp_id, Integer)))
        stmt = (
            select(record.erp_id)
            .where(record.id.in_(gone), ~record.fingerprint.startswith("removed:"))
            .order_by(record.id)
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def refunds_to_allocate(self, closing_date: date, limit: int) -> list[tuple[str, str]]:
        t, record = host.refunds, SyncRecordRow
        refund, sale, done = aliased(record), aliased(record), aliased(record)
        # NOT IN a set read once (hashed on PostgreSQL, an ephemeral index on SQLite), not a
        # correlated NOT EXISTS: PostgreSQL planned that as a nested loop comparing every refund
        # with every allocation (0.8 s at 3,000 of each). No NULL in the set (NOT IN's trap).
        allocated = refund.erp_id.in_(select(done.original_erp_id).where(
            done.kind == Kind.CORRECTIONS.value,
            done.original_kind == Kind.REFUNDS.value,
            done.original_erp_id.is_not(None),
            done.action == "allocate",
            done.state == SYNCED,
        ))
        stmt = (
            select(t.c.id, t.c.sales_order_id)
            .join(refund, and_(refund.kind == Kind.REFUNDS.value,
                               refund.erp_id == cast(t.c.id, String)))
            .join(sale, and_(sale.kind == Kind.SALES_ORDERS.value,
                             sale.erp_id == cast(t.c.sales_order_id, String)))
            .where(t.c.status == SPECS[Kind.REFUNDS].status, t.c.refund_date <= closing_date,
                   t.c.sales_order_id.is_not(None), refund.state == SYNCED, sale.state == SYNCED,
                   ~refund.fingerprint.startswith("removed:"), ~allocated,
                   # Nothing to allocate from a used credit, nor to a paid or void invoice (as
                   # last seen in Xero; a look at Xero's changes keeps that up to date).
                   refund.xero_status != "PAID", sale.xero_status.not_in(NOT_ALLOCATABLE),
                   # Both objects known in Xero, and what the refund sent kept: the planner
                   # needs them (a winery synced before "sent" was kept has thousands without).
                   refund.xero_id.is_not(None), refund.xero_id != "",
                   sale.xero_id.is_not(None), sale.xero_id != "", _kept(refund.sent))
            .order_by(t.c.refund_date, t.c.id)
            .limit(limit)
        )
        return [(str(r), str(s)) for r, s in self.session.execute(stmt)]

    def synced_cost_flows(self, closing_date: date) -> list[CostFlow]:
        return self._flows(closing_date, synced=True)

    # ------------------------------------------------------------ inventory valuation
    # In a module of their own, which builds on this one's flow cache (hence imported here).

    def stock_balances(self, closing_date: date, since: date | None = None) -> list[StockBalance]:
        from .sqlalchemy_inventory import stock_balances

        return stock_balances(self.session, self.links, closing_date, since)

    def document_sums(self, closing_date: date, period_start: date) -> tuple[list, list]:
        from .document_sums import document_sums

        return document_sums(self.session, closing_date, period_start)

    def purchases_by_account(
        self, account_codes: Sequence[str], closing_date: date
    ) -> list[PurchaseBalance]:
        from .sqlalchemy_inventory import purchases_by_account

        return purchases_by_account(self.session, account_codes, closing_date)


_FLOW_KEYS = (host.cost_entries.c.entry_date, host.cost_entries.c.movement_type,
              host.cost_entries.c.cost_category, host.cost_entries.c.from_stage,
              host.cost_entries.c.to_stage, host.cost_entries.c.vintage, host.cost_entries.c.brand)
_FlowRow = tuple[Any, ...]  # the _FLOW_KEYS, then the amount in 1/10000 and the entry count


def _flow_order(row: _FlowRow) -> tuple[Any, ...]:
    return (row[0], row[1], row[2], row[3], row[4], row[5] or "", row[6] or "")


class _FlowMaker:
    """Summed rows → CostFlows. Tens of thousands of rows at scale: plain tuples in, and the
    conversions (enums, tracking) memoised; an unknown host value is a HostDataError."""

    def __init__(self) -> None:
        self.movements = _Lookup(MovementType, "movement type")
        self.categories = _Lookup(CostCategory, "cost category")
        self.stages = _Lookup(Stage, "stage")
        self.tracking = _TrackingCache()

    def flows(self, rows: Iterable[_FlowRow]) -> list[CostFlow]:
        movements, categories, stages, tracking = \
            self.movements, self.categories, self.stages, self.tracking
        known_movements, known_categories, known_stages = \
            movements.known, categories.known, stages.known
        made: list[CostFlow] = []
        append, make = made.append, _make_cost_flow
        for day, movement, category, from_stage, to_stage, vintage, brand, amount, count in rows:
            append(make(
                day,
                known_movements.get(movement) or movements(movement),
                known_categories.get(category) or categories(category),
                known_stages.get(from_stage) or stages(from_stage),
                known_stages.get(to_stage) or stages(to_stage),
                Decimal(int(amount)).scaleb(-4),
                tracking(brand, vintage),
                int(count),
            ))
        return made


_FLOW_FIELDS = ("date", "movement_type", "category", "from_stage", "to_stage", "amount",
                "tracking", "entry_count", "entries")


def _cost_flow_maker() -> Any:
    """CostFlow(date, movement, category, from_stage, to_stage, amount, tracking, entry_count),
    made without the frozen dataclass's __init__ and its keyword handling (a first preview
    makes thousands of flows): the same attributes, in the same order, set as __init__ sets
    them (object.__setattr__). Not through the instance's __dict__: filling it makes the
    instance carry a dict of its own, twice the objects for the garbage collector to walk.
    CostFlow has no __post_init__ to skip; if its fields change, or it gets one (or slots),
    this falls back to the constructor."""
    if (tuple(f.name for f in fields(CostFlow)) != _FLOW_FIELDS
            or hasattr(CostFlow, "__post_init__") or hasattr(CostFlow, "__slots__")
            or fields(CostFlow)[-1].default != ()):
        return CostFlow
    new, set_ = object.__new__, object.__setattr__

    def make(day: date, movement: MovementType, category: CostCategory, from_stage: Stage,
             to_stage: Stage, amount: Decimal, tracking: tuple[tuple[str, str], ...],
             entry_count: int) -> CostFlow:
        flow = new(CostFlow)
        set_(flow, "date", day)
        set_(flow, "movement_type", movement)
        set_(flow, "category", category)
        set_(flow, "from_stage", from_stage)
        set_(flow, "to_stage", to_stage)
        set_(flow, "amount", amount)
        set_(flow, "tracking", tracking)
        set_(flow, "entry_count", entry_count)
        set_(flow, "entries", ())
        return flow

    return make


_make_cost_flow = _cost_flow_maker()


# ------------------------------------------------------------------ the cost flow cache

# Below this many cost entries in all, cost_flows sums them in SQL on every call (tens of
# milliseconds); above it, the sums are kept per database between calls (_FlowCache).
FLOW_CACHE_MIN_ENTRIES = 5_000
# The longest a host transaction may take from stamping a cost entry to committing it (plus any
# clock skew between the host and this process): rows stamped this long before the cache last
# read the entries are read again, so a late commit is never missed.
STAMP_LOOKBACK = timedelta(minutes=15)
_REREAD_DAYS_PER_QUERY = 200
_ROWS_PER_INSERT = 5_000
_PERSIST_HOOK = "accounts_sync_flow_sums_hook"
_REFRESHED = "accounts_sync_flows_refreshed"  # (the transaction, the cache it brought up to date)


@dataclass(frozen=True)
class _PairFlows:
    """One (day, movement)'s summed flows, or the HostDataError reading them raised."""

    entries: int
    flows: tuple[CostFlow, ...] = ()
    error: str | None = None
    rows: tuple[_FlowRow, ...] = ()  # as summed in SQL, for the plugin's flow-sums table


class _FlowCache:
    """The summed cost flows of every (entry_date, movement_type) pair of one database.

    Kept exact without reading a million entries again, from what the host does when its
    entries change (the stamps changed_after_sync relies on too):

    - a new or edited entry is stamped with the host's current UTC time in created_at or
      updated_at, and a new one gets a higher id: the days of the entries stamped since the
      last read (less STAMP_LOOKBACK, for transactions that commit a while after they stamp) or
      with an id above the last read's highest are summed again, through indexes on the stamps
      and the primary key; an entry still within the lookback only while what it holds differs
      from what the last read saw (a late cost is summed once, not on every call for 15
      minutes);
    - a deleted entry leaves no trace, but the count of all entries then differs from the sum
      of the pairs' counts: the entries are counted per pair (one index scan) and the days
      whose counts differ are summed again. A move to another day or movement is an edit plus
      such a disappearance.

    A host that rewrites entries without stamping them is not seen (as by changed_after_sync).
    Which pairs are synced is read on every call, not kept. One cache per Engine (so per
    database), for the life of the process.

    Between processes the sums live in the plugin's tables (FlowSumRow, FlowStateRow): a
    snapshot of the pairs with the read_at and top_id it was read at, and a version bumped by
    each write. A process whose memory is not the table's version loads the snapshot (a few
    thousand rows, not a million entries) and brings it up to date as above, which is exact
    because the snapshot was exact at its read_at. Only the first use on a database sums every
    entry. After the transaction that refreshed the memory ends (so a SQLite write lock is never
    awaited inside it), the days it changed are written in one transaction, only onto the
    version they were derived from; a process that finds another version there writes nothing
    and loads that version next time. The write is a cache's: when it fails, nothing is wrong,
    only the next process starts further behind.
    """

    _caches: WeakKeyDictionary[Engine, _FlowCache] = WeakKeyDictionary()
    _registry_lock = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pairs: dict[tuple[date, str], _PairFlows] = {}
        self.order: list[tuple[date, str]] = []  # the pairs, sorted
        self.entries = 0  # the sum of the pairs' counts
        self.read_at: datetime | None = None  # host-clock UTC time before the last read began
        self.top_id = 0  # the highest entry id before the last read began
        self.version: int | None = None  # the table's snapshot the memory was loaded from or wrote
        # The entries stamped within STAMP_LOOKBACK of the last read, as that read saw them
        # (id → the flow keys and amount, and its stamps): their days are summed again only
        # when they differ.
        self.recent: dict[int, tuple[tuple[Any, ...], Any, Any]] = {}
        self.unpersisted: set[date] | None = set()  # days the table lacks; None: all of them

    @classmethod
    def of(cls, session: Session) -> _FlowCache:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        with cls._registry_lock:
            cache = cls._caches.get(engine)
            if cache is None:
                cache = cls._caches[engine] = cls()
            return cache

    def flows(self, closing_date: date, pairs: set[tuple[date, str]],
              synced: bool = False) -> list[CostFlow]:
        """The flows of the unsynced pairs up to the closing date (the synced ones when
        `synced`), `pairs` being the synced pairs."""
        found: list[CostFlow] = []
        for key in self.order[:bisect_right(self.order, (closing_date, "\uffff"))]:
            if (key in pairs) != synced:
                continue
            pair = self.pairs[key]
            if pair.error is not None:
                raise HostDataError(pair.error)
            found.extend(pair.flows)
        return found

    def refresh(self, session: Session, entries: int) -> None:
        """Bring the pairs up to date; `entries` is the count of all entries, read just before."""
        started = datetime.now(UTC).replace(tzinfo=None)  # host stamps are naive UTC
        ce = host.cost_entries
        top = int(session.scalar(select(func.max(ce.c.id))) or 0)
        stored = session.execute(select(FlowStateRow.version, FlowStateRow.read_at, FlowStateRow.top_id)
                                 .where(FlowStateRow.id == 1)).first()
        if stored is None:
            self.unpersisted = None  # the table is empty (new, or emptied): all of it to write
        elif stored.version != self.version:
            self._load(session, stored.version, stored.read_at, int(stored.top_id))
        if self.read_at is None:
            self._read(session, None)
            self.recent = {}
        else:
            since = self.read_at - STAMP_LOOKBACK
            # A UNION, not an OR: each side is a range scan of its own index.
            recent = {row[0]: (tuple(row[1:-2]), row[-2], row[-1]) for row in session.execute(union(
                select(ce.c.id, *_FLOW_KEYS, ce.c.amount, ce.c.created_at, ce.c.updated_at)
                .where(ce.c.created_at > since),
                select(ce.c.id, *_FLOW_KEYS, ce.c.amount, ce.c.created_at, ce.c.updated_at)
                .where(ce.c.updated_at > since),
            ))}
            # New ids find entries inserted with an old stamp too (an import of back-dated
            # entries). No DISTINCT: SQLite would walk the date index instead of the id range.
            days = set(session.scalars(select(ce.c.entry_date).where(ce.c.id > self.top_id)))
            days |= self._changed_days(recent, since)
            if days:
                self._read(session, days)
            if self.entries != entries:  # entries deleted (or moved away) since the last read
                counts = dict(((day, movement), int(n)) for day, movement, n in session.execute(
                    select(ce.c.entry_date, ce.c.movement_type, func.count())
                    .group_by(ce.c.entry_date, ce.c.movement_type)
                ))
                changed = {key for key in counts.keys() | self.pairs.keys()
                           if counts.get(key) != (self.pairs[key].entries if key in self.pairs else None)}
                self._read(session, {day for day, _ in changed})
            self.recent = recent  # only once their days are summed (an error reads them again)
        self.read_at, self.top_id = started, top

    def _changed_days(self, recent: dict[int, tuple[tuple[Any, ...], Any, Any]],
                      since: datetime) -> set[date]:
        """The days of the entries stamped within the lookback whose content is not what the
        last read saw of them (or which are gone): only those are summed again.

        Comparing the stamps would not do: a host that stamps to the second can save an entry
        twice with the same stamp, the second time in a transaction that commits late. The
        content is what the sums are made of, so an entry whose content is the same as when
        its day was last summed cannot change them. What was seen is kept from before the sums
        are read (under PostgreSQL's read committed, a change committed in between is seen as
        a difference next time: read once more, never missed)."""
        days: set[date] = set()
        for entry_id, (content, _, _) in recent.items():
            seen = self.recent.get(entry_id)
            if seen is None or seen[0] != content:
                days.add(content[0])
                if seen is not None:
                    days.add(seen[0][0])  # moved from that day
        for entry_id, (content, created, updated) in self.recent.items():
            if entry_id in recent:
                continue
            stamps = [stamp for stamp in (created, updated) if stamp is not None]
            if stamps and max(stamps) > since:  # gone (not merely older than the lookback)
                days.add(content[0])
        return days

    def _read(self, session: Session, days: set[date] | None) -> None:
        """Sum the entries of these days again (every day when None), replacing their pairs."""
        ce = host.cost_entries
        stmt = select(*_FLOW_KEYS, func.sum(scaled(ce.c.amount, 4)), func.count()).group_by(*_FLOW_KEYS)
        if days is None:
            chunks: list[list[date] | None] = [None]
            self.pairs = {}
            self.unpersisted = None
        else:
            if self.unpersisted is not None:
                self.unpersisted |= days
            ordered = sorted(days)
            chunks = [ordered[i:i + _REREAD_DAYS_PER_QUERY]
                      for i in range(0, len(ordered), _REREAD_DAYS_PER_QUERY)]
            for key in [key for key in self.pairs if key[0] in days]:
                del self.pairs[key]
        for chunk in chunks:
            query = stmt if chunk is None else stmt.where(ce.c.entry_date.in_(chunk))
            by_pair: dict[tuple[date, str], list[_FlowRow]] = defaultdict(list)
            for row in session.execute(query):  # one at a time (see _load)
                by_pair[(row[0], row[1])].append(tuple(row))
            self._add_pairs(by_pair)
        self.order = sorted(self.pairs)
        self.entries = sum(pair.entries for pair in self.pairs.values())

    def _add_pairs(self, by_pair: dict[tuple[date, str], list[_FlowRow]]) -> None:
        maker = _FlowMaker()
        for key, rows in by_pair.items():
            rows.sort(key=_flow_order)
            count = sum(int(row[8]) for row in rows)
            kept = tuple(rows)
            try:
                self.pairs[key] = _PairFlows(count, tuple(maker.flows(rows)), rows=kept)
            except HostDataError as error:
                self.pairs[key] = _PairFlows(count, error=error.message, rows=kept)

    # ------------------------------------------------------------ the plugin's table

    def _load(self, session: Session, version: int, read_at: datetime, top_id: int) -> None:
        """The memory becomes the table's snapshot (read after its state row: a newer snapshot
        than the state says is only re-read a little more than needed, never missed)."""
        sums = FlowSumRow.__table__.c
        by_pair: dict[tuple[date, str], list[_FlowRow]] = defaultdict(list)
        for row in session.execute(select(
                sums.entry_date, sums.movement_type, sums.cost_category, sums.from_stage,
                sums.to_stage, sums.vintage, sums.brand, sums.amount, sums.entries)):
            # Plain tuples, not Rows: kept for the life of the process, and a tuple of plain
            # values is one object the garbage collector stops walking, a Row is two it walks.
            # One row at a time, not .all(): each Row (and the driver's tuple in it) goes as
            # the next comes, instead of 30,000 objects that a collection would promote.
            by_pair[(row[0], row[1])].append(tuple(row))
        self.pairs = {}
        self._add_pairs(by_pair)
        self.order = sorted(self.pairs)
        self.entries = sum(pair.entries for pair in self.pairs.values())
        self.read_at = read_at.replace(tzinfo=None) if read_at.tzinfo else read_at
        self.top_id, self.version, self.unpersisted = top_id, version, set()
        self.recent = {}  # what the snapshot's read saw is not known: read those days again

    def persist_after(self, session: Session) -> None:
        """Write what the table lacks once the session's transaction has ended."""
        if self.unpersisted == set() or session.info.get(_PERSIST_HOOK):
            return
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        done: list[bool] = []

        def after(_session: Session, transaction: SessionTransaction) -> None:
            if transaction.parent is not None or done:
                return
            done.append(True)
            self.persist(engine)

        session.info[_PERSIST_HOOK] = True
        sa_event.listen(session, "after_transaction_end", after)

    def persist(self, engine: Engine) -> None:
        with self.lock:
            if self.unpersisted == set() or self.read_at is None:
                return
            try:
                self._write(engine)
            except Exception:  # a cache: the next process starts further behind, that's all
                log.warning("could not keep the cost-flow sums in the plugin's tables", exc_info=True)

    def _write(self, engine: Engine) -> None:
        state, sums = FlowStateRow.__table__, FlowSumRow.__table__
        with engine.begin() as connection:
            query = select(state.c.version).where(state.c.id == 1)
            if connection.dialect.name == "postgresql":
                query = query.with_for_update()
            stored = connection.scalar(query)
            if stored is not None and stored != self.version:
                return  # another process wrote its snapshot: ours is loaded over next time
            days = None if stored is None else self.unpersisted
            if days is None:
                connection.execute(delete(sums))
                keys = list(self.pairs)
            else:
                for start in range(0, len(days), _REREAD_DAYS_PER_QUERY):
                    chunk = sorted(days)[start:start + _REREAD_DAYS_PER_QUERY]
                    connection.execute(delete(sums).where(sums.c.entry_date.in_(chunk)))
                keys = [key for key in self.pairs if key[0] in days]
            names = ("entry_date", "movement_type", "cost_category", "from_stage", "to_stage",
                     "vintage", "brand", "amount", "entries")
            rows = [dict(zip(names, row, strict=True)) for key in keys for row in self.pairs[key].rows]
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                connection.execute(insert(sums), rows[start:start + _ROWS_PER_INSERT])
            version = (stored or 0) + 1
            values = {"version": version, "read_at": self.read_at, "top_id": self.top_id}
            if stored is None:
                connection.execute(delete(state))
                connection.execute(insert(state).values(id=1, **values))
            else:
                connection.execute(update(state).where(state.c.id == 1).values(**values))
        self.version, self.unpersisted = version, set()


def _kept(column: Any) -> Any:
    """A JSON column holds a value: neither SQL NULL nor JSON null (how a None is stored)."""
    return and_(column.is_not(None), cast(column, String) != "null")


def _after(date_column: Any, id_column: Any, after_date: date, after_id: int) -> Any:
    """Keyset condition (date, id) > (after_date, after_id), as a row value the index serves."""
    return tuple_(date_column, id_column) > tuple_(literal(after_date, Date), literal(after_id, Integer))


def _unsynced_journal_pairs(closing_date: date) -> Any:
    """The distinct (entry_date, movement_type) pairs up to the closing date, as a recursive
    CTE (d, m) walking the (entry_date, movement_type) index: from each pair, the next
    movement on the same day, else the first movement of the next day. Ends with a NULL row."""
    ce = host.cost_entries

    def seek() -> Any:
        return ce.alias()

    first = seek()
    start = (
        select(first.c.entry_date.label("d"), cast(first.c.movement_type, String).label("m"))
        .where(first.c.entry_date <= closing_date)
        .order_by(first.c.entry_date, first.c.movement_type)
        .limit(1)
        .subquery("first_pair")
    )
    pairs = select(start.c.d, start.c.m).cte("journal_pairs", recursive=True)
    current = pairs.alias("current_pair")

    def next_movement_same_day() -> Any:
        c = seek()
        return (select(c.c.movement_type)
                .where(c.c.entry_date == current.c.d, c.c.movement_type > current.c.m)
                .order_by(c.c.movement_type).limit(1).scalar_subquery())

    def next_day() -> Any:
        c = seek()
        return (select(c.c.entry_date)
                .where(c.c.entry_date > current.c.d, c.c.entry_date <= closing_date)
                .order_by(c.c.entry_date).limit(1).correlate(current).scalar_subquery())

    def first_movement_of_next_day() -> Any:
        c = seek()
        return (select(c.c.movement_type).where(c.c.entry_date == next_day())
                .order_by(c.c.movement_type).limit(1).scalar_subquery())

    step = select(
        case((next_movement_same_day().is_(None), next_day()), else_=current.c.d),
        cast(func.coalesce(next_movement_same_day(), first_movement_of_next_day()), String),
    ).where(current.c.d.is_not(None))
    return pairs.union_all(step)


def _tracking(brand: str | None, vintage: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((name, value) for name, value in (("brand", brand), ("vintage", vintage)) if value)
