"""Corrections in the console and the API: the group in the preview, the list with old → new
and the action, a person's decision, and Sync like the other kinds (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from accounts_sync.adapters.erp_sql import host_schema as host
from accounts_sync.domain.costs import Stage
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.mapping import AccountMapping, TradeDefaults
from tests.fakes import FakeClock, FakeGateway

from .fixtures import line
from .web_host import logged_in, make_host_app

TODAY = "2026-11-26"


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 11, 26, 9, tzinfo=UTC))


@pytest.fixture
def gateway(clock):
    return FakeGateway(clock=clock)


@pytest.fixture
def app(clean_db, db_url, gateway, clock):
    app = make_host_app(db_url)
    container = app.extensions["accounts_sync"].container
    container.clock.override(clock)
    container.gateway.override(gateway)
    yield app
    container.job_queue().shutdown()


@pytest.fixture
def synced(app, erp, uow_factory, clean_db, clock):
    """Two sales orders in Xero, then the ERP edits one (+50.00 freight, +5.00 GST)."""
    customer = erp.customer("Harbour Wine Distributors")
    edited = erp.sales_order(customer, number="SO-000001", invoice_date=date(2026, 11, 2),
                             lines=[line(quantity="1", unit_price="100.00", tax="10.00")],
                             updated_at=datetime(2026, 11, 1))
    erp.sales_order(customer, number="SO-000002", invoice_date=date(2026, 11, 3),
                    lines=[line(quantity="1", unit_price="20.00", tax="2.00")],
                    updated_at=datetime(2026, 11, 1))
    with uow_factory() as uow:
        uow.settings.save_mapping(AccountMapping(
            stage_accounts={Stage.DRY_GOODS: "1430"},
            trade_defaults={Kind.SALES_ORDERS: TradeDefaults("4000", "OUTPUT")}))
        uow.commit()
    client = logged_in(app, "accountant")
    started = client.post("/accounts/sync/api/sync", json={"kind": "sales_orders",
                                                            "closing_date": TODAY},
                          headers={"X-CSRFToken": csrf(client)})
    app.extensions["accounts_sync"].container.job_queue().wait(started.json["run"]["id"], timeout=20)
    clock.advance(minutes=5)
    with clean_db.begin() as connection:
        connection.execute(host.sales_order_lines.insert().values(
            sales_order_id=edited, line_no=2, description="Freight", quantity=1, unit_price=50,
            account_code="4100", tax_type="OUTPUT", tax_amount=5))
        connection.execute(update(host.sales_orders).where(host.sales_orders.c.id == edited)
                           .values(total=165, updated_at=datetime(2026, 11, 26, 9, 30)))
    return edited


def csrf(client):
    html = client.get("/accounts/sync/").get_data(as_text=True)
    return re.search(r'(?:name="csrf_token" value|data-csrf)="([^"]+)"', html).group(1)


def test_the_preview_has_a_corrections_group_and_the_list_says_old_new_and_the_action(app, synced):
    client = logged_in(app, "accountant")
    preview = client.get(f"/accounts/sync/preview?closing_date={TODAY}").get_data(as_text=True)
    assert "data-corrections-group" in preview and "1 correction of what was already sent" in preview
    page = client.get(f"/accounts/sync/corrections?closing_date={TODAY}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-correction="SO-000001"' in html
    assert "110.00" in html and "165.00" in html and "Update in Xero" in html
    assert 'value="corrections"' in html, "Sync like the other kinds"
    body = client.get(f"/accounts/sync/api/corrections?closing_date={TODAY}").json
    (c,) = body["corrections"]
    assert (c["number"], c["old_total"], c["new_total"], c["action"]) == (
        "SO-000001", "110.00", "165.00", "update")
    assert c["xero_url"].startswith("https://xero.test/")
    assert client.get(f"/accounts/sync/api/preview?closing_date={TODAY}").json["corrections"] == {
        "count": 1, "net_change": "55.00", "to_decide": 0, "held": 0}


def test_sync_corrections_updates_xero_and_empties_the_list(app, synced, gateway):
    client = logged_in(app, "accountant")
    started = client.post("/accounts/sync/api/sync", json={"kind": "corrections",
                                                            "closing_date": TODAY},
                          headers={"X-CSRFToken": csrf(client)})
    assert started.status_code == 202 and started.json["run"]["kind"] == "corrections"
    app.extensions["accounts_sync"].container.job_queue().wait(started.json["run"]["id"], timeout=20)
    run = client.get(f"/accounts/sync/api/runs/{started.json['run']['id']}").json
    assert (run["state"], run["created"]) == ("succeeded", 1)
    (invoice,) = [o for o in gateway.objects.values() if o.number == "SO-000001"]
    assert invoice.total == 165
    assert client.get(f"/accounts/sync/api/corrections?closing_date={TODAY}").json["count"] == 0
    page = client.get(f"/accounts/sync/runs/{started.json['run']['id']}").get_data(as_text=True)
    assert 'data-correction-record="update"' in page and "SO-000001" in page
    assert "110.00 on 1 line → 165.00 on 2 lines" in page and "the original in Xero" in page
    history = client.get("/accounts/sync/history").get_data(as_text=True)
    assert "Corrections" in history


def test_a_decision_needs_a_correction_that_asks_for_one(app, synced, gateway):
    client = logged_in(app, "accountant")
    token = csrf(client)
    refused = client.post("/accounts/sync/api/corrections/decisions", headers={"X-CSRFToken": token},
                          json={"kind": "sales_orders", "erp_id": str(synced), "choice": "accept",
                                "closing_date": TODAY})
    assert refused.status_code == 400 and "needs no decision" in refused.json["error"]["message"]
    missing = client.post("/accounts/sync/api/corrections/decisions", headers={"X-CSRFToken": token},
                          json={"kind": "sales_orders", "erp_id": "424242", "choice": "accept"})
    assert missing.status_code == 404
    invoice = next(o for o in gateway.objects.values() if o.number == "SO-000001")
    gateway.pay(invoice.xero_id, "110.00")
    app.extensions["accounts_sync"].container.look_at_xero().execute(
        __import__("accounts_sync.application.xero_changes", fromlist=["x"]).LookRequest(force=True))
    page = client.get(f"/accounts/sync/corrections?closing_date={TODAY}").get_data(as_text=True)
    assert 'data-action="adjust"' in page, "an increase on a paid invoice is a supplementary invoice"
    assert "SO-000001-ADJ1" in page
    without = client.post("/accounts/sync/corrections/decide",
                          data={"kind": "sales_orders", "erp_id": str(synced), "choice": "accept"})
    assert without.status_code == 400, "the form needs its CSRF token"


def test_a_sent_journal_shows_what_xero_holds_what_the_erp_says_and_the_entries_behind(
    app, erp, uow_factory, clock
):
    with uow_factory() as uow:
        uow.settings.save_mapping(AccountMapping(
            stage_accounts={Stage.ADDITIVES: "1420", Stage.BULK_WINE: "1440"}, rounding_account="860"))
        uow.commit()
    op = erp.operation("ADD-0001", "Addition: tartaric acid", op_type="addition")
    erp.cost_entry(op, date(2026, 11, 18), "addition", "additive", "250.0000", "additives",
                   "bulk_wine", vintage="2025", description="Tartaric acid, 10 kg")
    client = logged_in(app, "accountant")
    started = client.post("/accounts/sync/api/sync", json={"kind": "journals", "mode": "posted",
                                                            "closing_date": TODAY},
                          headers={"X-CSRFToken": csrf(client)})
    app.extensions["accounts_sync"].container.job_queue().wait(started.json["run"]["id"], timeout=20)
    erp.cost_entry(op, date(2026, 11, 18), "addition", "additive", "1000.0000", "additives",
                   "bulk_wine", vintage="2025", description="Late lab invoice")
    page = client.get(f"/accounts/sync/journals/2026-11-18-addition?closing_date={TODAY}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "data-compare" in html
    assert "250.00" in html and "1,250.00" in html and "1,000.00" in html
    assert "data-difference-entries" in html and "Late lab invoice" in html
    body = client.get(f"/accounts/sync/api/corrections?closing_date={TODAY}").json
    assert [c["action"] for c in body["corrections"]] == ["adjust_journal"]
