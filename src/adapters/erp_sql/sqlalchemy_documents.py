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
SQLite and PostgreSQL; cost_flows and changed_after_sync are the expensive reads and are
written to touch only unsynced pairs or recently stamped rows.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session, aliased

from ...application.ports import ChangedDocument, KindTotals, Page
from ...domain.costs import CostCategory, CostEntry, CostFlow, MovementType, Operation, Stage
from ...domain.documents import (
    Contact,
    DocumentLine,
    DocumentSummary,
    Kind,
    LineAmountTypes,
    TrackingRef,
    TradeDocument,
)
from ...domain.errors import InvalidRequest
from ...domain.money import money
from ...domain.sync import SyncState
from . import host_schema as host
from .errors import HostDataError
from .links import ErpLinks
from .plugin_tables import SyncRecordRow

SYNCED = SyncState.SYNCED.value
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


def unscaled(value: Any, places: int) -> Decimal:
    return Decimal(int(value or 0)).scaleb(-places)


def encode_cursor(day: date, erp_id: int | str) -> str:
    raw = f"{day.isoformat()}|{erp_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[date, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        day, erp_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        return date.fromisoformat(day), int(erp_id)
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
        return [
            TradeDocument(
                kind=spec.kind,
                erp_id=str(h.id),
                number=h.number,
                contact=Contact(f"{spec.contact_prefix}:{h.contact_id}", h.contact_name,
                                h.contact_email or ""),
                date=h.doc_date,
                due_date=h.due_date,
                currency=h.currency,
                lines=tuple(lines.get(h.id, ())),
                line_amount_types=_enum(LineAmountTypes, h.line_amount_types,
                                        f"{spec.kind.label.lower()[:-1]} line amount type"),
                reference=h.reference or "",
                url=self.links.document_url(spec.kind, h.id),
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
        for row in self.session.execute(stmt):
            tracking = tuple(
                TrackingRef(category, value)
                for category, value in (("Vintage", row.vintage), ("Brand", row.brand))
                if value
            )
            lines[row.parent_id].append(DocumentLine(
                description=row.description,
                quantity=unscaled(row.quantity, 4),
                unit_amount=unscaled(row.unit_price, 4),
                account_code=row.account_code or "",
                tax_type=row.tax_type or "",
                tax_amount=unscaled(row.tax_amount, 2),
                tracking=tracking,
                item_code=row.item_code or "",
            ))
        return lines

    # ------------------------------------------------------------ cost entries

    def cost_flows(self, closing_date: date) -> list[CostFlow]:
        """One query: the unsynced (day, movement) pairs, then the sums of their entries only.

        Probing the journal records once per cost entry would cost a million probes at a
        million entries; instead the distinct pairs are walked with a loose index scan of
        (entry_date, movement_type), a few index seeks per pair, the synced ones dropped, and
        only the remaining pairs' entries are read and summed.
        """
        ce, record = host.cost_entries, SyncRecordRow
        pairs = _unsynced_journal_pairs(closing_date)
        keys = (ce.c.entry_date, ce.c.movement_type, ce.c.cost_category, ce.c.from_stage,
                ce.c.to_stage, ce.c.vintage, ce.c.brand)
        journal_synced = exists().where(
            record.journal_date == pairs.c.d,
            record.movement_type == pairs.c.m,
            record.kind == Kind.JOURNALS.value,
            record.state == SYNCED,
        )
        stmt = (
            select(*keys, func.sum(scaled(ce.c.amount, 4)).label("amount"),
                   func.count().label("entries"))
            .select_from(pairs.join(ce, and_(ce.c.entry_date == pairs.c.d,
                                             ce.c.movement_type == pairs.c.m)))
            .where(~journal_synced)
            .group_by(*keys)  # no ORDER BY: hashing beats sorting text keys; sorted below
        )
        # Tens of thousands of rows at scale: plain tuples and memoised conversions.
        movements, categories, stages = _Lookup(MovementType, "movement type"), \
            _Lookup(CostCategory, "cost category"), _Lookup(Stage, "stage")
        tracking = _TrackingCache()
        rows = sorted(self.session.execute(stmt).tuples(), key=lambda r: (r[0], r[1], r[2], r[3], r[4],
                                                                          r[5] or "", r[6] or ""))
        return [
            CostFlow(
                date=day,
                movement_type=movements(movement),
                category=categories(category),
                from_stage=stages(from_stage),
                to_stage=stages(to_stage),
                amount=Decimal(int(amount)).scaleb(-4),
                tracking=tracking(brand, vintage),
                entry_count=int(count),
            )
            for day, movement, category, from_stage, to_stage, vintage, brand, amount, count in rows
        ]

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
        return [
            CostEntry(
                erp_id=str(row.id),
                operation=Operation(str(row.op_id), row.op_number, row.op_description,
                                    self.links.operation_url(row.op_id)),
                date=row.entry_date,
                movement_type=movement,
                category=_enum(CostCategory, row.cost_category, "cost category"),
                amount=unscaled(row.amount, 4),
                from_stage=_enum(Stage, row.from_stage, "stage"),
                to_stage=_enum(Stage, row.to_stage, "stage"),
                tracking=_tracking(row.brand, row.vintage),
                description=row.description or "",
            )
            for row in self.session.execute(stmt)
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
        oldest = self.session.scalar(select(func.min(record.synced_at)).where(*synced))
        if oldest is None:
            return []
        since = oldest.astimezone(UTC).replace(tzinfo=None)  # host stamps are naive UTC
        columns = (record.erp_id, record.number, record.xero_id, record.synced_at)
        if kind is Kind.JOURNALS:
            ce = host.cost_entries
            # SQLite: materialised first, so it filters the entries in one pass instead of walking
            # the (entry_date, movement_type) index to save the GROUP BY a sort.
            stamped = (
                select(ce.c.entry_date, ce.c.movement_type, ce.c.updated_at, ce.c.created_at)
                .where(or_(ce.c.updated_at > since, ce.c.created_at > since))
                .cte("stamped")
                .prefix_with("MATERIALIZED", dialect="sqlite")
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
                .where(*synced, or_(touched.c.updated > record.synced_at,
                                    touched.c.created > record.synced_at))
                .order_by(record.journal_date, record.movement_type)
            )
        else:
            t = _spec(kind).table
            stmt = (
                select(*columns)
                .select_from(t)
                .join(record, and_(record.kind == kind.value, record.erp_id == cast(t.c.id, String)))
                .where(t.c.updated_at > since, record.state == SYNCED,
                       t.c.updated_at > record.synced_at)
                .order_by(t.c.id)
            )
        return [
            ChangedDocument(kind, erp_id, number, xero_id or "", synced_at)
            for erp_id, number, xero_id, synced_at in self.session.execute(stmt.limit(limit))
        ]

    def journal_url(self, key: str) -> str:
        return self.links.journal_url(key)


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
