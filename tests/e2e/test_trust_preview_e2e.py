"""Issue 11 in Chromium, part 1: the preview tells the whole truth (cases 1, 2, 4, 5, 6, 8, 9, 10).

One demo of this module's own, used in order, as an accountant would: the preview lists what
the sync will refuse, Xero's chart is read again when it matters, outcomes stay, the dialog says
what will happen, sent journals look sent, history reads well, and every page fits 390 px.
Screenshots at 1400 and 390 px land in test-artifacts/e2e/.
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import create_engine, select, update

from accounts_sync.adapters.erp_sql import host_schema as host

from .conftest import login, running_demo

SYNC = "/accounts/sync"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from running_demo(tmp_path_factory)


def sandbox(base: str) -> dict:
    state = requests.get(base + "/xero-sandbox/_state.json", timeout=10).json()
    return next(o for o in state["organisations"] if "Pty" in o["name"]) | {
        "counters": state.get("counters", {})}


def inject(base: str, kind: str, **params) -> None:
    answer = requests.post(base + "/xero-sandbox/_faults", json={"kind": kind, **params}, timeout=10)
    assert answer.status_code == 200, answer.text


def connect(page, base: str) -> None:
    page.goto(base + SYNC + "/")
    page.click("text=Connect to Xero")
    page.click("text=Allow access")
    expect(page.locator("[data-connected]")).to_contain_text("Connected to")


def sync_list(page, label: str, expect_title: str) -> None:
    page.click("form[data-sync-form] button[type=submit]")
    dialog = page.locator("dialog#as-confirm")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h2")).to_contain_text(expect_title)
    page.locator("dialog#as-confirm button[value=ok]").click()
    # The run ends, the page reloads itself, and its outcome stays in view.
    page.wait_for_selector("[data-outcome]", timeout=120_000)


def test_the_preview_is_the_syncs_dry_run_and_every_outcome_stays(world, page):
    base, instance = world
    login(page, base, "accountant")

    # 9: a cancelled consent reads as plain words, not "(access_denied)".
    page.goto(base + SYNC + "/")
    page.click("text=Connect to Xero")
    page.click("button[value=cancel]")
    expect(page.locator("main")).to_contain_text("cancelled in Xero")
    assert "access_denied" not in page.content()
    page.shots.widths("cancelled-consent")
    connect(page, base)
    # 2: the console shows the lock dates and when the chart was read, with a Refresh button.
    expect(page.locator("[data-lock-date]")).to_contain_text("locked up to")
    expect(page.locator("[data-chart-read]")).to_contain_text("read from Xero")
    expect(page.locator("button:has-text('Refresh from Xero')")).to_be_visible()
    page.shots.widths("console-connected")

    # 1: the preview lists the purchase order that books to archived 1460, before anything is sent.
    page.click("button:has-text('Preview')")
    refused = page.locator("table[data-refused=purchase_orders] tr[data-refused-document]")
    expect(refused).to_have_count(1)
    po = refused.first.get_attribute("data-refused-document")
    expect(refused.first).to_contain_text("1460")
    expect(refused.first).to_contain_text("archived")
    expect(page.locator("[data-checked]")).to_contain_text("Checked against Xero's chart")
    page.shots.widths("preview-lists-the-archived-line")
    preview_url = page.url
    # 8: no plugin page or API answer is kept by the browser.
    for path in (preview_url, base + SYNC + "/api/preview", base + SYNC + "/api/status"):
        answer = page.request.get(path)
        assert answer.headers.get("cache-control") == "no-store", path

    # 5: the confirmation says how many and how much; 3: the outcome stays; 1: labelled as
    # refused by Accounts Sync, and Xero never saw it.
    page.click("tr[data-kind=purchase_orders] a")
    count = int(re.search(r"([\d,]+)", page.locator(".as-summary p").inner_text()).group(1)
                .replace(",", ""))
    page.click("form[data-sync-form] button[type=submit]")
    dialog = page.locator("dialog#as-confirm")
    expect(dialog.locator("h2")).to_have_text(f"Send {count} purchase orders to Xero?")
    expect(dialog).to_contain_text("AUD")
    expect(dialog).to_contain_text("as bills")
    page.shots.widths("confirm-count-and-total")
    dialog.locator("button[value=ok]").click()
    banner = page.locator("[data-outcome][data-kind=purchase_orders]")
    expect(banner).to_be_visible(timeout=120_000)
    expect(banner).to_contain_text("Partly sent")
    expect(banner).to_contain_text(f"{count - 1} of {count} sent, 1 failed.")
    expect(banner).to_contain_text("refused by Accounts Sync")
    failed = page.locator(f"tr[data-failed='{po}']")
    expect(failed).to_have_attribute("data-refused-by", "accounts_sync")
    assert sandbox(base)["counters"]["elements_rejected"] == 0
    page.shots.widths("po-partly-sent-outcome-stays")
    page.reload()
    expect(page.locator("[data-outcome][data-kind=purchase_orders]")).to_be_visible()

    # 4: the console says the purchase orders are synced up to today except the failed one.
    page.goto(base + SYNC + "/")
    row = page.locator("tr[data-kind=purchase_orders]")
    expect(row.locator("[data-mark]")).to_contain_text("except 1 not in Xero")
    expect(row.locator("[data-last-run]")).to_contain_text("Partly sent")
    page.shots.widths("console-honest-status")

    # 2: restore 1460 in Xero; Retry reads the chart again and sends it (no five-minute wait).
    inject(base, "restore_account", code="1460")
    page.goto(preview_url)
    page.click("tr[data-kind=purchase_orders] a")
    expect(page.locator("form[data-sync-form] button[type=submit]")).to_have_text("Retry")
    sync_list(page, "Purchase orders", "Send 1 purchase order to Xero?")
    expect(page.locator("[data-outcome][data-kind=purchase_orders]")).to_contain_text("Sent")
    expect(page.locator(".as-empty")).to_contain_text("Nothing to sync")
    page.shots.widths("po-retry-after-restore")
    # Dismissed, it is gone for good.
    page.click("[data-outcome][data-kind=purchase_orders] button:has-text('Dismiss')")
    expect(page.locator("[data-outcome][data-kind=purchase_orders]")).to_have_count(0)

    # 2: the lock date moves in Xero; Refresh from Xero on the preview shows what it locks, and
    # the sync carries those documents to the first open day instead of Xero refusing them.
    inject(base, "lock_dates", period_lock_date="2026-02-15")
    page.goto(preview_url)
    page.click("[data-checked] button:has-text('Refresh from Xero')")
    expect(page.locator(".flash")).to_contain_text("locked up to 15 Feb 2026")
    expect(page.locator("[data-checked]")).to_contain_text("locked up to 15 Feb 2026")
    expect(page.locator("#warnings-heading + ul")).to_contain_text("will be dated 2026-02-16")
    page.shots.widths("preview-after-lock-date-move")

    # 10: a 200-character unbroken customer name wraps in the list, at 1400 and 390 px.
    engine = create_engine(f"sqlite:///{instance / 'demo.sqlite3'}")
    with engine.begin() as connection:
        customer = connection.execute(
            select(host.sales_orders.c.customer_id)
            .where(host.sales_orders.c.invoice_date.is_not(None))
            .order_by(host.sales_orders.c.invoice_date)).scalars().first()
        connection.execute(update(host.customers).where(host.customers.c.id == customer)
                           .values(name="Wholesale" + "X" * 191))
    engine.dispose()

    page.click("tr[data-kind=sales_orders] a")
    page.shots.widths("sales-orders-list-long-name")
    sync_list(page, "Sales orders", "Send")
    expect(page.locator("[data-outcome][data-kind=sales_orders]")).to_contain_text("Sent")
    assert sandbox(base)["counters"]["elements_rejected"] == 0  # Xero refused nothing
    page.shots.widths("sales-orders-sent-locked-ones-carried")
    # 8: Back after a sync shows the preview as it is now, not the old one.
    page.go_back()
    expect(page.locator("tr[data-kind=sales_orders] td.num").first).to_have_text("0")
    page.shots.widths("back-shows-the-preview-as-it-is-now")

    # 5 and 6: journals, posted as Posted: the dialog says so; a sent journal looks sent.
    page.goto(preview_url)
    journals = int(re.search(r"([\d,]+) journals", page.locator("#journals-heading + p")
                             .inner_text()).group(1).replace(",", ""))
    first_journal = page.locator("tr[data-journal] a").first.get_attribute("href")
    page.check("input[name=mode][value=posted]")
    page.click("button:has-text('Save and Sync')")
    dialog = page.locator("dialog#as-confirm")
    expect(dialog.locator("h2")).to_have_text(f"Post {journals:,} journals to Xero?")
    expect(dialog).to_contain_text("Posted (already approved)")
    page.shots.widths("confirm-journals-posted")
    dialog.locator("button[value=ok]").click()
    expect(page.locator("[data-outcome][data-kind=journals]")).to_contain_text(
        f"{journals:,} sent to Xero", timeout=180_000)
    page.goto(base + first_journal)
    expect(page.locator("h1")).to_have_text("Journal in Xero")
    expect(page.locator("[data-sent]")).to_contain_text("In Xero as Posted")
    expect(page.locator("button:has-text('Save and Sync')")).to_have_count(0)
    page.shots.widths("journal-in-xero")
    page.click("[data-xero-link]")
    expect(page.locator("body")).to_contain_text("POSTED")
    page.go_back()

    # 9: history in the host's time zone, partial runs not "Failed", plain words.
    page.goto(base + SYNC + "/history")
    expect(page.locator("main")).to_contain_text("Times are in AC")  # Adelaide: ACDT/ACST
    rows = page.locator("table[data-history] tbody tr")
    expect(rows.filter(has_text="Purchase orders").last).to_contain_text("Partly sent")
    assert "Failed." not in page.locator("table[data-history]").inner_text()
    page.shots.widths("history")
    # The journals' run lists narrations, never keys; documents in their natural order.
    rows.filter(has_text="Journals").first.locator("a").first.click()
    text = page.locator("table[data-run-records]").inner_text()
    assert not re.search(r"\d{4}-\d\d-\d\d-[a-z_]+", text), "a journal key is shown"
    page.shots.widths("journals-run")
    page.goto(base + SYNC + "/history")
    rows.filter(has_text="Sales orders").last.locator("a").first.click()
    numbers = [n for n in page.locator("tr[data-record]").evaluate_all(
        "rows => rows.map(r => r.dataset.record)")]
    assert numbers == sorted(numbers, key=lambda n: [int(p) if p.isdigit() else p
                                                     for p in re.split(r"(\d+)", n)])
    page.shots.widths("sales-orders-run")

    # 10: every other page of the plugin fits 390 px too.
    for path in ("/", "/settings", f"/documents/refunds?closing_date={preview_url[-10:]}"):
        page.goto(base + SYNC + path)
        page.shots.widths("fits-" + (path.strip("/").split("?")[0].replace("/", "-") or "console"))
