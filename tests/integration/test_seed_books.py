"""The demo winery's books make sense (WINERY.md), read the way Accounts Sync reads them.

The cost entries become journals through the demo's mapping (the SQL adapter's flows and the
domain's journal builder, as a sync would post them), the billed purchase orders become bills
(the adapter's documents); their lines, day by day, give each inventory account's balance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import func, select

from accounts_sync.adapters.erp_sql import host_schema as hs
from accounts_sync.adapters.erp_sql.engine import make_engine, make_session_factory
from accounts_sync.adapters.erp_sql.links import ErpLinks
from accounts_sync.adapters.erp_sql.sqlalchemy_settings import SqlSettingsStore
from accounts_sync.adapters.erp_sql.sqlalchemy_uow import SqlUnitOfWork
from accounts_sync.application.checks import with_defaults
from accounts_sync.application.value_inventory import ValuationRequest, ValueInventory
from accounts_sync.demo.seed import seed
from accounts_sync.demo.setup import DEMO_MAPPING
from accounts_sync.domain.documents import Kind, TrackingRef
from accounts_sync.domain.journals import build_journals

from .conftest import fresh_database

TODAY = date(2026, 6, 15)
CENT = Decimal("0.01")
INVENTORY = {"1410": "fruit", "1420": "additives", "1430": "dry goods", "1440": "bulk wine WIP",
             "1450": "bottled wine"}
# Wine and fruit are bought, made and sold per batch: their accounts hold no negative tracking
# option either. (Additives and dry goods are bought for no batch in particular.)
TRACKED = ("1410", "1440", "1450")


class Books:
    def __init__(self, url: str, closing: date) -> None:
        self.name = ""
        self.engine = make_engine(url)
        self.closing = closing
        uow = SqlUnitOfWork(make_session_factory(self.engine), ErpLinks("http://erp.test"))
        with uow as u:
            self.build = build_journals(u.documents.cost_flows(closing), DEMO_MAPPING)
            self.bills = list(self._bills(u))

    def _bills(self, uow: SqlUnitOfWork) -> Iterator:
        after = None
        while chunk := uow.documents.next_unsynced(Kind.PURCHASE_ORDERS, self.closing, after, 500):
            yield from (with_defaults(d, DEMO_MAPPING) for d in chunk)
            after = (chunk[-1].date, chunk[-1].erp_id)

    def daily(self) -> dict[date, dict[tuple[str, tuple[TrackingRef, ...]], Decimal]]:
        """What each day posts per (account, tracking): journals and bills (net of GST)."""
        days: dict[date, dict] = defaultdict(lambda: defaultdict(Decimal))
        for journal in self.build.journals:
            for line in journal.lines:
                days[journal.date][line.account_code, line.tracking] += line.amount
        for bill in self.bills:
            for line in bill.lines:
                days[bill.date][line.account_code, line.tracking] += line.line_amount
        return days

    def rows(self, table, *where):
        with self.engine.connect() as conn:
            return conn.execute(select(table).where(*where).order_by(table.c.id)).mappings().all()


@pytest.fixture(scope="module", params=[
    pytest.param(dict(today=TODAY), id="demo"),
    pytest.param(dict(seed=7, today=date(2026, 3, 10), documents=3000, cost_entries=20000), id="harvest"),
    # The browser tests' demo: a smaller winery, the same story.
    pytest.param(dict(seed=3, today=date(2026, 11, 20), scale=0.2), id="small"),
])
def books(request, tmp_path_factory) -> Iterator[Books]:
    with fresh_database("sqlite", tmp_path_factory.mktemp("books")) as url:
        engine = make_engine(url)
        summary = seed(engine, **request.param)
        engine.dispose()
        books = Books(url, summary.end)
        books.name = ("demo", "harvest", "small")[request.param_index]
        yield books
        books.engine.dispose()


def test_every_journal_balances_to_the_cent_without_a_rounding_line(books):
    assert books.build.problems == ()
    assert len(books.build.journals) > 200
    for journal in books.build.journals:
        assert journal.is_balanced and len(journal.lines) >= 2
        assert not any(line.is_rounding for line in journal.lines), journal.key


def test_no_inventory_account_is_negative_on_any_day(books):
    balance: dict[tuple[str, tuple], Decimal] = defaultdict(Decimal)
    lowest: dict[str, Decimal] = {}
    for day, moved in sorted(books.daily().items()):
        for key, amount in moved.items():
            balance[key] += amount
        per_account: dict[str, Decimal] = defaultdict(Decimal)
        for (account, tracking), amount in balance.items():
            per_account[account] += amount
            if account in TRACKED:
                assert amount >= 0, f"{account} {tracking} is {amount} on {day}"
        for account in INVENTORY:
            assert per_account[account] >= 0, f"{INVENTORY[account]} ({account}) is " \
                                              f"{per_account[account]} on {day}"
            lowest[account] = min(lowest.get(account, per_account[account]), per_account[account])
    # Stock is really there and really used: every account moves, and holds something.
    assert all(account in lowest for account in INVENTORY)
    assert balance  # and fruit returns to zero: every parcel is billed and crushed the same day
    fruit = sum((v for (a, _), v in balance.items() if a == "1410"), Decimal(0))
    assert fruit == 0


def test_bills_for_stock_come_before_the_cellar_uses_it(books):
    """A bill for additives debits 1420 and the additions credit 1420; a grower's invoice
    debits 1410 on the day its parcel is crushed; dry goods are in store before bottling."""
    bills = defaultdict(Decimal)
    for bill in books.bills:
        for line in bill.lines:
            bills[line.account_code] += line.line_amount
    used = defaultdict(Decimal)
    for journal in books.build.journals:
        for line in journal.lines:
            if line.account_code in ("1410", "1420", "1430") and line.amount < 0:
                used[line.account_code] -= line.amount
    assert bills["1410"] == used["1410"] > 0
    assert 0 < used["1420"] and 0 < bills["1420"]
    assert 0 < used["1430"] and 0 < bills["1430"]
    crush = {e["entry_date"]: e for e in books.rows(hs.cost_entries,
                                                     hs.cost_entries.c.movement_type == "crush")}
    fruit_bills = {b.date for b in books.bills if any(ln.account_code == "1410" for ln in b.lines)}
    assert fruit_bills == set(crush)
    short = books.rows(hs.cost_entries, hs.cost_entries.c.description.contains("short:"))
    assert short == []


def test_every_emptied_batch_and_product_leaves_exactly_zero(books):
    litres: dict[int, Decimal] = defaultdict(Decimal)
    cost: dict[int, Decimal] = defaultdict(Decimal)
    cases: dict[int, Decimal] = defaultdict(Decimal)
    cased_cost: dict[int, Decimal] = defaultdict(Decimal)
    emptied_by: dict[int, str] = {}
    sold_out = set()
    for e in books.rows(hs.cost_entries):
        amount = e["amount"]
        if e["batch_id"] is not None and "bulk_wine" in (e["from_stage"], e["to_stage"]):
            batch = e["batch_id"]
            assert batch not in emptied_by or litres[batch] > 0 or e["litres"], \
                f"cost added to an empty batch: {e['description']}"
            sign = 1 if e["to_stage"] == "bulk_wine" else -1  # within the stage: as signed
            litres[batch] += sign * (e["litres"] or 0)
            cost[batch] += sign * amount
            assert litres[batch] >= 0 and cost[batch] >= 0, e["description"]
            if litres[batch] == 0 and e["litres"]:
                emptied_by[batch] = e["movement_type"]
            if litres[batch] == 0:
                assert cost[batch] == 0, f"{e['description']} leaves {cost[batch]}"
        if e["product_id"] is not None:
            sign = 1 if e["to_stage"] == "finished_goods" else -1
            cases[e["product_id"]] += sign * (e["cases"] or 0)
            cased_cost[e["product_id"]] += sign * amount
            assert cases[e["product_id"]] >= 0 and cased_cost[e["product_id"]] >= 0
            if cases[e["product_id"]] == 0 and e["movement_type"] == "dispatch":
                sold_out.add(e["product_id"])
                assert cased_cost[e["product_id"]] == 0, f"sold out by {e['description']}"
    # The year empties tanks every way there is: bottled out, sold in bulk, blended away.
    assert len(emptied_by) >= 5
    ways = {"bottling"} if books.name == "small" else {"bottling", "bulk_sale"}
    assert ways <= set(emptied_by.values())
    assert len(sold_out) >= (0 if books.name == "small" else 3)


def test_cost_leaves_a_batch_at_its_moving_average(books):
    """Every movement out of a batch carries its cost so far / its litres so far, to the cent."""
    litres: dict[int, Decimal] = defaultdict(Decimal)
    cost: dict[int, Decimal] = defaultdict(Decimal)
    checked = 0
    for e in books.rows(hs.cost_entries):
        if e["batch_id"] is None or "bulk_wine" not in (e["from_stage"], e["to_stage"]):
            continue
        out = e["from_stage"] == "bulk_wine" and (e["to_stage"] != "bulk_wine" or e["amount"] < 0)
        batch = e["batch_id"]
        if out:
            moved = abs(e["litres"])
            expected = cost[batch] if moved == litres[batch] else \
                (cost[batch] * moved / litres[batch]).quantize(CENT, ROUND_HALF_UP)
            assert abs(e["amount"]) == expected, e["description"]
            checked += 1
        sign = 1 if e["to_stage"] == "bulk_wine" else -1
        litres[batch] += sign * (e["litres"] or 0)
        cost[batch] += sign * e["amount"]
    assert checked > 100


def test_barrels_are_fixed_assets_reaching_wine_only_through_the_ageing_charge(books):
    barrel_lines = [line for bill in books.bills for line in bill.lines if "barri" in line.description
                    or "hogshead" in line.description]
    assert barrel_lines
    assert {line.account_code for line in barrel_lines} <= {"1600", "1460"}  # 1460: the archived one
    assert all(line.tax_type == "CAPEXINPUT" for line in barrel_lines if line.account_code == "1600")
    assert not any(line.account_code == "1440" for bill in books.bills for line in bill.lines)
    charges = [line for j in books.build.journals if j.movement_type.value == "barrel_ageing"
               for line in j.lines]
    assert {line.account_code for line in charges} == {"1440", "5900"}


def test_every_billed_purchase_order_carries_its_suppliers_invoice_number(books):
    orders = books.rows(hs.purchase_orders, hs.purchase_orders.c.status == "billed")
    assert orders
    assert all(o["supplier_invoice_number"] for o in orders)
    assert all(b.supplier_invoice_number and b.reference == b.number for b in books.bills)
    by_supplier: dict[int, list[str]] = defaultdict(list)
    for order in orders:
        by_supplier[order["supplier_id"]].append(order["supplier_invoice_number"])
    assert all(len(set(numbers)) == len(numbers) for numbers in by_supplier.values())


def test_wine_equalisation_tax_on_domestic_sales(books):
    customers = {c["id"]: c for c in books.rows(hs.customers)}
    orders = {o["id"]: o for o in books.rows(hs.sales_orders)}
    lines: dict[int, list] = defaultdict(list)
    for line in books.rows(hs.sales_order_lines):
        lines[line["sales_order_id"]].append(line)
    seen: dict[str, int] = defaultdict(int)
    for order_id, order_lines in lines.items():
        channel = customers[orders[order_id]["customer_id"]]["channel"]
        wine = [ln for ln in order_lines if ln["item_code"] not in ("FREIGHT", "WET", "EVENT")]
        wet = [ln for ln in order_lines if ln["item_code"] == "WET"]
        value = sum(((ln["quantity"] * ln["unit_price"]).quantize(CENT, ROUND_HALF_UP) for ln in wine),
                    Decimal(0))
        if not wine or channel in ("export", "distributor", "bulk"):
            # Exports carry none; distributors and bulk buyers quote their ABN (no WET).
            assert wet == [], orders[order_id]["number"]
            if channel in ("distributor", "bulk"):
                assert all("under quote" in ln["description"] for ln in wine)
            continue
        assert len(wet) == 1, orders[order_id]["number"]
        line = wet[0]
        assert (line["account_code"], line["tax_type"], line["quantity"]) == ("2310", "OUTPUT", 1)
        if channel == "retail":  # 29% of the wholesale price, on top of it
            assert line["unit_price"] == (value * Decimal("0.29")).quantize(CENT, ROUND_HALF_UP)
        else:  # cellar door: inside the retail price, 29% of half of it
            retail = value + line["unit_price"]
            assert abs(line["unit_price"] - retail * Decimal("0.145")) <= Decimal("0.02")
        # GST on the wine and on the WET.
        assert line["tax_amount"] == (line["unit_price"] * Decimal("0.1")).quantize(CENT, ROUND_HALF_UP)
        seen[channel] += 1
    assert seen["retail"] > 10 and seen["cellar_door"] > 10


def test_no_row_is_stamped_after_the_moment_of_seeding(tmp_path):
    now = datetime(2026, 6, 15, 8, 30)  # the middle of the last day: its rows are stamped later
    with fresh_database("sqlite", tmp_path) as url:
        engine = make_engine(url)
        seed(engine, today=now.date(), scale=0.3, cost_entries=2000, now=now)
        stamped = [(hs.sales_orders, "updated_at"), (hs.purchase_orders, "updated_at"),
                   (hs.refunds, "updated_at"), (hs.cost_entries, "created_at"),
                   (hs.cost_entries, "updated_at")]
        with engine.connect() as conn:
            latest = [conn.execute(select(func.max(t.c[c]))).scalar_one() for t, c in stamped]
            today_rows = conn.execute(select(func.count()).select_from(hs.cost_entries)
                                      .where(hs.cost_entries.c.entry_date == now.date())).scalar_one()
        engine.dispose()
    assert today_rows > 0
    assert max(latest) <= now
    assert max(latest) >= now - timedelta(hours=1)


def test_the_deliberate_problems_stay(books):
    """One bill books reconditioned barrels to the account archived in Xero (1460)."""
    archived = [b for b in books.bills if any(ln.account_code == "1460" for ln in b.lines)]
    assert len(archived) == 1


def test_tracking_on_bills_follows_the_mapping(books):
    fruit = [line for bill in books.bills for line in bill.lines if line.account_code == "1410"]
    assert fruit and all({t.category for t in line.tracking} == {"Vintage", "Brand"} for line in fruit)
    stock = [line for bill in books.bills for line in bill.lines if line.account_code == "1430"]
    assert stock and all(line.tracking == () for line in stock)


def test_the_inventory_valuation_is_what_the_journals_and_bills_leave_in_each_account(books):
    """What a full sync would leave in Xero, account by account and per tracking option, is the
    valuation: at the closing date for stock, over the financial year for COGS and losses."""
    session_factory = make_session_factory(books.engine)
    with session_factory() as session:
        SqlSettingsStore(session).save_mapping(DEMO_MAPPING)
        session.commit()
    use_case = ValueInventory(lambda: SqlUnitOfWork(session_factory, ErpLinks("http://erp.test")))
    for closing in (books.closing, books.closing - timedelta(days=75)):
        result = use_case.execute(ValuationRequest(closing))
        valuation = result.valuation
        start = valuation.period_start
        held: dict[tuple[str, tuple], Decimal] = defaultdict(Decimal)
        for day, moved in books.daily().items():
            for (account, tracking), amount in moved.items():
                if account in INVENTORY and day <= closing or \
                        account in ("5000", "5100") and start <= day <= closing:
                    held[account, tracking] += amount
        mine = {(a.account_code, a.tracking): a.amount for a in valuation.accounts}
        assert {k: v for k, v in held.items() if v} == mine
        assert valuation.problems == ()
        bulk = sum((v.cost for v in valuation.bulk), Decimal(0))
        assert bulk == valuation.account_total("1440") > 0
        assert valuation.finished_cost == valuation.account_total("1450") > 0
        assert all(b.litres > 0 and b.batch.url.endswith(f"/erp/batches/{b.batch.erp_id}")
                   for v in valuation.bulk for b in v.batches)
        assert all(p.cases > 0 and p.product.url for p in valuation.finished)
