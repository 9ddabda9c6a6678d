"""The Accounting API (`/api.xro/2.0/...`): authentication, tenant, limits, faults, then data.

Every call goes through `_call`, in Xero's order: Bearer token (401), organisation header
(403), scope (403), injected faults, limits (429); then the handler. Answers carry the
limit headers; every call is counted and logged.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, request

from . import formats, ledger
from .oauth import Authenticated, AuthFailure
from .render import (
    render,
    render_account,
    render_journal,
    render_organisation,
    render_payment,
    render_tracking_category,
    render_trial_balance,
)
from .sandbox import UPDATABLE, ApiProblem, Sandbox, validation_exception
from .state import ACCOUNT_WHERE, KINDS, TAX_RATE_WHERE, TRACKING_WHERE, Kind, Org

bp = Blueprint("xero_api", __name__, url_prefix="/api.xro/2.0")

JSON_TYPE = "application/json; charset=utf-8"

_TRANSACTIONS = {"accounting.transactions", "accounting.transactions.read"}
# (scopes allowing reads, scopes allowing writes), old broad scopes and granular ones alike
SCOPES: dict[str, tuple[set[str], set[str]]] = {
    "settings": ({"accounting.settings", "accounting.settings.read"}, {"accounting.settings"}),
    "Contacts": ({"accounting.contacts", "accounting.contacts.read"}, {"accounting.contacts"}),
    "Invoices": (_TRANSACTIONS | {"accounting.invoices", "accounting.invoices.read"},
                 {"accounting.transactions", "accounting.invoices"}),
    "CreditNotes": (_TRANSACTIONS | {"accounting.invoices", "accounting.invoices.read"},
                    {"accounting.transactions", "accounting.invoices"}),
    "ManualJournals": (_TRANSACTIONS | {"accounting.manualjournals",
                                        "accounting.manualjournals.read"},
                       {"accounting.transactions", "accounting.manualjournals"}),
    "Payments": (_TRANSACTIONS | {"accounting.payments", "accounting.payments.read"},
                 {"accounting.transactions", "accounting.payments"}),
    "Journals": ({"accounting.journals.read"}, set()),
    "Reports": ({"accounting.reports.read", "accounting.reports.trialbalance.read"}, set()),
}
# Methods each path takes (the spec's); anything else answers a JSON 405, as an API should.
ALL_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH"]

SETTINGS = ("organisation", "accounts", "taxrates", "trackingcategories", "currencies")


class ConnectionDropped(Exception):
    """Close the socket without an answer (a reset connection or a lost response)."""


@dataclass
class Call:
    sandbox: Sandbox
    auth: Authenticated
    org: Org
    now: float
    log: dict

    def envelope(self, key: str, items: list, pagination: dict | None = None) -> dict:
        body: dict[str, Any] = {
            "Id": str(uuid.uuid4()),
            "Status": "OK",
            "ProviderName": self.auth.client.get("name", self.auth.client["client_id"]),
            "DateTimeUTC": formats.ms_timestamp(int(self.now * 1000), offset=False),
        }
        if pagination is not None:
            body["pagination"] = pagination
        body[key] = items
        return body


def sandbox() -> Sandbox:
    return current_app.extensions["xero_sandbox"]


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(formats.dumps(body), status=status, headers=headers, content_type=JSON_TYPE)


def problem_response(problem: ApiProblem) -> Response:
    if isinstance(problem.body, str):
        return Response(problem.body, status=problem.status, headers=problem.headers,
                        content_type="text/plain; charset=utf-8")
    return json_response(problem.body, problem.status, problem.headers)


def drop_connection() -> Response:
    """Shut the socket so the client sees the connection close with no answer at all.

    Under werkzeug's server the handler's later write then fails quietly as a dropped
    connection. Other servers get an answer whose body stops short, which `requests`
    reports as a broken connection too (ChunkedEncodingError rather than ConnectionError).
    """
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return Response(b"", status=500)

    def truncated():
        yield b"{"
        raise ConnectionDropped("response dropped by the sandbox")

    return Response(truncated(), status=200, headers={"Content-Length": "4096"},
                    content_type=JSON_TYPE)


def _auth_problem(status: int, detail: str) -> ApiProblem:
    title = "Unauthorized" if status == 401 else "Forbidden"
    return ApiProblem(status, {"Type": None, "Title": title, "Status": status, "Detail": detail,
                               "Instance": str(uuid.uuid4()), "Extensions": {}})


def _call(scope_key: str, write: bool, handler: Callable[[Call], Response]) -> Response:
    sb = sandbox()
    now = sb.now()
    started = time.perf_counter()
    log: dict[str, Any] = {
        "time": formats.utc_iso(now),
        "method": request.method,
        "path": request.path,
        "query": request.query_string.decode("latin-1"),
        "status": None,
        "org": None,
        "idempotencyKey": request.headers.get("Idempotency-Key"),
        "elements": None,
    }
    tenant: str | None = None
    admitted = False
    headers: dict[str, str] = {"Xero-Correlation-Id": str(uuid.uuid4())}
    response: Response
    try:
        with sb.lock:
            sb.count("api_calls")
            try:
                auth = sb.oauth.authenticate(request.headers.get("Authorization"), now)
            except AuthFailure as exc:
                sb.count("unauthorised")
                raise _auth_problem(401, exc.detail) from None
            tenant_header = request.headers.get("xero-tenant-id", "").strip().lower()
            if tenant_header not in sb.orgs or not sb.oauth.tenant_connected(
                    auth.client["client_id"], tenant_header):
                sb.count("forbidden")
                raise _auth_problem(403, "AuthorizationUnsuccessful")
            allowed = SCOPES[scope_key][1 if write else 0]
            if sb.config["ENFORCE_SCOPES"] and not auth.scopes & allowed:
                sb.count("forbidden")
                raise _auth_problem(403, "AuthorizationUnsuccessful")
            tenant = tenant_header
            log["org"] = tenant
            sb.count_in("api_calls_by_org", tenant)
            fault = sb.faults.take_pre()
            delay = 0.0
            if fault is not None:
                sb.count_in("faults_fired", fault.kind)
                log["fault"] = fault.kind
            else:
                refusal = sb.limits.admit(tenant, now)
                if refusal is not None:
                    _count_429(sb, tenant, refusal.problem)
                    raise ApiProblem(429, {"Title": "Too Many Requests", "Status": 429,
                                           "Detail": f"Rate limit exceeded: {refusal.problem}"},
                                     {"Retry-After": str(refusal.retry_after),
                                      "X-Rate-Limit-Problem": refusal.problem,
                                      **sb.limits.headers(tenant, now)})
                admitted = True
                delay = sb.faults.take_delay()
            call = Call(sb, auth, sb.orgs[tenant], now, log)
        if fault is not None:
            response = _fault_response(sb, fault, tenant, headers)
        else:
            if delay:
                time.sleep(delay)
            response = handler(call)
    except ApiProblem as problem:
        response = problem_response(problem)
    except ConnectionDropped:
        response = drop_connection()
        log["dropped"] = True
    finally:
        if admitted and tenant is not None:
            with sb.lock:
                sb.limits.release(tenant)
    with sb.lock:
        headers.update(sb.limits.headers(tenant, now))
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    log["status"] = 0 if log.get("dropped") else response.status_code
    log["ms"] = round((time.perf_counter() - started) * 1000, 1)
    sb.log_call(log)
    return response


def _count_429(sb: Sandbox, tenant: str, problem: str) -> None:
    sb.count("rate_limited")
    sb.count_in("rate_limited_by_problem", problem)
    sb.count_in("rate_limited_by_org", tenant)


def _fault_response(sb: Sandbox, fault: Any, tenant: str | None, headers: dict) -> Response:
    if fault.kind == "drop":
        raise ConnectionDropped()
    if fault.kind == "rate_limit_storm":
        with sb.lock:
            _count_429(sb, tenant or "", "minute")
        return json_response({"Title": "Too Many Requests", "Status": 429,
                              "Detail": "Rate limit exceeded: minute"}, 429,
                             {"Retry-After": str(fault.retry_after),
                              "X-Rate-Limit-Problem": "minute"})
    if fault.status == 503:
        # Xero's maintenance / organisation-offline answer is plain text
        return Response("Service Unavailable", status=503, content_type="text/plain")
    return json_response({"Title": "An error occurred", "Status": fault.status,
                          "Detail": "An error occurred in Xero. Check the API Status page "
                                    "http://status.developer.xero.com for current service "
                                    "status."}, fault.status)


# --- routes --------------------------------------------------------------------------------

def _args() -> dict[str, str]:
    """Xero treats query parameter names case-insensitively."""
    return {key.lower(): value for key, value in request.args.items()}


def _unitdp(args: dict[str, str]) -> int:
    return 4 if args.get("unitdp") == "4" else 2


@bp.route("/<resource>", methods=ALL_METHODS)
def collection(resource: str) -> Response:
    name = resource.lower()
    if name in SETTINGS:
        if request.method != "GET":
            return _not_allowed()
        return _call("settings", False, lambda call: _settings(call, name))
    if name == "payments":
        if request.method == "GET":
            return _call("Payments", False, _list_payments)
        if request.method in ("PUT", "POST"):
            return _call("Payments", True, _pay)
        return _not_allowed()
    if name == "journals":
        if request.method != "GET":
            return _not_allowed()
        return _call("Journals", False, _journals)
    kind = KINDS.get(name)
    if kind is None:
        return _not_found()
    if request.method == "GET":
        return _call(kind.name, False, lambda call: _list(call, kind))
    if request.method in ("PUT", "POST"):
        return _call(kind.name, True, lambda call: _write(call, kind))
    return _not_allowed()


@bp.route("/<resource>/<doc_id>", methods=ALL_METHODS)
def one(resource: str, doc_id: str) -> Response:
    name = resource.lower()
    if name == "accounts":
        if request.method != "GET":
            return _not_allowed()
        return _call("settings", False, lambda call: _account(call, doc_id))
    if name == "reports":
        if request.method != "GET":
            return _not_allowed()
        if doc_id.lower() != "trialbalance":
            return _not_found()
        return _call("Reports", False, _trial_balance)
    kind = KINDS.get(name)
    if kind is None:
        return _not_found()
    if request.method == "GET":
        return _call(kind.name, False, lambda call: _one(call, kind, doc_id))
    if request.method == "POST" and kind.name in UPDATABLE:
        return _call(kind.name, True, lambda call: _write(call, kind, doc_id))
    return _not_allowed()


@bp.route("/CreditNotes/<doc_id>/Allocations", methods=ALL_METHODS)
@bp.route("/creditnotes/<doc_id>/allocations", methods=ALL_METHODS)
def allocations(doc_id: str) -> Response:
    if request.method != "PUT":
        return _not_allowed()
    return _call("CreditNotes", True, lambda call: _allocate(call, doc_id))


def _not_found() -> Response:
    return json_response({"Title": "Not Found", "Status": 404,
                          "Detail": "The resource you're looking for cannot be found"}, 404)


def _not_allowed() -> Response:
    return json_response({"Type": None, "Title": "Method Not Allowed", "Status": 405,
                          "Detail": f"The {request.method} method is not supported for this "
                                    f"resource"}, 405)


def _settings(call: Call, name: str) -> Response:
    args = _args()
    sb, org = call.sandbox, call.org
    with sb.lock:
        if name == "organisation":
            return json_response(call.envelope("Organisations", [render_organisation(org)]))
        if name == "accounts":
            accounts = sb.filter_settings(list(org.accounts.values()), args.get("where"),
                                          ACCOUNT_WHERE, "Account")
            return json_response(call.envelope("Accounts", [render_account(a) for a in accounts]))
        if name == "currencies":  # the organisation's enabled currencies, base one first
            return json_response(call.envelope("Currencies", [
                {"Code": code, "Description": code} for code in org.currencies]))
        if name == "taxrates":
            rows = sb.filter_settings(list(org.tax_rates.values()), args.get("where"),
                                      TAX_RATE_WHERE, "TaxRate")
            if args.get("taxtype"):
                rows = [r for r in rows if r["TaxType"] == args["taxtype"]]
            return json_response(call.envelope("TaxRates", [dict(r) for r in rows]))
        include_archived = args.get("includearchived", "").lower() == "true"
        categories = [c for c in org.tracking if include_archived or c["Status"] == "ACTIVE"]
        categories = sb.filter_settings(categories, args.get("where"), TRACKING_WHERE,
                                        "TrackingCategory")
        return json_response(call.envelope(
            "TrackingCategories",
            [render_tracking_category(c, include_archived) for c in categories]))


def _account(call: Call, account_id: str) -> Response:
    with call.sandbox.lock:
        account = call.org.accounts_by_id.get(account_id.lower())
        if account is None:
            return _not_found()
        return json_response(call.envelope("Accounts", [render_account(account)]))


def _modified_since() -> int | None:
    """The If-Modified-Since header as epoch milliseconds (UTC when no offset is given)."""
    raw = request.headers.get("If-Modified-Since")
    if not raw:
        return None
    try:
        return formats.parse_timestamp_ms(raw)
    except ValueError as exc:
        raise validation_exception(f"If-Modified-Since '{raw}' is not a date-time") from exc


def _list(call: Call, kind: Kind) -> Response:
    args = _args()
    sb = call.sandbox
    since = _modified_since()
    with sb.lock:
        items, pagination = sb.query(kind, call.org, args, modified_since=since)
        summary = args.get("summaryonly", "").lower() == "true"
        unitdp = _unitdp(args)
        rendered = [render(kind, doc, unitdp, summary) for doc in items]
    return json_response(call.envelope(kind.name, rendered, pagination))


def _one(call: Call, kind: Kind, doc_id: str) -> Response:
    sb = call.sandbox
    unitdp = _unitdp(_args())
    with sb.lock:
        collection = call.org.collection(kind)
        doc = collection.get(doc_id)
        if doc is None and kind.name == "Invoices":
            doc = next(iter(collection.find("InvoiceNumber", doc_id)), None)
        if doc is None and kind.name == "CreditNotes":
            doc = next(iter(collection.find("CreditNoteNumber", doc_id)), None)
        if doc is None:
            return _not_found()
        rendered = render(kind, doc, unitdp)
    return json_response(call.envelope(kind.name, [rendered]))


def _write(call: Call, kind: Kind, path_id: str | None = None) -> Response:
    return _write_body(call, kind.name, kind.singular, lambda elements, summarize, args: (
        call.sandbox.write(kind, call.org, elements, summarize, _unitdp(args),
                           request.method == "POST", path_id)))


def _pay(call: Call) -> Response:
    return _write_body(call, "Payments", "Payment", lambda elements, summarize, args: (
        call.sandbox.pay(call.org, elements, summarize)))


def _allocate(call: Call, credit_note_id: str) -> Response:
    return _write_body(call, "Allocations", "Allocation", lambda elements, summarize, args: (
        call.sandbox.allocate(call.org, credit_note_id, elements, summarize)))


def _list_payments(call: Call) -> Response:
    with call.sandbox.lock:
        payments = [render_payment({**p, "_document": doc, "_kind": kind.name})
                    for kind in (KINDS["invoices"], KINDS["creditnotes"])
                    for doc in call.org.collection(kind).docs.values()
                    for p in doc.get("Payments") or ()]
    return json_response(call.envelope("Payments", payments))


def _journals(call: Call) -> Response:
    args = _args()
    offset = _whole(args.get("offset"), 0)
    since = _modified_since()
    with call.sandbox.lock:
        items = [render_journal(call.org, j) for j in ledger.journals_after(call.org, offset, since)]
    return json_response(call.envelope("Journals", items))


def _trial_balance(call: Call) -> Response:
    raw = _args().get("date")
    try:
        day = formats.parse_xero_date(raw) if raw else formats.utc_day(call.now)
    except ValueError as exc:
        raise validation_exception(f"'{raw}' is not a valid date") from exc
    with call.sandbox.lock:
        rows = ledger.trial_balance(call.org, day)
        body = render_trial_balance(call.org, day, rows, int(call.now * 1000))
    return json_response(call.envelope("Reports", body["Reports"]))


def _whole(value: str | None, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise validation_exception(f"'{value}' is not a whole number") from exc


def _write_body(call: Call, envelope: str, singular: str, write: Callable[..., tuple]) -> Response:
    sb = call.sandbox
    args = _args()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 128:
        raise validation_exception("The Idempotency-Key header must be 1 to 128 characters long")
    limit = int(sb.config["MAX_REQUEST_BYTES"])
    if (request.content_length or 0) > limit:
        raise _too_large(sb, limit)
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(sb, limit)
    try:
        body = formats.loads(raw) if raw.strip() else None
    except ValueError as exc:
        raise ApiProblem(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                               "Message": f"Invalid Json data: {exc}"}) from exc
    if isinstance(body, dict) and isinstance(body.get(envelope), list):
        elements, schema = body[envelope], envelope
    elif isinstance(body, dict) and envelope not in body and body:
        elements, schema = [body], singular  # Xero also takes one bare element
    else:
        raise ApiProblem(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                               "Message": f"The request body must be {{\"{envelope}\": [...]}}"})
    call.log["elements"] = len(elements)
    problems = sb.schema_problems(schema, body)
    if problems:
        with sb.lock:
            sb.count("schema_rejections")
        raise validation_exception(
            f"A validation exception occurred: {problems[0]}",
            [{"ValidationErrors": [{"Message": p} for p in problems]}])
    summarize = args.get("summarizeerrors", "true").lower() != "false"
    store_key = (call.org.tenant_id, request.path.lower(), key) if key else None
    with sb.lock:
        sb.count("writes")
        recommended = int(sb.config["RECOMMENDED_ELEMENTS_PER_REQUEST"])
        if len(elements) > recommended:
            sb.count("requests_over_recommended_elements")
        sb.counters["max_elements_in_request"] = max(sb.counters["max_elements_in_request"],
                                                     len(elements))
        stored = sb.idempotency.get(store_key, call.now) if store_key else None
        if stored is not None:
            sb.count("idempotent_replays")
            call.log["replay"] = True
            status, text = stored["status"], stored["body"]
        else:
            status, payload, created = write(elements, summarize, args)
            if status == 200:
                payload = call.envelope(envelope, payload[envelope])
            text = formats.dumps(payload)
            if store_key:
                sb.idempotency.put(store_key, call.now, status, text)
            if created:
                sb.save()
        drop = sb.faults.take_commit_then_drop()
        if drop:
            sb.count_in("faults_fired", "commit_then_drop")
            call.log["fault"] = "commit_then_drop"
    if drop:
        raise ConnectionDropped()
    return Response(text, status=status, content_type=JSON_TYPE)


def _too_large(sb: Sandbox, limit: int) -> ApiProblem:
    with sb.lock:
        sb.count("requests_too_large")
    return ApiProblem(413, {"Title": "Request Entity Too Large", "Status": 413,
                            "Detail": f"The request is larger than {limit} bytes (3.5 MB)"})
