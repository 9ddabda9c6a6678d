"""Reconciliation in the console, the API and the CLI (SQLite and PostgreSQL): two invoices in
Xero, one edited in the ERP since, a manual journal someone made in Xero; then an object of
ours changed in Xero behind Accounts Sync's back, which nothing explains."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest

from accounts_sync.domain.corrections import SentLine

from .fixtures import line
from .test_web_corrections import TODAY, app, clock, csrf, gateway, synced  # noqa: F401
from .web_host import logged_in

BASE = "/accounts/sync"


@pytest.fixture
def books(app, synced, gateway):  # noqa: F811
    gateway.record_manual_journal(date(2026, 11, 20),
                                  [("1430", "40.00"), ("4000", "-40.00")],
                                  narration="Sample bottles written off by the bookkeeper")
    return app


def test_the_page_lists_each_account_with_its_causes_and_says_reconciled(books):
    client = logged_in(books, "accountant")
    page = client.get(f"{BASE}/reconciliation?closing_date={TODAY}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "data-reconciled" in html and "Reconciled" in html
    assert 'data-account="610"' in html and 'data-account="4100"' in html
    assert "correction pending" in html and "posted in Xero by someone else" in html
    nav = client.get(f"{BASE}/").get_data(as_text=True)
    assert f'href="{BASE}/reconciliation' in nav


def test_the_drill_down_follows_a_difference_to_the_document_and_the_journal(books, erp):
    client = logged_in(books, "accountant")
    html = client.get(f"{BASE}/reconciliation/accounts/4100?closing_date={TODAY}").get_data(
        as_text=True)
    assert 'data-number="SO-000001"' in html and "correction pending" in html
    assert '<a href="http://erp.test/erp/sales-orders/' in html and "open in Xero" in html
    # A sale not synced yet: found by the database among the documents with a line on 4100.
    customer = erp.customer("Cellar Door Sales")
    erp.sales_order(customer, number="SO-000003", invoice_date=date(2026, 11, 20),
                    lines=[line(quantity="2", unit_price="15.00", tax="3.00", account="4100")])
    html = client.get(f"{BASE}/reconciliation/accounts/4100?closing_date={TODAY}").get_data(
        as_text=True)
    assert 'data-cause="not_synced" data-number="SO-000003"' in html and "-30.00" in html
    others = client.get(f"{BASE}/reconciliation/accounts/1430?closing_date={TODAY}").get_data(
        as_text=True)
    assert "Sample bottles written off by the bookkeeper" in others


def test_api_json_csv_and_cli_agree(books):
    client = logged_in(books, "accountant")
    body = client.get(f"{BASE}/api/reconciliation?closing_date={TODAY}").json
    assert body["reconciled"] is True and body["unexplained_accounts"] == []
    revenue = next(a for a in body["accounts"] if a["code"] == "4100")
    assert revenue["erp"] == "-50.00" and revenue["xero"] == "0.00"
    assert revenue["causes"] == [{"cause": "correction", "label": "correction pending",
                                  "amount": "-50.00"}]
    receivable = next(a for a in body["accounts"] if a["code"] == "610")
    assert receivable["breakdown"] == "contact"
    assert [p["label"] for p in receivable["parts"]] == ["Harbour Wine Distributors"]
    explained = client.get(f"{BASE}/api/reconciliation/accounts/1430?closing_date={TODAY}").json
    assert [o["amount"] for o in explained["posted_by_others"]] == ["40.00"]

    download = client.get(f"{BASE}/reconciliation.csv?closing_date={TODAY}")
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert download.mimetype == "text/csv"
    assert {r["account"]: r["correction"] for r in rows if not r["part"]}["4100"] == "-50.00"

    runner = books.test_cli_runner()
    table = runner.invoke(args=["accounts-sync", "reconcile", "--closing-date", TODAY])
    assert table.exit_code == 0, table.output
    assert "Reconciled" in table.output and "correction pending: -50.00" in table.output
    as_json = runner.invoke(args=["accounts-sync", "reconcile", "--closing-date", TODAY, "--json"])
    assert json.loads(as_json.output)["reconciled"] is True
    bad = runner.invoke(args=["accounts-sync", "reconcile", "--closing-date", "31/12/2026"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output and "Traceback" not in bad.output
    api_bad = client.get(f"{BASE}/api/reconciliation?closing_date=tomorrow")
    assert api_bad.status_code == 400 and api_bad.json["error"]["message"]


def test_an_invoice_changed_in_xero_behind_our_back_is_unexplained(books, gateway):  # noqa: F811
    invoice = next(o for o in gateway.objects.values() if o.number == "SO-000002")
    gateway.edit(invoice.xero_id, lines=(SentLine("4000", Decimal("30.00"), Decimal("3.00"),
                                                  "OUTPUT"),))
    client = logged_in(books, "accountant")
    body = client.get(f"{BASE}/api/reconciliation?closing_date={TODAY}").json
    assert body["reconciled"] is False and "610" in body["unexplained_accounts"]
    html = client.get(f"{BASE}/reconciliation?closing_date={TODAY}").get_data(as_text=True)
    assert "data-unreconciled" in html and "unexplained difference" in html
    cli = books.test_cli_runner().invoke(
        args=["accounts-sync", "reconcile", "--closing-date", TODAY])
    assert cli.exit_code == 1
