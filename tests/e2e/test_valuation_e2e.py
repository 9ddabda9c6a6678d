"""The inventory valuation in a real browser: from the console to the page, to a batch in the
ERP with the same litres and cost, and the CSV download; at desktop and phone widths."""

from __future__ import annotations

import csv
import io

from playwright.sync_api import expect

from .conftest import login


def test_an_accountant_values_the_inventory_and_follows_a_batch_into_the_erp(demo, page):
    login(page, demo, "accountant")
    page.goto(demo + "/accounts/sync/")
    page.click("nav.as-nav a:has-text('Inventory valuation')")
    expect(page.locator("h1")).to_contain_text("Inventory valuation at")
    expect(page.locator("[data-account='1440']")).to_contain_text("Bulk wine in progress")
    bulk_total = page.locator("[data-bulk-total]").inner_text()
    assert page.locator("[data-account='1440'] td.num").inner_text() == bulk_total
    page.shots("valuation")

    batch = page.locator("table[data-bulk] tbody tr[data-batch]").first
    code = batch.get_attribute("data-batch")
    litres = batch.locator("td.num").nth(0).inner_text()
    cost = batch.locator("td.num").nth(1).inner_text()
    batch.locator("a").click()
    expect(page.locator("h1")).to_have_text(f"Batch {code}")
    expect(page.locator(".total-head")).to_contain_text(f"{litres} L")
    expect(page.locator(".total-head")).to_contain_text(cost)
    page.shots("batch-in-erp")
    page.go_back()

    with page.expect_download() as download:
        page.click("a:has-text('Download CSV')")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert any(r["section"] == "Bulk wine" and r["code"] == code for r in rows)

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("h1")).to_contain_text("Inventory valuation at")
    # On a phone each row is a card with its columns' names: nothing scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.shots("valuation-phone")
