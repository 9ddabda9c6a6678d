"""The plugin mounted in a host: permissions, the preview page and its JSON twin, errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from accounts_sync.domain.costs import Stage
from accounts_sync.domain.mapping import AccountMapping, TrackingMapping
from tests.fakes import FakeClock, FakeGateway

from .fixtures import line
from .web_host import logged_in, make_host_app

TODAY = date(2026, 11, 26)


@pytest.fixture
def app(clean_db, db_url):
    app = make_host_app(db_url)
    container = app.extensions["accounts_sync"].container
    container.clock.override(FakeClock())
    container.gateway.override(FakeGateway())
    yield app
    container.unwire()


@pytest.fixture
def winery(erp, uow_factory):
    customer = erp.customer("Harbour Wine Distributors")
    supplier = erp.supplier("Valley Growers")
    erp.sales_order(customer, number="SO-1", lines=[line(quantity="12", unit_price="25.00", tax="30.00")])
    erp.sales_order(customer, number="SO-2", invoice_date=date(2026, 11, 20),
                    lines=[line(quantity="1", unit_price="0.10", tax="0.01"),
                           line(quantity="1", unit_price="0.20", tax="0.02")])
    erp.sales_order(customer, number="SO-draft", status="draft", invoice_date=None)
    erp.purchase_order(supplier, number="PO-1")
    op = erp.operation("BTL-0412", "Bottling BTL-0412: 2024 Reserve Shiraz, 4,800 bottles")
    erp.cost_entry(op, date(2026, 11, 2), "bottling", "dry_goods", "1234.5678", "dry_goods",
                   "finished_goods", vintage="2024", brand="Reserve")
    with uow_factory() as uow:
        uow.settings.save_mapping(AccountMapping(
            stage_accounts={Stage.DRY_GOODS: "1430", Stage.FINISHED_GOODS: "1450"},
            tracking=(TrackingMapping("vintage", "Vintage"),),
            rounding_account="860",
        ))
        uow.commit()


PAGES = ["/accounts/sync/", "/accounts/sync/preview", "/accounts/sync/api/preview",
         "/accounts/sync/api/status"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_users_are_sent_to_the_hosts_login(app, path):
    response = app.test_client().get(path)
    if "/api/" in path:
        assert response.status_code == 401
        assert response.json["error"]["code"] == "login_required"
    else:
        assert response.status_code == 302 and "/login" in response.location


@pytest.mark.parametrize("path", PAGES)
def test_users_without_can_view_costs_get_403(app, path):
    response = logged_in(app, "cellarhand").get(path)
    assert response.status_code == 403
    if "/api/" in path:
        assert "can view costs" in response.json["error"]["message"]


def test_the_preview_page_shows_counts_and_totals_per_kind(app, winery):
    page = logged_in(app, "accountant").get("/accounts/sync/preview?closing_date=2026-11-26")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Preview up to 26 Nov 2026" in html
    assert 'data-kind="sales_orders"' in html and "330.33" in html  # 330.00 + 0.33 with GST
    assert "Production Movements and Journals" in html and "1,234.57" in html


def test_the_preview_api_returns_the_same_numbers_as_strings(app, winery):
    body = logged_in(app, "accountant").get(
        "/accounts/sync/api/preview?closing_date=2026-11-26").json
    assert body["closing_date"] == "2026-11-26"
    assert body["sales_orders"] == {"count": 2, "total": "330.33"}
    assert body["purchase_orders"]["count"] == 1
    assert body["refunds"] == {"count": 0, "total": "0.00"}
    journals = body["journals"]
    assert journals["count"] == 1 and journals["total"] == "1234.57"
    assert journals["items"][0]["key"] == "2026-11-02-bottling"
    assert Decimal(journals["items"][0]["debit_total"]) == Decimal("1234.57")


def test_closing_date_defaults_to_today_and_earlier_dates_exclude_later_documents(app, winery):
    client = logged_in(app, "accountant")
    assert client.get("/accounts/sync/api/preview").json["closing_date"] == "2026-11-26"
    body = client.get("/accounts/sync/api/preview?closing_date=2026-11-10").json
    assert body["sales_orders"]["count"] == 1


@pytest.mark.parametrize(("raw", "code", "words"), [
    ("31/12/2026", "invalid_closing_date", "is not a date"),
    ("2026-11-27", "closing_date_in_future", "is in the future"),
])
def test_bad_closing_dates_get_a_plain_sentence_never_a_trace(app, winery, raw, code, words):
    client = logged_in(app, "accountant")
    api = client.get(f"/accounts/sync/api/preview?closing_date={raw}")
    assert api.status_code == 400
    assert api.json["error"]["code"] == code and words in api.json["error"]["message"]
    page = client.get(f"/accounts/sync/preview?closing_date={raw}")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert words in html and "Traceback" not in html


def test_unexpected_errors_are_a_plain_500(app, winery):
    container = app.extensions["accounts_sync"].container

    class Broken:
        def execute(self, request):
            raise RuntimeError("boom: secret internals")

    with container.preview_unsynced.override(Broken()):
        response = logged_in(app, "accountant").get("/accounts/sync/api/preview")
    assert response.status_code == 500
    assert "boom" not in response.get_data(as_text=True)
    assert response.json["error"]["code"] == "internal_error"


def test_console_shows_connection_and_closing_date(app, winery):
    html = logged_in(app, "accountant").get("/accounts/sync/").get_data(as_text=True)
    assert "Connected to <strong>Barossa Ridge Wines</strong>" in html
    assert 'name="closing_date" value="2026-11-26"' in html
    assert ">Preview</button>" in html


def test_cli_preview_status_and_bad_input(app, winery):
    runner = app.test_cli_runner()
    table = runner.invoke(args=["accounts-sync", "preview", "--closing-date", "2026-11-26"])
    assert table.exit_code == 0, table.output
    assert "Sales orders" in table.output and "330.33" in table.output
    as_json = runner.invoke(args=["accounts-sync", "preview", "--json"])
    assert '"total": "330.33"' in as_json.output
    bad = runner.invoke(args=["accounts-sync", "preview", "--closing-date", "tomorrow"])
    assert bad.exit_code != 0
    assert "'tomorrow' is not a date" in bad.output and "Traceback" not in bad.output
    status = runner.invoke(args=["accounts-sync", "status"])
    assert status.exit_code == 0 and "Barossa Ridge Wines" in status.output


def test_cli_sync_sends_documents_and_reports_the_run(app, winery):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["accounts-sync", "sync", "sales-orders", "--user", "tester"])
    assert result.exit_code == 0, result.output
    assert "succeeded: 2 sent to Xero." in result.output
    again = runner.invoke(args=["accounts-sync", "sync", "sales_orders"])
    assert "Nothing to send" in again.output
    unknown = runner.invoke(args=["accounts-sync", "sync", "invoices"])
    assert unknown.exit_code != 0


def test_cli_post_journals(app, winery):
    result = app.test_cli_runner().invoke(
        args=["accounts-sync", "post-journals", "--mode", "posted"])
    assert result.exit_code == 0, result.output
    gateway = app.extensions["accounts_sync"].container.gateway()
    assert [o.status for o in gateway.objects.values()] == ["POSTED"]
