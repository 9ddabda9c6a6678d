"""The inventory valuation: page, CSV download and JSON (the API and the CLI share them).

Views parse, call ValueInventory and render; the figures are the use case's.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

from flask import Response, render_template, request

from ..application.value_inventory import ValuationRequest, ValuationResult
from ..domain.costs import Stage
from ..domain.errors import ClosingDateInFuture, InvalidRequest
from ..domain.inventory import InventoryValuation
from ..domain.money import format_money
from ..domain.sync import parse_closing_date
from .services import container

CSV_COLUMNS = ("section", "account", "tracking", "vintage", "code", "name", "litres", "cases",
               "cost", "unit_cost", "url")
TEXT_COLUMNS = {"tracking", "vintage", "code", "name"}


def parse_period_start(raw: str | None) -> date | None:
    """The first day of the cost-of-goods-sold period from a form, the API or the CLI."""
    if raw is None or not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidRequest(
            f"'{raw}' is not a date; enter the start of the period as YYYY-MM-DD."
        ) from None


def valuation_request(closing: str | None, period_start: str | None, today: date) -> ValuationRequest:
    closing_date = parse_closing_date(closing or "", today)
    if closing_date > today:
        raise ClosingDateInFuture(closing_date, today)
    return ValuationRequest(closing_date, parse_period_start(period_start))


def _value() -> ValuationResult:
    args = request.args
    today = container().clock().today()
    return container().value_inventory().execute(
        valuation_request(args.get("closing_date"), args.get("period_start"), today))


# ----------------------------------------------------------------------------- views


def inventory_valuation() -> Any:
    result = _value()
    valuation = result.valuation
    return render_template("accounts_sync/inventory_valuation.html", result=result,
                           valuation=valuation, today=container().clock().today(),
                           cogs_total=valuation.period_cost(Stage.COGS),
                           losses_total=valuation.period_cost(Stage.LOSSES))


def inventory_valuation_csv() -> Any:
    result = _value()
    name = f"inventory-valuation-{result.valuation.closing_date.isoformat()}.csv"
    return Response(valuation_csv(result), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ----------------------------------------------------------------------------- presenters


def _quantity(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _unit(value: Decimal | None) -> str | None:
    return format(value, "f") if value is not None else None


def valuation_json(result: ValuationResult) -> dict[str, Any]:
    v = result.valuation
    return {
        "closing_date": v.closing_date.isoformat(),
        "currency": v.currency,
        "period": {"start": v.period_start.isoformat(), "end": v.closing_date.isoformat(),
                   "label": result.period_label},
        "inventory_total": format_money(v.inventory_cost),
        "bulk_wine": {
            "litres": _quantity(v.bulk_litres),
            "cost": format_money(v.bulk_cost),
            "vintages": [
                {
                    "vintage": vintage.vintage,
                    "litres": _quantity(vintage.litres),
                    "cost": format_money(vintage.cost),
                    "batches": [
                        {
                            "erp_id": b.batch.erp_id if b.batch else None,
                            "code": b.batch.code if b.batch else None,
                            "label": b.batch.label if b.batch else "",
                            "vessel": b.batch.vessel if b.batch else "",
                            "litres": _quantity(b.litres),
                            "cost": format_money(b.cost),
                            "cost_per_litre": _unit(b.cost_per_litre),
                            "url": b.batch.url if b.batch else None,
                        }
                        for b in vintage.batches
                    ],
                }
                for vintage in v.bulk
            ],
        },
        "finished_goods": {
            "cases": _quantity(v.finished_cases),
            "cost": format_money(v.finished_cost),
            "products": [
                {
                    "erp_id": p.product.erp_id if p.product else None,
                    "code": p.product.code if p.product else None,
                    "name": p.product.name if p.product else "",
                    "cases": _quantity(p.cases),
                    "cost": format_money(p.cost),
                    "cost_per_case": _unit(p.cost_per_case),
                    "url": p.product.url if p.product else None,
                }
                for p in v.finished
            ],
        },
        "materials": [
            {"stage": m.stage.value, "label": m.stage.label, "purchased": format_money(m.purchased),
             "moved": format_money(m.moved), "value": format_money(m.amount)}
            for m in v.materials
        ],
        "cost_of_goods_sold": {
            "total": format_money(v.period_cost(Stage.COGS)),
            "losses": format_money(v.period_cost(Stage.LOSSES)),
            "lines": [
                {
                    "stage": c.stage.value,
                    "code": (c.product or c.batch).code if (c.product or c.batch) else None,
                    "name": c.product.name if c.product else (c.batch.label if c.batch else ""),
                    "cases": _quantity(c.cases),
                    "litres": _quantity(c.litres),
                    "amount": format_money(c.amount),
                    "url": (c.product or c.batch).url if (c.product or c.batch) else None,
                }
                for c in v.cost_of_sales
            ],
        },
        "accounts": [
            {"account_code": a.account_code, "stage": a.stage.value, "amount": format_money(a.amount),
             "tracking": [{"name": t.category, "option": t.option} for t in a.tracking]}
            for a in v.accounts
        ],
        "account_totals": [
            {"account_code": a.account_code, "stage": a.stage.value, "label": a.stage.label,
             "amount": format_money(a.amount)}
            for a in v.totals
        ],
        "problems": [{"code": p.code, "message": p.message, "subject": p.subject} for p in v.problems],
    }


def valuation_csv(result: ValuationResult) -> str:
    """One flat table, a section per row, so a spreadsheet can filter and total it."""
    v: InventoryValuation = result.valuation
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)

    def row(section: str, **values: Any) -> None:
        writer.writerow([section] + [_cell(values.get(column, ""), column in TEXT_COLUMNS)
                                     for column in CSV_COLUMNS[1:]])

    for vintage in v.bulk:
        for b in vintage.batches:
            row("Bulk wine", vintage=vintage.vintage, code=b.batch.code if b.batch else "",
                name=b.batch.label if b.batch else "", litres=_quantity(b.litres),
                cost=format_money(b.cost), unit_cost=_unit(b.cost_per_litre) or "",
                url=b.batch.url if b.batch else "")
    for p in v.finished:
        row("Cased wine", code=p.product.code if p.product else "",
            name=p.product.name if p.product else "", cases=_quantity(p.cases),
            cost=format_money(p.cost), unit_cost=_unit(p.cost_per_case) or "",
            url=p.product.url if p.product else "")
    for m in v.materials:
        row("Materials", name=m.stage.label, cost=format_money(m.amount))
    for c in v.cost_of_sales:
        thing = c.product or c.batch
        row("Cost of goods sold" if c.stage is Stage.COGS else "Wine losses",
            code=thing.code if thing else "",
            name=(c.product.name if c.product else c.batch.label if c.batch else ""),
            litres=_quantity(c.litres) if c.litres else "", cases=_quantity(c.cases) if c.cases else "",
            cost=format_money(c.amount), url=thing.url if thing else "")
    for a in v.accounts:
        row("Account", account=a.account_code, name=a.stage.label,
            tracking="; ".join(f"{t.category}: {t.option}" for t in a.tracking),
            cost=format_money(a.amount))
    return out.getvalue()


def _cell(value: Any, text: bool) -> Any:
    """ERP names go out as text: a spreadsheet must never run one as a formula."""
    if text and isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
