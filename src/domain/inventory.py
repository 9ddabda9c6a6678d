"""Inventory valuation at a closing date (WINERY.md): what the stock is worth at cost, by stage,
batch, vintage and product, and what each Xero account should therefore hold.

The ERP's cost entries say what cost (and which litres or cases) moved into and out of each
stage; its bills say what stock was bought. Their sums up to the closing date (done by the
DocumentSource, in SQL) are turned here, through the account mapping, into the figures an
accountant ties to Xero: each inventory account per tracking option, cost of goods sold and
wine losses for the period. Pure functions: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .costs import CostCategory, Stage
from .documents import TrackingRef
from .errors import Problem
from .mapping import AccountMapping
from .money import ZERO, money

# Stages that hold stock at a date (balance sheet), and those that count for a period (P&L).
STOCK_STAGES = (Stage.FRUIT, Stage.ADDITIVES, Stage.DRY_GOODS, Stage.BULK_WINE, Stage.FINISHED_GOODS)
MATERIAL_STAGES = (Stage.FRUIT, Stage.ADDITIVES, Stage.DRY_GOODS)
PERIOD_STAGES = (Stage.COGS, Stage.LOSSES)


@dataclass(frozen=True)
class BatchRef:
    """A wine batch as the ERP names it, with the link to its page."""

    erp_id: str
    code: str
    vintage: str = ""
    varietal: str = ""
    brand: str = ""
    vessel: str = ""
    url: str = ""

    @property
    def label(self) -> str:
        return " ".join(part for part in (self.vintage, self.brand, self.varietal) if part)


@dataclass(frozen=True)
class ProductRef:
    """A cased product (one label, varietal and vintage), with the link to its page."""

    erp_id: str
    code: str
    name: str = ""
    url: str = ""


@dataclass(frozen=True)
class StockBalance:
    """What the cost entries left at one stage: net cost, litres and cases, per cost category,
    batch, product and the batch attributes the entries carry (the mapping makes tracking of
    them). Amounts may have four places; they are rounded only when reported."""

    stage: Stage
    category: CostCategory
    amount: Decimal
    litres: Decimal = ZERO
    cases: Decimal = ZERO
    batch: BatchRef | None = None
    product: ProductRef | None = None
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PurchaseBalance:
    """The bills' net line amounts (tax excluded) to one account, per batch attributes."""

    account_code: str
    amount: Decimal
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BatchValue:
    batch: BatchRef | None
    litres: Decimal
    cost: Decimal

    @property
    def cost_per_litre(self) -> Decimal | None:
        return (self.cost / self.litres).quantize(Decimal("0.0001")) if self.litres else None


@dataclass(frozen=True)
class VintageValue:
    vintage: str
    batches: tuple[BatchValue, ...]

    @property
    def litres(self) -> Decimal:
        return sum((b.litres for b in self.batches), ZERO)

    @property
    def cost(self) -> Decimal:
        return money(sum((b.cost for b in self.batches), ZERO))


@dataclass(frozen=True)
class ProductValue:
    product: ProductRef | None
    cases: Decimal
    cost: Decimal

    @property
    def cost_per_case(self) -> Decimal | None:
        return (self.cost / self.cases).quantize(Decimal("0.0001")) if self.cases else None


@dataclass(frozen=True)
class MaterialValue:
    """Fruit, additives or dry goods in store: bought (bills) plus counted at go-live, less
    what the cellar used."""

    stage: Stage
    purchased: Decimal
    moved: Decimal  # cost entries: opening stock in, the cellar's use out
    amount: Decimal


@dataclass(frozen=True)
class CostOfSale:
    """Cost of goods sold (or lost) in the period for one product or bulk batch."""

    stage: Stage
    amount: Decimal
    cases: Decimal = ZERO
    litres: Decimal = ZERO
    product: ProductRef | None = None
    batch: BatchRef | None = None


@dataclass(frozen=True)
class AccountValue:
    """What one Xero account (and tracking option) should hold: at the closing date for an
    inventory account, over the period for cost of goods sold and losses."""

    account_code: str
    stage: Stage
    amount: Decimal
    tracking: tuple[TrackingRef, ...] = ()


