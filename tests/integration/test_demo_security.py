"""The demo host, the sandbox and the plugin's pages, probed as an attacker would: secrets,
sessions, security headers and the sandbox's test hooks."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import create_engine, insert
from werkzeug.security import generate_password_hash

from accounts_sync.adapters.erp_sql import host_schema as hs
from accounts_sync.demo.app import DemoSettings, instance_secret
from accounts_sync.demo.host import create_host_app
from accounts_sync.demo.xero_sandbox import create_app as create_sandbox

SRC = Path(__file__).resolve().parents[2] / "src"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
INLINE = [re.compile(p, re.I) for p in (r"<script(?![^>]*\bsrc=)[^>]*>", r"<style\b",
                                        r"\sstyle=\"", r"\son[a-z]+=\"")]


@pytest.fixture
def host(tmp_path):
    url = f"sqlite:///{tmp_path / 'host.sqlite3'}"
    engine = create_engine(url)
    hs.host_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(hs.users), [{"username": "accountant", "full_name": "Alex",
                                         "password_hash": generate_password_hash("accountant"),
                                         "can_view_costs": True}])
    engine.dispose()
    app = create_host_app({"HOST_DATABASE_URL": url, "SECRET_KEY": "demo-security-" + "k3y" * 10})
    app.testing = True
    return app


def login(client) -> None:
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": "accountant", "password": "accountant",
                                           "csrf_token": token})
    assert response.status_code == 302


# ------------------------------------------------------------------ the demo's secret key


def test_the_demo_makes_a_random_secret_once_into_its_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("ACCOUNTS_SYNC_SECRET_KEY", raising=False)
    monkeypatch.setenv("DEMO_INSTANCE_DIR", str(tmp_path / "one"))
    first = DemoSettings.from_env()
    again = DemoSettings.from_env()
    monkeypatch.setenv("DEMO_INSTANCE_DIR", str(tmp_path / "two"))
    other = DemoSettings.from_env()
    assert first.secret_key == again.secret_key != other.secret_key
    assert len(first.secret_key) >= 32 and "generated now" not in again.secret_note
    path = tmp_path / "one" / "secret_key"
    assert path.read_text().strip() == first.secret_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.secret_key not in "".join(p.read_text() for p in SRC.rglob("*.py"))


def test_a_given_secret_wins_over_the_instance_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DEMO_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("ACCOUNTS_SYNC_SECRET_KEY", "given-" + "0123456789abcdef" * 2)
    assert DemoSettings.from_env().secret_key.startswith("given-")
    assert not (tmp_path / "secret_key").exists()


def test_the_instance_secret_is_read_back_not_remade(tmp_path):
    key, note = instance_secret(tmp_path)
    assert "generated now" in note
    assert instance_secret(tmp_path)[0] == key


# ------------------------------------------------------------------ sessions


def test_a_cookie_naming_only_a_user_id_logs_nobody_in(host):
    # Even signed with the right key: the session must hold a login the server issued.
    forged = SecureCookieSessionInterface().get_signing_serializer(host).dumps({"_user_id": "1"})
    client = host.test_client()
    client.set_cookie("session", forged)
    assert client.get("/").status_code == 302


def test_login_starts_a_new_session(host):
    client = host.test_client()
    client.get("/login")
    with client.session_transaction() as session:
        before = session["csrf_token"]  # the raw token behind every signed form token
        session["planted"] = "by someone before login"
    login(client)
    client.get("/")
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["csrf_token"] != before


def test_a_cookie_saved_before_logout_is_dead_after_it(host):
    client = host.test_client()
    login(client)
    saved = client.get_cookie("session").value
    token = TOKEN.search(client.get("/").get_data(as_text=True)).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    replay = host.test_client()
    replay.set_cookie("session", saved)
    assert replay.get("/").status_code == 302


# ------------------------------------------------------------------ headers and inline code


def test_demo_host_pages_send_a_strict_policy_and_security_headers(host):
    client = host.test_client()
    for response in (client.get("/login"), client.get("/nowhere")):
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'self'" in policy and "object-src 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


@pytest.mark.parametrize("folder", ["web/templates", "demo/templates", "demo/xero_sandbox/templates"])
def test_no_template_has_inline_script_style_or_handlers(folder):
    found = [(path.name, pattern.pattern) for path in (SRC / folder).rglob("*.html")
             for pattern in INLINE if pattern.search(path.read_text())]
    assert found == []


# ------------------------------------------------------------------ the sandbox


def test_sandbox_pages_send_security_headers():
    client = create_sandbox({}).test_client()
    response = client.get("/")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert client.get("/_static/sandbox.css").status_code == 200


def test_sandbox_test_hooks_are_off_unless_switched_on():
    client = create_sandbox({}).test_client()
    assert client.get("/_state.json").status_code == 404
    assert client.get("/_faults").status_code == 404
    assert client.post("/_reset", json={}).status_code == 404
    assert "_state.json" not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "https://evil.example"}])
def test_sandbox_test_hooks_refuse_cross_site_requests(headers):
    app = create_sandbox({"TEST_HOOKS": True})
    client = app.test_client()
    assert client.post("/_reset", headers=headers).status_code == 403
    assert client.get("/_state.json", headers=headers).status_code == 403
    assert client.post("/_faults", json={"kind": "http_error", "status": 503},
                       headers=headers).status_code == 403


def test_sandbox_reset_refuses_a_form_post():
    client = create_sandbox({"TEST_HOOKS": True}).test_client()
    form = "application/x-www-form-urlencoded"
    assert client.post("/_reset", data="", content_type=form).status_code == 415
    assert client.post("/_reset", data={"keep_connections": "1"}).status_code == 415
    assert client.post("/_reset", data="x", content_type="text/plain").status_code == 415
    assert client.post("/_reset").status_code == 200
    assert client.get("/_state.json").status_code == 200
