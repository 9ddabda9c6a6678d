"""The JSON API under `<prefix>/api/`: every operation declared once, with its models.

`@operation(...)` names a view's path, query and body models and its answers; the wrapper
parses and validates the request with those models (a bad value is a 400 with the documented
error body, never a 500) and hands the view typed values. `api_spec.openapi()` reads the same
declarations to write the OpenAPI 3.1 description, so the description cannot drift from the
code. To add a route: its models go in `api_models.py`, its view here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
)
from pydantic import BaseModel, ValidationError

from ..application.decide_correction import DecisionRequest
from ..application.journal_detail import JournalDetailRequest
from ..application.list_unsynced import ListRequest
from ..application.plan_corrections import CorrectionsRequest
from ..application.preview_unsynced import PreviewRequest
from ..application.schedules import digest_from_field, schedule_from_fields
from ..application.start_sync import SyncRequest
from ..domain.corrections import Choice
from ..domain.documents import Kind
from ..domain.errors import InvalidClosingDate, InvalidRequest, RunAlreadyActive
from ..domain.schedules import AlertSettings as AlertChoice
from ..domain.schedules import SchedulesRequest
from ..domain.sync import JournalMode
from . import api_models as m
from .corrections import correction_json, corrections_json
from .presenters import document_list_json, journal_detail_json, preview_json, run_json, status_json
from .reconciliation import (
    closing_date_of,
    explanation_json,
    reconciliation_json,
    run_reconciliation,
)
from .schedule_form import alert_json, alert_settings_json, schedules_json
from .services import container
from .valuation import valuation_json, valuation_request

JSON_BODY = "application/json"
FORM_BODIES = ("application/x-www-form-urlencoded", "multipart/form-data")

# Answers every operation can give: the blueprint's guard and its error handlers.
COMMON_ERRORS = {
    401: "Not logged in (no session, no token the host accepts)",
    403: "Logged in without the 'can view costs' permission",
    500: "Unexpected; nothing was lost, and the log has the details",
}


@dataclass(frozen=True)
class Operation:
    endpoint: str
    rule: str
    method: str
    operation_id: str
    summary: str
    description: str
    view: Callable[..., Any]
    path: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    responses: dict[int, tuple[type[BaseModel] | None, str]] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    links: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    media_type: str = JSON_BODY
    in_spec: bool = True


OPERATIONS: list[Operation] = []


def operation(rule: str, operation_id: str, *, method: str = "GET", path: type[BaseModel] | None = None,
              query: type[BaseModel] | None = None, body: type[BaseModel] | None = None,
              responses: dict[int, tuple[type[BaseModel] | None, str]],
              errors: dict[int, str] | None = None,
              links: dict[int, dict[str, dict[str, Any]]] | None = None,
              media_type: str = JSON_BODY, in_spec: bool = True) -> Callable:
    def declare(view: Callable[..., Any]) -> Callable[..., Any]:
        summary, _, description = (view.__doc__ or operation_id).strip().partition("\n")

        @wraps(view)
        def endpoint(**raw_path: Any) -> Any:
            arguments: dict[str, Any] = {}
            if path is not None:
                arguments["path"] = _parse(path, raw_path, "path")
            else:
                arguments.update(raw_path)
            if query is not None:
                arguments["query"] = _parse(query, request.args.to_dict(), "query")
            if body is not None:
                arguments["body"] = _parse_body(body)
            return view(**arguments)

        errors_ = dict(errors or {})
        if path or query or body:
            errors_.setdefault(400, "A parameter or the body is not valid (the message says which)")
        OPERATIONS.append(Operation(
            endpoint=f"api_{view.__name__}", rule=rule, method=method, operation_id=operation_id,
            summary=summary.strip(), description=" ".join(description.split()), view=endpoint,
            path=path, query=query, body=body, responses=responses, errors=errors_,
            links=links or {}, media_type=media_type, in_spec=in_spec))
        return endpoint

    return declare


def register(blueprint: Blueprint) -> None:
    for op in OPERATIONS:
        blueprint.add_url_rule(op.rule, op.endpoint, op.view, methods=[op.method])


# ----------------------------------------------------------------------------- parsing


def _parse(model: type[BaseModel], values: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate_strings(values)
    except ValidationError as error:
        raise _refusal(error, where) from None


def _parse_body(model: type[BaseModel]) -> Any:
    if request.mimetype in FORM_BODIES:
        return _parse(model, request.form.to_dict(), "query")  # form fields are strings too
    if request.mimetype != JSON_BODY:
        raise InvalidRequest("Send the body as JSON (Content-Type: application/json) or as form "
                             "fields.")
    try:
        document = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The body is not valid JSON; send a JSON object such as "
                             '{"kind": "sales_orders", "closing_date": "2026-11-26"}.') from None
    if not isinstance(document, dict):
        raise InvalidRequest("The body must be a JSON object such as "
                             '{"kind": "sales_orders", "closing_date": "2026-11-26"}.')
    try:
        return model.model_validate_json(json.dumps(document))
    except ValidationError as error:
        raise _refusal(error, "body") from None


def _refusal(error: ValidationError, where: str) -> InvalidRequest:
    first = error.errors()[0]
    if first["loc"] == ("closing_date",):  # the same code and sentence as the pages and the CLI
        return InvalidClosingDate(str(first.get("input", "")))
    return InvalidRequest(_sentence(error, where))


def _sentence(error: ValidationError, where: str) -> str:
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or "body"
    reason = first["msg"][0].lower() + first["msg"][1:]
    if first["type"] == "extra_forbidden":
        reason = "is not a field this call takes"
    label = {"query": "parameter", "path": "path parameter"}.get(where, "field")
    more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    return f"The {label} '{name}' is not valid: {reason}{more}."


# ----------------------------------------------------------------------------- operations

LINK_RUN = {"getRun": {"operationId": "getRun", "parameters": {"run_id": "$response.body#/run/id"},
                       "description": "Follow the run's progress"}}


@operation("/api/preview", "getPreview", query=m.ClosingDateQuery,
           responses={200: (m.Preview, "Counts and totals per kind, the journals, every problem")})
def preview(query: m.ClosingDateQuery) -> Any:
    """What a sync up to the closing date would send
    Unsynced sales orders, purchase orders and refunds (count and total each), one line per
    production journal, and every problem that would stop a sync, all at once."""
    result = container().preview_unsynced().execute(PreviewRequest(_closing(query.closing_date)))
    return jsonify(preview_json(result))


@operation("/api/status", "getStatus", responses={200: (m.Status, "Connection, marks, running syncs")})
def status() -> Any:
    """The Xero connection, the date each kind was last synced up to, and running syncs"""
    return jsonify(status_json(container().get_status().execute()))


@operation("/api/documents/<kind>", "listDocuments", path=m.KindPath, query=m.DocumentsQuery,
           responses={200: (m.DocumentList, "One page of unsynced documents, oldest first")},
           links={200: {"nextPage": {
               "operationId": "listDocuments",
               "parameters": {"kind": "$response.body#/kind", "after": "$response.body#/next_cursor",
                              "closing_date": "$response.body#/closing_date"},
               "description": "The next page (while next_cursor is not null)"}}})
def documents(path: m.KindPath, query: m.DocumentsQuery) -> Any:
    """Unsynced documents of a kind, a page at a time
    Keyset pages in (date, id) order; `count` and `total` cover every unsynced document of the
    kind up to the closing date, not just the page."""
    listing = container().list_unsynced().execute(ListRequest(
        Kind(path.kind), _closing(query.closing_date), query.after, query.page_size))
    return jsonify(document_list_json(listing))


@operation("/api/journals/<key>", "getJournal", path=m.JournalPath, query=m.ClosingDateQuery,
           responses={200: (m.JournalDetail, "The balanced lines and the costs behind each")},
           errors={404: "No such journal up to the closing date"})
def journal(path: m.JournalPath, query: m.ClosingDateQuery) -> Any:
    """One production journal: its lines by account and tracking, and the costs behind them"""
    detail = container().journal_detail().execute(
        JournalDetailRequest(path.key, _closing(query.closing_date)))
    return jsonify(journal_detail_json(detail))


@operation("/api/sync", "startSync", method="POST", body=m.SyncBody,
           responses={202: (m.Started, "Started; it runs in the background"),
                      200: (m.Started, "A run of that kind was already going: that run")},
           errors={409: "Xero is not connected, needs re-authorisation, or a run kept starting",
                   422: "Refused: the problems must be fixed first (all listed)",
                   429: "Xero's rate limit; try again later",
                   503: "Xero could not be reached; nothing was sent"},
           links={202: LINK_RUN, 200: LINK_RUN})
def sync(body: m.SyncBody) -> Any:
    """Start a sync of one kind up to the closing date
    One run per kind at a time: pressing Sync twice (or two people, or a script and a person)
    starts one run, and the second call gets that run with `started: false`. Session callers
    send the CSRF token (`X-CSRFToken`); scripts authenticated by a host-issued token in the
    `Authorization` header need none."""
    kind = Kind(body.kind)
    mode = JournalMode.parse(body.mode or "draft") if kind is Kind.JOURNALS else None
    request_ = SyncRequest(kind, _closing(body.closing_date), _user_name(), mode)
    try:
        run, started = container().start_sync().execute(request_), True
    except RunAlreadyActive as running:
        if not running.run_id:
            raise  # 409: another run kept winning the race for the kind
        run, started = container().get_run().execute(running.run_id), False
    response = jsonify({"run": run_json(run), "started": started})
    response.status_code = 202 if started else 200
    return response


@operation("/api/corrections", "getCorrections", query=m.ClosingDateQuery,
           responses={200: (m.Corrections, "Every correction of what was already sent")})
def corrections(query: m.ClosingDateQuery) -> Any:
    """What must change in Xero for what was already sent
    Documents edited, cancelled or deleted in the ERP after they were synced, costs added,
    edited or removed for journals already sent, and refunds of synced sales to allocate: each
    with what Xero holds (old), what the ERP says (new), and the action Accounts Sync will take
    (or the choices, when only a person can decide). Send them with `POST /api/sync`
    `{"kind": "corrections"}`."""
    services = container()
    plan = services.plan_corrections().execute(CorrectionsRequest(_closing(query.closing_date)))
    gateway = services.gateway()
    return jsonify(corrections_json(
        plan, lambda c: gateway.web_url(c.kind, c.xero_id) if c.xero_id else ""))


@operation("/api/corrections/decisions", "decideCorrection", method="POST", body=m.DecisionBody,
           responses={200: (m.Decided, "The decision is kept; the correction as it now stands")},
           errors={404: "No correction of that document up to the closing date"})
def decide(body: m.DecisionBody) -> Any:
    """Decide a correction only a person can decide
    Kept for the ERP content it was taken on: a later edit in the ERP asks again. Nothing is
    sent until the next corrections run."""
    decided = container().decide_correction().execute(DecisionRequest(
        Kind(body.kind), body.erp_id, Choice(body.choice), _closing(body.closing_date),
        _user_name()))
    return jsonify({"correction": correction_json(decided)})


@operation("/api/runs", "listRuns", query=m.RunsQuery,
           responses={200: (m.Runs, "Newest first, a page at a time")})
def runs(query: m.RunsQuery) -> Any:
    """Sync runs, newest first
    Pass the last run's id as `before` for the next page."""
    found = container().list_runs().execute(limit=_page_size(), before_id=query.before)
    return jsonify({"runs": [run_json(r) for r in found]})


