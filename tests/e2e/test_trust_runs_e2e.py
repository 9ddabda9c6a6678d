"""Issue 11 in Chromium, part 2: runs say what they wait for, refusals stay in view, and no
record is left "being checked" (cases 3, 7 and 11), on a demo of this module's own.
Screenshots at 1400 and 390 px land in test-artifacts/e2e/.
"""

from __future__ import annotations

import time

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import create_engine, insert, select

from accounts_sync.adapters.erp_sql import host_schema as host
from accounts_sync.adapters.erp_sql.plugin_tables import PreferenceRow

from .conftest import login, running_demo

SYNC = "/accounts/sync"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from running_demo(tmp_path_factory)


def inject(base: str, kind: str, **params) -> dict:
    answer = requests.post(base + "/xero-sandbox/_faults", json={"kind": kind, **params}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["faults"]


def pending(base: str) -> dict:
    return requests.get(base + "/xero-sandbox/_faults", timeout=10).json()["faults"]


def sandbox(base: str) -> dict:
    state = requests.get(base + "/xero-sandbox/_state.json", timeout=10).json()
    return next(o for o in state["organisations"] if "Pty" in o["name"])


def connect(page, base: str) -> None:
    page.goto(base + SYNC + "/")
    page.click("text=Connect to Xero")
    page.click("text=Allow access")
    expect(page.locator("[data-connected]")).to_contain_text("Connected to")


def open_list(page, base: str, kind: str) -> None:
    page.goto(f"{base}{SYNC}/documents/{kind}")


def press_sync(page) -> None:
    page.click("form[data-sync-form] button[type=submit]")
    page.locator("dialog#as-confirm button[value=ok]").click()


def test_runs_say_what_they_wait_for_and_nothing_is_left_being_checked(world, page):
    base, instance = world
    login(page, base, "accountant")
    connect(page, base)

    # 3: while Xero does not answer, the progress says so and why, not just "0 of 36 done".
    inject(base, "fail", status=503, count=2)
    open_list(page, base, "purchase_orders")
    press_sync(page)
    progress = page.locator(".as-progress-text")
    expect(progress).to_contain_text("Waiting for Xero: it did not answer (HTTP 503)",
                                     timeout=20_000)
    page.shots.widths("progress-waiting-on-xero")
    expect(page.locator("[data-outcome][data-kind=purchase_orders]")).to_be_visible(timeout=60_000)

    # 3: a refusal stays in view until dismissed: not connected.
    page.goto(base + SYNC + "/")
    page.click("button:has-text('Disconnect')")
    open_list(page, base, "sales_orders")
    press_sync(page)
    banner = page.locator("[data-outcome][data-kind=sales_orders]")
    expect(banner).to_contain_text("Stopped", timeout=30_000)
    expect(banner).to_contain_text("not connected to Xero; press Connect on the console first")
    page.shots.widths("refusal-stays")
    page.reload()
    expect(banner).to_be_visible()
    page.goto(base + SYNC + "/")  # the console shows it too, with the last run of each kind
    expect(page.locator("[data-outcome][data-kind=sales_orders]")).to_be_visible()
    expect(page.locator("tr[data-kind=sales_orders] [data-last-run]")).to_contain_text("Stopped")
    page.click("[data-outcome][data-kind=sales_orders] button:has-text('Dismiss')")
    expect(page.locator("[data-outcome][data-kind=sales_orders]")).to_have_count(0)
    page.reload()
    expect(page.locator("[data-outcome][data-kind=sales_orders]")).to_have_count(0)

    # Connected again, the sales orders go (their customers are then known in Xero).
    connect(page, base)
    open_list(page, base, "sales_orders")
    press_sync(page)
    expect(page.locator("[data-outcome][data-kind=sales_orders]")).to_contain_text(
        "Sent", timeout=60_000)

    # 7: some refunds are refused (the lock date moved), then Xero revokes the connection while
    # their retry waits for a lost answer. None is left "being checked" without why and what to do.
    engine = create_engine(f"sqlite:///{instance / 'demo.sqlite3'}")
    with engine.connect() as connection:
        days = sorted(connection.execute(select(host.refunds.c.refund_date).where(
            host.refunds.c.status == "approved")).scalars())
    engine.dispose()
    assert len(days) >= 3, days
    lock = days[-2]  # all but the latest refund are locked
    locked = sum(1 for d in days if d <= lock)
    # The winery holds what falls in a locked period back (instead of carrying it forward).
    engine = create_engine(f"sqlite:///{instance / 'demo.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(insert(PreferenceRow).values(name="locked_period_policy", value="hold"))
    engine.dispose()
    inject(base, "lock_dates", period_lock_date=lock.isoformat())
    page.goto(base + SYNC + "/")
    page.click("button:has-text('Refresh from Xero')")
    expect(page.locator("[data-lock-date]")).to_contain_text(lock.strftime("%-d %b %Y"))
    open_list(page, base, "refunds")
    press_sync(page)
    banner = page.locator("[data-outcome][data-kind=refunds]")
    expect(banner).to_contain_text("Partly sent", timeout=60_000)
    expect(page.locator("tr[data-failed]")).to_have_count(locked)
    page.shots.widths("refunds-locked")

    inject(base, "lock_dates", period_lock_date="2025-11-30")
    inject(base, "commit_then_drop", count=1)  # Xero creates them, and its answer is lost
    press_sync(page)
    deadline = time.monotonic() + 60
    while pending(base)["commit_then_drop"] and time.monotonic() < deadline:
        time.sleep(0.05)
    inject(base, "revoke_connections")  # while the client waits to try again
    expect(banner).to_contain_text("Stopped", timeout=60_000)
    expect(banner).to_contain_text("no longer accepts the connection")
    unconfirmed = page.locator("tr[data-unconfirmed]")
    expect(unconfirmed).to_have_count(locked)
    expect(unconfirmed.first).to_contain_text("the sync stopped before Xero answered")
    expect(unconfirmed.first).to_contain_text("Press Retry")
    expect(unconfirmed.first).to_contain_text("held back")  # the earlier reason is kept
    expect(page.locator("[data-documents]")).not_to_contain_text("Being checked")
    page.shots.widths("refunds-not-confirmed")
    page.goto(base + SYNC + "/")
    expect(page.locator("[data-reauthorise]")).to_contain_text("needs re-authorisation")
    expect(page.locator("tr[data-kind=refunds] [data-unsettled]")).to_contain_text(
        f"{locked} not confirmed")
    page.shots.widths("console-needs-reauthorisation")

    # Connect again and Retry: what Xero already had is found, nothing is created twice.
    before = sandbox(base)["creditNotes"]["count"]
    assert before == len(days)  # the lost answer's credit notes are in Xero already
    page.click("text=Connect to Xero")
    page.click("text=Allow access")
    open_list(page, base, "refunds")
    press_sync(page)
    expect(banner).to_contain_text(f"{locked} confirmed in Xero (an earlier sync sent them",
                                   timeout=60_000)
    expect(page.locator(".as-empty")).to_contain_text("Nothing to sync")
    assert sandbox(base)["creditNotes"]["count"] == before
    page.shots.widths("refunds-reconciled")

    # 11: Settings refuse a 10,000-character journal tax type and an unknown tax type, and mark
    # the fields; nothing is saved.
    page.goto(base + SYNC + "/settings")
    page.evaluate("""() => {
        const select = document.getElementById('journal_tax_type');
        const option = new Option('X'.repeat(10000), 'X'.repeat(10000), true, true);
        select.add(option);
        const tax = document.getElementById('default_tax__sales_orders');
        tax.add(new Option('GSTX', 'GSTX', true, true));
    }""")
    page.click("button:has-text('Save mapping')")
    expect(page.locator("#problems-heading")).to_contain_text("Not saved")
    expect(page.locator("#journal_tax_type")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#journal_tax_type-error")).to_contain_text("10,000 characters")
    expect(page.locator("#default_tax__sales_orders")).to_have_attribute("aria-invalid", "true")
    page.shots.widths("settings-refused-fields")
    page.goto(base + SYNC + "/settings")
    expect(page.locator("#journal_tax_type")).not_to_have_attribute("aria-invalid", "true")
