"""The demo host ERP: a small winery ERP (Barossa Ridge Wines) that Accounts Sync is mounted into.

    app = create_host_app({"HOST_DATABASE_URL": "sqlite:///demo.sqlite3", "SECRET_KEY": "..."})
    AccountsSync(app)          # the plugin adds "Accounts -> Accounts Sync..." to the menu

The host owns what a real ERP would: its users and login (flask-login), CSRF protection for
every form in the app (the plugin's included), the base layout the plugin's pages extend
(`erp/base.html`, blocks `title`, `head`, `content`, `scripts`), the `money` and `date_format`
filters, plain error pages, and the document and production pages that the plugin links to
(`/erp/sales-orders/<id>`, `/erp/operations/<id>`, ...).

Pages read the host tables of `adapters.erp_sql.host_schema` with SQLAlchemy Core, newest first,
50 rows a page, paged by id (keyset), so they stay fast on 100k-row tables.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_login.utils import login_url
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import make_url
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired

from ..adapters.erp_sql import host_schema as hs
from ..domain.costs import Stage
from .erp_edits import edits

__all__ = ["HostUser", "create_host_app", "date_format", "host", "money"]

EXTENSION_KEY = "demo_host"
PAGE_SIZE = 50
MAX_ID = 2**31 - 1  # INTEGER keys: larger ids in a URL are simply not found
DEFAULT_HOST_NAME = "Barossa Ridge Wines ERP"
DEFAULT_WINERY_NAME = "Barossa Ridge Wines"
DEFAULT_DATE_FORMAT = "%d %b %Y"
PLUGIN_CONSOLE_ENDPOINT = "accounts_sync.console"

WRONG_CREDENTIALS = "Wrong username or password."
MISSING_CREDENTIALS = "Enter your username and password."
ERROR_MESSAGES = {
    400: "The request could not be understood. Go back, reload the page and try again.",
    403: "You don't have permission to view this page. "
         "Ask your administrator for the 'can view costs' permission.",
    404: "This page doesn't exist. Check the address, or start again from the home page.",
    405: "This page can't be used that way. Go back and use the buttons on the page.",
    500: "Something went wrong on our side and the page could not be shown. "
         "Try again in a minute; if it keeps happening, tell your administrator.",
}
ERROR_HEADINGS = {
    400: "Bad request",
    403: "Permission needed",
    404: "Page not found",
    405: "Not allowed",
    500: "Something went wrong",
}
ERROR_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    500: "internal_error",
}
CSRF_MESSAGE = ("This form has expired or did not come from this site. "
                "Reload the page and submit it again.")

STATUSES = {
    "sales_orders": ("draft", "confirmed", "invoiced", "cancelled"),
    "purchase_orders": ("draft", "ordered", "received", "billed", "cancelled"),
    "refunds": ("draft", "approved", "cancelled"),
}

host = Blueprint("host", __name__)

# Server-side record of each login, so that logging out ends the session for good: Flask's
# cookie sessions are only signed, and a cookie copied before logout would otherwise still work.
SESSION_LIFETIME = timedelta(days=14)
session_metadata = MetaData()
user_sessions = Table(
    "erp_user_sessions", session_metadata,
    Column("token", String(64), primary_key=True),
    Column("user_id", Integer, nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
)


# --------------------------------------------------------------------------- factory


def create_host_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The demo host ERP without the plugin.

    Config: HOST_DATABASE_URL (SQLAlchemy URL; falls back to the environment variable of that
    name), SECRET_KEY (random per process when absent), HOST_NAME, HOST_WINERY_NAME,
    HOST_DATE_FORMAT, plus any Flask / Flask-WTF setting (e.g. WTF_CSRF_ENABLED).
    """
    app = Flask(__name__, template_folder="templates", static_folder="static")
    app.config.update(
        HOST_NAME=DEFAULT_HOST_NAME,
        HOST_WINERY_NAME=DEFAULT_WINERY_NAME,
        HOST_DATE_FORMAT=DEFAULT_DATE_FORMAT,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.update(dict(config or {}))
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
    url = app.config.get("HOST_DATABASE_URL") or os.environ.get("HOST_DATABASE_URL")
    if not url:
        raise ValueError("The demo host needs HOST_DATABASE_URL, a SQLAlchemy URL such as "
                         "sqlite:///demo_host.sqlite3")
    app.config["HOST_DATABASE_URL"] = url
    app.extensions[EXTENSION_KEY] = _make_engine(url)
    session_metadata.create_all(app.extensions[EXTENSION_KEY])

    CSRFProtect(app)  # registers itself as app.extensions["csrf"]
    _init_login(app)
    app.register_blueprint(host)
    app.register_blueprint(edits)  # editing after a sync, so the demo shows corrections
    app.add_template_filter(money, "money")
    app.add_template_filter(date_format, "date_format")
    app.add_template_filter(quantity_format, "quantity")
    app.add_template_filter(price_format, "price")
    app.add_template_filter(label, "label")
    app.add_template_filter(stage_label, "stage_label")
    app.context_processor(_layout_context)
    _init_errors(app)
    app.after_request(_security_headers)
    return app


def _make_engine(url: str) -> Engine:
    """Plain reads, no BEGIN IMMEDIATE: the host's pages never wait for a sync run's writes."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return engine


def host_engine() -> Engine:
    engine: Engine = current_app.extensions[EXTENSION_KEY]
    return engine


# No inline script or style anywhere in the host's pages (erp.js, erp.css); a plugin page sets
# its own policy first, and setdefault leaves it alone.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'self'")


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


# --------------------------------------------------------------------------- users and login


@dataclass(frozen=True)
class HostUser(UserMixin):
    """A row of erp_users, as flask-login's current_user."""

    id: int
    username: str
    full_name: str
    can_view_costs: bool = False
    session_token: str | None = None  # this login's row in erp_user_sessions

    def get_id(self) -> str:
        return str(self.id) if self.session_token is None else f"{self.id}:{self.session_token}"

    def has_permission(self, name: str) -> bool:
        key = name.strip().lower().replace(" ", "_")
        return bool({"can_view_costs": self.can_view_costs}.get(key, False))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> HostUser:
        return cls(id=int(row["id"]), username=row["username"], full_name=row["full_name"],
                   can_view_costs=bool(row["can_view_costs"]))


def _init_login(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "host.login"
    manager.login_message = "Log in to see that page."
    manager.login_message_category = "info"

    @manager.user_loader
    def _load(session_id: str) -> HostUser | None:
        # "<user id>:<login token>"; a bare user id (a forged or pre-upgrade cookie) is nobody.
        user_id, _, token = str(session_id).partition(":")
        if not (user_id.isascii() and user_id.isdigit() and token) or int(user_id) > MAX_ID:
            return None
        fresh = datetime.now(UTC).replace(tzinfo=None) - SESSION_LIFETIME
        with host_engine().connect() as conn:
            row = conn.execute(
                select(hs.users).join(user_sessions, user_sessions.c.user_id == hs.users.c.id)
                .where(hs.users.c.id == int(user_id), user_sessions.c.token == token,
                       user_sessions.c.created_at > fresh)
            ).mappings().first()
        return replace(HostUser.from_row(row), session_token=token) if row else None

    @manager.unauthorized_handler
    def _unauthorized() -> Any:
        if _wants_json():
            return _json_error(401, ERROR_CODES[401], "Log in first.")
        if request.path != url_for("host.home"):
            flash(manager.login_message, manager.login_message_category)
        return redirect(login_url("host.login", next_url=request.url))


@functools.cache
def _dummy_hash() -> str:
    # Checked when the username is unknown, so both failures take the same time.
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(username: str, password: str) -> HostUser | None:
    with host_engine().connect() as conn:
        row = conn.execute(select(hs.users).where(hs.users.c.username == username)).mappings().first()
    if row is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(row["password_hash"], password):
        return None
    return HostUser.from_row(row)


def is_safe_next(target: str | None) -> bool:
    """Only a relative path on this site: '/erp/x?y' yes; '//evil', 'https://evil', '/\\evil' no."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(ord(ch) < 32 or ch == "\\" for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[InputRequired()])
    password = PasswordField("Password", validators=[InputRequired()])


@host.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = request.args.get("next")
    target = target if is_safe_next(target) else None
    if current_user.is_authenticated and request.method == "GET":
        return redirect(target or url_for("host.home"))
    form = LoginForm()
    error = None
    if request.method == "POST":
        if form.validate_on_submit():
            user = authenticate(form.username.data.strip(), form.password.data)
            if user is not None:
                start_session(user)
                return redirect(target or url_for("host.home"))
            error = WRONG_CREDENTIALS
        else:
            error = MISSING_CREDENTIALS
        form.password.data = ""
    return render_template("erp/login.html", form=form, error=error, next=target)


def start_session(user: HostUser) -> None:
    """A new session at login: nothing from before it (its CSRF token included) survives, and
    the login gets a server-side token that logout deletes."""
    session.clear()
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC).replace(tzinfo=None)
    with host_engine().begin() as conn:
        conn.execute(delete(user_sessions).where(user_sessions.c.created_at < now - SESSION_LIFETIME))
        conn.execute(insert(user_sessions).values(token=token, user_id=user.id, created_at=now))
    login_user(replace(user, session_token=token))


@host.post("/logout")
def logout() -> Any:
    token = getattr(current_user, "session_token", None)
    if token:
        with host_engine().begin() as conn:
            conn.execute(delete(user_sessions).where(user_sessions.c.token == token))
    logout_user()
    session.clear()  # a new, empty session: the old cookie is dead twice over
    flash("You have logged out.", "info")
    return redirect(url_for("host.login"))


# --------------------------------------------------------------------------- filters


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def money(value: Any, places: int = 2) -> str:
    """Decimal('1234.5') -> '1,234.50' (half-up); None -> ''."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    quantum = Decimal(1).scaleb(-places)
    return f"{number.quantize(quantum, rounding=ROUND_HALF_UP):,.{places}f}"


def date_format(value: Any, fmt: str | None = None) -> str:
    """date(2026, 11, 26) -> '26 Nov 2026' in the host's HOST_DATE_FORMAT; datetimes add HH:MM."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            return value
    if fmt is None:
        fmt = current_app.config.get("HOST_DATE_FORMAT", DEFAULT_DATE_FORMAT) if current_app \
            else DEFAULT_DATE_FORMAT
    if isinstance(value, datetime):
        return value.strftime(f"{fmt} %H:%M")
    if isinstance(value, date):
        return value.strftime(fmt)
    return str(value)


def quantity_format(value: Any) -> str:
    """Decimal('12.0000') -> '12'; Decimal('2.5000') -> '2.5'; thousands separated."""
    number = _decimal(value)
    if number is None:
        return ""
    text = f"{number:,.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def price_format(value: Any) -> str:
    """At least 2 decimals, up to 4 when the price has them: 25.5000 -> '25.50', 0.1234 -> '0.1234'."""
    number = _decimal(value)
    if number is None:
        return ""
    text = f"{number:,.4f}"
    while text.endswith("0") and len(text.split(".")[1]) > 2:
        text = text[:-1]
    return text


def label(value: Any) -> str:
    """'barrel_ageing' -> 'Barrel ageing'; 'cellar_door' -> 'Cellar door'."""
    if value is None:
        return ""
    text = str(value).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def stage_label(value: Any) -> str:
    """A cost stage's name as the accountant knows it: 'bulk_wine' -> 'Bulk wine in progress'."""
    try:
        return Stage(str(value)).label
    except ValueError:
        return label(value)


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class MenuEntry:
    text: str
    url: str
    active: bool = False


def _layout_context() -> dict[str, Any]:
    app = current_app
    endpoint = request.endpoint or ""
    console_url = url_for(PLUGIN_CONSOLE_ENDPOINT) if PLUGIN_CONSOLE_ENDPOINT in app.view_functions else None
    accounts = [MenuEntry("Accounts Sync…", console_url, endpoint.startswith("accounts_sync."))] \
        if console_url else []
    return {
        "host_name": app.config.get("HOST_NAME", DEFAULT_HOST_NAME),
        "winery_name": app.config.get("HOST_WINERY_NAME", DEFAULT_WINERY_NAME),
        "accounts_sync_url": console_url,
        "accounts_menu": accounts,
        "main_menu": _main_menu(endpoint),
    }


def _main_menu(endpoint: str) -> list[MenuEntry]:
    items = (
        ("Home", "host.home", ()),
        ("Sales orders", "host.sales_orders", ("host.sales_order",)),
        ("Purchase orders", "host.purchase_orders", ("host.purchase_order",)),
        ("Refunds", "host.refunds", ("host.refund",)),
        ("Batches", "host.batches", ("host.batch",)),
        ("Products", "host.products", ("host.product",)),
        ("Operations", "host.operations", ("host.operation",)),
        ("Cost entries", "host.cost_entries", ()),
        ("Mail", "demo_mail.inbox", ("demo_mail.message",)),  # when the mail catcher is on
    )
    return [MenuEntry(text, url_for(name), endpoint == name or endpoint in also)
            for text, name, also in items if name in current_app.view_functions]


# --------------------------------------------------------------------------- errors


def _wants_json() -> bool:
    if request.is_json or "/api/" in request.path:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _json_error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def _error_page(status: int, message: str, code: str, heading: str) -> tuple[str | Response, int]:
    if _wants_json():
        return _json_error(status, code, message)
    try:
        return render_template("erp/error.html", status=status, heading=heading, message=message), status
    except Exception:  # the layout itself failed (e.g. the database is down): plain text, no trace
        current_app.logger.exception("error page could not be rendered")
        return Response(f"{message}\n", mimetype="text/plain"), status


def _init_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(_error: CSRFError) -> Any:
        return _error_page(400, CSRF_MESSAGE, "csrf_failed", "Form expired")

    @app.errorhandler(InternalServerError)
    def _server_error(error: HTTPException) -> Any:
        original = getattr(error, "original_exception", None)
        if original is not None:
            app.logger.error("unhandled error on %s", request.path, exc_info=original)
        return _error_page(500, ERROR_MESSAGES[500], ERROR_CODES[500], ERROR_HEADINGS[500])

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Any:
        status = error.code or 500
        if status >= 500:
            return _error_page(status, ERROR_MESSAGES[500], ERROR_CODES[500], ERROR_HEADINGS[500])
        custom = error.description if error.description != type(error).description else None
        message = custom or ERROR_MESSAGES.get(status) or ERROR_MESSAGES[400]
        code = ERROR_CODES.get(status) or error.name.lower().replace(" ", "_")
        return _error_page(status, message, code, ERROR_HEADINGS.get(status, error.name))


# --------------------------------------------------------------------------- paging


@dataclass(frozen=True)
class Page:
    """One page of rows, newest first; `newer`/`older` are the ids for ?after= / ?before= links."""

    rows: Sequence[Mapping[str, Any]]
    total: int
    newer: int | None
    older: int | None


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    if not (value.isascii() and value.isdigit()):
        return None
    return min(int(value), MAX_ID)


def keyset_page(conn: Connection, stmt: Select[Any], table: Table, where: Sequence[ColumnElement[bool]],
                *, before: int | None, after: int | None, size: int = PAGE_SIZE) -> Page:
    """Rows of `stmt` (which selects `table.c.id` as "id") ordered by id desc, `size` at a time."""
    key = table.c.id
    filtered = stmt.where(*where)
    if after is not None:
        rows = list(conn.execute(filtered.where(key > after).order_by(key.asc()).limit(size)).mappings())
        rows.reverse()
        if not rows:  # past the newest row: show the first page
            return keyset_page(conn, stmt, table, where, before=None, after=None, size=size)
    else:
        bounded = filtered.where(key < before) if before is not None else filtered
        rows = list(conn.execute(bounded.order_by(key.desc()).limit(size)).mappings())
    total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
    if not rows:
        return Page(rows, total, None, None)

    def exists(condition: ColumnElement[bool]) -> bool:
        return conn.execute(select(key).where(*where, condition).limit(1)).first() is not None

    first, last = rows[0]["id"], rows[-1]["id"]
    return Page(rows, total, first if exists(key > first) else None, last if exists(key < last) else None)


def _status_filter(kind: str, table: Table) -> tuple[str | None, list[ColumnElement[bool]]]:
    status = request.args.get("status")
    if status in STATUSES[kind]:
        return status, [table.c.status == status]
    return None, []


def _page_for(stmt: Select[Any], table: Table, where: Sequence[ColumnElement[bool]]) -> Page:
    with host_engine().connect() as conn:
        return keyset_page(conn, stmt, table, where, before=_int_arg("before"), after=_int_arg("after"))


# --------------------------------------------------------------------------- queries


def _one(stmt: Select[Any]) -> dict[str, Any]:
    with host_engine().connect() as conn:
        row = conn.execute(stmt).mappings().first()
    if row is None:
        abort(404)
    return dict(row)


def _lines(table: Table, parent_column: str, parent_id: int) -> list[dict[str, Any]]:
    stmt = select(table).where(table.c[parent_column] == parent_id).order_by(table.c.line_no, table.c.id)
    with host_engine().connect() as conn:
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for row in rows:
        quantity, unit_price = _decimal(row["quantity"]), _decimal(row["unit_price"])
        row["amount"] = (quantity * unit_price).quantize(Decimal("0.01"), ROUND_HALF_UP) \
            if quantity is not None and unit_price is not None else None
    return rows


def _line_totals(lines: Sequence[Mapping[str, Any]]) -> dict[str, Decimal]:
    return {
        "subtotal": sum((ln["amount"] or Decimal(0) for ln in lines), Decimal("0.00")),
        "tax": sum((_decimal(ln["tax_amount"]) or Decimal(0) for ln in lines), Decimal("0.00")),
    }


def _status_counts(conn: Connection, table: Table) -> dict[str, int]:
    stmt = select(table.c.status, func.count()).group_by(table.c.status)
    return {status: int(n) for status, n in conn.execute(stmt)}


# --------------------------------------------------------------------------- pages


@host.get("/")
@login_required
def home() -> str:
    with host_engine().connect() as conn:
        counts = {
            "sales_orders": _status_counts(conn, hs.sales_orders),
            "purchase_orders": _status_counts(conn, hs.purchase_orders),
            "refunds": _status_counts(conn, hs.refunds),
        }
        operations = conn.execute(select(func.count()).select_from(hs.operations)).scalar_one()
        entries = conn.execute(select(func.count()).select_from(hs.cost_entries)).scalar_one()
    cards = [
        ("Sales orders", "host.sales_orders", "sales_orders", "Invoiced orders become sales invoices."),
        ("Purchase orders", "host.purchase_orders", "purchase_orders", "Billed orders become bills."),
        ("Refunds", "host.refunds", "refunds", "Approved refunds become credit notes."),
    ]
    return render_template("erp/home.html", cards=cards, counts=counts, operations=operations,
                           cost_entries=entries, statuses=STATUSES)


def _sales_order_columns() -> Select[Any]:
    so, c = hs.sales_orders, hs.customers
    return select(so.c.id, so.c.number, so.c.order_date, so.c.invoice_date, so.c.due_date, so.c.status,
                  so.c.currency, so.c.total, c.c.name.label("customer")).join_from(so, c)


@host.get("/erp/sales-orders")
@login_required
def sales_orders() -> str:
    status, where = _status_filter("sales_orders", hs.sales_orders)
    page = _page_for(_sales_order_columns(), hs.sales_orders, where)
    return render_template("erp/sales_orders.html", page=page, status=status,
                           statuses=STATUSES["sales_orders"])


@host.get(f"/erp/sales-orders/<int(max={MAX_ID}):id>")
@login_required
def sales_order(id: int) -> str:
    so, c = hs.sales_orders, hs.customers
    order = _one(select(so, c.c.name.label("customer"), c.c.code.label("customer_code"),
                        c.c.channel.label("customer_channel"), c.c.country.label("customer_country"))
                 .join_from(so, c).where(so.c.id == id))
    lines = _lines(hs.sales_order_lines, "sales_order_id", id)
    with host_engine().connect() as conn:
        refunds = list(conn.execute(
            select(hs.refunds.c.id, hs.refunds.c.number, hs.refunds.c.refund_date, hs.refunds.c.status,
                   hs.refunds.c.total).where(hs.refunds.c.sales_order_id == id).order_by(hs.refunds.c.id)
        ).mappings())
    return render_template("erp/sales_order.html", order=order, lines=lines, totals=_line_totals(lines),
                           refunds=refunds)


def _purchase_order_columns() -> Select[Any]:
    po, s = hs.purchase_orders, hs.suppliers
    return select(po.c.id, po.c.number, po.c.order_date, po.c.bill_date, po.c.supplier_invoice_number,
                  po.c.status, po.c.currency, po.c.total, s.c.name.label("supplier")).join_from(po, s)


@host.get("/erp/purchase-orders")
@login_required
def purchase_orders() -> str:
    status, where = _status_filter("purchase_orders", hs.purchase_orders)
    page = _page_for(_purchase_order_columns(), hs.purchase_orders, where)
    return render_template("erp/purchase_orders.html", page=page, status=status,
                           statuses=STATUSES["purchase_orders"])


@host.get(f"/erp/purchase-orders/<int(max={MAX_ID}):id>")
@login_required
def purchase_order(id: int) -> str:
    po, s = hs.purchase_orders, hs.suppliers
    order = _one(select(po, s.c.name.label("supplier"), s.c.code.label("supplier_code"),
                        s.c.category.label("supplier_category")).join_from(po, s).where(po.c.id == id))
    lines = _lines(hs.purchase_order_lines, "purchase_order_id", id)
    return render_template("erp/purchase_order.html", order=order, lines=lines, totals=_line_totals(lines))


def _refund_columns() -> Select[Any]:
    rf, c, so = hs.refunds, hs.customers, hs.sales_orders
    return (select(rf.c.id, rf.c.number, rf.c.refund_date, rf.c.status, rf.c.reason, rf.c.currency,
                   rf.c.total, rf.c.sales_order_id, c.c.name.label("customer"),
                   so.c.number.label("sales_order_number"))
            .join_from(rf, c).outerjoin(so, rf.c.sales_order_id == so.c.id))


@host.get("/erp/refunds")
@login_required
def refunds() -> str:
    status, where = _status_filter("refunds", hs.refunds)
    page = _page_for(_refund_columns(), hs.refunds, where)
    return render_template("erp/refunds.html", page=page, status=status, statuses=STATUSES["refunds"])


@host.get(f"/erp/refunds/<int(max={MAX_ID}):id>")
@login_required
def refund(id: int) -> str:
    rf, c, so = hs.refunds, hs.customers, hs.sales_orders
    order = _one(select(rf, c.c.name.label("customer"), c.c.code.label("customer_code"),
                        so.c.number.label("sales_order_number"))
                 .join_from(rf, c).outerjoin(so, rf.c.sales_order_id == so.c.id).where(rf.c.id == id))
    lines = _lines(hs.refund_lines, "refund_id", id)
    return render_template("erp/refund.html", refund=order, lines=lines, totals=_line_totals(lines))


def _operation_columns() -> Select[Any]:
    op, b = hs.operations, hs.batches
    return (select(op.c.id, op.c.number, op.c.op_type, op.c.op_date, op.c.description,
                   b.c.code.label("batch_code"), b.c.vintage, b.c.varietal, b.c.brand)
            .outerjoin_from(op, b, op.c.batch_id == b.c.id))


@host.get("/erp/operations")
@login_required
def operations() -> str:
    page = _page_for(_operation_columns(), hs.operations, [])
    return render_template("erp/operations.html", page=page)


@host.get(f"/erp/operations/<int(max={MAX_ID}):id>")
@login_required
def operation(id: int) -> str:
    op, b, ce = hs.operations, hs.batches, hs.cost_entries
    record = _one(select(op, b.c.code.label("batch_code"), b.c.vintage, b.c.varietal, b.c.brand, b.c.vessel)
                  .outerjoin_from(op, b, op.c.batch_id == b.c.id).where(op.c.id == id))
    with host_engine().connect() as conn:
        entries = list(conn.execute(
            select(ce, b.c.code.label("batch_code")).outerjoin_from(ce, b, ce.c.batch_id == b.c.id)
            .where(ce.c.operation_id == id).order_by(ce.c.entry_date, ce.c.id)
        ).mappings())
    total = sum((_decimal(e["amount"]) or Decimal(0) for e in entries), Decimal("0.0000"))
    return render_template("erp/operation.html", op=record, entries=entries, total=total,
                           can_edit=current_user.has_permission("can_view_costs"))


@host.get("/erp/batches")
@login_required
def batches() -> str:
    b = hs.batches
    with host_engine().connect() as conn:
        rows = list(conn.execute(select(b).order_by(b.c.vintage.desc(), b.c.code)).mappings())
    return render_template("erp/batches.html", batches=rows)


@host.get(f"/erp/batches/<int(max={MAX_ID}):id>")
@login_required
def batch(id: int) -> str:
    b, ce = hs.batches, hs.cost_entries
    record = _one(select(b).where(b.c.id == id))
    # What is in the tank now: every entry into bulk wine adds, every one out takes (a transfer
    # between batches is stored signed, within the stage).
    sign = case((ce.c.to_stage == Stage.BULK_WINE.value, 1), else_=-1)
    with host_engine().connect() as conn:
        litres, cost = conn.execute(
            select(func.sum(sign * func.coalesce(ce.c.litres, 0)), func.sum(sign * ce.c.amount))
            .where(ce.c.batch_id == id, or_(ce.c.to_stage == Stage.BULK_WINE.value,
                                            ce.c.from_stage == Stage.BULK_WINE.value))
        ).one()
    page = _page_for(_entry_columns(), ce, [ce.c.batch_id == id])
    return render_template("erp/batch.html", batch=record, page=page,
                           litres=_decimal(litres) or Decimal(0), cost=_decimal(cost) or Decimal(0))


@host.get("/erp/products")
@login_required
def products() -> str:
    p = hs.products
    with host_engine().connect() as conn:
        rows = list(conn.execute(select(p).order_by(p.c.vintage.desc(), p.c.code)).mappings())
    return render_template("erp/products.html", products=rows)


@host.get(f"/erp/products/<int(max={MAX_ID}):id>")
@login_required
def product(id: int) -> str:
    p, ce = hs.products, hs.cost_entries
    record = _one(select(p).where(p.c.id == id))
    sign = case((ce.c.to_stage == Stage.FINISHED_GOODS.value, 1), else_=-1)
    with host_engine().connect() as conn:
        cases, cost = conn.execute(
            select(func.sum(sign * func.coalesce(ce.c.cases, 0)), func.sum(sign * ce.c.amount))
            .where(ce.c.product_id == id, or_(ce.c.to_stage == Stage.FINISHED_GOODS.value,
                                              ce.c.from_stage == Stage.FINISHED_GOODS.value))
        ).one()
    page = _page_for(_entry_columns(), ce, [ce.c.product_id == id])
    return render_template("erp/product.html", product=record, page=page,
                           cases=_decimal(cases) or Decimal(0), cost=_decimal(cost) or Decimal(0))


def _entry_columns() -> Select[Any]:
    ce, op = hs.cost_entries, hs.operations
    return (select(ce.c.id, ce.c.entry_date, ce.c.movement_type, ce.c.cost_category, ce.c.from_stage,
                   ce.c.to_stage, ce.c.vintage, ce.c.brand, ce.c.amount, ce.c.litres, ce.c.cases,
                   ce.c.description, ce.c.operation_id, op.c.number.label("operation_number"))
            .join_from(ce, op, ce.c.operation_id == op.c.id))


@host.get("/erp/cost-entries")
@login_required
def cost_entries() -> str:
    ce, op = hs.cost_entries, hs.operations
    stmt = (select(ce.c.id, ce.c.entry_date, ce.c.movement_type, ce.c.cost_category, ce.c.from_stage,
                   ce.c.to_stage, ce.c.vintage, ce.c.brand, ce.c.amount, ce.c.description,
                   ce.c.operation_id, op.c.number.label("operation_number"))
            .join_from(ce, op, ce.c.operation_id == op.c.id))
    page = _page_for(stmt, ce, [])
    return render_template("erp/cost_entries.html", page=page)