@operation("/api/runs/<run_id>", "getRun", path=m.RunPath,
           responses={200: (m.Run, "The run and its progress")},
           errors={404: "No such run"})
def run(path: m.RunPath) -> Any:
    """One sync run: state, progress, failures with Xero's reasons"""
    return jsonify(run_json(container().get_run().execute(path.run_id)))


@operation("/api/inventory-valuation", "getInventoryValuation", query=m.ValuationQuery,
           responses={200: (m.InventoryValuation, "Stock at cost, cost of goods sold, per account")})
def inventory_valuation(query: m.ValuationQuery) -> Any:
    """The inventory at cost at the closing date
    Bulk wine by vintage and batch (litres, cost, cost per litre), cased wine by product (cases,
    cost per case), fruit, additives and dry goods in store, cost of goods sold and wine losses
    for the period, and each figure per Xero account and tracking option through the mapping:
    what the ERP holds, synced or not, for the reconciliation with Xero's trial balance."""
    today = container().clock().today()
    result = container().value_inventory().execute(valuation_request(
        query.closing_date.isoformat() if query.closing_date else None,
        query.period_start.isoformat() if query.period_start else None, today))
    return jsonify(valuation_json(result))
@operation("/api/reconciliation", "getReconciliation", query=m.ReconciliationQuery,
           responses={200: (m.Reconciliation, "ERP, sent and Xero per account, with causes")})
