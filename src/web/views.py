"""The console's pages and JSON API. Views parse, call one use case, and render: no rules here."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError

from ..application.preview_unsynced import PreviewRequest
from ..domain.documents import TRADE_KINDS
from ..domain.money import money
from ..domain.sync import parse_closing_date
from .errors import error_response, register_error_handlers
from .extension import container, state
from .permissions import refuse_unless_permitted
from .presenters import preview_json, status_json


def make_blueprint() -> Blueprint:
    bp = Blueprint("accounts_sync", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static")

    @bp.before_request
    def _guard() -> Any:
        # Every route of the plugin, present and future, is behind login + permission + CSRF.
        refused = refuse_unless_permitted(current_app.config["ACCOUNTS_SYNC_PERMISSION"])
        if refused is not None:
            return refused
        if request.method == "POST" and "csrf" not in current_app.extensions:
            try:
                validate_csrf(request.form.get("csrf_token") or request.headers.get("X-CSRFToken"))
            except ValidationError:
                return error_response(400, "csrf_failed",
                                      "The form has expired or was not sent from this page; "
                                      "reload the page and try again.")
        return None

    @bp.context_processor
    def _layout() -> dict[str, Any]:
        return {
            "base_template": current_app.config["ACCOUNTS_SYNC_BASE_TEMPLATE"],
            "csrf_token": generate_csrf,
            "kinds": TRADE_KINDS,
        }

    bp.add_app_template_filter(as_money, "as_money")
    bp.add_app_template_filter(as_date, "as_date")
    register_error_handlers(bp)

    bp.add_url_rule("/", "console", console)
    bp.add_url_rule("/preview", "preview", preview)
    bp.add_url_rule("/xero/connect", "xero_connect", xero_connect, methods=["POST"])
    bp.add_url_rule("/xero/callback", "xero_callback", xero_callback)
    bp.add_url_rule("/xero/tenant", "xero_tenant", xero_tenant, methods=["POST"])
    bp.add_url_rule("/xero/disconnect", "xero_disconnect", xero_disconnect, methods=["POST"])
    bp.add_url_rule("/api/preview", "api_preview", api_preview)
    bp.add_url_rule("/api/status", "api_status", api_status)
    return bp


# ----------------------------------------------------------------------------- helpers


def as_money(amount: Decimal | None) -> str:
    return "" if amount is None else f"{money(amount):,.2f}"


def as_date(value: date | None) -> str:
    if value is None:
        return ""
    fmt = current_app.config.get("ACCOUNTS_SYNC_DATE_FORMAT") or current_app.config.get(
        "HOST_DATE_FORMAT", "%d %b %Y")
    return value.strftime(fmt).lstrip("0")


def user_name() -> str:
    return str(getattr(current_user, "username", None) or current_user.get_id())


def xero_enabled() -> bool:
    return state().settings.get("gateway") == "xero"


def closing_date_arg() -> date:
    return parse_closing_date(request.args.get("closing_date", ""), container().clock().today())


# ----------------------------------------------------------------------------- pages


def console() -> Any:
    status = container().get_status().execute()
    today = container().clock().today()
    return render_template("accounts_sync/console.html", status=status, today=today,
                           xero_enabled=xero_enabled())


# ----------------------------------------------------------------------------- Xero connection

STATE_KEY = "accounts_sync_xero_state"


def _callback_url() -> str:
    return url_for("accounts_sync.xero_callback", _external=True)


def xero_connect() -> Any:
    authorize_url, oauth_state = container().xero_connector().authorization_url(_callback_url())
    session[STATE_KEY] = oauth_state  # only the state: tokens never go in the session
    return redirect(authorize_url)


def xero_callback() -> Any:
    tenants = container().xero_connector().complete(
        _callback_url(), request.url, session.pop(STATE_KEY, None), user_name()
    )
    if len(tenants) > 1:
        return render_template("accounts_sync/choose_tenant.html", tenants=tenants)
    flash(f"Connected to {tenants[0].name}.", "success")
    return redirect(url_for("accounts_sync.console"))


def xero_tenant() -> Any:
    connection = container().xero_connector().choose_tenant(request.form.get("tenant_id", ""),
                                                            user_name())
    flash(f"Connected to {connection.organisation_name}.", "success")
    return redirect(url_for("accounts_sync.console"))


def xero_disconnect() -> Any:
    confirmed = container().xero_connector().disconnect(user_name())
    flash("Disconnected from Xero." if confirmed else
          "Disconnected here; Xero did not confirm, so also remove the app in Xero's settings.",
          "success" if confirmed else "warning")
    return redirect(url_for("accounts_sync.console"))


def preview() -> Any:
    closing_date = closing_date_arg()
    result = container().preview_unsynced().execute(PreviewRequest(closing_date))
    return render_template("accounts_sync/preview.html", preview=result)


# ----------------------------------------------------------------------------- API


def api_preview() -> Any:
    result = container().preview_unsynced().execute(PreviewRequest(closing_date_arg()))
    return jsonify(preview_json(result))


def api_status() -> Any:
    return jsonify(status_json(container().get_status().execute()))
