"""The console's pages and JSON API. Views parse, call one use case, and render: no rules here."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from ..application.decide_correction import DecisionRequest
from ..application.journal_detail import JournalDetailRequest
from ..application.list_unsynced import ListRequest
from ..application.plan_corrections import CorrectionsRequest
from ..application.preview_unsynced import PreviewRequest
from ..application.start_sync import SyncRequest
from ..domain.corrections import Choice
from ..domain.costs import Stage
from ..domain.documents import TRADE_KINDS, Kind
from ..domain.errors import InvalidRequest, MappingRefused, RunAlreadyActive
from ..domain.money import money
from ..domain.schedules import SCHEDULED_KINDS, SchedulesRefused
from ..domain.sync import JournalMode, SyncRun, parse_closing_date
from . import api, csrf, reconciliation, valuation
from .api_models import MAX_ID
from .corrections import state_words, xero_kind
from .errors import error_response, register_error_handlers
from .mapping_form import (
    OVERRIDABLE,
    TRACKING_ATTRIBUTES,
    TRACKING_SLOTS,
    form_field,
    mapping_from_form,
)
from .permissions import refuse_unless_permitted
from .presenters import (
    document_label,
    local_time,
    natural_key,
    record_state_label,
    refused_by_label,
    run_headline,
    run_progress_text,
    split_unconfirmed,
    what_to_do,
)
from .schedule_form import CADENCES, CLOSING_RULES, DAYS, field_name, schedules_from_form
from .services import container, state


def make_blueprint() -> Blueprint:
    bp = Blueprint("accounts_sync", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static")

    @bp.before_request
    def _guard() -> Any:
        # Every route of the plugin, present and future, is behind login + permission + CSRF.
        refused = refuse_unless_permitted(current_app.config["ACCOUNTS_SYNC_PERMISSION"])
        if refused is not None:
            return refused
        if csrf.csrf_refusal() is not None:
            return error_response(400, "csrf_failed", csrf.MESSAGE)
        return None

    @bp.after_request
    def _no_store(response: Any) -> Any:
        # Back after a sync must never show the old preview: nothing of the plugin is cached.
        if request.endpoint != "accounts_sync.static":
            response.headers["Cache-Control"] = "no-store"
        return response

    @bp.context_processor
    def _layout() -> dict[str, Any]:
        return {
            "base_template": current_app.config["ACCOUNTS_SYNC_BASE_TEMPLATE"],
            "csrf_token": generate_csrf,
            "kinds": TRADE_KINDS,
            "run_headline": run_headline,
            "run_progress_text": run_progress_text,
            "what_to_do": what_to_do,
            "document_label": document_label,
            "refused_by_label": refused_by_label,
            "record_state_label": record_state_label,
            "split_unconfirmed": split_unconfirmed,
            "time_zone_name": time_zone_name,
            "form_field": form_field,
            "scheduled_kinds": SCHEDULED_KINDS,
            "cadences": CADENCES,
            "closing_rules": CLOSING_RULES,
            "weekdays": DAYS,
            "schedule_field": field_name,
        }

    bp.add_app_template_filter(as_money, "as_money")
    bp.add_app_template_filter(as_date, "as_date")
    bp.add_app_template_filter(as_time, "as_time")
    bp.add_app_template_filter(as_count, "as_count")
    register_error_handlers(bp)

    bp.add_url_rule("/", "console", console)
    bp.add_url_rule("/preview", "preview", preview)
    bp.add_url_rule("/documents/<kind>", "documents", documents)
    bp.add_url_rule("/journals/<key>", "journal", journal)
    bp.add_url_rule("/corrections", "corrections", corrections_page)
    bp.add_url_rule("/corrections/decide", "decide_correction", decide_correction,
                    methods=["POST"])
    bp.add_url_rule("/sync", "start_sync", start_sync, methods=["POST"])
    bp.add_url_rule(f"/runs/<int(max={MAX_ID}):run_id>", "run", run_page)
    bp.add_url_rule(f"/runs/<int(max={MAX_ID}):run_id>/dismiss", "dismiss_run", dismiss_run,
                    methods=["POST"])
    bp.add_url_rule("/xero/refresh", "xero_refresh", xero_refresh, methods=["POST"])
    bp.add_url_rule("/history", "history", history)
    bp.add_url_rule("/settings", "settings", settings_page, methods=["GET", "POST"])
    bp.add_url_rule("/inventory-valuation", "inventory_valuation", valuation.inventory_valuation)
    bp.add_url_rule("/inventory-valuation.csv", "inventory_valuation_csv",
                    valuation.inventory_valuation_csv)
    bp.add_url_rule("/reconciliation", "reconciliation", reconciliation.reconciliation_page)
    bp.add_url_rule("/reconciliation.csv", "reconciliation_csv", reconciliation.reconciliation_csv)
    bp.add_url_rule("/reconciliation/accounts/<code>", "reconciliation_account",
                    reconciliation.reconciliation_account)
    bp.add_url_rule("/settings/schedules", "save_schedules", save_schedules, methods=["POST"])
    bp.add_url_rule("/alerts", "alerts", alerts_page)
    bp.add_url_rule(f"/alerts/<int(max={MAX_ID}):alert_id>/dismiss", "dismiss_alert",
                    dismiss_alert, methods=["POST"])
    bp.add_url_rule("/xero/connect", "xero_connect", xero_connect, methods=["POST"])
    bp.add_url_rule("/xero/callback", "xero_callback", xero_callback)
    bp.add_url_rule("/xero/tenant", "xero_tenant", xero_tenant, methods=["POST"])
    bp.add_url_rule("/xero/disconnect", "xero_disconnect", xero_disconnect, methods=["POST"])
    api.register(bp)
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


def as_count(value: int | None) -> str:
    return f"{int(value or 0):,}"


def as_time(value: datetime | None, with_zone: bool = True) -> str:
    """A moment in the host's time zone (ACCOUNTS_SYNC_TIMEZONE, else the server's own)."""
    moment = local_time(value, current_app.config.get("ACCOUNTS_SYNC_TZINFO"))
    if moment is None:
        return ""
    text = f"{as_date(moment.date())} {moment.strftime('%H:%M')}"
    return f"{text} {moment.strftime('%Z')}".strip() if with_zone else text


def time_zone_name() -> str:
    moment = local_time(datetime.now().astimezone(), current_app.config.get("ACCOUNTS_SYNC_TZINFO"))
    return moment.strftime("%Z") if moment else ""


# ----------------------------------------------------------------------------- outcomes

DISMISSED_KEY = "accounts_sync_dismissed_runs"


def outcomes(status: Any, kinds: tuple[Kind, ...]) -> list[SyncRun]:
    """The ended runs of these kinds whose outcome this person has not dismissed: shown on the
    page until they are (a run's result never vanishes with a reload)."""
    dismissed = set(session.get(DISMISSED_KEY, ()))
    return [run for kind in kinds if (run := status.last_runs.get(kind)) is not None
            and not run.is_active and run.id not in dismissed]


def dismiss_run(run_id: int) -> Any:
    dismissed = [i for i in session.get(DISMISSED_KEY, ()) if i != run_id][-49:]
    session[DISMISSED_KEY] = dismissed + [run_id]
    return redirect(_safe_next(request.form.get("next")) or url_for("accounts_sync.console"))


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (never another host) may be gone back to."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


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
    status = container().get_status().execute(with_chart=True)
    today = container().clock().today()
    return render_template("accounts_sync/console.html", status=status, today=today,
                           xero_enabled=xero_enabled(), outcomes=outcomes(status, tuple(Kind)),
                           schedule_plan=container().get_schedules().execute(),
                           console_alerts=container().list_alerts().execute(CONSOLE_ALERTS,
                                                                            shown_only=True),
                           email_configured=container().notifier().configured)


CONSOLE_ALERTS = 5


def xero_refresh() -> Any:
    """Read Xero's chart again now (after someone restored an account or moved a lock date)."""
    status = container().get_status().execute(refresh=True)
    chart = status.chart
    if chart is None:
        flash(status.chart_problem.message if status.chart_problem else
              "Accounts Sync is not connected to Xero; press Connect first.", "warning")
    else:
        lock = chart.organisation.lock_date
        flash(f"Read Xero's chart of accounts again at {as_time(chart.read_at)}: "
              f"{len(chart.accounts):,} accounts, "
              + (f"locked up to {as_date(lock)}." if lock else "no lock date."), "success")
    return redirect(_safe_next(request.form.get("next")) or url_for("accounts_sync.console"))


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
    container().gateway().forget_chart()  # a new connection: read its chart afresh
    if len(tenants) > 1:
        return render_template("accounts_sync/choose_tenant.html", tenants=tenants)
    flash(f"Connected to {tenants[0].name}.", "success")
    return redirect(url_for("accounts_sync.console"))


def xero_tenant() -> Any:
    connection = container().xero_connector().choose_tenant(request.form.get("tenant_id", ""),
                                                            user_name())
    container().gateway().forget_chart()
    flash(f"Connected to {connection.organisation_name}.", "success")
    return redirect(url_for("accounts_sync.console"))


def xero_disconnect() -> Any:
    confirmed = container().xero_connector().disconnect(user_name())
    container().gateway().forget_chart()
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
                           journals_shown=shown, journal_run=status.active_runs.get(Kind.JOURNALS),
                           outcomes=outcomes(status, tuple(Kind)))


