"""Every route of the plugin, present and future, needs login, 'can view costs' and CSRF.

The URL map is walked, so a route added without the checks fails here.
"""

from __future__ import annotations

import pytest

from tests.fakes import FakeClock, FakeGateway

from .web_host import logged_in, make_host_app

SAMPLE_ARGS = {"kind": "sales_orders", "key": "2026-11-02-bottling", "run_id": 1,
               "filename": "accounts_sync.css", "alert_id": 1, "code": "1440"}


@pytest.fixture
def app(clean_db, db_url):
    app = make_host_app(db_url)
    container = app.extensions["accounts_sync"].container
    container.clock.override(FakeClock())
    container.gateway.override(FakeGateway())
    return app


def plugin_routes(app):
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("accounts_sync."):
                continue
            from flask import url_for

            url = url_for(rule.endpoint, **{a: SAMPLE_ARGS[a] for a in rule.arguments})
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append((method, url))
    return routes


def test_the_plugin_has_the_routes_we_expect_to_guard(app):
    paths = {path for _, path in plugin_routes(app)}
    assert len(paths) >= 18
    assert "/accounts/sync/api/sync" in paths and "/accounts/sync/settings" in paths


def test_anonymous_requests_never_reach_a_view(app):
    client = app.test_client()
    for method, url in plugin_routes(app):
        response = client.open(url, method=method)
        if "/api/" in url:
            assert response.status_code == 401, (method, url)
            assert response.json["error"]["code"] == "login_required"
        else:
            assert response.status_code == 302, (method, url)
            assert "/login" in response.location, (method, url)


def test_users_without_can_view_costs_get_403_everywhere(app):
    client = logged_in(app, "cellarhand")
    for method, url in plugin_routes(app):
        assert client.open(url, method=method).status_code == 403, (method, url)


def test_every_post_without_a_csrf_token_is_refused(app):
    client = logged_in(app, "accountant")
    posts = [url for method, url in plugin_routes(app) if method == "POST"]
    assert posts
    for url in posts:
        response = client.post(url, data={"kind": "sales_orders"})
        assert response.status_code == 400, url
        assert "expired" in response.get_data(as_text=True)
        bad_header = client.post(url, data={"kind": "sales_orders"},
                                 headers={"X-CSRFToken": "forged"})
        assert bad_header.status_code == 400, url


def test_oauth_callback_with_a_forged_state_is_refused(app, db_url):
    # With the Xero gateway configured, the callback checks the state bound to the session.
    xero_app = make_host_app(db_url, gateway="xero", secret_key="xero-token-key-0123456789abcdefghij",
                             xero_base_url="http://127.0.0.1:9/xero", xero_client_id="x")
    client = logged_in(xero_app, "accountant")
    response = client.get("/accounts/sync/xero/callback?code=abc&state=forged",
                          headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


def test_xero_needs_a_secret_key_outside_the_demo(db_url):
    from accounts_sync.web import ConfigurationError

    with pytest.raises(ConfigurationError, match="ACCOUNTS_SYNC_SECRET_KEY"):
        make_host_app(db_url, gateway="xero")


@pytest.mark.parametrize("weak", ["x", "short-but-mixed-123", "a" * 64, "abababababababababababababababab"])
def test_short_or_repetitive_secret_keys_are_refused(db_url, weak):
    from accounts_sync.web import ConfigurationError

    with pytest.raises(ConfigurationError, match="at least 32 characters"):
        make_host_app(db_url, gateway="xero", secret_key=weak)
    with pytest.raises(ConfigurationError, match="SECRET_KEY signs the sessions"):
        make_host_app(db_url, host_config={"SECRET_KEY": weak})


def test_a_random_secret_key_is_accepted(db_url):
    import secrets

    make_host_app(db_url, host_config={"SECRET_KEY": secrets.token_urlsafe(32)}, gateway="xero",
                  secret_key=secrets.token_urlsafe(32), xero_client_id="x")


def test_plugin_pages_and_api_send_a_strict_content_security_policy(app):
    client = logged_in(app, "accountant")
    for path in ("/accounts/sync/", "/accounts/sync/api/status", "/accounts/sync/api/runs/999"):
        response = client.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "style-src 'self';" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "object-src 'none'" in policy and "base-uri 'none'" in policy
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_with_xero_the_policy_lets_connect_reach_xeros_login_only(db_url):
    xero_app = make_host_app(db_url, gateway="xero", secret_key="xero-token-key-0123456789abcdefghij",
                             xero_client_id="x")
    policy = logged_in(xero_app, "accountant").get("/accounts/sync/api/status").headers[
        "Content-Security-Policy"]
    assert "form-action 'self' https://login.xero.com;" in policy
