"""The console workflow over HTTP: lists, Sync with progress, journals, posting, history, settings."""

from __future__ import annotations

import re
import threading
from datetime import date

import pytest

from accounts_sync.domain.costs import Stage
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.mapping import AccountMapping, TrackingMapping, TradeDefaults
from tests.fakes import FakeClock, FakeGateway

from .fixtures import line
from .web_host import logged_in, make_host_app

TODAY = "2026-11-26"


class GatedGateway(FakeGateway):
    """Holds every push until the test opens the gate, so a run stays visibly active."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()

    def _push(self, *args, **kwargs):
        assert self.gate.wait(10), "the test never opened the gate"
        return super()._push(*args, **kwargs)


@pytest.fixture
def gateway():
    return FakeGateway()


@pytest.fixture
def app(clean_db, db_url, gateway):
    app = make_host_app(db_url)
    container = app.extensions["accounts_sync"].container
    container.clock.override(FakeClock())
    container.gateway.override(gateway)
    yield app
    container.job_queue().shutdown()


@pytest.fixture
def winery(erp, uow_factory):
    customer = erp.customer("Harbour Wine Distributors")
    for n in range(1, 8):
        erp.sales_order(customer, number=f"SO-{n}", invoice_date=date(2026, 11, n),
                        lines=[line(quantity="1", unit_price=f"{n}0.00", tax=f"{n}.00")])
    erp.sales_order(customer, number="SO-BAD", invoice_date=date(2026, 11, 20),
                    lines=[line(account="1460")])
    op = erp.operation("BTL-0412", "Bottling BTL-0412: 2024 Reserve Shiraz, 4,800 bottles")
    erp.cost_entry(op, date(2026, 11, 2), "bottling", "dry_goods", "1234.5678", "dry_goods",
                   "finished_goods", vintage="2024", description="Glass for BTL-0412")
    erp.cost_entry(op, date(2026, 11, 2), "bottling", "bulk_wine", "5000.0001", "bulk_wine",
                   "finished_goods", vintage="2024", description="Wine for BTL-0412")
    with uow_factory() as uow:
        uow.settings.save_mapping(AccountMapping(
            stage_accounts={Stage.DRY_GOODS: "1430", Stage.FINISHED_GOODS: "1450",
                            Stage.BULK_WINE: "1440"},
            tracking=(TrackingMapping("vintage", "Vintage"),),
            rounding_account="860",
            trade_defaults={Kind.SALES_ORDERS: TradeDefaults("4000", "OUTPUT")},
        ))
        uow.commit()


def csrf(client, url):
    html = client.get(url).get_data(as_text=True)
    return re.search(r'(?:name="csrf_token" value|data-csrf)="([^"]+)"', html).group(1)


def wait(app, run_id):
    app.extensions["accounts_sync"].container.job_queue().wait(run_id, timeout=20)


def test_the_document_list_is_paginated_and_links_to_the_erp(app, winery):
    app.config["ACCOUNTS_SYNC_PAGE_SIZE"] = 3
    client = logged_in(app, "accountant")
    first = client.get(f"/accounts/sync/documents/sales_orders?closing_date={TODAY}")
    html = first.get_data(as_text=True)
    assert "<strong>8</strong> sales orders" in html
    assert html.count('href="http://erp.test/erp/sales-orders/') == 3
    after = re.search(r'after=([^"&]+)', html).group(1)
    second = client.get(f"/accounts/sync/documents/sales_orders?closing_date={TODAY}&after={after}")
    assert "SO-4" in second.get_data(as_text=True) and "SO-1<" not in second.get_data(as_text=True)
    api = client.get(f"/accounts/sync/api/documents/sales_orders?closing_date={TODAY}&page_size=5")
    assert api.json["count"] == 8 and len(api.json["items"]) == 5 and api.json["next_cursor"]


def test_sync_runs_in_the_background_and_leaves_exactly_the_failures(app, winery, gateway):
    client = logged_in(app, "accountant")
    token = csrf(client, "/accounts/sync/")
    started = client.post("/accounts/sync/api/sync", headers={"X-CSRFToken": token},
                          json={"kind": "sales_orders", "closing_date": TODAY})
    assert started.status_code == 202
    run_id = started.json["run"]["id"]
    wait(app, run_id)
    run = client.get(f"/accounts/sync/api/runs/{run_id}").json
    assert (run["state"], run["total"], run["created"], run["failed"]) == ("failed", 8, 7, 1)
    assert run["failures"][0]["number"] == "SO-BAD" and "archived" in run["failures"][0]["reason"]
    # Accounts Sync's own checks refused it: Xero never saw it.
    assert run["failures"][0]["refused_by"] == "accounts_sync"
    html = client.get(f"/accounts/sync/documents/sales_orders?closing_date={TODAY}").get_data(
        as_text=True)
    assert "1 not sent last time" in html and "SO-BAD" in html and ">Retry<" in html
    assert 'data-refused-by="accounts_sync"' in html
    assert "SO-1<" not in html
    assert len(gateway.created(Kind.SALES_ORDERS)) == 7


def test_the_run_page_refreshes_while_active_and_links_to_xero_when_done(app, winery):
    client = logged_in(app, "accountant")
    token = csrf(client, "/accounts/sync/")
    response = client.post("/accounts/sync/sync", data={
        "csrf_token": token, "kind": "sales_orders", "closing_date": TODAY})
    assert response.status_code == 302 and "/accounts/sync/runs/" in response.location
    run_id = int(response.location.rsplit("/", 1)[1])
    wait(app, run_id)
    html = client.get(f"/accounts/sync/runs/{run_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in html
    assert html.count("https://xero.test/sales_orders/") == 7
    history = client.get("/accounts/sync/history").get_data(as_text=True)
    assert "accountant" in history and "SO-BAD" in history


def test_double_clicks_and_two_users_start_one_run(app, winery, db_url):
    gated = GatedGateway()
    container = app.extensions["accounts_sync"].container
    container.gateway.override(gated)
    one, two = logged_in(app, "accountant"), logged_in(app, "accountant")
    token_one, token_two = csrf(one, "/accounts/sync/"), csrf(two, "/accounts/sync/")
    body = {"kind": "sales_orders", "closing_date": TODAY}
    first = one.post("/accounts/sync/api/sync", headers={"X-CSRFToken": token_one}, json=body)
    second = two.post("/accounts/sync/api/sync", headers={"X-CSRFToken": token_two}, json=body)
    page = one.post("/accounts/sync/sync", data={"csrf_token": token_one, **body})
    assert first.status_code == 202 and second.status_code == 200
    assert second.json["started"] is False
    assert second.json["run"]["id"] == first.json["run"]["id"]
    assert page.location.endswith(f"/runs/{first.json['run']['id']}")
    running = one.get(f"/accounts/sync/runs/{first.json['run']['id']}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in running
    gated.gate.set()
    wait(app, first.json["run"]["id"])
    assert len(client_runs(one)) == 1


def client_runs(client):
    return client.get("/accounts/sync/api/runs").json["runs"]


def test_journal_detail_balances_and_links_each_cost_to_its_operation(app, winery):
    client = logged_in(app, "accountant")
    html = client.get(f"/accounts/sync/journals/2026-11-02-bottling?closing_date={TODAY}").get_data(
        as_text=True)
    assert "Detailed Account Journals Preview" in html and "Balanced" in html
    assert html.count('href="http://erp.test/erp/operations/') >= 4
    assert "Glass for BTL-0412" in html
    body = client.get(f"/accounts/sync/api/journals/2026-11-02-bottling?closing_date={TODAY}").json
    assert body["balanced"] and body["debit_total"] == body["credit_total"] == "6234.57"
    costs = [c for ln in body["lines"] for c in ln["costs"]]
    assert {c["operation"] for c in costs} == {"BTL-0412"}
    missing = client.get(f"/accounts/sync/journals/2026-11-03-bottling?closing_date={TODAY}")
    assert missing.status_code == 404 and "preview again" in missing.get_data(as_text=True)


def test_save_and_sync_posts_journals_in_the_chosen_mode_and_remembers_it(app, winery, gateway, erp):
    client = logged_in(app, "accountant")
    token = csrf(client, "/accounts/sync/")
    started = client.post("/accounts/sync/api/sync", headers={"X-CSRFToken": token},
                          data={"kind": "journals", "closing_date": TODAY, "mode": "posted"})
    wait(app, started.json["run"]["id"])
    assert [o.status for o in gateway.created(Kind.JOURNALS)] == ["POSTED"]
    assert client.get("/accounts/sync/api/status").json["journal_mode"] == "POSTED"
    # A later bottling, not yet sent: its Save and Sync offers the mode chosen last time.
    op = erp.operation("BTL-0413", "Bottling BTL-0413")
    erp.cost_entry(op, date(2026, 11, 3), "bottling", "dry_goods", "100.0000", "dry_goods",
                   "finished_goods", vintage="2024", description="Glass for BTL-0413")
    preview = client.get(f"/accounts/sync/preview?closing_date={TODAY}")
    assert 'value="posted" checked' in preview.get_data(as_text=True)
    # The journal now in Xero looks sent: its status there, a link, and no Save and Sync.
    journal = client.get(f"/accounts/sync/journals/2026-11-02-bottling?closing_date={TODAY}")
    html = journal.get_data(as_text=True)
    assert "Journal in Xero" in html and "In Xero as Posted" in html
    assert "https://xero.test/journals/" in html and ">Save and Sync<" not in html


def test_settings_refuse_archived_and_wrong_type_accounts_with_reasons(app, winery):
    client = logged_in(app, "accountant")
    token = csrf(client, "/accounts/sync/settings")
    form = {"csrf_token": token, "rounding_account": "860", "stage__dry_goods": "1460",
            "stage__cogs": "1410", "stage__finished_goods": "1450",
            "tracking_attribute_1": "vintage", "tracking_category_1": "Vintage"}
    refused = client.post("/accounts/sync/settings", data=form)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "1460 (Old barrel stock) is archived" in html
    assert "1410 (Fruit inventory) is a inventory account" in html or "inventory account" in html
    form.update({"stage__dry_goods": "1430", "stage__cogs": "5000"})
    saved = client.post("/accounts/sync/settings", data=form)
    assert saved.status_code == 302
    page = client.get("/accounts/sync/settings").get_data(as_text=True)
    assert '<option value="1430" selected>' in page


def test_settings_refuse_what_xero_or_the_database_cannot_take_and_point_at_the_field(app, winery,
                                                                                     gateway):
    """A 10,000-character journal tax type is refused, on PostgreSQL too (never a 500), and the
    refused fields are marked; Xero's chart is read afresh for the check."""
    client = logged_in(app, "accountant")
    token = csrf(client, "/accounts/sync/settings")
    form = {"csrf_token": token, "rounding_account": "860", "journal_tax_type": "X" * 10_000,
            "default_tax__sales_orders": "GSTX", "payment_terms__purchase_orders": "thirty"}
    refused = client.post("/accounts/sync/settings", data=form)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="journal_tax_type" name="journal_tax_type" aria-invalid="true"' in html
    assert "10,000 characters long" in html
    assert 'id="default_tax__sales_orders" name="default_tax__sales_orders" aria-invalid="true"' in html
    assert "thirty&#39; is not a number of days" in html
    form.update({"journal_tax_type": "BASEXCLUDED", "default_tax__sales_orders": "OUTPUT",
                 "payment_terms__purchase_orders": "30"})
    forgotten = gateway.forgotten
    saved = client.post("/accounts/sync/settings", data=form)
    assert saved.status_code == 302 and gateway.forgotten == forgotten + 1
    page = client.get("/accounts/sync/settings").get_data(as_text=True)
    assert 'name="payment_terms__purchase_orders" value="30"' in page


def test_empty_states_say_what_to_do(app, erp):
    client = logged_in(app, "accountant")
    html = client.get(f"/accounts/sync/documents/refunds?closing_date={TODAY}").get_data(as_text=True)
    assert "Nothing to sync up to 26 Nov 2026" in html
    assert "No syncs yet" in client.get("/accounts/sync/history").get_data(as_text=True)
