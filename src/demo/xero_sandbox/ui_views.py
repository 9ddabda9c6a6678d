"""Pages a person reads (`/`, tables, object details) and the test hooks (`/_state.json`,
`/_faults`, `/_reset`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for

from .api_views import json_response, sandbox
from .documents import amount_due
from .faults import FaultError
from .sandbox import UI_TABLES
from .state import UI_KINDS, Kind, Org

bp = Blueprint("xero_ui", __name__)

ROWS_PER_PAGE = 200
TABLE_TITLES = {
    "invoices": "Sales invoices (ACCREC)",
    "bills": "Bills (ACCPAY)",
    "creditNotes": "Credit notes",
    "manualJournals": "Manual journals",
}
TABLES = {name: (kind, doc_type) for name, kind, doc_type in UI_TABLES}


def _row(kind: Kind, doc: dict) -> dict[str, Any]:
    if kind.name == "ManualJournals":
        total = sum((line["LineAmount"] for line in doc["JournalLines"]
                     if line["LineAmount"] > 0), start=0)
        return {"id": doc["ManualJournalID"], "number": "", "text": doc["Narration"],
                "contact": "", "date": doc["Date"], "total": total, "status": doc["Status"]}
    number_field = "CreditNoteNumber" if kind.name == "CreditNotes" else "InvoiceNumber"
    return {"id": doc[kind.id_field], "number": doc[number_field], "text": doc["Reference"],
            "contact": doc["Contact"]["Name"], "date": doc["Date"], "total": doc["Total"],
            "status": doc["Status"], "type": doc["Type"]}


def _table(org: Org, table: str, page: int) -> dict[str, Any]:
    kind, doc_type = TABLES[table]
    collection = org.collection(kind)
    total = collection.count_type(doc_type) if doc_type else len(collection)
    start = (page - 1) * ROWS_PER_PAGE
    rows = [_row(kind, doc) for doc in collection.page_of_type(doc_type, start,
                                                                 start + ROWS_PER_PAGE)]
    pages = max(1, (total + ROWS_PER_PAGE - 1) // ROWS_PER_PAGE)
    return {"name": table, "title": TABLE_TITLES[table], "kind": kind.ui_name, "rows": rows,
            "count": total, "page": page, "pages": pages, "first": start + 1 if rows else 0,
            "last": start + len(rows)}


@bp.get("/")
def index() -> str:
    sb = sandbox()
    with sb.lock:
        orgs = [{"org": org, "tables": [_table(org, name, 1) for name in TABLES],
                 "contacts": len(org.contacts)} for org in sb.orgs.values()]
        counters = dict(sb.counters)
    return render_template("xero_sandbox/index.html", orgs=orgs, counters=counters,
                           test_hooks=bool(sb.config.get("TEST_HOOKS")))


@bp.get("/orgs/<tenant_id>/<table>")
def table_page(tenant_id: str, table: str) -> str:
    sb = sandbox()
    if table not in TABLES:
        abort(404)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    with sb.lock:
        org = sb.orgs.get(tenant_id.lower())
        if org is None:
            abort(404)
        data = _table(org, table, page)
    return render_template("xero_sandbox/table.html", org=org, table=data)


@bp.get("/objects/<kind_name>/<doc_id>")
def object_page(kind_name: str, doc_id: str) -> str:
    sb = sandbox()
    kind = UI_KINDS.get(kind_name)
    if kind is None:
        abort(404)
    with sb.lock:
        for org in sb.orgs.values():
            doc = org.collection(kind).get(doc_id)
            if doc is not None:
                break
        else:
            abort(404)
        accounts = {code: account["Name"] for code, account in org.accounts.items()}
        due = amount_due(doc) if kind.name in ("Invoices", "CreditNotes") else None
    return render_template("xero_sandbox/object.html", org=org, kind=kind, doc=doc,
                           accounts=accounts, due=due)


def test_hook(view: Callable[..., Response]) -> Callable[..., Response]:
    """A hook that reads or changes the sandbox's state: 404 unless the sandbox was created with
    TEST_HOOKS=True, and 403 for a request a browser says another site started (a cross-site
    form or fetch) or that is not JSON when it changes something (no HTML form can send that)."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        if not sandbox().config.get("TEST_HOOKS"):
            abort(404)
        site = request.headers.get("Sec-Fetch-Site", "none")
        origin = request.headers.get("Origin")
        if site not in ("same-origin", "none") or (origin and origin != request.host_url.rstrip("/")):
            return json_response({"error": "The sandbox's test hooks refuse requests started "
                                           "by another site."}, 403)
        if request.method == "POST" and request.mimetype not in ("", "application/json"):
            return json_response({"error": "Send the test hook a JSON body."}, 415)
        return view(*args, **kwargs)

    return guarded


@bp.get("/_state.json")
@test_hook
def state_json() -> Response:
    page = max(1, request.args.get("page", 1, type=int) or 1)
    limit = min(1000, max(1, request.args.get("limit", ROWS_PER_PAGE, type=int) or 1))
    snapshot = sandbox().snapshot(page=page, limit=limit)
    snapshot["links"] = {"home": url_for("xero_ui.index")}
    return json_response(snapshot)


@bp.route("/_faults", methods=["GET", "POST"])
@test_hook
def faults() -> Response:
    sb = sandbox()
    if request.method == "GET":
        with sb.lock:
            return json_response({"faults": sb.faults.pending()})
    body = request.get_json(silent=True)
    items = body if isinstance(body, list) else [body]
    pending: dict = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            return json_response({"error": 'Send {"kind": ..., ...parameters} or a list of '
                                           "them"}, 400)
        params = {k: v for k, v in item.items() if k != "kind"}
        try:
            pending = sb.inject(item["kind"], **params)
        except (FaultError, KeyError, TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
    return json_response({"faults": pending})


@bp.post("/_reset")
@test_hook
def reset() -> Response:
    body = request.get_json(silent=True) or {}
    sandbox().reset(keep_connections=bool(body.get("keep_connections")))
    return json_response({"reset": True})


@bp.post("/_manual_journals")
@test_hook
def manual_journal_made_in_xero() -> Response:
    """A manual journal made by someone else in Xero: {"date", "lines": [[code, amount], ...],
    "narration"?, "status"? (POSTED), "tenant_id"?}; answers its ManualJournalID."""
    body = request.get_json(silent=True) or {}
    try:
        journal_id = sandbox().record_manual_journal(
            body["date"], [(str(code), amount) for code, amount in body["lines"]],
            body.get("narration", "Adjustment made in Xero"), body.get("status", "POSTED"),
            body.get("tenant_id"))
    except (KeyError, TypeError, ValueError) as exc:
        return json_response({"error": str(exc)}, 400)
    return json_response({"ManualJournalID": journal_id})


@bp.post("/_payments")
@test_hook
def payment_made_in_xero() -> Response:
    """A payment entered in Xero: {"document_id", "amount", "date"?, "account_code"? (090),
    "tenant_id"?}; answers its PaymentID."""
    body = request.get_json(silent=True) or {}
    try:
        payment_id = sandbox().pay_document(body["document_id"], body["amount"],
                                            body.get("date"), body.get("account_code", "090"),
                                            body.get("tenant_id"))
    except (KeyError, TypeError, ValueError) as exc:
        return json_response({"error": str(exc)}, 400)
    return json_response({"PaymentID": payment_id})

