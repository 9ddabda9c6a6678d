"""What a winery does to its records after they were synced, so the demo can show corrections:
edit a document's lines, add one, cancel it; add a late cost to an operation, correct one,
remove one. Every change stamps the row (`updated_at` / `created_at`), as a real ERP does, which
is how Accounts Sync finds it again.

Only users with the "can view costs" permission edit (the demo's accountant).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import Table, delete, func, insert, select, update

from ..adapters.erp_sql import host_schema as hs

edits = Blueprint("erp_edits", __name__)

CENT = Decimal("0.01")
# The demo's tax rates (percent) by tax type; a line's tax is recomputed from them on an edit.
TAX_RATES = {"OUTPUT": Decimal(10), "INPUT": Decimal(10)}


@dataclass(frozen=True)
class _Doc:
    table: Table
    lines: Table
    parent: str
    page: str  # the host endpoint showing one document


DOCS = {
    "sales-orders": _Doc(hs.sales_orders, hs.sales_order_lines, "sales_order_id", "host.sales_order"),
    "purchase-orders": _Doc(hs.purchase_orders, hs.purchase_order_lines, "purchase_order_id",
                            "host.purchase_order"),
    "refunds": _Doc(hs.refunds, hs.refund_lines, "refund_id", "host.refund"),
}


def _engine() -> Any:
    return current_app.extensions["demo_host"]  # the host's engine (host.EXTENSION_KEY)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # host stamps are naive UTC


def _may_edit() -> None:
    if not getattr(current_user, "has_permission", lambda _: False)("can_view_costs"):
        abort(403)


def _amount(raw: str | None, what: str, places: str = "0.0001") -> Decimal:
    try:
        value = Decimal((raw or "").replace(",", "").strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or abs(value) >= Decimal("1e9"):
        raise ValueError(f"{what} must be a number, like 12.50.")
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _tax(amount: Decimal, tax_type: str | None, line_amount_types: str) -> Decimal:
    rate = TAX_RATES.get(tax_type or "", Decimal(0))
    if line_amount_types == "NoTax" or not rate:
        return Decimal("0.00")
    if line_amount_types == "Inclusive":
        return (amount * rate / (Decimal(100) + rate)).quantize(CENT, rounding=ROUND_HALF_UP)
    return (amount * rate / Decimal(100)).quantize(CENT, rounding=ROUND_HALF_UP)


def _retotal(conn: Any, doc: _Doc, doc_id: int, line_amount_types: str) -> None:
    rows = conn.execute(select(doc.lines.c.quantity, doc.lines.c.unit_price, doc.lines.c.tax_amount)
                        .where(doc.lines.c[doc.parent] == doc_id)).all()
    net = sum(((Decimal(q) * Decimal(p)).quantize(CENT, rounding=ROUND_HALF_UP) for q, p, _ in rows),
              Decimal("0.00"))
    tax = sum((Decimal(t) for _, _, t in rows), Decimal("0.00"))
    total = net if line_amount_types == "Inclusive" else net + tax
    conn.execute(update(doc.table).where(doc.table.c.id == doc_id)
                 .values(total=total, updated_at=_now()))


@edits.post("/erp/<kind>/<int:doc_id>/lines")
@login_required
def edit_lines(kind: str, doc_id: int) -> Any:
    """Change the quantity or unit price of lines, and optionally add a line."""
    _may_edit()
    doc = DOCS.get(kind) or abort(404)
    with _engine().begin() as conn:
        header = conn.execute(select(doc.table.c.line_amount_types).where(doc.table.c.id == doc_id)
                              ).first() or abort(404)
        lat = header.line_amount_types
        lines = conn.execute(select(doc.lines).where(doc.lines.c[doc.parent] == doc_id)
                             .order_by(doc.lines.c.line_no)).mappings().all()
        try:
            for line in lines:
                quantity = _amount(request.form.get(f"quantity-{line['id']}", str(line["quantity"])),
                                   f"The quantity of line {line['line_no']}")
                price = _amount(request.form.get(f"price-{line['id']}", str(line["unit_price"])),
                                f"The unit price of line {line['line_no']}")
                if quantity == Decimal(line["quantity"]) and price == Decimal(line["unit_price"]):
                    continue
                amount = (quantity * price).quantize(CENT, rounding=ROUND_HALF_UP)
                conn.execute(update(doc.lines).where(doc.lines.c.id == line["id"]).values(
                    quantity=quantity, unit_price=price, tax_amount=_tax(amount, line["tax_type"], lat)))
            description = (request.form.get("new_description") or "").strip()
            if description:
                template = lines[0] if lines else {}
                quantity = _amount(request.form.get("new_quantity") or "1", "The new line's quantity")
                price = _amount(request.form.get("new_price"), "The new line's unit price")
                amount = (quantity * price).quantize(CENT, rounding=ROUND_HALF_UP)
                tax_type = template.get("tax_type")
                conn.execute(insert(doc.lines).values({
                    doc.parent: doc_id, "line_no": len(lines) + 1, "item_code": None,
                    "description": description[:400], "quantity": quantity, "unit_price": price,
                    "account_code": request.form.get("new_account") or template.get("account_code"),
                    "tax_type": tax_type, "tax_amount": _tax(amount, tax_type, lat),
                    "vintage": template.get("vintage"), "brand": template.get("brand"),
                }))
        except ValueError as error:
            flash(str(error), "error")
            return redirect(url_for(doc.page, id=doc_id))
        _retotal(conn, doc, doc_id, lat)
    flash("Saved. Accounts Sync's preview now proposes the correction for Xero.", "success")
    return redirect(url_for(doc.page, id=doc_id))


@edits.post("/erp/<kind>/<int:doc_id>/cancel")
@login_required
def cancel(kind: str, doc_id: int) -> Any:
    _may_edit()
    doc = DOCS.get(kind) or abort(404)
    with _engine().begin() as conn:
        done = conn.execute(update(doc.table).where(doc.table.c.id == doc_id)
                            .values(status="cancelled", updated_at=_now())).rowcount
    if not done:
        abort(404)
    flash("Cancelled. Accounts Sync's preview now proposes voiding or crediting it in Xero.",
          "success")
    return redirect(url_for(doc.page, id=doc_id))


@edits.post("/erp/operations/<int:op_id>/costs")
@login_required
def add_cost(op_id: int) -> Any:
    """A late cost on an operation: like its first entry, with its own amount and day."""
    _may_edit()
    ce = hs.cost_entries
    with _engine().begin() as conn:
        first = conn.execute(select(ce).where(ce.c.operation_id == op_id).order_by(ce.c.id)
                             .limit(1)).mappings().first() or abort(404)
        try:
            amount = _amount(request.form.get("amount"), "The amount")
            day = date.fromisoformat(request.form.get("entry_date") or str(first["entry_date"]))
        except ValueError as error:
            flash(str(error) if "must" in str(error) else "The date must look like 2026-11-18.",
                  "error")
            return redirect(url_for("host.operation", id=op_id))
        now = _now()
        values = {k: first[k] for k in ("operation_id", "movement_type", "cost_category",
                                         "from_stage", "to_stage", "batch_id", "vintage", "brand")}
        next_id = (conn.scalar(select(func.max(ce.c.id))) or 0) + 1
        conn.execute(insert(ce).values(
            id=next_id, entry_date=day, amount=amount,
            description=(request.form.get("description") or "Late cost")[:400],
            created_at=now, updated_at=now, **values))
    flash(f"Cost of {amount:,.2f} added. Accounts Sync's preview now proposes the correction.",
          "success")
    return redirect(url_for("host.operation", id=op_id))


@edits.post("/erp/cost-entries/<int:entry_id>")
@login_required
def edit_cost(entry_id: int) -> Any:
    """Correct a cost entry's amount, or remove it."""
    _may_edit()
    ce = hs.cost_entries
    with _engine().begin() as conn:
        op_id = conn.scalar(select(ce.c.operation_id).where(ce.c.id == entry_id)) or abort(404)
        if request.form.get("remove"):
            conn.execute(delete(ce).where(ce.c.id == entry_id))
            flash("Cost entry removed.", "success")
        else:
            try:
                amount = _amount(request.form.get("amount"), "The amount")
            except ValueError as error:
                flash(str(error), "error")
                return redirect(url_for("host.operation", id=op_id))
            conn.execute(update(ce).where(ce.c.id == entry_id).values(amount=amount,
                                                                      updated_at=_now()))
            flash("Cost entry corrected.", "success")
    return redirect(url_for("host.operation", id=op_id))