@dataclass(frozen=True)
class InventoryValuation:
    closing_date: date
    period_start: date
    currency: str
    bulk: tuple[VintageValue, ...]
    finished: tuple[ProductValue, ...]
    materials: tuple[MaterialValue, ...]
    cost_of_sales: tuple[CostOfSale, ...]
    accounts: tuple[AccountValue, ...]
    problems: tuple[Problem, ...] = ()
    # Per (account, stage): the accounts without their tracking split, by account code.
    totals: tuple[AccountValue, ...] = ()

    @property
    def bulk_litres(self) -> Decimal:
        return sum((v.litres for v in self.bulk), ZERO)

    @property
    def bulk_cost(self) -> Decimal:
        return money(sum((v.cost for v in self.bulk), ZERO))

    @property
    def finished_cases(self) -> Decimal:
        return sum((p.cases for p in self.finished), ZERO)

    @property
    def finished_cost(self) -> Decimal:
        return money(sum((p.cost for p in self.finished), ZERO))

    @property
    def materials_cost(self) -> Decimal:
        return money(sum((m.amount for m in self.materials), ZERO))

    @property
    def inventory_cost(self) -> Decimal:
        return money(self.bulk_cost + self.finished_cost + self.materials_cost)

    def period_cost(self, stage: Stage) -> Decimal:
        return money(sum((c.amount for c in self.cost_of_sales if c.stage is stage), ZERO))

    def account_total(self, code: str) -> Decimal:
        return money(sum((a.amount for a in self.accounts if a.account_code == code), ZERO))


def value_inventory(
    stock: Iterable[StockBalance],
    period: Iterable[StockBalance],
    purchases: Iterable[PurchaseBalance],
    mapping: AccountMapping,
    closing_date: date,
    period_start: date,
    currency: str = "",
) -> InventoryValuation:
    """Turn the SQL sums into the valuation. `stock` is every entry up to the closing date at
    the stock stages, `period` the entries of the period at the COGS and losses stages, and
    `purchases` the bills to the inventory stages' accounts up to the closing date."""
    stock, period, purchases = list(stock), list(period), list(purchases)
    problems: dict[str, Problem] = {}
    accounts: dict[tuple[str, Stage, tuple[TrackingRef, ...]], Decimal] = defaultdict(lambda: ZERO)
    tracking: dict[tuple[tuple[str, str], ...], tuple[TrackingRef, ...]] = {}

    def refs(attributes: tuple[tuple[str, str], ...]) -> tuple[TrackingRef, ...]:
        found = tracking.get(attributes)
        if found is None:
            found = tracking[attributes] = mapping.tracking_refs(attributes)
        return found

    def post(balance: StockBalance) -> None:
        code = mapping.account_for(balance.stage, balance.category)
        if not code:
            subject = f"{balance.category.value}@{balance.stage.value}"
            problems.setdefault(subject, Problem(
                "unmapped_account",
                f"{balance.category.label} cost held in {balance.stage.label.lower()} has no Xero "
                f"account, so it ties to nothing in Xero; map the stage in Settings.",
                subject, blocking=False))
            return
        accounts[code, balance.stage, refs(balance.attributes)] += balance.amount

    for balance in stock:
        if balance.stage in STOCK_STAGES:
            post(balance)
    for balance in period:
        if balance.stage in PERIOD_STAGES:
            post(balance)
    stage_of = _stage_of_accounts(mapping)
    purchased: dict[Stage, Decimal] = defaultdict(lambda: ZERO)
    for bill in purchases:
        stage = stage_of.get(bill.account_code)
        if stage is None:
            continue
        purchased[stage] += bill.amount
        accounts[bill.account_code, stage, refs(bill.attributes)] += bill.amount

    totals: dict[tuple[str, Stage], Decimal] = defaultdict(lambda: ZERO)
    for (code, stage, _), amount in accounts.items():
        totals[code, stage] += amount
    return InventoryValuation(
        closing_date=closing_date,
        period_start=period_start,
        currency=currency,
        bulk=_bulk(stock, problems),
        finished=_finished(stock, problems),
        materials=_materials(stock, purchased, problems),
        cost_of_sales=_cost_of_sales(period),
        accounts=tuple(
            AccountValue(code, stage, money(amount), refs_)
            for (code, stage, refs_), amount in sorted(
                accounts.items(), key=lambda item: (item[0][0], item[0][1].value,
                                                    [(t.category, t.option) for t in item[0][2]]))
            if money(amount) != ZERO
        ),
        problems=tuple(problems.values()),
        totals=tuple(
            AccountValue(code, stage, money(amount)) for (code, stage), amount in sorted(
                totals.items(), key=lambda item: (item[0][0], item[0][1].value))
        ),
    )


def _stage_of_accounts(mapping: AccountMapping) -> dict[str, Stage]:
    """The stock stage each account holds, for bills coded to it (materials first: a bill is
    stock bought, not wine)."""
    found: dict[str, Stage] = {}
    for stage in (*MATERIAL_STAGES, Stage.BULK_WINE, Stage.FINISHED_GOODS):
        code = mapping.stage_accounts.get(stage)
        if code and code not in found:
            found[code] = stage
    for (stage, _), code in mapping.category_overrides.items():
        if stage in STOCK_STAGES and code not in found:
            found[code] = stage
    return found


