"""Schedules and alerts over HTTP and the CLI, on SQLite and PostgreSQL: the Settings section
(every field checked, refused ones marked, typed values kept), the console's Scheduled syncs
and Alerts, the alerts page and Dismiss, the JSON API, `run-due` and `schedule list`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from accounts_sync.domain.documents import Kind
from accounts_sync.domain.mapping import AccountMapping, TradeDefaults
from accounts_sync.web.api import OPERATIONS
from tests.fakes import FakeClock, FakeGateway

from .fixtures import line
from .web_host import bearer, logged_in, make_host_app

NOW = datetime(2026, 11, 26, 8, 50, tzinfo=UTC)  # 19:20 in Adelaide (ACDT, +10:30)


@pytest.fixture
def clock():
    return FakeClock(NOW)


@pytest.fixture
def app(clean_db, db_url, clock, erp, uow_factory):
    app = make_host_app(db_url, timezone="Australia/Adelaide")
    container = app.extensions["accounts_sync"].container
    container.clock.override(clock)
    container.gateway.override(FakeGateway(clock=clock))
    customer = erp.customer("Harbour Wine Distributors")
    for n in range(1, 4):
        erp.sales_order(customer, number=f"SO-{n}", invoice_date=date(2026, 11, n),
                        lines=[line(quantity="1", unit_price=f"{n}0.00", tax=f"{n}.00")])
    with uow_factory() as uow:
        uow.settings.save_mapping(AccountMapping(
            rounding_account="860", trade_defaults={Kind.SALES_ORDERS: TradeDefaults("4000", "OUTPUT")}))
        uow.commit()
    yield app
    container.job_queue().shutdown()


def form(**changes) -> dict[str, str]:
    fields = {"alert_addresses": "books@winery.example", "alert_runs": "all", "digest_at": ""}
    for kind in ("sales_orders", "purchase_orders", "refunds", "journals", "corrections"):
        fields |= {f"schedule__{kind}__cadence": "off", f"schedule__{kind}__every": "60",
                   f"schedule__{kind}__at": "06:00", f"schedule__{kind}__weekday": "0",
                   f"schedule__{kind}__closing": "today"}
    fields["schedule__journals__mode"] = "draft"
    return fields | changes


def csrf(client, path="/accounts/sync/settings") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))[1]


def test_schedules_are_saved_from_settings_and_shown_on_the_console(app):
    client = logged_in(app, "accountant")
    page = client.get("/accounts/sync/settings").get_data(as_text=True)
    assert 'id="schedules"' in page and "Australia/Adelaide" in page
    answer = client.post("/accounts/sync/settings/schedules", data=form(
        csrf_token=csrf(client), schedule__sales_orders__cadence="every",
        schedule__sales_orders__every="15", schedule__journals__cadence="weekly",
        schedule__journals__at="06:30", schedule__journals__weekday="0",
        schedule__journals__closing="end_of_last_month", schedule__journals__mode="posted",
        digest_at="07:00"))
    assert answer.status_code == 302 and answer.location.endswith("/settings#schedules")
    console = client.get("/accounts/sync/").get_data(as_text=True)
    row = re.search(r'<tr data-schedule="sales_orders">.*?</tr>', console, re.S)[0]
    assert "Every 15 minutes, up to today" in row
    assert "26 Nov 2026 19:30 ACDT" in row  # the next quarter hour in Adelaide
    journals = re.search(r'<tr data-schedule="journals">.*?</tr>', console, re.S)[0]
    assert "Weekly on Monday at 06:30, up to end of last month, as Posted" in journals
    assert "30 Nov 2026 06:30 ACDT" in journals
    assert "Times are in Australia/Adelaide" in console
    settings = client.get("/accounts/sync/settings").get_data(as_text=True)
    assert 'value="07:00"' in settings and "books@winery.example" in settings


def test_every_refused_field_is_marked_and_what_was_typed_is_kept(app):
    client = logged_in(app, "accountant")
    answer = client.post("/accounts/sync/settings/schedules", data=form(
        csrf_token=csrf(client), schedule__sales_orders__cadence="every",
        schedule__sales_orders__every="2", schedule__refunds__at="25:61",
        schedule__purchase_orders__every="ten", alert_addresses="books@winery.example, not an address",
        digest_at="7pm"))
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "Not saved: 5 problems" in page
    for name in ("schedule__sales_orders__every", "schedule__refunds__at",
                 "schedule__purchase_orders__every", "alert_addresses", "digest_at"):
        assert re.search(rf'id="{name}"[^>]*aria-invalid="true"', page), name
        assert f'id="{name}-error"' in page
    assert 'value="25:61"' in page and 'value="ten"' in page and 'value="7pm"' in page
    assert "not between 5 and 1,440" in page
    assert "is not an email address" in page
    # Nothing was saved.
    plan = app.extensions["accounts_sync"].container.get_schedules().execute()
    assert not any(e.schedule.is_on for e in plan.kinds)


def test_the_api_reads_and_sets_schedules_and_alert_settings(app):
    client = app.test_client()
    answer = client.put("/accounts/sync/api/schedules/refunds", headers=bearer("accountant"),
                        json={"cadence": "daily", "at": "18:00", "closing_rule": "yesterday"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    refunds = next(s for s in body["schedules"] if s["kind"] == "refunds")
    assert (refunds["description"], refunds["closing_rule"]) == ("Daily at 18:00", "yesterday")
    assert refunds["next_due_at"] == "2026-11-27T07:30:00+00:00"  # 18:00 ACDT tomorrow
    assert body["time_zone"] == "Australia/Adelaide"

    refused = client.put("/accounts/sync/api/schedules/refunds", headers=bearer("accountant"),
                         json={"cadence": "every", "every_minutes": 1})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "schedules_refused"
    assert refused.get_json()["error"]["problems"][0]["message"].startswith("Schedule for refunds")
    bad = client.put("/accounts/sync/api/schedules/invoices", headers=bearer("accountant"),
                     json={"cadence": "daily"})
    assert bad.status_code == 400

    saved = client.put("/accounts/sync/api/alerts/settings", headers=bearer("accountant"),
                       json={"addresses": ["Books@Winery.example"], "every_run": False,
                             "digest_at": "07:15"})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json() == {"addresses": ["Books@winery.example"], "every_run": False,
                                "digest_at": "07:15"}
    assert client.get("/accounts/sync/api/schedules", headers=bearer("accountant")).get_json()[
        "digest"]["description"] == "Daily at 07:15"
    assert client.put("/accounts/sync/api/alerts/settings", headers=bearer("accountant"),
                      json={"addresses": ["nobody"]}).status_code == 400
    assert client.get("/accounts/sync/api/alerts", headers=bearer("accountant")).get_json() == {
        "alerts": []}


def test_every_new_route_is_described(app):
    rules = {op.rule for op in OPERATIONS}
    assert {"/api/schedules", "/api/schedules/<kind>", "/api/alerts/settings", "/api/alerts"} <= rules


def test_a_due_schedule_fires_from_run_due_and_alerts_show_on_the_console(app, clock, erp):
    container = app.extensions["accounts_sync"].container
    client = logged_in(app, "accountant")
    client.post("/accounts/sync/settings/schedules", data=form(
        csrf_token=csrf(client), schedule__sales_orders__cadence="every",
        schedule__sales_orders__every="15"))
    erp.sales_order(erp.customer("Cellar Door"), number="SO-BAD", invoice_date=date(2026, 11, 20),
                    lines=[line(account="1460")])  # an account Xero does not have
    runner = app.test_cli_runner()
    quiet = runner.invoke(args=["accounts-sync", "run-due"])
    assert quiet.exit_code == 0 and quiet.output == ""  # cron gets no mail when nothing is due
    assert "Nothing was due. Next: 2026-11-26 19:30 ACDT" in runner.invoke(
        args=["accounts-sync", "run-due", "-v"]).output
    clock.advance(minutes=10)
    fired = runner.invoke(args=["accounts-sync", "run-due"])
    assert fired.exit_code == 0, fired.output
    assert "sales_orders (due 2026-11-26 19:30 ACDT): Started run" in fired.output
    assert "failed: 3 of 4 sent, 1 failed." in fired.output
    again = runner.invoke(args=["accounts-sync", "run-due"])
    assert again.output == ""  # idempotent: the firing was taken
    runs = container.list_runs().execute()
    assert [(r.kind, r.requested_by) for r in runs] == [(Kind.SALES_ORDERS, "schedule")]

    listing = runner.invoke(args=["accounts-sync", "schedule", "list"])
    assert "sales_orders     Every 15 minutes" in listing.output
    assert "2026-11-26 19:45 ACDT" in listing.output
    assert "Alerts to: books@winery.example" in listing.output
    assert "email is not set up" in listing.output

    console = client.get("/accounts/sync/").get_data(as_text=True)
    alerts = re.search(r"<section[^>]*data-alerts.*?</section>", console, re.S)[0]
    assert "1 sales orders not sent" in alerts
    assert "Not emailed: Email is not set up for Accounts Sync" in alerts
    assert f'href="/accounts/sync/runs/{runs[0].id}"' in alerts
    row = re.search(r'<tr data-schedule="sales_orders">.*?</tr>', console, re.S)[0]
    assert f"Started run {runs[0].id}" in row

    page = client.get("/accounts/sync/alerts").get_data(as_text=True)
    assert "SO-BAD (Accounts Sync): Account 1460" in page
    alert_id = int(re.search(r'data-alert="(\d+)"', page)[1])
    token = csrf(client, "/accounts/sync/alerts")
    assert client.post(f"/accounts/sync/alerts/{alert_id}/dismiss",
                       data={"csrf_token": token, "next": "/accounts/sync/"}).status_code == 302
    assert "data-alerts" not in client.get("/accounts/sync/").get_data(as_text=True)
    assert "dismissed by accountant" in client.get("/accounts/sync/alerts").get_data(as_text=True)
    api = app.test_client().get("/accounts/sync/api/alerts", headers=bearer("accountant")).get_json()
    assert api["alerts"][0]["kind"] == "run_failed" and api["alerts"][0]["dismissed_at"]


def test_pages_are_for_people_who_can_view_costs_and_posts_need_the_token(app):
    assert logged_in(app, "cellarhand").get("/accounts/sync/alerts").status_code == 403
    client = logged_in(app, "accountant")
    assert client.post("/accounts/sync/settings/schedules", data=form()).status_code == 400
    assert client.post("/accounts/sync/alerts/1/dismiss").status_code == 400


def test_the_scheduler_thread_fires_a_due_schedule_by_itself(clean_db, db_url, erp, uow_factory):
    """The embedded default: the first request starts a thread that fires what is due."""
    app = make_host_app(db_url, scheduler="in_process", schedule_poll=0.2)
    container = app.extensions["accounts_sync"].container
    container.gateway.override(FakeGateway())
    erp.sales_order(erp.customer("Cellar Door"), number="SO-1", invoice_date=date.today())
    with uow_factory() as uow:
        uow.settings.save_mapping(AccountMapping(
            rounding_account="860", trade_defaults={Kind.SALES_ORDERS: TradeDefaults("4000", "OUTPUT")}))
        uow.commit()
    client = logged_in(app, "accountant")
    client.post("/accounts/sync/settings/schedules", data=form(
        csrf_token=csrf(client), schedule__sales_orders__cadence="every",
        schedule__sales_orders__every="5"))
    # As if the five minutes had passed: the next firing is now.
    from sqlalchemy import update

    from accounts_sync.adapters.erp_sql.plugin_tables import ScheduleRow
    with container.engine().begin() as connection:
        connection.execute(update(ScheduleRow).where(ScheduleRow.name == "sales_orders").values(
            next_due_at=datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(seconds=1)))
    scheduler = container.scheduler()
    try:
        assert scheduler.running
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while datetime.now(UTC) < deadline and not container.list_runs().execute():
            import time
            time.sleep(0.1)
        runs = container.list_runs().execute()
        assert [r.requested_by for r in runs] == ["schedule"]
        container.job_queue().wait(runs[0].id, timeout=20)
        assert container.get_run().execute(runs[0].id).created == 1
    finally:
        scheduler.stop()
        container.job_queue().shutdown()