def reconciliation(query: m.ReconciliationQuery) -> Any:
    """Does Xero agree with the ERP at the closing date?
    For every account: the ERP's figure, what Accounts Sync has sent and Xero's trial balance,
    per contact for receivables and payables and per tracking option for inventory, with each
    difference explained by a named cause (not yet synced, failed, correction pending, awaiting
    approval in Xero, posted in Xero by someone else) or shown as unexplained. Reads the
    journals Xero posted since the last reconciliation first."""
    closing = query.closing_date.isoformat() if query.closing_date else None
    return jsonify(reconciliation_json(run_reconciliation(closing)))


@operation("/api/reconciliation/accounts/<code>", "explainAccount", path=m.AccountPath,
           query=m.ReconciliationQuery,
           responses={200: (m.AccountExplanation, "What lies behind the account's difference")})
def reconciliation_account(path: m.AccountPath, query: m.ReconciliationQuery) -> Any:
    """The documents, journals and Xero entries behind one account's difference
    ERP documents and cost journals not synced, failed or with a correction pending (with
    links into the ERP and Xero), and the journals someone else posted in Xero."""
    today = container().clock().today()
    closing = closing_date_of(query.closing_date.isoformat() if query.closing_date else None,
                              today)
    return jsonify(explanation_json(container().explain_difference().execute(closing, path.code)))


