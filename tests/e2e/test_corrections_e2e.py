"""Books over time in a real browser (issue 9): a sales order edited in the demo ERP after it
was synced is proposed as a correction with old -> new in the preview, sent with Sync like the
other kinds, and the sandbox's invoice then shows the new total. On a demo of its own."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from .conftest import login, running_demo

SYNC = "/accounts/sync"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from running_demo(tmp_path_factory)


def amount(text: str) -> float:
    return float(re.sub(r"[^\d.-]", "", text))


def test_an_edited_sales_order_is_corrected_in_xero(world, page):
    base, _instance = world
    login(page, base, "accountant")
    page.goto(base + SYNC + "/")
    page.click("text=Connect to Xero")
    page.click("text=Allow access")
    expect(page.locator(".as")).to_contain_text("Connected to")

    # The sales orders go to Xero first.
    page.goto(f"{base}{SYNC}/documents/sales_orders")
    page.click("form[data-sync-form] button[type=submit]")
    page.locator("dialog#as-confirm button[value=ok]").click()
    page.wait_for_selector(".as-empty, #failed-heading", timeout=180_000)

    # In the ERP, the first invoiced sales order gets a freight line after the sync.
    page.goto(base + "/erp/sales-orders?status=invoiced")
    page.locator("table a[href*='/erp/sales-orders/']").first.click()
    number = re.search(r"Sales order (\S+)", page.locator("h1").inner_text()).group(1)
    before = amount(page.locator(".total-head strong").inner_text())
    page.shots.widths("erp-order-before-edit")
    page.fill("#new_description", "Freight to Sydney")
    page.fill("#new_price", "50")
    page.click("button:has-text('Save changes')")
    expect(page.locator(".flash")).to_contain_text("proposes the correction")
    after = amount(page.locator(".total-head strong").inner_text())
    assert round(after - before, 2) == 55.00  # +50.00 freight, +5.00 GST
    page.shots.widths("erp-order-edited")

    # The preview proposes it: old -> new and the action.
    page.goto(f"{base}{SYNC}/preview")
    group = page.locator("[data-corrections-group]")
    expect(group).to_contain_text("correction")
    row = group.locator(f"tr[data-correction='{number}']")
    expect(row).to_contain_text(f"{before:,.2f}")
    expect(row).to_contain_text(f"{after:,.2f}")
    expect(row).to_contain_text("Update in Xero")
    page.shots.widths("preview-corrections")

    page.click("text=of what was already sent")
    expect(page.locator("h1")).to_contain_text("Corrections up to")
    expect(page.locator(f"tr[data-correction='{number}']")).to_contain_text("Update in Xero")
    page.shots.widths("corrections-list")
    page.click("form[data-sync-form] button[type=submit]")
    dialog = page.locator("dialog#as-confirm")
    expect(dialog).to_contain_text("correction")
    page.shots("corrections-confirm")
    dialog.locator("button[value=ok]").click()
    page.wait_for_selector(".as-empty", timeout=120_000)
    expect(page.locator(".as-empty").first).to_contain_text("Nothing to correct")
    page.shots.widths("corrections-done")

    # The sandbox's invoice shows the new total.
    state = requests.get(base + "/xero-sandbox/_state.json", timeout=10).json()
    org = next(o for o in state["organisations"] if "Pty" in o["name"])
    invoice = next(i for i in org["invoices"]["items"] if i["InvoiceNumber"] == number)
    assert round(float(invoice["Total"]), 2) == round(after, 2)
    page.goto(base + "/xero-sandbox/")
    page.goto(f"{base}/accounts/sync/history")
    page.locator("table[data-history] a").first.click()
    expect(page.locator("[data-correction-record='update']")).to_contain_text(number)
    page.shots.widths("corrections-run")
    page.locator("[data-correction-record='update'] a:has-text('Open in Xero')").click()
    expect(page.locator("body")).to_contain_text(f"{after:,.2f}")
    page.shots("sandbox-invoice")