def documents(kind: str) -> Any:
    listing = container().list_unsynced().execute(ListRequest(
        trade_kind(kind), closing_date_arg(), request.args.get("after") or None, page_size()))
    status = container().get_status().execute()
    active = status.active_runs.get(listing.kind)
    return render_template("accounts_sync/documents.html", listing=listing, active=active,
                           outcomes=outcomes(status, (listing.kind,)))


def journal(key: str) -> Any:
    detail = container().journal_detail().execute(JournalDetailRequest(key, closing_date_arg()))
    status = container().get_status().execute()
    return render_template("accounts_sync/journal.html", detail=detail, status=status,
                           closing_date=closing_date_arg(),
                           journal_run=status.active_runs.get(Kind.JOURNALS),
                           outcomes=outcomes(status, (Kind.JOURNALS,)))


def corrections_page() -> Any:
    closing_date = closing_date_arg()
    services = container()
    plan = services.plan_corrections().execute(CorrectionsRequest(closing_date))
    gateway = services.gateway()
    links = {(c.kind, c.erp_id): gateway.web_url(c.kind, c.xero_id) for c in plan.corrections
             if c.xero_id}
    changes = services.list_xero_changes().execute(50)
    status = services.get_status().execute()
    return render_template("accounts_sync/corrections.html", plan=plan, xero_links=links,
                           xero_changes=changes, active=status.active_runs.get(Kind.CORRECTIONS),
                           state_words=state_words)


