"""The inventory valuation over HTTP and the CLI: the page, its CSV, the JSON API, bad input."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest

from accounts_sync.domain.costs import Stage
from accounts_sync.domain.mapping import AccountMapping, TrackingMapping
from tests.fakes import FakeClock

from .fixtures import line
from .web_host import logged_in, make_host_app

TODAY = date(2026, 11, 26)


@pytest.fixture
def app(clean_db, db_url):
    app = make_host_app(db_url)
    container = app.extensions["accounts_sync"].container
    container.clock.override(FakeClock())  # today is 26 November 2026
    yield app
    container.job_queue().shutdown()


@pytest.fixture
def cellar(erp, uow_factory):
    reserve = erp.batch("24-SHZ-RES-01", vintage="2024", varietal="Shiraz", brand="Reserve",
                        vessel="22 barrels, barrel hall A")
    product = erp.product("SHZ-RES-24-6", name="2024 Reserve Shiraz, 6 x 750 mL", brand="Reserve")
    grower = erp.supplier("Kalimna Road Vineyard")
    erp.purchase_order(grower, bill_date=date(2026, 3, 2), lines=[
        line("Shiraz, 4 t", "4", "3500.00", account="1410", tax_type="INPUT", vintage="2024",
             brand="Reserve"),
        line("=HYPERLINK(\"http://evil\")", "10", "20.00", account="1420", tax_type="INPUT")])
    op = erp.operation("CR-0001", "Crush CR-0001")
    row = dict(vintage="2024", brand="Reserve", batch_id=reserve)
    erp.many_cost_entries(op, [
        dict(entry_date=date(2026, 3, 2), movement_type="crush", cost_category="fruit",
             from_stage="fruit", to_stage="bulk_wine", amount="14000.0000", litres=Decimal(2800), **row),
        dict(entry_date=date(2026, 3, 3), movement_type="addition", cost_category="additive",
             from_stage="additives", to_stage="bulk_wine", amount="120.0000", **row),
        dict(entry_date=date(2026, 9, 1), movement_type="bottling", cost_category="bulk_wine",
             from_stage="bulk_wine", to_stage="finished_goods", amount="7060.0000",
             litres=Decimal(1400), cases=Decimal(154), product_id=product, **row),
        dict(entry_date=date(2026, 10, 1), movement_type="dispatch", cost_category="bulk_wine",
             from_stage="finished_goods", to_stage="cogs", amount="2292.2100", cases=Decimal(50),
             product_id=product, vintage="2024", brand="Reserve"),
    ])
    with uow_factory() as uow:
        uow.settings.save_mapping(AccountMapping(
            stage_accounts={Stage.FRUIT: "1410", Stage.ADDITIVES: "1420", Stage.BULK_WINE: "1440",
                            Stage.FINISHED_GOODS: "1450", Stage.COGS: "5000"},
            tracking=(TrackingMapping("vintage", "Vintage"),),
        ))
        uow.commit()
    return reserve, product


def test_the_page_shows_stock_by_batch_and_product_with_links_and_account_totals(app, cellar):
    reserve, product = cellar
    client = logged_in(app, "accountant")
    page = client.get("/accounts/sync/inventory-valuation?closing_date=2026-11-26")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Inventory valuation at 26 Nov 2026" in html
    assert (f'href="http://erp.test/erp/batches/{reserve}" title="2024 Reserve Shiraz">'
            f'24-SHZ-RES-01</a>') in html
    assert (f'href="http://erp.test/erp/products/{product}" title="2024 Reserve Shiraz, 6 x 750 mL">'
            f'SHZ-RES-24-6</a>') in html
    assert "1,400" in html and "7,060.00" in html  # 14,000 + 120 − 7,060 left in 1,400 L
    assert "financial year to date" in html and "1 Jul 2026" in html
    assert 'data-inventory-total>' in html
    assert "/accounts/sync/inventory-valuation.csv?closing_date=2026-11-26" in html
    # Linked from the console and the plugin's menu.
    console = client.get("/accounts/sync/").get_data(as_text=True)
    assert "/accounts/sync/inventory-valuation?closing_date=2026-11-26" in console


def test_the_api_gives_the_figures_as_json(app, cellar):
    client = logged_in(app, "accountant")
    body = client.get("/accounts/sync/api/inventory-valuation?closing_date=2026-11-26").get_json()
    assert body["closing_date"] == "2026-11-26" and body["currency"] == "AUD"
    assert body["period"] == {"start": "2026-07-01", "end": "2026-11-26", "label": "financial year to date"}
    [vintage] = body["bulk_wine"]["vintages"]
    [batch] = vintage["batches"]
    assert (batch["code"], batch["litres"], batch["cost"], batch["cost_per_litre"]) == \
        ("24-SHZ-RES-01", "1400", "7060.00", "5.0429")
    [cased] = body["finished_goods"]["products"]
    assert (cased["code"], cased["cases"], cased["cost"], cased["cost_per_case"]) == \
        ("SHZ-RES-24-6", "104", "4767.79", "45.8441")
    totals = {a["account_code"]: a["amount"] for a in body["account_totals"]}
    assert totals == {"1410": "0.00", "1420": "80.00", "1440": "7060.00", "1450": "4767.79",
                      "5000": "2292.21"}
    assert body["cost_of_goods_sold"]["total"] == "2292.21"
    assert {"account_code": "1440", "stage": "bulk_wine", "amount": "7060.00",
            "tracking": [{"name": "Vintage", "option": "2024"}]} in body["accounts"]
    earlier = client.get("/accounts/sync/api/inventory-valuation?closing_date=2026-11-26"
                         "&period_start=2026-10-02").get_json()
    assert earlier["cost_of_goods_sold"]["total"] == "0.00"
    assert earlier["period"]["label"] == "period asked for"


@pytest.mark.parametrize("query, code, words", [
    ("closing_date=yesterday", "invalid_closing_date", "is not a date"),
    ("closing_date=2026-12-25", "closing_date_in_future", "in the future"),
    ("closing_date=2026-11-26&period_start=31/12/2025", "invalid_request", "YYYY-MM-DD"),
    ("closing_date=2026-06-30&period_start=2026-07-01", "invalid_request", "after the closing date"),
])
def test_bad_input_is_a_plain_sentence_never_a_trace(app, cellar, query, code, words):
    client = logged_in(app, "accountant")
    api = client.get(f"/accounts/sync/api/inventory-valuation?{query}")
    assert api.status_code == 400
    assert api.get_json()["error"]["code"] == code and words in api.get_json()["error"]["message"]
    page = client.get(f"/accounts/sync/inventory-valuation?{query}")
    assert page.status_code == 400 and words in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)


def test_the_csv_download_has_a_row_per_batch_product_and_account(app, cellar):
    client = logged_in(app, "accountant")
    response = client.get("/accounts/sync/inventory-valuation.csv?closing_date=2026-11-26")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="inventory-valuation-2026-11-26.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    bulk = next(r for r in rows if r["section"] == "Bulk wine")
    assert (bulk["code"], bulk["litres"], bulk["cost"], bulk["unit_cost"], bulk["vintage"]) == \
        ("24-SHZ-RES-01", "1400", "7060.00", "5.0429", "2024")
    assert bulk["url"].startswith("http://erp.test/erp/batches/")
    cased = next(r for r in rows if r["section"] == "Cased wine")
    assert (cased["code"], cased["cases"], cased["cost"]) == ("SHZ-RES-24-6", "104", "4767.79")
    accounts = {(r["account"], r["tracking"]): r["cost"] for r in rows if r["section"] == "Account"}
    assert accounts[("1440", "Vintage: 2024")] == "7060.00"
    assert any(r["section"] == "Cost of goods sold" and r["cost"] == "2292.21" for r in rows)


def test_csv_cells_from_the_erp_are_never_formulas(app, cellar, erp):
    odd = erp.batch("=1+2", vintage="2025", varietal="@SUM(A1)", brand="-Estate")
    erp.many_cost_entries(erp.operation("CR-0002"), [dict(
        entry_date=date(2026, 3, 4), movement_type="crush", cost_category="fruit", from_stage="fruit",
        to_stage="bulk_wine", amount="100.0000", litres=Decimal(20), batch_id=odd, vintage="2025",
        brand="-Estate")])
    client = logged_in(app, "accountant")
    text = client.get("/accounts/sync/inventory-valuation.csv?closing_date=2026-11-26").get_data(as_text=True)
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["code"].endswith("=1+2"))
    assert row["code"] == "'=1+2" and row["name"].startswith("2025 -Estate")
    assert "\n=" not in text and ",=" not in text and ",@" not in text
    assert row["cost"] == "100.00" and row["litres"] == "20"  # numbers stay numbers


def test_login_and_permission_are_required(app, cellar):
    anonymous = app.test_client()
    assert anonymous.get("/accounts/sync/api/inventory-valuation").status_code == 401
    cellarhand = logged_in(app, "cellarhand")
    assert cellarhand.get("/accounts/sync/inventory-valuation").status_code == 403
    assert cellarhand.get("/accounts/sync/inventory-valuation.csv").status_code == 403


def test_cli_table_json_csv_and_bad_input(app, cellar):
    runner = app.test_cli_runner()
    table = runner.invoke(args=["accounts-sync", "inventory-valuation", "--closing-date", "2026-11-26"])
    assert table.exit_code == 0, table.output
    assert "1440" in table.output and "7060.00" in table.output
    assert "financial year to date" in table.output
    as_json = runner.invoke(args=["accounts-sync", "inventory-valuation", "--closing-date", "2026-11-26",
                                  "--from", "2026-01-01", "--json"])
    body = json.loads(as_json.output)
    assert body["period"]["start"] == "2026-01-01" and body["inventory_total"] == "11907.79"
    as_csv = runner.invoke(args=["accounts-sync", "inventory-valuation", "--csv"])
    assert as_csv.exit_code == 0 and as_csv.output.startswith("section,account,tracking")
    bad = runner.invoke(args=["accounts-sync", "inventory-valuation", "--closing-date", "soon"])
    assert bad.exit_code != 0 and "is not a date" in bad.output and "Traceback" not in bad.output
    both = runner.invoke(args=["accounts-sync", "inventory-valuation", "--json", "--csv"])
    assert both.exit_code != 0 and "not both" in both.output
