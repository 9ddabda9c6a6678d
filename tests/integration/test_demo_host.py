"""The demo host ERP (accounts_sync.demo.host) over Flask's test client, on a temporary SQLite file.

CSRF stays on (as in the demo) except where a test says otherwise: forms are posted with the
token read from the page, and a POST without one is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import unescape
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Blueprint, Flask, abort, render_template_string
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, insert
from werkzeug.security import generate_password_hash

from accounts_sync.adapters.erp_sql import host_schema as hs
from accounts_sync.demo.host import HostUser, create_host_app, date_format, is_safe_next, money

from .fixtures import HostErp, line

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
WRONG = "Wrong username or password."
NO_PERMISSION = ("You don't have permission to view this page. "
                 "Ask your administrator for the 'can view costs' permission.")


@dataclass(frozen=True)
class Seeded:
    url: str
    sales_order: int
    purchase_order: int
    refund: int
    operation: int
    cost_entry: int


def _users(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(hs.users), [
            {"username": "accountant", "password_hash": generate_password_hash("accountant"),
             "full_name": "Alex Accountant", "can_view_costs": True},
            {"username": "cellarhand", "password_hash": generate_password_hash("cellarhand"),
             "full_name": "Casey Cellarhand", "can_view_costs": False},
        ])


def _database(path: Path) -> tuple[str, Engine]:
    url = f"sqlite:///{path / 'host.sqlite3'}"
    engine = create_engine(url)
    hs.host_metadata.create_all(engine)
    _users(engine)
    return url, engine


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    url, engine = _database(tmp_path_factory.mktemp("demo_host"))
    erp = HostErp(engine)
    customer = erp.customer("Harbour Wine Distributors", channel="distributor")
    so = erp.sales_order(
        customer, number="SO-004711", invoice_date=date(2026, 11, 26), order_date=date(2026, 11, 20),
        lines=[
            line("2024 Reserve Shiraz 750ml", "120", "1045.5", tax="12546.00", account="4000",
                 tax_type="OUTPUT", vintage="2024", brand="Reserve", item_code="SHZ-RES-24"),
            line("Freight to Sydney", "1", "85.00", tax="8.50", account="4100", tax_type="OUTPUT"),
        ],
    )
    supplier = erp.supplier("Kalimna Road Vineyard")
    po = erp.purchase_order(supplier, number="PO-000815", supplier_invoice_number="KRV-2291",
                            bill_date=date(2026, 3, 4))
    rf = erp.refund(customer, number="RF-000042", sales_order_id=so, reason="Corked bottles")
    batch = erp.batch("24-SHZ-RES-01", vintage="2024", varietal="Shiraz", brand="Reserve",
                      vessel="Tank 7")
    op = erp.operation("BTL-0412", "Bottling BTL-0412: 2024 Reserve Shiraz, 4,800 bottles",
                       op_type="bottling", op_date=date(2026, 3, 2), batch_id=batch)
    entry = erp.cost_entry(op, date(2026, 3, 2), "bottling", "dry_goods", "1234.5000", "dry_goods",
                           "finished_goods", vintage="2024", brand="Reserve", batch_id=batch,
                           description="Glass, closures and labels for 4,800 bottles")
    engine.dispose()
    return Seeded(url, so, po, rf, op, entry)


def _app(url: str, **config: object) -> Flask:
    app = create_host_app({"HOST_DATABASE_URL": url, "SECRET_KEY": "test-secret", **config})
    app.testing = True
    return app


def _token(html: bytes | str) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    match = TOKEN.search(text)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _login(client: FlaskClient, username: str = "accountant", password: str | None = None,
           next_url: str | None = None):
    token = _token(client.get("/login").data)
    url = "/login" if next_url is None else f"/login?next={quote(next_url, safe='')}"
    return client.post(url, data={"username": username, "password": password or username,
                                  "csrf_token": token})


@pytest.fixture
def app(seeded: Seeded) -> Flask:
    return _app(seeded.url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    client = app.test_client()
    response = _login(client)
    assert response.status_code == 302
    return client


def _text(response) -> str:
    """The page with entities decoded, so texts read as the user sees them."""
    return unescape(response.get_data(as_text=True))


# ------------------------------------------------------------------ factory and filters


def test_factory_keeps_the_engine_in_the_extensions_and_the_host_date_format(app: Flask):
    assert isinstance(app.extensions["demo_host"], Engine)
    assert app.config["HOST_DATE_FORMAT"] == "%d %b %Y"
    assert app.config["HOST_NAME"] == "Barossa Ridge Wines ERP"
    assert {"money", "date_format"} <= set(app.jinja_env.filters)
    assert "csrf" in app.extensions


def test_factory_needs_a_database_url(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HOST_DATABASE_URL", raising=False)
    with pytest.raises(ValueError, match="HOST_DATABASE_URL"):
        create_host_app({"SECRET_KEY": "x"})


def test_money_and_date_filters(app: Flask):
    assert money(Decimal("1234.5")) == "1,234.50"
    assert money(Decimal("-0.005")) == "-0.01"
    assert money(Decimal("1234567.125")) == "1,234,567.13"
    assert money(None) == ""
    with app.app_context():
        assert date_format(date(2026, 11, 26)) == "26 Nov 2026"
        app.config["HOST_DATE_FORMAT"] = "%Y-%m-%d"
        assert date_format(date(2026, 11, 26)) == "2026-11-26"
    assert date_format(None) == ""


def test_user_permissions(app: Flask):
    accountant = HostUser(1, "accountant", "Alex Accountant", True)
    cellarhand = HostUser(2, "cellarhand", "Casey Cellarhand", False)
    assert accountant.has_permission("can_view_costs")
    assert not cellarhand.has_permission("can_view_costs")
    assert not accountant.has_permission("can_delete_everything")
    assert accountant.get_id() == "1"


@pytest.mark.parametrize("target, safe", [
    ("/erp/operations/412", True),
    ("/accounts/sync/?closing=2026-11-26", True),
    ("//evil.example/", False),
    ("/\\evil.example", False),
    ("https://evil.example/", False),
    ("javascript:alert(1)", False),
    ("erp/sales-orders", False),
    ("", False),
    (None, False),
])
def test_safe_next(target, safe):
    assert is_safe_next(target) is safe


# ------------------------------------------------------------------ login and logout


def test_anonymous_visitor_is_sent_to_login_with_next(app: Flask):
    client = app.test_client()
    for path in ("/", "/erp/sales-orders", "/erp/operations/1", "/erp/cost-entries"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.location.startswith("/login?next=")
        assert quote(path, safe="") in response.location


def test_login_page_has_the_form_fields_and_a_token(app: Flask):
    html = _text(app.test_client().get("/login"))
    assert 'name="username"' in html and 'name="password"' in html
    assert _token(html)
    assert "Barossa Ridge Wines ERP" in html
    assert "Accounts Sync" not in html  # no menu before login


def test_login_succeeds_and_lands_on_home(app: Flask):
    client = app.test_client()
    response = _login(client)
    assert response.status_code == 302 and response.location == "/"
    home = client.get("/")
    assert home.status_code == 200
    html = _text(home)
    assert "Barossa Ridge Wines" in html and "Alex Accountant" in html


@pytest.mark.parametrize("username, password", [("accountant", "wrong"), ("nobody", "accountant")])
def test_wrong_credentials_show_a_plain_message_and_the_form(app: Flask, username: str, password: str):
    client = app.test_client()
    response = _login(client, username, password)
    assert response.status_code == 200
    html = _text(response)
    assert WRONG in html
    assert 'name="username"' in html and 'name="password"' in html
    assert "Traceback" not in html
    assert client.get("/").status_code == 302  # still anonymous


def test_empty_fields_ask_for_both(app: Flask):
    client = app.test_client()
    response = client.post("/login", data={"username": "", "password": "",
                                           "csrf_token": _token(client.get("/login").data)})
    assert response.status_code == 200
    assert "Enter your username and password." in _text(response)


def test_login_follows_a_safe_next(app: Flask, seeded: Seeded):
    response = _login(app.test_client(), next_url=f"/erp/operations/{seeded.operation}")
    assert response.location == f"/erp/operations/{seeded.operation}"


@pytest.mark.parametrize("target", ["https://evil.example/steal", "//evil.example/", "/\\evil.example"])
def test_login_refuses_an_open_redirect(app: Flask, target: str):
    response = _login(app.test_client(), next_url=target)
    assert response.status_code == 302
    assert response.location == "/"


def test_a_post_without_csrf_token_is_refused(app: Flask):
    client = app.test_client()
    response = client.post("/login", data={"username": "accountant", "password": "accountant"})
    assert response.status_code == 400
    html = _text(response)
    assert "expired" in html and "Traceback" not in html
    assert client.get("/").status_code == 302
    _login(client)
    assert client.post("/logout").status_code == 400  # logging out needs the token too
    assert client.get("/").status_code == 200


def test_logout_is_a_post_with_token(client: FlaskClient):
    html = _text(client.get("/"))
    assert 'action="/logout"' in html
    response = client.post("/logout", data={"csrf_token": _token(html)})
    assert response.status_code == 302 and response.location == "/login"
    assert client.get("/").status_code == 302
    assert "You have logged out." in _text(client.get("/login"))


def test_logout_by_get_is_not_allowed(client: FlaskClient):
    response = client.get("/logout")
    assert response.status_code == 405
    assert "Traceback" not in _text(response)
    assert client.get("/").status_code == 200


def test_csrf_can_be_switched_off_by_config(seeded: Seeded):
    client = _app(seeded.url, WTF_CSRF_ENABLED=False).test_client()
    response = client.post("/login", data={"username": "cellarhand", "password": "cellarhand"})
    assert response.status_code == 302
    assert "Casey Cellarhand" in _text(client.get("/"))
    assert client.post("/logout").status_code == 302


# ------------------------------------------------------------------ pages


def test_home_counts_documents(client: FlaskClient):
    html = _text(client.get("/"))
    for text in ("Sales orders", "Purchase orders", "Refunds", "Cost entries", "Operations"):
        assert text in html
    assert 'href="/erp/sales-orders?status=invoiced"' in html


def test_sales_order_list_and_page(client: FlaskClient, seeded: Seeded):
    listing = _text(client.get("/erp/sales-orders"))
    assert f'href="/erp/sales-orders/{seeded.sales_order}"' in listing
    assert "SO-004711" in listing and "Harbour Wine Distributors" in listing
    assert "26 Nov 2026" in listing
    assert "138,099.50" in listing  # 125,460.00 + 85.00 + 12,546.00 + 8.50

    page = _text(client.get(f"/erp/sales-orders/{seeded.sales_order}"))
    for text in ("SO-004711", "Harbour Wine Distributors", "20 Nov 2026", "26 Nov 2026", "Invoiced",
                 "SHZ-RES-24", "2024 Reserve Shiraz 750ml", ">120<", "1,045.50", "125,460.00", "4000",
                 "OUTPUT", "12,546.00", ">2024<", "Reserve", "Freight to Sydney", "138,099.50",
                 "RF-000042"):
        assert text in page, text
    assert '<thead>' in page and 'class="num"' in page


def test_purchase_order_list_and_page(client: FlaskClient, seeded: Seeded):
    listing = _text(client.get("/erp/purchase-orders"))
    assert "PO-000815" in listing and "Kalimna Road Vineyard" in listing and "KRV-2291" in listing
    page = _text(client.get(f"/erp/purchase-orders/{seeded.purchase_order}"))
    for text in ("PO-000815", "Kalimna Road Vineyard", "04 Mar 2026", "Shiraz fruit, 2.5 t", ">2.5<",
                 "2,200.00", "5,500.00", "1410", "INPUT", "Billed"):
        assert text in page, text


def test_refund_list_and_page_link_the_sales_order(client: FlaskClient, seeded: Seeded):
    listing = _text(client.get("/erp/refunds"))
    assert "RF-000042" in listing and f'href="/erp/sales-orders/{seeded.sales_order}"' in listing
    page = _text(client.get(f"/erp/refunds/{seeded.refund}"))
    for text in ("RF-000042", "Harbour Wine Distributors", "Corked bottles", "SO-004711",
                 f'href="/erp/sales-orders/{seeded.sales_order}"', "Refund: corked bottles", "50.00"):
        assert text in page, text


def test_operation_page_shows_batch_and_cost_entries(client: FlaskClient, seeded: Seeded):
    listing = _text(client.get("/erp/operations"))
    assert f'href="/erp/operations/{seeded.operation}"' in listing and "BTL-0412" in listing
    page = _text(client.get(f"/erp/operations/{seeded.operation}"))
    for text in ("Bottling BTL-0412", "02 Mar 2026", "24-SHZ-RES-01", "2024", "Shiraz", "Reserve",
                 "Tank 7", "4,800 bottles", "Bottling", "Dry goods", "Dry goods inventory",
                 "Bottled wine inventory", "1,234.50", "Glass, closures and labels"):
        assert text in page, text


def test_cost_entries_link_their_operation(client: FlaskClient, seeded: Seeded):
    html = _text(client.get("/erp/cost-entries"))
    assert f'href="/erp/operations/{seeded.operation}"' in html
    assert "BTL-0412" in html and "1,234.50" in html and "02 Mar 2026" in html


@pytest.mark.parametrize("path", ["/erp/sales-orders/999999", "/erp/purchase-orders/999999",
                                  "/erp/refunds/999999", "/erp/operations/999999", "/erp/nothing-here",
                                  "/erp/sales-orders/99999999999999999999999", "/erp/operations/-1"])
def test_unknown_pages_are_a_plain_404(client: FlaskClient, path: str):
    response = client.get(path)
    assert response.status_code == 404
    html = _text(response)
    assert "This page doesn't exist." in html
    assert "Alex Accountant" in html  # inside the layout
    assert "Traceback" not in html


def test_errors_are_plain_sentences(seeded: Seeded):
    app = _app(seeded.url)
    app.testing = False  # let the 500 handler answer instead of raising into the test

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    @app.get("/costs-only")
    def costs_only():
        abort(403)

    client = app.test_client()
    _login(client, "cellarhand")
    response = client.get("/boom")
    assert response.status_code == 500
    html = _text(response)
    assert "Something went wrong" in html and "secret internals" not in html and "Traceback" not in html
    forbidden = client.get("/costs-only")
    assert forbidden.status_code == 403
    assert NO_PERMISSION in _text(forbidden)


def test_api_paths_get_json_errors(client: FlaskClient):
    response = client.get("/accounts/sync/api/nothing")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


# ------------------------------------------------------------------ menu and layout for the plugin


def _plugin_stand_in() -> Blueprint:
    blueprint = Blueprint("accounts_sync", __name__, url_prefix="/accounts/sync")

    @blueprint.get("/")
    def console():
        return render_template_string(
            '{% extends config["ACCOUNTS_SYNC_BASE_TEMPLATE"] %}'
            "{% block title %}Accounts Sync{% endblock %}"
            '{% block head %}<meta name="plugin-head" content="yes">{% endblock %}'
            "{% block content %}<h1>Preview unsynced documents</h1>"
            '<p class="num">{{ amount | money }}</p><p>{{ day | date_format }}</p>{% endblock %}'
            '{% block scripts %}<script id="plugin-script"></script>{% endblock %}',
            amount=Decimal("98765.4"), day=date(2026, 11, 26),
        )

    return blueprint


def test_menu_has_no_accounts_sync_without_the_plugin(client: FlaskClient):
    html = _text(client.get("/"))
    assert "Accounts Sync…" not in html
    for entry in ("Sales orders", "Purchase orders", "Refunds", "Operations", "Cost entries"):
        assert f">{entry}</a>" in html


def test_menu_links_accounts_sync_when_the_plugin_is_mounted(seeded: Seeded):
    app = _app(seeded.url, ACCOUNTS_SYNC_BASE_TEMPLATE="erp/base.html")
    app.register_blueprint(_plugin_stand_in())
    client = app.test_client()
    _login(client)
    home = _text(client.get("/"))
    assert ">Accounts</summary>" in home
    assert 'href="/accounts/sync/">Accounts Sync…</a>' in home

    page = _text(client.get("/accounts/sync/"))
    assert "<title>Accounts Sync · Barossa Ridge Wines ERP</title>" in page
    assert '<meta name="plugin-head" content="yes">' in page
    assert "<h1>Preview unsynced documents</h1>" in page
    assert "98,765.40" in page and "26 Nov 2026" in page
    assert '<script id="plugin-script"></script>' in page
    assert 'aria-current="page">Accounts Sync…</a>' in page
    assert "Alex Accountant" in page and 'action="/logout"' in page


# ------------------------------------------------------------------ paging


def test_lists_page_by_50_newest_first(tmp_path: Path):
    url, engine = _database(tmp_path)
    erp = HostErp(engine)
    customer = erp.customer()
    ids = erp.many_sales_orders(customer, [f"{n}.00" for n in range(1, 121)])
    erp.sales_order(customer, number="SO-DRAFT-1", status="draft")
    engine.dispose()
    client = _app(url).test_client()
    _login(client)

    def numbers(html: str) -> list[int]:
        return [int(n) for n in re.findall(r'href="/erp/sales-orders/(\d+)"', html)]

    first = _text(client.get("/erp/sales-orders"))
    assert len(numbers(first)) == 50 and numbers(first) == sorted(numbers(first), reverse=True)
    assert "of 121 sales orders" in first
    older = re.search(r'href="/erp/sales-orders\?before=(\d+)"', first)
    assert older
    second = _text(client.get(f"/erp/sales-orders?before={older.group(1)}"))
    assert numbers(second)[0] == numbers(first)[-1] - 1 and len(numbers(second)) == 50
    newer = re.search(r'href="/erp/sales-orders\?after=(\d+)"', second)
    assert newer
    assert numbers(_text(client.get(f"/erp/sales-orders?after={newer.group(1)}"))) == numbers(first)
    third = _text(client.get(f"/erp/sales-orders?before={numbers(second)[-1]}"))
    assert numbers(third) == sorted(ids[:21], reverse=True)
    assert "?before=" not in third

    drafts = _text(client.get("/erp/sales-orders?status=draft"))
    assert "SO-DRAFT-1" in drafts and "of 1 sales orders" in drafts
    assert len(numbers(drafts)) == 1
    for odd in ("abc", "²", "99999999999999999999999", "-5"):
        assert client.get(f"/erp/sales-orders?before={odd}").status_code == 200
        assert client.get(f"/erp/sales-orders?after={odd}").status_code == 200