def decide_correction() -> Any:
    form = request.form
    decided = container().decide_correction().execute(DecisionRequest(
        Kind.parse(form.get("kind", "")), form.get("erp_id", ""), Choice.parse(form.get("choice", "")),
        closing_date_arg(form), user_name()))
    flash(f"{decided.number}: {decided.action.label}. {decided.reason}", "success")
    return redirect(url_for("accounts_sync.corrections",
                            closing_date=closing_date_arg(form).isoformat()))


def start_sync() -> Any:
    run, started = _start(request.form)
    if not started:
        flash(f"A sync of {run.kind.label.lower()} is already running; here is its progress.",
              "info")
    return redirect(url_for("accounts_sync.run", run_id=run.id))


def run_page(run_id: int) -> Any:
    detail = container().get_run_detail().execute(run_id, request.args.get("after") or None)
    gateway = container().gateway()
    links = {r.erp_id: gateway.web_url(xero_kind(r), r.xero_id) for r in detail.records
             if r.xero_id}
    originals = {r.erp_id: gateway.web_url(r.correction.original_kind, r.correction.target_xero_id)
                 for r in detail.records if r.correction and r.correction.target_xero_id}
    # Within a page, numbers in their natural order (the pages themselves follow it too).
    records = sorted(detail.records, key=lambda r: natural_key(r.number))
    return render_template("accounts_sync/run.html", detail=detail, run=detail.run,
                           records=records, xero_links=links, original_links=originals,
                           state_words=state_words)


