"""The SQL adapter's reads for the inventory valuation, on SQLite and PostgreSQL: the cost
entries' net effect per stage, batch and product (directly, and through the cache kept at a
million entries), and the bills' net line amounts as Xero rounds them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, update

from accounts_sync.adapters.erp_sql import host_schema as host
from accounts_sync.adapters.erp_sql import sqlalchemy_documents, sqlalchemy_inventory
from accounts_sync.adapters.erp_sql.sqlalchemy_inventory import _StockCache
from accounts_sync.domain.costs import CostCategory, Stage
from accounts_sync.domain.inventory import BatchRef, ProductRef

from .fixtures import line

D = Decimal
DAY = date(2026, 3, 2)


def balances(uow_factory, closing=date(2026, 12, 31), since=None):
    with uow_factory() as uow:
        found = uow.documents.stock_balances(closing, since)
    return {(b.stage, b.category, b.batch.code if b.batch else None,
             b.product.code if b.product else None): b for b in found}


@pytest.fixture
def cellar(erp):
    """Fruit crushed into one batch, a transfer to another, a bottling, a dispatch."""
    shiraz = erp.batch("24-SHZ-EST-01", vintage="2024", brand="Estate", vessel="Tank T01")
    blend = erp.batch("24-SHZ-BLK-01", vintage="2024", brand="Bulk")
    product = erp.product("SHZ-EST-24-6", name="2024 Estate Shiraz, 6 x 750 mL")
    op = erp.operation("OP-1")
    row = dict(vintage="2024", brand="Estate", batch_id=shiraz)
    erp.many_cost_entries(op, [
        dict(entry_date=DAY, movement_type="crush", cost_category="fruit", from_stage="fruit",
             to_stage="bulk_wine", amount="10000.0000", litres=D(5000), **row),
        dict(entry_date=DAY, movement_type="transfer", cost_category="bulk_wine",
             from_stage="bulk_wine", to_stage="bulk_wine", amount="-200.0000", litres=D(-100), **row),
        dict(entry_date=DAY, movement_type="transfer", cost_category="bulk_wine",
             from_stage="bulk_wine", to_stage="bulk_wine", amount="200.0000", litres=D(100),
             vintage="2024", brand="Bulk", batch_id=blend),
        dict(entry_date=DAY + timedelta(days=100), movement_type="bottling", cost_category="bulk_wine",
             from_stage="bulk_wine", to_stage="finished_goods", amount="9800.0000", litres=D(4900),
             cases=D(539), product_id=product, **row),
        dict(entry_date=DAY + timedelta(days=100), movement_type="bottling", cost_category="dry_goods",
             from_stage="dry_goods", to_stage="finished_goods", amount="1234.5678", product_id=product,
             **row),
        dict(entry_date=DAY + timedelta(days=200), movement_type="dispatch", cost_category="bulk_wine",
             from_stage="finished_goods", to_stage="cogs", amount="2000.0000", cases=D(100),
             product_id=product, vintage="2024", brand="Estate"),
    ])
    return shiraz, blend, product


def test_each_entry_adds_to_its_to_stage_and_takes_from_its_from_stage(uow_factory, cellar):
    shiraz, blend, product = cellar
    found = balances(uow_factory)
    bulk = found[Stage.BULK_WINE, CostCategory.BULK_WINE, "24-SHZ-EST-01", "SHZ-EST-24-6"]
    assert (bulk.amount, bulk.litres, bulk.cases) == (D("-9800"), D(-4900), D(-539))
    fruit_in = found[Stage.BULK_WINE, CostCategory.FRUIT, "24-SHZ-EST-01", None]
    assert (fruit_in.amount, fruit_in.litres) == (D(10000), D(5000))
    # The transfer counts once per batch, as signed: out of one, into the other.
    assert found[Stage.BULK_WINE, CostCategory.BULK_WINE, "24-SHZ-EST-01", None].litres == D(-100)
    into = found[Stage.BULK_WINE, CostCategory.BULK_WINE, "24-SHZ-BLK-01", None]
    assert (into.amount, into.litres) == (D(200), D(100))
    assert into.attributes == (("brand", "Bulk"), ("vintage", "2024"))
    cased = found[Stage.FINISHED_GOODS, CostCategory.DRY_GOODS, "24-SHZ-EST-01", "SHZ-EST-24-6"]
    assert cased.amount == D("1234.5678")  # four places, as the ERP keeps them
    sold = found[Stage.COGS, CostCategory.BULK_WINE, None, "SHZ-EST-24-6"]
    assert (sold.amount, sold.cases) == (D(2000), D(100))
    assert found[Stage.FINISHED_GOODS, CostCategory.BULK_WINE, None, "SHZ-EST-24-6"].cases == D(-100)
    assert found[Stage.FRUIT, CostCategory.FRUIT, "24-SHZ-EST-01", None].amount == D(-10000)
    assert bulk.batch == BatchRef(str(shiraz), "24-SHZ-EST-01", "2024", "Shiraz", "Estate", "Tank T01",
                                  f"http://erp.test/erp/batches/{shiraz}")
    assert bulk.product == ProductRef(str(product), "SHZ-EST-24-6", "2024 Estate Shiraz, 6 x 750 mL",
                                      f"http://erp.test/erp/products/{product}")


def test_dates_bound_the_balances(uow_factory, cellar):
    before_bottling = balances(uow_factory, closing=DAY + timedelta(days=99))
    assert not any(stage is Stage.FINISHED_GOODS for stage, *_ in before_bottling)
    period = balances(uow_factory, since=DAY + timedelta(days=150))
    assert set(period) == {(Stage.FINISHED_GOODS, CostCategory.BULK_WINE, None, "SHZ-EST-24-6"),
                           (Stage.COGS, CostCategory.BULK_WINE, None, "SHZ-EST-24-6")}


def test_the_cache_gives_what_the_query_gives_and_follows_every_change(uow_factory, cellar, erp,
                                                                       monkeypatch, clean_db):
    direct = balances(uow_factory)
    monkeypatch.setattr(sqlalchemy_inventory, "FLOW_CACHE_MIN_ENTRIES", 0)
    _StockCache._caches.clear()
    assert balances(uow_factory) == direct
    assert balances(uow_factory, since=DAY + timedelta(days=150)) == \
        _direct(uow_factory, monkeypatch, since=DAY + timedelta(days=150))
    # An edit stamped now, a new entry, a deleted one: each is seen.
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)  # host stamps: naive UTC
    with clean_db.begin() as conn:
        conn.execute(update(host.cost_entries).where(host.cost_entries.c.movement_type == "crush")
                     .values(amount=D("10500.0000"), updated_at=later))
    erp.many_cost_entries(erp.operation("OP-2"), [dict(
        entry_date=DAY, movement_type="addition", cost_category="additive", from_stage="additives",
        to_stage="bulk_wine", amount="55.0000", vintage="2024", brand="Bulk", batch_id=cellar[1],
        created_at=later)])
    with clean_db.begin() as conn:
        conn.execute(delete(host.cost_entries).where(host.cost_entries.c.movement_type == "dispatch"))
    cached = balances(uow_factory)
    assert cached == _direct(uow_factory, monkeypatch)
    assert cached[Stage.BULK_WINE, CostCategory.FRUIT, "24-SHZ-EST-01", None].amount == D(10500)
    assert (Stage.COGS, CostCategory.BULK_WINE, None, "SHZ-EST-24-6") not in cached


def _direct(uow_factory, monkeypatch, since=None):
    monkeypatch.setattr(sqlalchemy_inventory, "FLOW_CACHE_MIN_ENTRIES", 10**9)
    try:
        return balances(uow_factory, since=since)
    finally:
        monkeypatch.setattr(sqlalchemy_inventory, "FLOW_CACHE_MIN_ENTRIES", 0)


def test_bills_net_line_amounts_per_account_rounded_per_line_as_xero_does(uow_factory, erp):
    grower = erp.supplier("Valley Growers")
    erp.purchase_order(grower, bill_date=DAY, lines=[
        line("Shiraz fruit", "2.5", "2200.00", account="1410", tax_type="INPUT", vintage="2024",
             brand="Estate"),
        line("Yeast", "3", "0.3350", account="1420", tax_type="INPUT"),  # 1.005 → 1.01 (half up)
        line("Yeast", "3", "0.3350", account="1420", tax_type="INPUT"),
        line("Freight", "1", "99.00", account="6200", tax_type="INPUT"),
    ])
    erp.purchase_order(grower, bill_date=DAY, line_amount_types="Inclusive", lines=[
        line("Labels, tax included", "1", "110.00", account="1430", tax_type="INPUT", tax="10.00"),
    ])
    erp.purchase_order(grower, status="received", bill_date=None, lines=[
        line("Not billed yet", "1", "500.00", account="1420", tax_type="INPUT")])
    erp.purchase_order(grower, bill_date=DAY + timedelta(days=30), lines=[
        line("After the closing date", "1", "500.00", account="1420", tax_type="INPUT")])
    with uow_factory() as uow:
        found = uow.documents.purchases_by_account(["1410", "1420", "1430"], DAY)
    assert [(p.account_code, p.amount, p.attributes) for p in found] == [
        ("1410", D("5500.00"), (("brand", "Estate"), ("vintage", "2024"))),
        ("1420", D("2.02"), ()),
        ("1430", D("100.00"), ()),
    ]


def test_flow_cache_and_stock_cache_keep_apart(uow_factory, cellar, monkeypatch):
    """The two caches are per engine and per kind: the cost flows' never hold stock rows."""
    monkeypatch.setattr(sqlalchemy_inventory, "FLOW_CACHE_MIN_ENTRIES", 0)
    monkeypatch.setattr(sqlalchemy_documents, "FLOW_CACHE_MIN_ENTRIES", 0)
    _StockCache._caches.clear()
    sqlalchemy_documents._FlowCache._caches.clear()
    with uow_factory() as uow:
        flows = uow.documents.cost_flows(date(2026, 12, 31))
        stock = uow.documents.stock_balances(date(2026, 12, 31))
    assert flows and stock
    assert _StockCache._caches is not sqlalchemy_documents._FlowCache._caches
