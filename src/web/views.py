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

from ..application.journal_detail import JournalDetailRequest
from ..application.list_unsynced import ListRequest
from ..application.preview_unsynced import PreviewRequest
from ..application.start_sync import SyncRequest
from ..domain.costs import Stage
from ..domain.documents import TRADE_KINDS, Kind
from ..domain.errors import InvalidRequest, MappingRefused, RunAlreadyActive
from ..domain.money import money
from ..domain.sync import JournalMode, SyncRun, parse_closing_date
from . import valuation
from .errors import error_response, register_error_handlers
from .extension import container, state
from .mapping_form import OVERRIDABLE, TRACKING_ATTRIBUTES, TRACKING_SLOTS, mapping_from_form
from .permissions import refuse_unless_permitted
from .presenters import (
    document_list_json,
    journal_detail_json,
    preview_json,
    run_json,
    status_json,
)


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
    bp.add_url_rule("/documents/<kind>", "documents", documents)
    bp.add_url_rule("/journals/<key>", "journal", journal)
    bp.add_url_rule("/sync", "start_sync", start_sync, methods=["POST"])
    bp.add_url_rule("/runs/<int:run_id>", "run", run_page)
    bp.add_url_rule("/history", "history", history)
    bp.add_url_rule("/settings", "settings", settings_page, methods=["GET", "POST"])
    bp.add_url_rule("/inventory-valuation", "inventory_valuation", valuation.inventory_valuation)
    bp.add_url_rule("/inventory-valuation.csv", "inventory_valuation_csv",
                    valuation.inventory_valuation_csv)
    bp.add_url_rule("/xero/connect", "xero_connect", xero_connect, methods=["POST"])
    bp.add_url_rule("/xero/callback", "xero_callback", xero_callback)
    bp.add_url_rule("/xero/tenant", "xero_tenant", xero_tenant, methods=["POST"])
    bp.add_url_rule("/xero/disconnect", "xero_disconnect", xero_disconnect, methods=["POST"])
    bp.add_url_rule("/api/preview", "api_preview", api_preview)
    bp.add_url_rule("/api/status", "api_status", api_status)
    bp.add_url_rule("/api/documents/<kind>", "api_documents", api_documents)
    bp.add_url_rule("/api/journals/<key>", "api_journal", api_journal)
    bp.add_url_rule("/api/sync", "api_sync", api_sync, methods=["POST"])
    bp.add_url_rule("/api/runs", "api_runs", api_runs)
    bp.add_url_rule("/api/runs/<int:run_id>", "api_run", api_run)
    bp.add_url_rule("/api/inventory-valuation", "api_inventory_valuation",
                    valuation.api_inventory_valuation)
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


def closing_date_arg(source: Any = None) -> date:
    source = request.args if source is None else source
    return parse_closing_date(source.get("closing_date", ""), container().clock().today())


def trade_kind(raw: str) -> Kind:
    kind = Kind.parse(raw)
    if kind not in TRADE_KINDS:
        raise InvalidRequest("Journals are listed in the preview; open one to see its lines.")
    return kind


def page_size() -> int:
    return int(current_app.config["ACCOUNTS_SYNC_PAGE_SIZE"])


def _start(form: Any) -> tuple[SyncRun, bool]:
    """Start a run from a form or JSON body; a run already going for the kind is returned
    instead (double clicks and two people pressing Sync start one run, not two)."""
    kind = Kind.parse(form.get("kind", ""))
    mode = JournalMode.parse(form.get("mode") or "draft") if kind is Kind.JOURNALS else None
    request_ = SyncRequest(kind, closing_date_arg(form), user_name(), mode)
    try:
        return container().start_sync().execute(request_), True
    except RunAlreadyActive as running:
        return container().get_run().execute(running.run_id), False


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


JOURNALS_PER_PAGE = 100


