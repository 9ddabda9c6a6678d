"""Issue 13 in Chromium, on a demo of this module's own (as `make demo` runs it: its scheduler
thread, its local mail catcher): enable schedules in Settings, let them fire at the next minute,
see the runs in the history, and, for a failure injected in the Xero sandbox, the alert on the
console and its email in the catcher's Mail page. Screenshots at 1400 and 390 px land in
test-artifacts/e2e/.
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from .conftest import ARTIFACTS, login, running_demo

SYNC = "/accounts/sync"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    # Every minute is allowed here (the demo's floor is 5) so the test sees a firing soon.
    yield from running_demo(tmp_path_factory, DEMO_SCHEDULE_MIN_INTERVAL="1")


def inject(base: str, kind: str, **params) -> None:
    answer = requests.post(base + "/xero-sandbox/_faults", json={"kind": kind, **params}, timeout=10)
    assert answer.status_code == 200, answer.text


def section(page, name: str, selector: str) -> None:
    """A part of a long page at 1400 and 390 px (never scrolling sideways)."""
    for width in (1400, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(50)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} scrolls sideways at {width} px ({wide} px wide)"
        page.locator(selector).screenshot(path=str(ARTIFACTS / f"schedules-{name}-{width}.png"))
    page.set_viewport_size({"width": 1280, "height": 900})


def connect(page, base: str) -> None:
    page.goto(base + SYNC + "/")
    page.click("text=Connect to Xero")
    page.click("text=Allow access")
    expect(page.locator("[data-connected]")).to_contain_text("Connected to")


def test_schedules_fire_runs_and_a_failure_is_emailed_to_the_catcher(world, page):
    base, instance = world
    login(page, base, "accountant")
    connect(page, base)

    # A schedule refused field by field: each refused one is marked, what was typed stays.
    page.goto(base + SYNC + "/settings#schedules")
    page.select_option("#schedule__sales_orders__cadence", "every")
    page.fill("#schedule__sales_orders__every", "0")
    page.fill("#digest_at", "7am")
    page.click("button:has-text('Save schedules and alerts')")
    expect(page.locator("[data-schedule-problems]")).to_contain_text("Not saved: 2 problems")
    expect(page.locator("#schedule__sales_orders__every")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#digest_at")).to_have_value("7am")
    section(page, "settings-refused", "#schedules")

    # Purchases on the additives account will be refused: someone archived it in Xero.
    inject(base, "archive_account", code="1420")
    page.fill("#schedule__sales_orders__every", "1")
    page.select_option("#schedule__purchase_orders__cadence", "every")
    page.fill("#schedule__purchase_orders__every", "1")
    page.fill("#digest_at", "")
    expect(page.locator("#alert_addresses")).to_have_value("accounts@barossa-ridge.example")
    page.click("button:has-text('Save schedules and alerts')")
    expect(page.locator(".flash")).to_contain_text("Schedules and alerts saved")
    section(page, "settings-saved", "#schedules")

    # The console shows each kind's next scheduled run; within the minute they fire.
    page.goto(base + SYNC + "/")
    row = page.locator("[data-schedules] tr[data-schedule=sales_orders]")
    expect(row.locator("[data-describe]")).to_contain_text("Every minute, up to today")
    expect(row.locator("[data-next]")).to_contain_text("ACDT")
    deadline_ms = 150_000
    for _ in range(30):
        page.reload()
        if "Started run" in (page.locator("[data-schedules] tr[data-schedule=purchase_orders] "
                                          "[data-last]").text_content() or ""):
            break
        page.wait_for_timeout(5_000)
    so_last = page.locator("[data-schedules] tr[data-schedule=sales_orders] [data-last]")
    expect(so_last).to_contain_text("Started run", timeout=deadline_ms)

    # The alert about the refused purchases: on the console, and emailed.
    alert = page.locator("[data-alerts] [data-alert-kind=run_failed]")
    for _ in range(24):  # the page shows what was so when it was read: read it again
        if alert.count() and "Emailed to" in (alert.locator("[data-email]").text_content() or ""):
            break
        page.wait_for_timeout(2_500)
        page.reload()
    expect(alert).to_contain_text("purchase orders not sent")
    expect(alert.locator("[data-email]")).to_contain_text("Emailed to accounts@barossa-ridge.example")
    page.shots.widths("console-scheduled-and-alert")
    section(page, "console-scheduled", "[data-schedules]")
    section(page, "console-alerts", "[data-alerts]")

    # The history: both runs, started by the schedule.
    page.goto(base + SYNC + "/history")
    expect(page.locator("body")).to_contain_text("schedule")
    history = page.locator("main").inner_text()
    assert history.count("schedule") >= 2, history
    page.shots.widths("history")

    # The email, caught on this machine.
    page.goto(base + "/mail")
    mail_row = page.locator("[data-mail-row]", has_text="purchase orders not sent")
    expect(mail_row).to_have_count(1)
    mail_row.locator("a").click()
    opened = page.locator("[data-mail-open]")
    expect(opened).to_contain_text("accounts@barossa-ridge.example")
    expect(opened).to_contain_text("refused by Accounts Sync before sending")
    expect(opened).to_contain_text("1420")
    assert re.search(r"/accounts/sync/runs/\d+", opened.inner_text())
    page.shots.widths("mail-caught")
    assert list((instance / "mail").glob("*.eml")), "the catcher keeps each message as a file"

    # The alerts page: the whole message, and what became of the email.
    page.goto(base + SYNC + "/alerts")
    expect(page.locator("[data-alert-list]")).to_contain_text("Emailed to")
    page.shots.widths("alerts-page")
    inject(base, "restore_account", code="1420")
