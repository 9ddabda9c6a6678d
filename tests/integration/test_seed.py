"""The demo winery generator against real SQLite files (and PostgreSQL's COPY path when reachable)."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import create_engine, func, select, text
from werkzeug.security import check_password_hash

from accounts_sync.adapters.erp_sql import host_schema as hs
from accounts_sync.adapters.erp_sql.host_schema import host_metadata
from accounts_sync.demo.seed import SeedSummary, seed, seed_if_empty
from accounts_sync.domain.costs import CostCategory, MovementType, Stage

TODAY = date(2026, 6, 15)
HARVEST_TODAY = date(2026, 3, 10)
CENT = Decimal("0.01")

# WINERY.md's movement table, one cost entry per row: (movement, category, from stage, to stage).
ALLOWED = {
    ("crush", "fruit", "fruit", "bulk_wine"),
    ("addition", "additive", "additives", "bulk_wine"),
    ("barrel_ageing", "barrel", "overhead", "bulk_wine"),
    ("labour", "labour", "overhead", "bulk_wine"),
    ("labour", "overhead", "overhead", "bulk_wine"),
    ("transfer", "bulk_wine", "bulk_wine", "bulk_wine"),
    ("blend", "bulk_wine", "bulk_wine", "bulk_wine"),
    ("bottling", "bulk_wine", "bulk_wine", "finished_goods"),
    ("bottling", "dry_goods", "dry_goods", "finished_goods"),
    ("bottling", "labour", "overhead", "finished_goods"),
    ("loss", "bulk_wine", "bulk_wine", "losses"),
    ("dispatch", "bulk_wine", "finished_goods", "cogs"),
    ("bulk_sale", "bulk_wine", "bulk_wine", "cogs"),
    # The stock take at go-live, against the opening balances.
    ("opening_balance", "bulk_wine", "opening_balances", "bulk_wine"),
    ("opening_balance", "bulk_wine", "opening_balances", "finished_goods"),
    ("opening_balance", "additive", "opening_balances", "additives"),
    ("opening_balance", "dry_goods", "opening_balances", "dry_goods"),
}
BRANDS = {"Estate", "Reserve", "Single Vineyard", "Cellar Door", "Bulk"}
BATCH_CODE = re.compile(r"^\d{2}-(SHZ|CAB|GRE|MAT|CHA|RIE|SEM)-(EST|RES|SV|CD|BLK)-\d{2}$")
ITEM_CODE = re.compile(r"^(SHZ|CAB|GRE|MAT|CHA|RIE|SEM)-(EST|RES|SV|CD)-\d{2}-6$")
TABLES = [t for t in host_metadata.sorted_tables]


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def new_engine(directory, name="host.db"):
    engine = create_engine(f"sqlite:///{directory / name}")
    host_metadata.create_all(engine)
    return engine


def dump(engine, table):
    columns = [c for c in table.columns if c.name != "password_hash"]  # salted: differs per run
    with engine.connect() as conn:
        return conn.execute(select(*columns).order_by(table.c.id)).all()


def all_rows(engine, table):
    with engine.connect() as conn:
        return conn.execute(select(table).order_by(table.c.id)).mappings().all()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    engine = new_engine(tmp_path_factory.mktemp("demo"))
    started = time.perf_counter()
    summary = seed(engine, today=TODAY)
    elapsed = time.perf_counter() - started
    yield engine, summary, elapsed
    engine.dispose()


@pytest.fixture(scope="module")
def exact(tmp_path_factory):
    engine = new_engine(tmp_path_factory.mktemp("exact"))
    summary = seed(engine, seed=7, today=HARVEST_TODAY, documents=3000, cost_entries=20000)
    yield engine, summary
    engine.dispose()


@pytest.fixture(params=["demo", "exact"])
def seeded(request):
    return request.getfixturevalue(request.param)[:2]


# determinism and counts ---------------------------------------------------------------------


def test_same_arguments_give_identical_rows_and_another_seed_differs(demo, tmp_path):
    engine, _, _ = demo
    again = new_engine(tmp_path, "again.db")
    other = new_engine(tmp_path, "other.db")
    seed(again, today=TODAY)
    seed(other, seed=2027, today=TODAY)
    for table in TABLES:
        assert dump(again, table) == dump(engine, table), table.name
    assert dump(other, hs.cost_entries) != dump(engine, hs.cost_entries)
    assert dump(other, hs.sales_order_lines) != dump(engine, hs.sales_order_lines)


def test_scale_one_is_the_demo_winery_and_quick(demo):
    engine, summary, elapsed = demo
    with engine.connect() as conn:
        so, po, rf = (dict(conn.execute(select(t.c.status, func.count()).group_by(t.c.status)).all())
                      for t in (hs.sales_orders, hs.purchase_orders, hs.refunds))
    assert 540 <= so["invoiced"] <= 660 and so["draft"] + so["confirmed"] >= 10 and so["cancelled"] >= 2
    assert 160 <= po["billed"] <= 200 and po["received"] >= 1 and po["ordered"] >= 1
    assert 25 <= rf["approved"] <= 35 and rf["draft"] >= 1
    assert summary.cost_entries == 6000
    assert 35 <= summary["erp_customers"] <= 45 and 20 <= summary["erp_suppliers"] <= 30
    assert summary["erp_users"] == 2
    assert 40 <= summary["erp_products"] <= 90
    assert (summary.start, summary.end) == (date(2025, 6, 16), TODAY)
    for table in TABLES:
        assert len(dump(engine, table)) == summary[table.name]
    assert elapsed < 6, f"seed() at scale 1 took {elapsed:.1f}s"


def test_exact_counts_when_asked(exact):
    engine, summary = exact
    assert summary.documents == 3000
    assert summary.cost_entries == 20000
    with engine.connect() as conn:
        documents = sum(conn.execute(select(func.count()).select_from(t)).scalar_one()
                        for t in (hs.sales_orders, hs.purchase_orders, hs.refunds))
        lines = sum(conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in (hs.sales_order_lines, hs.purchase_order_lines, hs.refund_lines))
        entries = conn.execute(select(func.count()).select_from(hs.cost_entries)).scalar_one()
    assert documents == 3000 and entries == 20000
    assert 2.5 <= lines / documents <= 3.6


# trade documents ----------------------------------------------------------------------------


@pytest.mark.parametrize("header, lines, parent", [
    (hs.sales_orders, hs.sales_order_lines, "sales_order_id"),
    (hs.purchase_orders, hs.purchase_order_lines, "purchase_order_id"),
    (hs.refunds, hs.refund_lines, "refund_id"),
])
def test_header_totals_equal_their_lines_to_the_cent(seeded, header, lines, parent):
    engine, _ = seeded
    subtotal: dict[int, Decimal] = defaultdict(Decimal)
    for line in all_rows(engine, lines):
        amount = money(line["quantity"] * line["unit_price"])
        exempt = line["tax_type"] == "EXEMPTEXPORT"
        assert line["tax_type"] in ("OUTPUT", "INPUT", "CAPEXINPUT", "EXEMPTEXPORT")
        assert line["tax_amount"] == (Decimal("0.00") if exempt else money(amount * Decimal("0.1")))
        assert line["unit_price"] == line["unit_price"].quantize(Decimal("0.0001"))
        subtotal[line[parent]] += amount + line["tax_amount"]
    headers = all_rows(engine, header)
    assert headers
    for row in headers:
        assert row["total"] == subtotal[row["id"]], row["number"]
        assert row["currency"] == "AUD" and row["line_amount_types"] == "Exclusive"


def test_sales_lines_use_the_wine_accounts_and_tax_types(seeded):
    engine, _ = seeded
    export = {r.id for r in all_rows(engine, hs.customers) if r.channel == "export"}
    orders = {r["id"]: r for r in all_rows(engine, hs.sales_orders)}
    for line in all_rows(engine, hs.sales_order_lines):
        order = orders[line["sales_order_id"]]
        is_export = order["customer_id"] in export
        assert line["tax_type"] == ("EXEMPTEXPORT" if is_export else "OUTPUT")
        if line["item_code"] == "FREIGHT":
            assert line["account_code"] == "4100" and line["vintage"] is None
        elif line["item_code"] == "WET":  # see test_wine_equalisation_tax_on_domestic_sales
            assert (line["account_code"], line["tax_type"], line["vintage"]) == ("2310", "OUTPUT", None)
        elif line["item_code"].startswith("BULK-"):
            assert line["account_code"] == "4000" and line["brand"] == "Bulk"
        else:
            assert ITEM_CODE.match(line["item_code"]), line["item_code"]
            assert line["account_code"] == ("4010" if is_export else "4000")
            assert line["brand"] in BRANDS and line["vintage"] in {"2022", "2023", "2024", "2025", "2026"}
    for order in orders.values():
        if order["status"] == "invoiced":
            assert order["due_date"] == order["invoice_date"] + timedelta(days=30)
        else:
            assert order["invoice_date"] is None


def test_purchase_lines_post_to_stage_accounts_and_one_uses_the_archived_account(seeded):
    engine, summary = seeded
    orders = {r["id"]: r for r in all_rows(engine, hs.purchase_orders)}
    archived = []
    for line in all_rows(engine, hs.purchase_order_lines):
        # Barrels are fixed assets (GST on capital), never wine in progress.
        assert line["account_code"] in {"1410", "1420", "1430", "1460", "1600", "6100", "6200"}
        assert line["tax_type"] == ("CAPEXINPUT" if line["account_code"] == "1600" else "INPUT")
        if line["account_code"] == "1460":
            archived.append(orders[line["purchase_order_id"]])
    assert len(archived) == 1
    assert archived[0]["status"] == "billed"
    assert archived[0]["bill_date"] >= summary.end - timedelta(days=90)
    for order in orders.values():
        assert (order["supplier_invoice_number"] != "") == (order["status"] == "billed")
        assert (order["bill_date"] is not None) == (order["status"] == "billed")


def test_refunds_credit_an_earlier_sale_of_the_same_customer(seeded):
    engine, _ = seeded
    orders = {r["id"]: r for r in all_rows(engine, hs.sales_orders)}
    order_lines = defaultdict(set)
    for line in all_rows(engine, hs.sales_order_lines):
        order_lines[line["sales_order_id"]].add(
            (line["item_code"], line["unit_price"], line["account_code"], line["tax_type"]))
    refund_lines = defaultdict(list)
    for line in all_rows(engine, hs.refund_lines):
        refund_lines[line["refund_id"]].append(line)
    refunds = all_rows(engine, hs.refunds)
    assert any(r["status"] == "approved" for r in refunds)
    for refund in refunds:
        order = orders[refund["sales_order_id"]]
        assert order["status"] == "invoiced" and order["customer_id"] == refund["customer_id"]
        assert order["invoice_date"] < refund["refund_date"]
        assert refund["reason"]
        for line in refund_lines[refund["id"]]:
            key = (line["item_code"], line["unit_price"], line["account_code"], line["tax_type"])
            if line["item_code"] == "WET":  # the WET on the wine credited (its own test)
                assert any(k[0] == "WET" for k in order_lines[order["id"]])
                continue
            assert key in order_lines[order["id"]]


# dates and seasons --------------------------------------------------------------------------


DATED = [
    (hs.sales_orders, ("order_date", "invoice_date")),
    (hs.purchase_orders, ("order_date", "received_date", "bill_date")),
    (hs.refunds, ("refund_date",)),
    (hs.operations, ("op_date",)),
    (hs.cost_entries, ("entry_date",)),
]


def test_every_date_lies_in_the_twelve_months_up_to_today(seeded):
    engine, summary = seeded
    assert summary.start == summary.end.replace(year=summary.end.year - 1) + timedelta(days=1)
    with engine.connect() as conn:
        for table, columns in DATED:
            for name in columns:
                low, high = conn.execute(select(func.min(table.c[name]), func.max(table.c[name]))).one()
                assert summary.start <= low and high <= summary.end, (table.name, name)


def test_cost_entries_follow_the_winery_movement_table(seeded):
    engine, _ = seeded
    with engine.connect() as conn:
        combos = set(conn.execute(select(
            hs.cost_entries.c.movement_type, hs.cost_entries.c.cost_category,
            hs.cost_entries.c.from_stage, hs.cost_entries.c.to_stage).distinct()).all())
    assert combos <= ALLOWED
    for movement, category, source, target in combos:  # and they are the domain's values
        assert MovementType(movement).value == movement and CostCategory(category).value == category
        assert Stage(source).value == source and Stage(target).value == target


def test_demo_year_has_every_movement_on_most_working_days(demo):
    engine, _, _ = demo
    entries = all_rows(engine, hs.cost_entries)
    assert {e["movement_type"] for e in entries} == {m.value for m in MovementType}
    days = {e["entry_date"] for e in entries}
    working = [TODAY - timedelta(days=i) for i in range(365) if (TODAY - timedelta(days=i)).weekday() < 5]
    assert len(days) >= 0.9 * len(working)
    assert all(d.weekday() < 5 for d in days)
    ops = {o["id"]: o for o in all_rows(engine, hs.operations)}
    prefixes = {"crush": "CR-", "addition": "ADD-", "barrel_ageing": "BAR-", "labour": "LAB-",
                "transfer": "TRF-", "blend": "BLD-", "bottling": "BTL-", "loss": "LOS-", "dispatch": "DSP-",
                "bulk_sale": "BLK-", "opening_balance": "OPEN-"}
    for e in entries:
        op = ops[e["operation_id"]]
        assert op["number"].startswith(prefixes[e["movement_type"]]) and op["op_date"] == e["entry_date"]
        assert e["description"].startswith(op["description"].split(":")[0])
        assert e["amount"] == e["amount"].quantize(CENT)  # whole cents: journals never round
        if e["batch_id"] or e["product_id"]:  # additives and dry goods belong to no batch
            assert e["vintage"] and e["brand"] in BRANDS
        else:
            assert e["from_stage"] == "opening_balances" and e["vintage"] is None
    bottling = [o["description"] for o in ops.values() if o["op_type"] == "bottling"]
    pattern = re.compile(r"^Bottling BTL-\d{4}: \d{4} [A-Za-z ]+, [\d,]+ bottles$")
    assert bottling and all(pattern.match(d) for d in bottling)


def test_crush_only_in_vintage_and_the_new_vintage_only_from_its_harvest(seeded):
    engine, summary = seeded
    batches = {b["id"]: b for b in all_rows(engine, hs.batches)}
    assert all(BATCH_CODE.match(b["code"]) and b["brand"] in BRANDS for b in batches.values())
    current = str(summary.end.year)
    assert {b["vintage"] for b in batches.values()} == {str(y) for y in range(summary.end.year - 4,
                                                                                  summary.end.year + 1)}
    first: dict[int, tuple[date, str]] = {}
    for e in sorted(all_rows(engine, hs.cost_entries), key=lambda e: (e["entry_date"], e["id"])):
        if e["movement_type"] == "crush":
            assert e["entry_date"].month in (2, 3, 4)
            assert e["vintage"] == str(e["entry_date"].year)
        if e["movement_type"] == "bottling":
            assert int(e["vintage"]) <= e["entry_date"].year
        if e["batch_id"] is not None:
            first.setdefault(e["batch_id"], (e["entry_date"], e["movement_type"]))
    for batch_id, (_, movement) in first.items():
        if batches[batch_id]["vintage"] == current:
            assert movement == "crush", batches[batch_id]["code"]


def test_transfers_and_blends_net_to_zero_per_day_but_move_cost_between_vintages_and_brands(seeded):
    engine, _ = seeded
    per_day: dict[tuple, Decimal] = defaultdict(Decimal)
    per_op: dict[int, Decimal] = defaultdict(Decimal)
    per_tracking: dict[tuple, Decimal] = defaultdict(Decimal)
    for e in all_rows(engine, hs.cost_entries):
        if e["movement_type"] in ("transfer", "blend"):
            per_day[e["entry_date"], e["movement_type"]] += e["amount"]
            per_op[e["operation_id"]] += e["amount"]
            per_tracking[e["entry_date"], e["movement_type"], e["vintage"], e["brand"]] += e["amount"]
    assert per_day and all(v == 0 for v in per_day.values())
    assert all(v == 0 for v in per_op.values())
    assert sum(1 for v in per_tracking.values() if v != 0) > len(per_day) / 2


# users and idempotence ----------------------------------------------------------------------


def test_users_permissions_and_passwords(demo):
    engine, _, _ = demo
    users = {u["username"]: u for u in all_rows(engine, hs.users)}
    assert set(users) == {"accountant", "cellarhand"}
    accountant, cellarhand = users["accountant"], users["cellarhand"]
    assert accountant["full_name"] == "Alex Accountant" and accountant["can_view_costs"] is True
    assert cellarhand["full_name"] == "Casey Cellarhand" and cellarhand["can_view_costs"] is False
    for name, user in users.items():
        assert check_password_hash(user["password_hash"], name)
        assert not check_password_hash(user["password_hash"], "wrong")


def test_seed_if_empty_seeds_once(tmp_path):
    engine = new_engine(tmp_path)
    first = seed_if_empty(engine, today=TODAY, scale=0.1, cost_entries=500)
    assert isinstance(first, SeedSummary) and first.cost_entries == 500
    before = {t.name: len(dump(engine, t)) for t in TABLES}
    assert seed_if_empty(engine, today=TODAY) is None
    assert {t.name: len(dump(engine, t)) for t in TABLES} == before
    with pytest.raises(ValueError, match="already hold data"):
        seed(engine, today=TODAY)
    with engine.begin() as conn:  # a connection works too and stays in the caller's transaction
        assert seed_if_empty(conn, today=TODAY) is None


def test_tiny_and_empty_requests(tmp_path):
    engine = new_engine(tmp_path)
    summary = seed(engine, today=date(2024, 2, 29), documents=0, cost_entries=7)
    assert summary.documents == 0 and summary.cost_entries == 7
    assert summary.start == date(2023, 3, 1)


# PostgreSQL: the COPY path writes what executemany writes -----------------------------------


@pytest.mark.postgres
def test_postgres_copy_writes_the_same_rows_as_sqlite(tmp_path):
    url = os.environ.get("ACCOUNTS_SYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    admin = create_engine(url)
    try:
        with admin.connect():
            pass
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.fail(f"PostgreSQL not reachable: {exc}; these tests never skip.", pytrace=False)
    schema = f"seed_test_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        host_metadata.create_all(engine)
        options = dict(seed=11, today=TODAY, documents=400, cost_entries=6000)
        summary = seed(engine, **options)
        lite = new_engine(tmp_path)
        assert seed(lite, **options) == summary
        for table in TABLES:
            assert dump(engine, table) == dump(lite, table), table.name
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
