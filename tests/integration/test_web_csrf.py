"""The plugin's CSRF protection holds whatever the host's Flask-WTF configuration, and scripts
authenticated by the host's request loader from the Authorization header need no token."""

from __future__ import annotations

import re

import pytest

from tests.fakes import FakeClock, FakeGateway

from .web_host import bearer, logged_in, make_host_app

HOSTS = {
    "no CSRFProtect": ({}, None),
    "CSRFProtect before the plugin": ({}, "before"),
    "CSRFProtect after the plugin": ({}, "after"),
    "WTF_CSRF_CHECK_DEFAULT=False": ({"WTF_CSRF_CHECK_DEFAULT": False}, "before"),
    "WTF_CSRF_ENABLED=False": ({"WTF_CSRF_ENABLED": False}, "before"),
    "WTF_CSRF_ENABLED=False, no CSRFProtect": ({"WTF_CSRF_ENABLED": False}, None),
}
BODY = {"kind": "sales_orders", "closing_date": "2026-11-26"}


@pytest.fixture(params=list(HOSTS))
def app(request, clean_db, db_url):
    config, protect = HOSTS[request.param]
    app = make_host_app(db_url, host_config=config, csrf_protect=protect)
    container = app.extensions["accounts_sync"].container
    container.clock.override(FakeClock())
    container.gateway.override(FakeGateway())
    yield app
    container.job_queue().shutdown()


def runs(app) -> int:
    return len(app.extensions["accounts_sync"].container.list_runs().execute(limit=50))


def token_of(client) -> str:
    html = client.get("/accounts/sync/").get_data(as_text=True)
    return re.search(r'data-csrf="([^"]+)"', html).group(1)


def test_a_cross_site_post_without_a_token_starts_nothing(app):
    client = logged_in(app, "accountant")
    for kwargs in ({"json": BODY}, {"data": BODY}):
        response = client.post("/accounts/sync/api/sync", **kwargs)
        assert response.status_code == 400
        assert response.json["error"]["code"] == "csrf_failed"
    forged = client.post("/accounts/sync/api/sync", json=BODY, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400
    page = client.post("/accounts/sync/sync", data=BODY)
    assert page.status_code == 400 and "expired" in page.get_data(as_text=True)
    assert runs(app) == 0


def test_the_token_of_another_session_is_refused(app):
    other = token_of(logged_in(app, "accountant"))
    client = logged_in(app, "accountant")
    response = client.post("/accounts/sync/api/sync", json=BODY, headers={"X-CSRFToken": other})
    assert response.status_code == 400 and runs(app) == 0


def test_a_browser_flagged_cross_site_request_is_refused_even_with_a_token(app):
    client = logged_in(app, "accountant")
    response = client.post("/accounts/sync/api/sync", json=BODY,
                           headers={"X-CSRFToken": token_of(client), "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 400 and runs(app) == 0


def test_the_page_token_lets_the_console_start_a_sync(app):
    client = logged_in(app, "accountant")
    token = token_of(client)
    response = client.post("/accounts/sync/api/sync", json=BODY,
                           headers={"X-CSRFToken": token, "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 202, response.json
    form = client.post("/accounts/sync/sync", data={**BODY, "kind": "refunds", "csrf_token": token})
    assert form.status_code == 302


def test_a_script_with_a_bearer_token_needs_no_csrf_token(app):
    client = app.test_client()
    response = client.post("/accounts/sync/api/sync", json=BODY, headers=bearer("accountant"))
    assert response.status_code == 202, response.json
    assert response.json["run"]["requested_by"] == "accountant"
    assert "Set-Cookie" not in response.headers  # scripts get no session


def test_the_bearer_exemption_is_only_for_the_api(app):
    response = app.test_client().post("/accounts/sync/sync", data=BODY, headers=bearer("accountant"))
    assert response.status_code == 400 and runs(app) == 0


def test_a_bearer_token_still_needs_the_permission(app):
    response = app.test_client().post("/accounts/sync/api/sync", json=BODY,
                                      headers=bearer("cellarhand"))
    assert response.status_code == 403 and runs(app) == 0


def test_a_token_loaded_from_the_query_string_gets_no_exemption(app):
    client = app.test_client()
    assert client.get("/accounts/sync/api/status?api_token=token-accountant").status_code == 200
    response = client.post("/accounts/sync/api/sync?api_token=token-accountant", json=BODY)
    assert response.status_code == 400 and runs(app) == 0
