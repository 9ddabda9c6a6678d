"""ValueInventory against fakes: the stock at cost at a closing date, and how it ties to Xero."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts_sync.application.value_inventory import (
    FINANCIAL_YEAR_END,
    ValuationRequest,
    ValueInventory,
    financial_year_start,
)
from accounts_sync.domain.costs import CostCategory as Cat
from accounts_sync.domain.costs import CostEntry, CostFlow, MovementType, Operation
from accounts_sync.domain.costs import Stage as St
from accounts_sync.domain.documents import Contact, DocumentLine, Kind, TrackingRef, TradeDocument
from accounts_sync.domain.errors import InvalidRequest
from accounts_sync.domain.inventory import BatchRef, ProductRef
from accounts_sync.domain.journals import build_journals
from tests.builders import mapping
from tests.fakes import InMemoryStore, StockMove, uow_factory

CLOSING = date(2026, 11, 30)
D = Decimal
SHZ = BatchRef("1", "24-SHZ-RES-01", "2024", "Shiraz", "Reserve", url="http://erp.test/erp/batches/1")
CHA = BatchRef("2", "25-CHA-EST-01", "2025", "Chardonnay", "Estate", url="http://erp.test/erp/batches/2")
SHZ_CASES = ProductRef("7", "SHZ-RES-24-6", "2024 Reserve Shiraz, 6 x 750 mL", "http://erp.test/erp/products/7")


def attrs(thing: BatchRef | ProductRef) -> tuple[tuple[str, str], ...]:
    if isinstance(thing, ProductRef):
        return (("brand", "Reserve"), ("vintage", "2024"))
    return (("brand", thing.brand), ("vintage", thing.vintage))


def move(day: date, source: St, target: St, category: Cat, amount: str, *, litres: str = "0",
         cases: str = "0", batch: BatchRef | None = None, product: ProductRef | None = None) -> StockMove:
    owner = batch or product
    return StockMove(day, source, target, category, D(amount), D(litres), D(cases), batch, product,
                     attrs(owner) if owner else ())


def bill(day: date, account: str, amount: str, attributes: tuple = ()) -> TradeDocument:
    return TradeDocument(
        Kind.PURCHASE_ORDERS, f"po-{day}-{account}-{amount}", "PO-1", Contact("supplier:1", "Grower"), day,
        day + timedelta(days=30), "AUD",
        (DocumentLine("stock", D(1), D(amount), account, "INPUT", attributes=attributes),),
    )


@pytest.fixture
def store() -> InMemoryStore:
    store = InMemoryStore()
    store.state.mapping = mapping()
    return store


@pytest.fixture
def value(store):
    use_case = ValueInventory(uow_factory(store), default_currency="AUD")
    return lambda closing=CLOSING, start=None: use_case.execute(ValuationRequest(closing, start))


def winery(store: InMemoryStore) -> None:
    """A season in miniature: fruit bought and crushed, an addition, a transfer, bottling,
    two dispatches and a loss."""
    d = date(2026, 3, 2)
    store.add(bill(d, "1410", "8000.00", attrs(SHZ)), bill(d, "1420", "500.00"),
              bill(d, "1430", "3000.00"))
    store.stock_moves += [
        move(d, St.FRUIT, St.BULK_WINE, Cat.FRUIT, "8000.00", litres="2000", batch=SHZ),
        move(d, St.ADDITIVES, St.BULK_WINE, Cat.ADDITIVE, "200.00", batch=SHZ),
        move(d, St.OPENING_BALANCES, St.BULK_WINE, Cat.BULK_WINE, "1500.00", litres="1000", batch=CHA),
        # a transfer: signed entries within the stage
        move(d + timedelta(days=40), St.BULK_WINE, St.BULK_WINE, Cat.BULK_WINE, "410.00", litres="100",
             batch=CHA),
        move(d + timedelta(days=40), St.BULK_WINE, St.BULK_WINE, Cat.BULK_WINE, "-410.00", litres="-100",
             batch=SHZ),
        move(date(2026, 8, 3), St.BULK_WINE, St.FINISHED_GOODS, Cat.BULK_WINE, "7790.00", litres="1900",
             cases="250", batch=SHZ, product=SHZ_CASES),
        move(date(2026, 8, 3), St.DRY_GOODS, St.FINISHED_GOODS, Cat.DRY_GOODS, "2500.00", product=SHZ_CASES),
        move(date(2026, 8, 3), St.OVERHEAD, St.FINISHED_GOODS, Cat.LABOUR, "630.00", product=SHZ_CASES),
        move(date(2026, 9, 1), St.FINISHED_GOODS, St.COGS, Cat.BULK_WINE, "4368.00", cases="100",
             product=SHZ_CASES),
        move(date(2026, 6, 1), St.FINISHED_GOODS, St.COGS, Cat.BULK_WINE, "0.00", cases="0",
             product=SHZ_CASES),
        move(date(2026, 10, 1), St.BULK_WINE, St.LOSSES, Cat.BULK_WINE, "136.50", litres="100", batch=CHA),
    ]


def test_bulk_wine_by_vintage_and_batch_with_litres_cost_and_cost_per_litre(store, value):
    winery(store)
    result = value()
    valuation = result.valuation
    assert [v.vintage for v in valuation.bulk] == ["2025"]  # 24-SHZ-RES-01 was bottled out
    [cha] = valuation.bulk[0].batches
    assert (cha.batch, cha.litres, cha.cost) == (CHA, D(1000), D("1773.50"))
    assert cha.cost_per_litre == D("1.7735")
    assert (valuation.bulk_litres, valuation.bulk_cost) == (D(1000), D("1773.50"))
    assert valuation.problems == ()


def test_finished_goods_by_product_with_cases_and_cost_per_case(store, value):
    winery(store)
    [shiraz] = value().valuation.finished
    assert (shiraz.product, shiraz.cases, shiraz.cost) == (SHZ_CASES, D(150), D("6552.00"))
    assert shiraz.cost_per_case == D("43.6800")


def test_materials_are_what_was_bought_and_counted_less_what_the_cellar_used(store, value):
    winery(store)
    materials = {m.stage: m for m in value().valuation.materials}
    assert materials[St.FRUIT].amount == D("0.00")  # every tonne billed was crushed
    assert (materials[St.ADDITIVES].purchased, materials[St.ADDITIVES].moved,
            materials[St.ADDITIVES].amount) == (D("500.00"), D("-200.00"), D("300.00"))
    assert materials[St.DRY_GOODS].amount == D("500.00")


def test_cost_of_goods_sold_is_for_the_financial_year_to_date_by_default(store, value):
    winery(store)
    result = value()
    valuation = result.valuation
    assert (result.period_label, valuation.period_start) == ("financial year to date", date(2026, 7, 1))
    assert valuation.period_cost(St.COGS) == D("4368.00")
    assert valuation.period_cost(St.LOSSES) == D("136.50")
    [sold, lost] = valuation.cost_of_sales
    assert (sold.product, sold.cases, sold.amount) == (SHZ_CASES, D(100), D("4368.00"))
    assert (lost.batch, lost.litres, lost.stage) == (CHA, D(100), St.LOSSES)
    # A later start leaves the September dispatch out; a year end in Settings moves the default.
    assert value(start=date(2026, 9, 15)).valuation.period_cost(St.COGS) == D("0.00")
    store.state.preferences[FINANCIAL_YEAR_END] = "12-31"
    assert value().valuation.period_start == date(2026, 1, 1)


def test_each_figure_is_given_per_xero_account_and_tracking_option(store, value):
    winery(store)
    valuation = value().valuation
    totals = {a.account_code: a.amount for a in valuation.totals}
    assert totals == {"1410": D("0.00"), "1420": D("300.00"), "1430": D("500.00"), "1440": D("1773.50"),
                      "1450": D("6552.00"), "5000": D("4368.00"), "5100": D("136.50")}
    by_option = {(a.account_code, a.tracking): a.amount for a in valuation.accounts}
    estate_25 = (TrackingRef("Vintage", "2025"), TrackingRef("Brand", "Estate"))
    assert by_option["1440", estate_25] == D("1773.50")
    assert ("1440", (TrackingRef("Vintage", "2024"), TrackingRef("Brand", "Reserve"))) not in by_option
    # The additions' credits carry the batch's tracking (as the journals post them); the bill none.
    reserve_24 = (TrackingRef("Vintage", "2024"), TrackingRef("Brand", "Reserve"))
    assert by_option["1420", ()] == D("500.00") and by_option["1420", reserve_24] == D("-200.00")
    assert valuation.account_total("1420") == D("300.00")


def test_without_tracking_mapped_accounts_have_no_tracking(store, value):
    winery(store)
    store.state.mapping = mapping(tracking=False)
    assert all(a.tracking == () for a in value().valuation.accounts)


def test_a_cost_category_mapped_to_its_own_account_is_valued_there(store, value):
    winery(store)
    store.state.mapping = mapping(category_overrides={(St.BULK_WINE, Cat.FRUIT): "1441"})
    totals = {a.account_code: a.amount for a in value().valuation.totals}
    # The fruit crushed into 24-SHZ-RES-01 sits in 1441; the bottling took it out of 1440.
    assert totals["1441"] == D("8000.00") and totals["1440"] == D("1773.50") - D("8000.00")


def test_an_unmapped_stage_is_named_and_ties_to_nothing(store, value):
    winery(store)
    accounts = {k: v for k, v in mapping().stage_accounts.items() if k is not St.LOSSES}
    store.state.mapping = mapping(stage_accounts=accounts)
    valuation = value().valuation
    assert [p.code for p in valuation.problems] == ["unmapped_account"]
    assert "losses" in valuation.problems[0].message and not valuation.problems[0].blocking
    assert "5100" not in {a.account_code for a in valuation.totals}
    assert valuation.period_cost(St.LOSSES) == D("136.50")  # still valued, just not tied


def test_cost_left_in_an_empty_batch_and_negative_stock_are_problems(store, value):
    winery(store)
    store.stock_moves += [
        move(date(2026, 10, 2), St.BULK_WINE, St.LOSSES, Cat.BULK_WINE, "1600.00", litres="1000", batch=CHA),
        move(date(2026, 10, 2), St.ADDITIVES, St.BULK_WINE, Cat.ADDITIVE, "900.00", batch=SHZ),
    ]
    codes = {p.code: p for p in value().valuation.problems}
    # 1,773.50 of cost left the batch's 1,000 litres, less 1,600.00 taken with the last of them.
    assert "25-CHA-EST-01 has no litres left but still holds 173.50" in codes["cost_without_stock"].message
    assert codes["negative_stock"].subject == "additives"


def test_a_period_that_starts_after_the_closing_date_is_refused(store, value):
    with pytest.raises(InvalidRequest, match="after the closing date"):
        value(start=CLOSING + timedelta(days=1))


@pytest.mark.parametrize("day, year_end, start", [
    (date(2026, 11, 30), "06-30", date(2026, 7, 1)),
    (date(2026, 6, 30), "06-30", date(2025, 7, 1)),
    (date(2026, 7, 1), "06-30", date(2026, 7, 1)),
    (date(2026, 3, 31), "03-31", date(2025, 4, 1)),
    (date(2026, 4, 1), "03-31", date(2026, 4, 1)),
    (date(2026, 12, 31), "12-31", date(2026, 1, 1)),
    (date(2025, 3, 1), "02-29", date(2025, 3, 1)),  # 28 February ends a common year
])
def test_financial_year_start(day, year_end, start):
    assert financial_year_start(day, year_end) == start


def test_a_financial_year_end_that_is_no_day_is_refused(store, value):
    store.state.preferences[FINANCIAL_YEAR_END] = "13-45"
    with pytest.raises(InvalidRequest, match="13-45"):
        value()


# ------------------------------------------------------------------ the figures tie to Xero

STAGE_OF = {MovementType.CRUSH: (St.FRUIT, St.BULK_WINE, Cat.FRUIT),
            MovementType.ADDITION: (St.ADDITIVES, St.BULK_WINE, Cat.ADDITIVE),
            MovementType.LABOUR: (St.OVERHEAD, St.BULK_WINE, Cat.LABOUR),
            MovementType.LOSS: (St.BULK_WINE, St.LOSSES, Cat.BULK_WINE),
            MovementType.BOTTLING: (St.BULK_WINE, St.FINISHED_GOODS, Cat.BULK_WINE),
            MovementType.DISPATCH: (St.FINISHED_GOODS, St.COGS, Cat.BULK_WINE),
            MovementType.TRANSFER: (St.BULK_WINE, St.BULK_WINE, Cat.BULK_WINE)}
moves = st.lists(st.tuples(st.sampled_from(sorted(STAGE_OF)), st.integers(-5000, 500000),
                           st.integers(0, 200), st.sampled_from([SHZ, CHA])), min_size=1, max_size=40)


@settings(max_examples=120, deadline=None)
@given(moves, st.booleans(), st.integers(0, 3000))
def test_every_account_figure_is_what_the_journals_and_bills_post(rows, tracked, bought):
    """Whatever the entries, the valuation of an account (per tracking option) is the sum of the
    journal lines Accounts Sync builds from the same entries, plus the bills to it."""
    store = InMemoryStore()
    store.state.mapping = mapping(tracking=tracked)
    store.add(bill(date(2026, 1, 5), "1420", f"{bought}.00"))
    entries = []
    for n, (movement, cents, day, batch) in enumerate(rows):
        source, target, category = STAGE_OF[movement]
        amount = D(cents) / 100
        moved_on = date(2026, 1, 1) + timedelta(days=day)
        product = SHZ_CASES if St.FINISHED_GOODS in (source, target) else None
        legs = [(batch, amount)]
        if movement is MovementType.TRANSFER:  # out of the other batch: the pair balances
            legs.append((CHA if batch is SHZ else SHZ, -amount))
        for owner, leg in legs:
            store.stock_moves.append(StockMove(moved_on, source, target, category, leg, batch=owner,
                                               product=product, attributes=attrs(owner)))
            entries.append(CostEntry(f"{n}-{owner.erp_id}", Operation(str(n), "OP", "op"), moved_on,
                                     movement, category, leg, source, target, attrs(owner)))
    valuation = ValueInventory(uow_factory(store)).execute(
        ValuationRequest(CLOSING, date(2026, 1, 1))).valuation
    posted: dict[tuple[str, tuple], Decimal] = {}
    build = build_journals([CostFlow.of(e) for e in entries], store.state.mapping)
    for journal in build.journals:
        for line in journal.lines:
            if line.is_rounding:
                continue
            key = (line.account_code, line.tracking)
            posted[key] = posted.get(key, D(0)) + line.amount
    posted[("1420", ())] = posted.get(("1420", ()), D(0)) + D(bought)
    mine = {(a.account_code, a.tracking): a.amount for a in valuation.accounts}
    for key in set(posted) | set(mine):
        if key[0] in ("5900",):  # overhead recovered: not a stock or period figure
            continue
        # Journals round each line to the cent; cent amounts make that exact.
        assert mine.get(key, D(0)) == posted.get(key, D(0)), key


def test_every_stage_can_be_mapped_and_checked_in_settings():
    """A stage added to the cost model (the opening balances) has its account types in Settings."""
    from accounts_sync.application.settings import STAGE_TYPES

    assert set(STAGE_TYPES) == set(St)
    assert "EQUITY" in STAGE_TYPES[St.OPENING_BALANCES]
