"""Small builders for domain objects, so tests say only what matters to them."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from accounts_sync.domain.costs import (
    CostCategory,
    CostEntry,
    MovementType,
    Operation,
    Stage,
)
from accounts_sync.domain.documents import (
    Contact,
    DocumentLine,
    Kind,
    TradeDocument,
)
from accounts_sync.domain.mapping import AccountMapping, TrackingMapping
from accounts_sync.domain.mapping import TradeDefaults as _TD

_ids = itertools.count(1)

ACCOUNTS = {
    Stage.FRUIT: "1410",
    Stage.ADDITIVES: "1420",
    Stage.DRY_GOODS: "1430",
    Stage.BULK_WINE: "1440",
    Stage.FINISHED_GOODS: "1450",
    Stage.COGS: "5000",
    Stage.LOSSES: "5100",
    Stage.OVERHEAD: "5900",
}


def mapping(tracking: bool = True, rounding: str = "860", **changes) -> AccountMapping:
    return AccountMapping(
        stage_accounts=changes.pop("stage_accounts", dict(ACCOUNTS)),
        tracking=(TrackingMapping("vintage", "Vintage"), TrackingMapping("brand", "Brand"))
        if tracking else (),
        rounding_account=rounding,
        trade_defaults={
            Kind.SALES_ORDERS: _TD("4000", "OUTPUT"),
            Kind.PURCHASE_ORDERS: _TD("1430", "INPUT"),
            Kind.REFUNDS: _TD("4000", "OUTPUT"),
        },
        **changes,
    )


def document(
    kind: Kind = Kind.SALES_ORDERS,
    day: date = date(2026, 11, 2),
    amount: str = "100.00",
    lines: int = 1,
    account: str = "4000",
    tax_type: str = "OUTPUT",
    erp_id: str | None = None,
) -> TradeDocument:
    n = next(_ids)
    erp_id = erp_id or str(n)
    prefix = {Kind.SALES_ORDERS: "SO", Kind.PURCHASE_ORDERS: "PO", Kind.REFUNDS: "RF"}[kind]
    each = Decimal(amount)
    return TradeDocument(
        kind=kind,
        erp_id=erp_id,
        number=f"{prefix}-{int(erp_id):05d}" if erp_id.isdigit() else f"{prefix}-{erp_id}",
        contact=Contact(f"c{n % 7}", f"Customer {n % 7}"),
        date=day,
        due_date=day + timedelta(days=30),
        currency="AUD",
        lines=tuple(
            DocumentLine(f"Shiraz 6x750ml #{i}", Decimal(1), each, account, tax_type,
                         tax_amount=(each / 10).quantize(Decimal("0.01")))
            for i in range(lines)
        ),
        url=f"http://erp.test/erp/{kind.value}/{erp_id}",
    )


def documents(count: int, kind: Kind = Kind.SALES_ORDERS, start: date = date(2026, 1, 1),
              **kwargs) -> list[TradeDocument]:
    return [document(kind, day=start + timedelta(days=i % 300), **kwargs) for i in range(count)]


def entry(
    movement: MovementType = MovementType.ADDITION,
    amount: str = "10.0000",
    day: date = date(2026, 11, 2),
    category: CostCategory | None = None,
    from_stage: Stage | None = None,
    to_stage: Stage | None = None,
    vintage: str = "2025",
    brand: str = "Reserve",
) -> CostEntry:
    defaults = {
        MovementType.CRUSH: (CostCategory.FRUIT, Stage.FRUIT, Stage.BULK_WINE),
        MovementType.ADDITION: (CostCategory.ADDITIVE, Stage.ADDITIVES, Stage.BULK_WINE),
        MovementType.BOTTLING: (CostCategory.BULK_WINE, Stage.BULK_WINE, Stage.FINISHED_GOODS),
        MovementType.TRANSFER: (CostCategory.BULK_WINE, Stage.BULK_WINE, Stage.BULK_WINE),
        MovementType.LOSS: (CostCategory.BULK_WINE, Stage.BULK_WINE, Stage.LOSSES),
        MovementType.LABOUR: (CostCategory.LABOUR, Stage.OVERHEAD, Stage.BULK_WINE),
        MovementType.DISPATCH: (CostCategory.BULK_WINE, Stage.FINISHED_GOODS, Stage.COGS),
    }[movement]
    n = next(_ids)
    return CostEntry(
        erp_id=str(n),
        operation=Operation(str(n), f"OP-{n:04d}", f"Operation {n}",
                            f"http://erp.test/erp/operations/{n}"),
        date=day,
        movement_type=movement,
        category=category or defaults[0],
        amount=Decimal(amount),
        from_stage=from_stage or defaults[1],
        to_stage=to_stage or defaults[2],
        tracking=(("brand", brand), ("vintage", vintage)),
        description=f"{movement.value} cost {n}",
    )


__all__ = ["document", "documents", "entry", "mapping"]
