"""Reconciliation in a real browser (issue 10): a fresh demo synced whole into the sandbox is
reconciled, account by account; a difference is followed down to the document in the ERP; the
inventory valuation links to it. On a demo of its own (it changes the books)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from .conftest import login, running_demo

SYNC = "/accounts/sync"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from running_demo(tmp_path_factory)


def sync_everything(page, base: str) -> None:
    """Each kind through the API with the page's session and CSRF token, as the console does."""
    token = page.locator(".as").get_attribute("data-csrf")
    for kind in ("purchase_orders", "sales_orders", "refunds", "journals"):
        body = {"kind": kind, **({"mode": "posted"} if kind == "journals" else {})}
        started = page.request.post(f"{base}{SYNC}/api/sync", data=body,
                                    headers={"X-CSRFToken": token})
        assert started.status in (200, 202), started.text()
        run_id = started.json()["run"]["id"]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            run = page.request.get(f"{base}{SYNC}/api/runs/{run_id}").json()
            if run["state"] not in ("queued", "running", "pending"):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the {kind} run did not finish")


def test_a_synced_demo_reconciles_and_a_difference_leads_to_its_document(world, page):
    base, _instance = world
    login(page, base, "accountant")
    page.goto(base + SYNC + "/")
    page.click("text=Connect to Xero")
    page.click("text=Allow access")
    expect(page.locator(".as")).to_contain_text("Connected to")
    sync_everything(page, base)

    page.goto(base + SYNC + "/")
    page.click("nav.as-nav a:has-text('Reconciliation')")
    expect(page.locator("h1")).to_contain_text("Reconciliation at")
    expect(page.locator("[data-reconciled]")).to_contain_text("Reconciled")
    assert page.locator("table[data-reconciliation] tr.as-unexplained").count() == 0
    expect(page.locator("tr[data-account='1440']")).to_contain_text("Bulk wine")
    page.shots.widths("reconciliation")

    # The demo's purchase order on an archived account failed: payables differ by it.
    payables = page.locator("tr[data-account='800']")
    expect(payables).to_contain_text("failed")
    payables.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text("800")
    failed = page.locator("table[data-documents] tr[data-cause='failed']").first
    number = failed.get_attribute("data-number")
    page.shots.widths("reconciliation-payables")
    failed.locator("th a").first.click()
    expect(page.locator("h1")).to_contain_text(number)
    page.shots("purchase-order-in-erp")

    # The valuation's accounts tie to the reconciliation.
    page.goto(base + SYNC + "/inventory-valuation")
    bulk = page.locator("[data-account='1440'] td.num").inner_text()
    page.click("a:has-text('reconciliation')")
    expect(page.locator("h1")).to_contain_text("Reconciliation at")
    xero_bulk = page.locator("tr[data-account='1440'] td[data-label='Xero']").inner_text()
    erp_bulk = page.locator("tr[data-account='1440'] td[data-label='ERP']").inner_text()
    assert erp_bulk == bulk, "the valuation is the ERP's figure"
    assert xero_bulk == bulk, "and, all of it synced, Xero's"
