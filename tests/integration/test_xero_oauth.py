"""Connecting to Xero over real HTTP against the sandbox: consent, callback, tenant choice,
token refresh (before expiry, on 401, concurrently, after a lost answer), invalid_grant,
encryption at rest and disconnect. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from accounts_sync.adapters.erp_sql.engine import make_engine, make_session_factory
from accounts_sync.adapters.erp_sql.plugin_tables import ConnectionRow
from accounts_sync.adapters.xero.oauth import (
    OAuthDenied,
    OAuthStateMismatch,
    UnknownTenant,
)
from accounts_sync.adapters.xero.tokens import EncryptedTokenStore, fernet_key, redact
from accounts_sync.domain.errors import NotConnected, ReauthorisationNeeded

from .test_xero_gateway_harness import (  # noqa: F401 - fixtures
    AU_TENANT_ID,
    CLIENT_SECRET,
    NZ_TENANT_ID,
    REDIRECT_URI,
    SECRET_KEY,
    Xero,
    build_xero,
    connected_fixture,
    consent,
    sandbox_fixture,
    sandbox_server_fixture,
    xero_fixture,
)


def stored_row(xero: Xero, tenant_id: str = AU_TENANT_ID) -> ConnectionRow | None:
    with xero.sessions() as session:
        return session.scalars(select(ConnectionRow).where(ConnectionRow.tenant_id == tenant_id)).first()


def expire_soon(xero: Xero, seconds: float = 90.0) -> str:
    """Make the stored access token look about to expire; returns the old refresh token."""
    tokens = xero.store.load(AU_TENANT_ID)
    assert tokens is not None
    xero.store.save(AU_TENANT_ID, replace(tokens, expires_at=time.time() + seconds))
    xero.connector._cache.clear()
    return tokens.refresh_token


# ------------------------------------------------------------------ connect


def test_the_authorization_url_asks_for_the_configured_scopes(xero: Xero):
    url, state = xero.connector.authorization_url(REDIRECT_URI)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(xero.settings.authorize_url)
    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["accounts-sync-demo"]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["scope"] == ["offline_access accounting.invoices accounting.manualjournals "
                              "accounting.contacts accounting.settings.read "
                              "accounting.journals.read accounting.reports.trialbalance.read"]
    assert query["state"] == [state] and len(state) >= 20
    assert xero.connector.authorization_url(REDIRECT_URI)[1] != state


def test_connecting_one_organisation_makes_it_the_connection(xero: Xero):
    tenants = xero.connect(user="alice")

    assert [(t.tenant_id, t.name) for t in tenants] == [(AU_TENANT_ID, "Barossa Ridge Wines Pty Ltd")]
    connection = xero.connector.connection()
    assert connection is not None
    assert connection.tenant_id == AU_TENANT_ID
    assert connection.organisation_name == "Barossa Ridge Wines Pty Ltd"
    assert connection.connected_by == "alice"
    assert connection.connected_at is not None and not connection.needs_reauthorisation
    assert xero.gateway.connection() == connection
    assert xero.sandbox.counters["authorization_code_grants"] == 1
    assert xero.gateway.chart().organisation.base_currency == "AUD"


def test_tokens_are_encrypted_at_rest_with_the_expiry_in_clear(connected: Xero):
    tokens = connected.store.load(AU_TENANT_ID)
    row = stored_row(connected)
    assert tokens is not None and row is not None and row.token_ciphertext
    assert tokens.access_token.encode() not in row.token_ciphertext
    assert tokens.refresh_token.encode() not in row.token_ciphertext
    assert row.token_expires_at == pytest.approx(time.time() + 1800, abs=30)
    assert "accounting.invoices" in tokens.scope

    # another key cannot read them: the connection must be authorised again
    stranger = EncryptedTokenStore(connected.sessions, Fernet.generate_key())
    with pytest.raises(ReauthorisationNeeded):
        stranger.load(AU_TENANT_ID)
    # and a rotated key still can, given the old one
    rotated = EncryptedTokenStore(connected.sessions, "new secret", previous_keys=[SECRET_KEY])
    assert rotated.load(AU_TENANT_ID) == tokens


def test_the_encryption_key_is_derived_unless_it_already_is_a_fernet_key():
    key = Fernet.generate_key()
    assert fernet_key(key) == key and fernet_key(key.decode()) == key
    derived = fernet_key("a plain app secret")
    assert derived != fernet_key("another secret") and len(derived) == 44
    Fernet(derived)  # a valid key
    with pytest.raises(ValueError):
        fernet_key("")


def test_a_callback_with_another_state_is_refused_before_any_token_request(xero: Xero):
    url, state = xero.connector.authorization_url(REDIRECT_URI)
    callback = consent(xero.base_url, url)
    for expected in ("a-state-from-another-tab", None, ""):
        with pytest.raises(OAuthStateMismatch) as refused:
            xero.connector.complete(REDIRECT_URI, callback, expected, "mallory")
        assert "press Connect" in refused.value.message
    assert xero.sandbox.counters["token_requests"] == 0
    assert xero.connector.connection() is None
    # the genuine one still works
    assert xero.connector.complete(REDIRECT_URI, callback, state, "alice")


def test_cancelling_on_xero_says_access_was_not_granted(xero: Xero):
    url, state = xero.connector.authorization_url(REDIRECT_URI)
    callback = consent(xero.base_url, url, decision="cancel")
    with pytest.raises(OAuthDenied, match="did not grant access"):
        xero.connector.complete(REDIRECT_URI, callback, state, "alice")
    assert xero.connector.connection() is None


def test_with_two_organisations_the_user_chooses_one(xero: Xero):
    tenants = xero.connect(tenants=(AU_TENANT_ID, NZ_TENANT_ID), user="bob")

    assert {t.tenant_id for t in tenants} == {AU_TENANT_ID, NZ_TENANT_ID}
    assert xero.connector.connection() is None  # nothing chosen yet
    assert {t.tenant_id for t in xero.connector.pending_tenants()} == {AU_TENANT_ID, NZ_TENANT_ID}
    with pytest.raises(NotConnected):
        xero.gateway.chart()
    with pytest.raises(UnknownTenant):
        xero.connector.choose_tenant("00000000-0000-0000-0000-000000000000", "bob")

    connection = xero.connector.choose_tenant(NZ_TENANT_ID, "bob")

    assert connection.tenant_id == NZ_TENANT_ID and connection.connected_by == "bob"
    assert xero.connector.pending_tenants() == []
    assert stored_row(xero, AU_TENANT_ID) is None
    assert xero.gateway.chart().organisation.base_currency == "NZD"


# ------------------------------------------------------------------ refresh


def test_the_access_token_is_refreshed_before_it_expires_and_the_rotation_stored(connected: Xero):
    old_refresh = expire_soon(connected)

    connected.gateway.chart()

    assert connected.sandbox.counters["refresh_token_grants"] == 1
    assert connected.sandbox.counters["unauthorised"] == 0  # refreshed before, not after, a 401
    tokens = connected.store.load(AU_TENANT_ID)
    assert tokens is not None and tokens.refresh_token != old_refresh
    assert tokens.expires_at == pytest.approx(time.time() + 1800, abs=30)
    assert stored_row(connected).token_expires_at == pytest.approx(tokens.expires_at)

    connected.gateway.forget_chart()
    connected.gateway.chart()
    assert connected.sandbox.counters["refresh_token_grants"] == 1


def test_a_401_refreshes_once_and_retries(connected: Xero):
    connected.sandbox.expire_tokens()  # Xero no longer accepts the token we think valid

    chart = connected.gateway.chart()

    assert chart.organisation.tenant_id == AU_TENANT_ID
    assert connected.sandbox.counters["unauthorised"] == 1
    assert connected.sandbox.counters["refresh_token_grants"] == 1


def test_two_threads_refreshing_at_once_make_one_refresh_call(connected: Xero):
    stale = connected.store.load(AU_TENANT_ID).access_token
    expire_soon(connected)
    slow_down_refreshes(connected)
    barrier = threading.Barrier(4)
    tokens: list[str] = []

    def worker() -> None:
        barrier.wait()
        tokens.append(connected.connector.refresh(AU_TENANT_ID, stale_token=stale))

    run_threads(worker, 4)

    assert connected.sandbox.counters["refresh_calls"] == 1
    assert len(set(tokens)) == 1 and tokens[0] != stale


def test_two_processes_refreshing_at_once_make_one_refresh_call(
        connected: Xero, db_url: str, sandbox_server, sandbox):
    """Separate engines, stores and connectors: only the database lock stands between them."""
    stale = connected.store.load(AU_TENANT_ID).access_token
    expire_soon(connected)
    others = []
    for _ in range(2):
        engine = make_engine(db_url)
        others.append((engine, build_xero(sandbox_server[1], sandbox, make_session_factory(engine))))
    for _, other in others:
        slow_down_refreshes(other)
    barrier = threading.Barrier(len(others))
    tokens: list[str] = []

    def worker(other: Xero) -> None:
        barrier.wait()
        tokens.append(other.connector.refresh(AU_TENANT_ID, stale_token=stale))

    try:
        threads = [threading.Thread(target=worker, args=(other,)) for _, other in others]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for engine, other in others:
            other.client.close()
            engine.dispose()

    assert len(tokens) == 2 and len(set(tokens)) == 1
    assert sandbox.counters["refresh_calls"] == 1
    assert connected.gateway.chart()  # the stored token works for everyone


def test_a_refresh_whose_answer_was_lost_is_retried_with_the_same_refresh_token(connected: Xero):
    expire_soon(connected)
    connected.sandbox.inject("token_commit_then_drop")

    connected.gateway.chart()

    # Xero rotated on the first call; the retry used the old token inside its grace period.
    assert connected.sandbox.counters["refresh_token_grants"] == 2
    assert connected.sandbox.counters["refresh_failures"] == 0
    connected.gateway.forget_chart()
    connected.gateway.chart()


def test_invalid_grant_asks_for_reauthorisation_and_keeps_asking(connected: Xero):
    tokens = connected.store.load(AU_TENANT_ID)
    connected.store.save(AU_TENANT_ID, replace(tokens, refresh_token="sbx_rt_revoked",
                                                 expires_at=time.time() + 5))
    connected.connector._cache.clear()

    with pytest.raises(ReauthorisationNeeded, match="Barossa Ridge Wines Pty Ltd"):
        connected.gateway.chart()

    assert connected.sandbox.counters["refresh_failures"] == 1
    connection = connected.connector.connection()
    assert connection is not None and connection.needs_reauthorisation
    with pytest.raises(ReauthorisationNeeded):
        connected.gateway.push_invoices([], "nothing")
    assert connected.sandbox.counters["refresh_calls"] == 1  # no second doomed refresh

    connected.connect(user="alice")  # authorising again clears it
    assert not connected.connector.connection().needs_reauthorisation
    assert connected.gateway.chart()


def test_tokens_and_secrets_never_reach_the_logs(xero: Xero, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    xero.connect()
    expire_soon(xero)
    xero.gateway.chart()
    tokens = xero.store.load(AU_TENANT_ID)

    text = caplog.text
    assert "refresh_token" in text or "token" in text  # requests-oauthlib did log the exchange
    for secret in (tokens.access_token, tokens.refresh_token, CLIENT_SECRET):
        assert secret not in text
    assert redact('{"access_token": "abc.def", "x": 1} Bearer xyz') == \
        '{"access_token": "[redacted]", "x": 1} Bearer [redacted]'


# ------------------------------------------------------------------ disconnect


def test_disconnect_removes_the_connection_in_xero_and_here(connected: Xero):
    assert connected.connector.disconnect("alice") is True

    assert connected.sandbox.counters["revocations"] == 1
    with connected.sandbox.lock:
        assert not connected.sandbox.oauth.connections.get("accounts-sync-demo")
    assert stored_row(connected) is None
    assert connected.connector.connection() is None
    with pytest.raises(NotConnected):
        connected.gateway.chart()
    assert connected.connector.disconnect("alice") is False  # nothing left to disconnect


# ------------------------------------------------------------------ helpers


def slow_down_refreshes(xero: Xero, seconds: float = 0.3) -> None:
    """Hold the refresh lock a little longer, so concurrent refreshes really overlap."""
    original = xero.connector._refresh_with

    def slow(refresh_token: str):
        time.sleep(seconds)
        return original(refresh_token)

    xero.connector._refresh_with = slow  # type: ignore[method-assign]


def run_threads(target, count: int) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


def test_settings_come_from_flask_style_configuration():
    from accounts_sync.adapters.xero.config import DEFAULT_SCOPES, XeroSettings

    settings = XeroSettings.from_config({
        "ACCOUNTS_SYNC_XERO_CLIENT_ID": "abc",
        "ACCOUNTS_SYNC_XERO_CLIENT_SECRET": "shh",
        "ACCOUNTS_SYNC_XERO_BASE_URL": "http://127.0.0.1:5001/xero/",
        "ACCOUNTS_SYNC_XERO_SCOPES": "offline_access accounting.transactions accounting.settings.read",
        "ACCOUNTS_SYNC_XERO_CALLS_PER_MINUTE": "30",
        "ACCOUNTS_SYNC_XERO_INVOICE_STATUS": "DRAFT",
    })
    assert settings.token_url == "http://127.0.0.1:5001/xero/identity/connect/token"
    assert settings.api_base_url == "http://127.0.0.1:5001/xero/api.xro/2.0"
    assert settings.allow_insecure_transport
    assert settings.scopes == ("offline_access", "accounting.transactions", "accounting.settings.read")
    assert settings.calls_per_minute == 30 and settings.invoice_status == "DRAFT"
    assert "shh" not in repr(settings)
    real = XeroSettings(client_id="abc")
    assert real.api_base_url == "https://api.xero.com/api.xro/2.0" and not real.allow_insecure_transport
    assert real.scopes == DEFAULT_SCOPES