def history() -> Any:
    before = request.args.get("before", type=int)
    before = before if before is not None and 1 <= before <= MAX_ID else None  # else: from the newest
    runs = container().list_runs().execute(limit=page_size() + 1, before_id=before)
    more = len(runs) > page_size()
    runs = runs[:page_size()]
    return render_template("accounts_sync/history.html", runs=runs,
                           next_before=runs[-1].id if more else None)


def settings_page(schedule_problems: list[Any] | None = None) -> Any:
    problems: list[Any] = []
    submitted: dict[str, str] = {}
    if request.method == "POST" and schedule_problems is None:
        mapping, unreadable = mapping_from_form(request.form)
        submitted = {name: request.form.get(name, "") for name in request.form}
        try:
            container().save_mapping().execute(mapping, user_name(), unreadable)
        except MappingRefused as refused:
            problems = refused.problems
        else:
            flash("Account mapping saved.", "success")
            return redirect(url_for("accounts_sync.settings"))
    view = container().get_settings().execute()
    mapping = mapping_from_form(request.form)[0] if problems else view.mapping
    invalid = {form_field(p.field): p.message for p in problems if p.field}
    schedule_problems = schedule_problems or []
    schedule_invalid: dict[str, str] = {}
    for p in schedule_problems:
        if p.field:
            schedule_invalid.setdefault(form_field(p.field), p.message)
    # A refused form shows what the person typed; otherwise what is saved.
    typed = {name: request.form.get(name, "") for name in request.form} if schedule_problems else {}
    refused = bool(problems or schedule_problems)
    return render_template("accounts_sync/settings.html", view=view, mapping=mapping,
                           problems=problems, invalid=invalid, submitted=submitted,
                           stages=list(Stage), overridable=OVERRIDABLE,
                           tracking_attributes=TRACKING_ATTRIBUTES,
                           tracking_slots=TRACKING_SLOTS,
                           schedule_plan=container().get_schedules().execute(),
                           schedule_problems=schedule_problems, schedule_invalid=schedule_invalid,
                           typed=typed, email_configured=container().notifier().configured,
                           connection=container().gateway().connection()
                           ), (422 if refused else 200)


def save_schedules() -> Any:
    plan = container().get_schedules().execute()
    schedules, unreadable = schedules_from_form(request.form, plan)
    try:
        container().save_schedules().execute(schedules, user_name(), unreadable)
    except SchedulesRefused as refused:
        return settings_page(schedule_problems=refused.problems)
    flash("Schedules and alerts saved.", "success")
    return redirect(url_for("accounts_sync.settings") + "#schedules")


def alerts_page() -> Any:
    before = request.args.get("before", type=int)
    before = before if before is not None and 1 <= before <= MAX_ID else None
    found = container().list_alerts().execute(limit=page_size() + 1, before_id=before)
    more = len(found) > page_size()
    found = found[:page_size()]
    return render_template("accounts_sync/alerts.html", alerts=found,
                           next_before=found[-1].id if more and found else None,
                           email_configured=container().notifier().configured)


def dismiss_alert(alert_id: int) -> Any:
    container().dismiss_alert().execute(alert_id, user_name())
    return redirect(_safe_next(request.form.get("next")) or url_for("accounts_sync.alerts"))
