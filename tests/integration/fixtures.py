"""Small builders that insert host ERP rows (the demo schema in `host_schema`) for tests.

    erp = HostErp(engine)
    customer = erp.customer("Harbour Wines")
    so = erp.sales_order(customer, lines=[line("2024 Shiraz", "12", "25.50", tax="30.60")])
    op = erp.operation("BTL-0412", "Bottling: 2024 Reserve Shiraz")
    erp.cost_entry(op, date(2026, 3, 4), "bottling", "dry_goods", "120.5000",
                   "dry_goods", "finished_goods", vintage="2024", brand="Reserve")

Every builder returns the new row's id; amounts are given as strings (exact Decimals).
Each call commits on its own, as the host ERP would.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert

from accounts_sync.adapters.erp_sql import host_schema as host

DEFAULT_DAY = date(2026, 3, 2)
DEFAULT_STAMP = datetime(2026, 3, 2, 9, 0, 0)
# An invoiced order or a billed purchase is due on the ERP's terms (30 days, as in the demo);
# Xero refuses an approved invoice or bill without a due date (docs/xero-rules.md). Pass
# due_date=None for a document the ERP left without one.
TERMS: Any = object()


def _due(due_date: Any, issued: date | None) -> date | None:
    if due_date is TERMS:
        return issued + timedelta(days=30) if issued else None
    return due_date


@dataclass(frozen=True)
class Line:
    description: str = "2024 Estate Shiraz 750ml"
    quantity: str = "12"
    unit_price: str = "25.00"
    account_code: str | None = "4000"
    tax_type: str | None = "OUTPUT"
    tax_amount: str = "0.00"
    vintage: str | None = None
    brand: str | None = None
    item_code: str | None = None

    @property
    def amount(self) -> Decimal:
        return (Decimal(self.quantity) * Decimal(self.unit_price)).quantize(Decimal("0.01"))


def line(description: str = "2024 Estate Shiraz 750ml", quantity: str = "12", unit_price: str = "25.00",
         *, tax: str = "0.00", account: str | None = "4000", tax_type: str | None = "OUTPUT",
         vintage: str | None = None, brand: str | None = None, item_code: str | None = None) -> Line:
    return Line(description, quantity, unit_price, account, tax_type, tax, vintage, brand, item_code)


def document_total(lines: list[Line], line_amount_types: str = "Exclusive") -> Decimal:
    subtotal = sum((ln.amount for ln in lines), Decimal("0.00"))
    if line_amount_types == "Inclusive":
        return subtotal
    return subtotal + sum((Decimal(ln.tax_amount) for ln in lines), Decimal("0.00"))


class HostErp:
    """Inserts host ERP rows through Core; ids and numbers are generated unless given."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._seq = itertools.count(1)

    def _next(self) -> int:
        return next(self._seq)

    def _insert(self, table: Any, values: dict[str, Any]) -> int:
        with self.engine.begin() as connection:
            return int(connection.execute(insert(table).values(**values)).inserted_primary_key[0])

    def _insert_many(self, table: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.engine.begin() as connection:
                connection.execute(insert(table), rows)

    # ------------------------------------------------------------ contacts

    def customer(self, name: str = "Harbour Wines", *, email: str = "", channel: str = "retail",
                 country: str = "AU") -> int:
        n = self._next()
        return self._insert(host.customers, {"code": f"C{n:05d}", "name": name, "email": email,
                                             "country": country, "channel": channel})

    def supplier(self, name: str = "Valley Growers", *, email: str = "", category: str = "fruit") -> int:
        n = self._next()
        return self._insert(host.suppliers, {"code": f"S{n:05d}", "name": name, "email": email,
                                             "category": category})

    # ------------------------------------------------------------ trade documents

    def _lines(self, table: Any, parent: str, doc_id: int, lines: list[Line]) -> None:
        self._insert_many(table, [
            {
                f"{parent}_id": doc_id, "line_no": i, "item_code": ln.item_code,
                "description": ln.description, "quantity": Decimal(ln.quantity),
                "unit_price": Decimal(ln.unit_price), "account_code": ln.account_code,
                "tax_type": ln.tax_type, "tax_amount": Decimal(ln.tax_amount),
                "vintage": ln.vintage, "brand": ln.brand,
            }
            for i, ln in enumerate(lines, start=1)
        ])

    def sales_order(
        self, customer_id: int, *, number: str | None = None, status: str = "invoiced",
        invoice_date: date | None = DEFAULT_DAY, order_date: date | None = None,
        due_date: date | None = TERMS, currency: str = "AUD", reference: str = "",
        line_amount_types: str = "Exclusive", lines: list[Line] | None = None,
        total: str | Decimal | None = None, updated_at: datetime = DEFAULT_STAMP,
    ) -> int:
        lines = [line()] if lines is None else lines
        so_id = self._insert(host.sales_orders, {
            "number": number or f"SO-{self._next():06d}", "customer_id": customer_id,
            "order_date": order_date or invoice_date or DEFAULT_DAY, "invoice_date": invoice_date,
            "due_date": _due(due_date, invoice_date), "status": status, "currency": currency,
            "line_amount_types": line_amount_types, "reference": reference,
            "total": Decimal(total) if total is not None else document_total(lines, line_amount_types),
            "updated_at": updated_at,
        })
        self._lines(host.sales_order_lines, "sales_order", so_id, lines)
        return so_id

    def purchase_order(
        self, supplier_id: int, *, number: str | None = None, status: str = "billed",
        bill_date: date | None = DEFAULT_DAY, order_date: date | None = None,
        received_date: date | None = None, due_date: date | None = TERMS, currency: str = "AUD",
        supplier_invoice_number: str = "", line_amount_types: str = "Exclusive",
        lines: list[Line] | None = None, total: str | Decimal | None = None,
        updated_at: datetime = DEFAULT_STAMP,
    ) -> int:
        lines = [line("Shiraz fruit, 2.5 t", "2.5", "2200.00", account="1410", tax_type="INPUT")] \
            if lines is None else lines
        po_id = self._insert(host.purchase_orders, {
            "number": number or f"PO-{self._next():06d}", "supplier_id": supplier_id,
            "order_date": order_date or bill_date or DEFAULT_DAY, "received_date": received_date,
            "bill_date": bill_date, "due_date": _due(due_date, bill_date),
            "supplier_invoice_number": supplier_invoice_number, "status": status,
            "currency": currency, "line_amount_types": line_amount_types,
            "total": Decimal(total) if total is not None else document_total(lines, line_amount_types),
            "updated_at": updated_at,
        })
        self._lines(host.purchase_order_lines, "purchase_order", po_id, lines)
        return po_id

    def refund(
        self, customer_id: int, *, number: str | None = None, status: str = "approved",
        refund_date: date = DEFAULT_DAY, sales_order_id: int | None = None, currency: str = "AUD",
        reason: str = "Corked bottles", line_amount_types: str = "Exclusive",
        lines: list[Line] | None = None, total: str | Decimal | None = None,
        updated_at: datetime = DEFAULT_STAMP,
    ) -> int:
        lines = [line("Refund: corked bottles", "2", "25.00")] if lines is None else lines
        refund_id = self._insert(host.refunds, {
            "number": number or f"RF-{self._next():06d}", "customer_id": customer_id,
            "sales_order_id": sales_order_id, "refund_date": refund_date, "status": status,
            "currency": currency, "line_amount_types": line_amount_types, "reason": reason,
            "total": Decimal(total) if total is not None else document_total(lines, line_amount_types),
            "updated_at": updated_at,
        })
        self._lines(host.refund_lines, "refund", refund_id, lines)
        return refund_id

    def many_sales_orders(
        self, customer_id: int, totals: list[str], *, invoice_date: date = DEFAULT_DAY,
        status: str = "invoiced", dates: list[date] | None = None,
    ) -> list[int]:
        """Header-only sales orders in one statement (for sums and paging over many rows)."""
        start = self._next()
        rows = [
            {
                "number": f"SO-B{start:04d}-{i:06d}", "customer_id": customer_id,
                "order_date": (dates[i] if dates else invoice_date),
                "invoice_date": (dates[i] if dates else invoice_date), "due_date": None,
                "status": status, "currency": "AUD", "line_amount_types": "Exclusive",
                "reference": "", "total": Decimal(t), "updated_at": DEFAULT_STAMP,
            }
            for i, t in enumerate(totals)
        ]
        with self.engine.begin() as connection:
            connection.execute(insert(host.sales_orders), rows)
            ids = connection.execute(
                host.sales_orders.select()
                .with_only_columns(host.sales_orders.c.id)
                .where(host.sales_orders.c.number.like(f"SO-B{start:04d}-%"))
                .order_by(host.sales_orders.c.id)
            ).scalars().all()
        return list(ids)

    # ------------------------------------------------------------ production costs

    def batch(self, code: str | None = None, *, vintage: str = "2024", varietal: str = "Shiraz",
              brand: str = "Estate", vessel: str = "") -> int:
        return self._insert(host.batches, {
            "code": code or f"24-B-{self._next():04d}", "vintage": vintage, "varietal": varietal,
            "brand": brand, "vessel": vessel,
        })

    def product(self, code: str | None = None, *, name: str = "2024 Estate Shiraz, 6 x 750 mL",
                vintage: str = "2024", varietal: str = "Shiraz", brand: str = "Estate") -> int:
        return self._insert(host.products, {
            "code": code or f"SHZ-EST-{self._next():04d}-6", "name": name, "vintage": vintage,
            "varietal": varietal, "brand": brand, "bottles_per_case": 6,
        })

    def operation(self, number: str | None = None, description: str = "Bottling: 2024 Estate Shiraz",
                  *, op_type: str = "bottling", op_date: date = DEFAULT_DAY,
                  batch_id: int | None = None) -> int:
        return self._insert(host.operations, {
            "number": number or f"OP-{self._next():05d}", "op_type": op_type, "op_date": op_date,
            "batch_id": batch_id, "description": description,
        })

    def cost_entry(
        self, operation_id: int, entry_date: date = DEFAULT_DAY, movement_type: str = "bottling",
        cost_category: str = "dry_goods", amount: str | Decimal = "100.0000",
        from_stage: str = "dry_goods", to_stage: str = "finished_goods", *,
        vintage: str | None = None, brand: str | None = None, batch_id: int | None = None,
        description: str = "", created_at: datetime = DEFAULT_STAMP,
        updated_at: datetime | None = None,
    ) -> int:
        return self._insert(host.cost_entries, {
            "operation_id": operation_id, "entry_date": entry_date, "movement_type": movement_type,
            "cost_category": cost_category, "amount": Decimal(amount), "from_stage": from_stage,
            "to_stage": to_stage, "batch_id": batch_id, "vintage": vintage, "brand": brand,
            "description": description, "created_at": created_at,
            "updated_at": updated_at or created_at,
        })

    def many_cost_entries(self, operation_id: int, rows: list[dict[str, Any]]) -> None:
        """Cost entries in one statement; each dict overrides the cost_entry defaults."""
        defaults = {
            "operation_id": operation_id, "entry_date": DEFAULT_DAY, "movement_type": "bottling",
            "cost_category": "dry_goods", "from_stage": "dry_goods", "to_stage": "finished_goods",
            "batch_id": None, "vintage": None, "brand": None, "description": "",
            "product_id": None, "litres": None, "cases": None,
            "created_at": DEFAULT_STAMP, "updated_at": DEFAULT_STAMP,
        }
        self._insert_many(host.cost_entries, [
            defaults | row | {"amount": Decimal(row["amount"])} for row in rows
        ])

    # ------------------------------------------------------------ edits

    def touch(self, table: Any, row_id: int, updated_at: datetime) -> None:
        """Mark a host row as edited at `updated_at` (what the ERP does on every save)."""
        with self.engine.begin() as connection:
            connection.execute(table.update().where(table.c.id == row_id).values(updated_at=updated_at))