@operation("/api/schedules", "getSchedules",
           responses={200: (m.Schedules, "Each kind's schedule, its next and last firing")})
def schedules() -> Any:
    """Scheduled syncs: each kind's schedule, when it fires next and what it did last
    Times of day are in the host's zone (`time_zone`); moments are UTC."""
    return jsonify(schedules_json(container().get_schedules().execute()))


@operation("/api/schedules/<kind>", "setSchedule", method="PUT", path=m.ScheduleKindPath,
           body=m.ScheduleBody,
           responses={200: (m.Schedules, "Saved; every schedule as it now stands")},
           errors={422: "Refused (e.g. more often than the minimum interval): every problem listed"})
def set_schedule(path: m.ScheduleKindPath, body: m.ScheduleBody) -> Any:
    """Set one kind's schedule
    The same rules as Settings: a scheduled sync claims its run like the Sync button (a run
    already going is joined), and checks and refuses what a manual one would."""
    services = container()
    plan = services.get_schedules().execute()
    current = plan.entry(Kind(path.kind)).schedule
    schedule, unreadable = schedule_from_fields(
        path.kind, body.cadence, "" if body.every_minutes is None else str(body.every_minutes),
        body.at or "", "" if body.weekday is None else str(body.weekday),
        body.closing_rule or "", body.journal_mode or "", current=current)
    others = tuple(e.schedule for e in plan.kinds if e.name != path.kind)
    saved = services.save_schedules().execute(
        SchedulesRequest((*others, schedule), plan.alerts), _user_name(), unreadable)
    return jsonify(schedules_json(saved))


@operation("/api/alerts/settings", "setAlertSettings", method="PUT", body=m.AlertSettingsBody,
           responses={200: (m.AlertSettings, "Saved")},
           errors={422: "Refused: every problem listed"})
def set_alert_settings(body: m.AlertSettingsBody) -> Any:
    """Where alerts are emailed, which syncs they are about, and the daily digest's time"""
    services = container()
    plan = services.get_schedules().execute()
    digest_at, unreadable = digest_from_field(body.digest_at or "")
    choice = AlertChoice(tuple(str(a) for a in body.addresses), body.every_run, digest_at)
    saved = services.save_schedules().execute(
        SchedulesRequest(tuple(e.schedule for e in plan.kinds), choice), _user_name(), unreadable)
    return jsonify(alert_settings_json(saved.alerts))


@operation("/api/alerts", "listAlerts", query=m.AlertsQuery,
           responses={200: (m.Alerts, "Newest first, a page at a time")})
def alerts(query: m.AlertsQuery) -> Any:
    """Alerts: syncs that stopped or left documents out, re-authorisation, the day's calls
    Pass the last alert's id as `before` for the next page. Repeats of the same thing are
    counted on the first (`repeats`), not listed again."""
    found = container().list_alerts().execute(limit=_page_size(), before_id=query.before)
    return jsonify({"alerts": [alert_json(a) for a in found]})


@operation("/api/openapi.json", "getOpenApi",
           responses={200: (None, "This description (OpenAPI 3.1)")})
def openapi() -> Any:
    """This API's OpenAPI 3.1 description"""
    from .api_spec import openapi_document

    return Response(openapi_document(), mimetype=JSON_BODY)


@operation("/api/docs", "getApiDocs", responses={200: (None, "The API's documentation page")},
           media_type="text/html")
def docs() -> Any:
    """This API's documentation page (works offline)"""
    return render_template("accounts_sync/api_docs.html")


@operation("/api/docs/assets/<path:filename>", "getApiDocsAsset", responses={200: (None, "")},
           in_spec=False)
def docs_asset(filename: str = "") -> Any:
    """Swagger UI's files, from the installed flask-swagger-ui package (no CDN)"""
    from .api_spec import swagger_ui_dir

    if filename not in {"swagger-ui.css", "swagger-ui-bundle.js"}:
        abort(404)
    return send_from_directory(swagger_ui_dir(), filename, max_age=86400)


# ----------------------------------------------------------------------------- helpers


def _closing(value: Any) -> Any:
    return value or container().clock().today()


def _page_size() -> int:
    return int(current_app.config["ACCOUNTS_SYNC_PAGE_SIZE"])


def _user_name() -> str:
    from flask_login import current_user

    return str(getattr(current_user, "username", None) or current_user.get_id())