def preview() -> Any:
    closing_date = closing_date_arg()
    result = container().preview_unsynced().execute(PreviewRequest(closing_date))
    status = container().get_status().execute()
    shown = max(JOURNALS_PER_PAGE, request.args.get("journals", JOURNALS_PER_PAGE, type=int))
    return render_template("accounts_sync/preview.html", preview=result, status=status,
                           journals_shown=shown, journal_run=status.active_runs.get(Kind.JOURNALS))


def documents(kind: str) -> Any:
    listing = container().list_unsynced().execute(ListRequest(
        trade_kind(kind), closing_date_arg(), request.args.get("after") or None, page_size()))
    active = container().get_status().execute().active_runs.get(listing.kind)
    return render_template("accounts_sync/documents.html", listing=listing, active=active)


def journal(key: str) -> Any:
    detail = container().journal_detail().execute(JournalDetailRequest(key, closing_date_arg()))
    status = container().get_status().execute()
    return render_template("accounts_sync/journal.html", detail=detail, status=status,
                           closing_date=closing_date_arg(),
                           journal_run=status.active_runs.get(Kind.JOURNALS))


def start_sync() -> Any:
    run, started = _start(request.form)
    if not started:
        flash(f"A sync of {run.kind.label.lower()} is already running; here is its progress.",
              "info")
    return redirect(url_for("accounts_sync.run", run_id=run.id))


def run_page(run_id: int) -> Any:
    detail = container().get_run_detail().execute(run_id, request.args.get("after") or None)
    gateway = container().gateway()
    links = {r.erp_id: gateway.web_url(r.kind, r.xero_id) for r in detail.records if r.xero_id}
    return render_template("accounts_sync/run.html", detail=detail, run=detail.run,
                           xero_links=links)


def history() -> Any:
    before = request.args.get("before", type=int)
    runs = container().list_runs().execute(limit=page_size() + 1, before_id=before)
    more = len(runs) > page_size()
    runs = runs[:page_size()]
    return render_template("accounts_sync/history.html", runs=runs,
                           next_before=runs[-1].id if more else None)


def settings_page() -> Any:
    problems: list[Any] = []
    if request.method == "POST":
        try:
            container().save_mapping().execute(mapping_from_form(request.form), user_name())
        except MappingRefused as refused:
            problems = refused.problems
        else:
            flash("Account mapping saved.", "success")
            return redirect(url_for("accounts_sync.settings"))
    view = container().get_settings().execute()
    mapping = mapping_from_form(request.form) if problems else view.mapping
    return render_template("accounts_sync/settings.html", view=view, mapping=mapping,
                           problems=problems, stages=list(Stage), overridable=OVERRIDABLE,
                           tracking_attributes=TRACKING_ATTRIBUTES,
                           tracking_slots=TRACKING_SLOTS), (422 if problems else 200)


# ----------------------------------------------------------------------------- API


def api_preview() -> Any:
    result = container().preview_unsynced().execute(PreviewRequest(closing_date_arg()))
    return jsonify(preview_json(result))


def api_status() -> Any:
    return jsonify(status_json(container().get_status().execute()))


def api_documents(kind: str) -> Any:
    size = request.args.get("page_size", page_size(), type=int)
    listing = container().list_unsynced().execute(ListRequest(
        trade_kind(kind), closing_date_arg(), request.args.get("after") or None, size))
    return jsonify(document_list_json(listing))


def api_journal(key: str) -> Any:
    detail = container().journal_detail().execute(JournalDetailRequest(key, closing_date_arg()))
    return jsonify(journal_detail_json(detail))


def api_sync() -> Any:
    body = request.get_json(silent=True) or request.form
    run, started = _start(body)
    response = jsonify({"run": run_json(run), "started": started})
    response.status_code = 202 if started else 200
    return response


def api_runs() -> Any:
    runs = container().list_runs().execute(limit=page_size(),
                                           before_id=request.args.get("before", type=int))
    return jsonify({"runs": [run_json(r) for r in runs]})


def api_run(run_id: int) -> Any:
    return jsonify(run_json(container().get_run().execute(run_id)))