def _bulk(stock: list[StockBalance], problems: dict[str, Problem]) -> tuple[VintageValue, ...]:
    by_batch: dict[BatchRef | None, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for balance in stock:
        if balance.stage is Stage.BULK_WINE:
            sums = by_batch[balance.batch]
            sums[0] += balance.litres
            sums[1] += balance.amount
    vintages: dict[str, list[BatchValue]] = defaultdict(list)
    for batch, (litres, cost) in by_batch.items():
        if litres == 0 and money(cost) == ZERO:
            continue  # emptied: nothing left, as it should be
        _check_wine(batch.code if batch else "(no batch)", "batch", "litres", litres, cost, problems)
        vintages[batch.vintage if batch else ""].append(BatchValue(batch, litres, money(cost)))
    return tuple(
        VintageValue(vintage, tuple(sorted(batches, key=lambda b: b.batch.code if b.batch else "")))
        for vintage, batches in sorted(vintages.items(), key=lambda item: item[0] or "~")
    )


def _finished(stock: list[StockBalance], problems: dict[str, Problem]) -> tuple[ProductValue, ...]:
    by_product: dict[ProductRef | None, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for balance in stock:
        if balance.stage is Stage.FINISHED_GOODS:
            sums = by_product[balance.product]
            sums[0] += balance.cases
            sums[1] += balance.amount
    found = []
    for product, (cases, cost) in by_product.items():
        if cases == 0 and money(cost) == ZERO:
            continue
        _check_wine(product.code if product else "(no product)", "product", "cases", cases, cost,
                    problems)
        found.append(ProductValue(product, cases, money(cost)))
    return tuple(sorted(found, key=lambda p: p.product.code if p.product else "~"))


def _check_wine(name: str, what: str, unit: str, quantity: Decimal, cost: Decimal,
                problems: dict[str, Problem]) -> None:
    """Stock rules an accountant relies on: no cost without wine, nothing below zero."""
    if quantity < 0 or money(cost) < ZERO:
        problems.setdefault(f"negative:{name}", Problem(
            "negative_stock",
            f"The ERP's costs leave {what} {name} below zero ({quantity:,f} {unit}, "
            f"{money(cost):,.2f}); correct its operations in the ERP.",
            name, blocking=False))
    elif quantity == 0:
        problems.setdefault(f"empty:{name}", Problem(
            "cost_without_stock",
            f"{what.capitalize()} {name} has no {unit} left but still holds {money(cost):,.2f} of "
            f"cost; the ERP should move its cost out with its last {unit}.",
            name, blocking=False))


def _materials(stock: list[StockBalance], purchased: dict[Stage, Decimal],
               problems: dict[str, Problem]) -> tuple[MaterialValue, ...]:
    moved: dict[Stage, Decimal] = defaultdict(lambda: ZERO)
    for balance in stock:
        if balance.stage in MATERIAL_STAGES:
            moved[balance.stage] += balance.amount
    found = []
    for stage in MATERIAL_STAGES:
        if stage not in moved and stage not in purchased:
            continue
        amount = money(moved[stage] + purchased[stage])
        if amount < ZERO:
            problems.setdefault(f"negative:{stage.value}", Problem(
                "negative_stock",
                f"{stage.label} is below zero ({amount:,.2f}): the cellar used more than the "
                f"bills brought in; enter the missing bills in the ERP.",
                stage.value, blocking=False))
        found.append(MaterialValue(stage, money(purchased[stage]), money(moved[stage]), amount))
    return tuple(found)


def _cost_of_sales(period: list[StockBalance]) -> tuple[CostOfSale, ...]:
    sums: dict[tuple[Stage, ProductRef | None, BatchRef | None], list[Decimal]] = \
        defaultdict(lambda: [ZERO, ZERO, ZERO])
    for balance in period:
        if balance.stage not in PERIOD_STAGES:
            continue
        # Cased wine is sold by product; bulk wine (and losses) by batch.
        product = balance.product
        batch = None if product is not None else balance.batch
        entry = sums[balance.stage, product, batch]
        entry[0] += balance.amount
        entry[1] += balance.cases
        entry[2] += balance.litres
    found = [CostOfSale(stage, money(amount), cases, litres, product, batch)
             for (stage, product, batch), (amount, cases, litres) in sums.items()
             if money(amount) != ZERO]
    return tuple(sorted(found, key=lambda c: (c.stage.value, c.product is None,
                                              (c.product or c.batch).code if (c.product or c.batch)
                                              else "")))
