"""Reconciliation: page, account drill-down, CSV download and JSON (the API and the CLI share
them). Views parse, call Reconcile / ExplainDifference and render; the figures are theirs."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from flask import Response, render_template, request

from ..application.reconcile import Explanation, ReconcileRequest
from ..domain.errors import ClosingDateInFuture
from ..domain.money import format_money
from ..domain.reconciliation import Cause, Figures, Reconciliation
from ..domain.sync import parse_closing_date
from .services import container
from .valuation import _cell

CSV_COLUMNS = ("account", "name", "part", "erp", "sent", "xero", "difference",
               *(c.name.lower() for c in Cause), "unexplained")
TEXT_COLUMNS = {"account", "name", "part"}


def closing_date_of(raw: str | None, today: date) -> date:
    closing = parse_closing_date(raw or "", today)
    if closing > today:
        raise ClosingDateInFuture(closing, today)
    return closing


def run_reconciliation(raw_closing: str | None) -> Reconciliation:
    today = container().clock().today()
    return container().reconcile().execute(ReconcileRequest(closing_date_of(raw_closing, today)))


# ----------------------------------------------------------------------------- views


def reconciliation_page() -> Any:
    result = run_reconciliation(request.args.get("closing_date"))
    return render_template("accounts_sync/reconciliation.html", r=result, causes=list(Cause),
                           today=container().clock().today())


def reconciliation_csv() -> Any:
    result = run_reconciliation(request.args.get("closing_date"))
    name = f"reconciliation-{result.closing_date.isoformat()}.csv"
    return Response(reconciliation_csv_text(result), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def reconciliation_account(code: str) -> Any:
    today = container().clock().today()
    closing = closing_date_of(request.args.get("closing_date"), today)
    result = container().reconcile().execute(ReconcileRequest(closing))
    explanation = container().explain_difference().execute(closing, code)
    return render_template("accounts_sync/reconciliation_account.html", r=result,
                           account=result.account(code), e=explanation, causes=list(Cause),
                           today=today)


# ----------------------------------------------------------------------------- presenters


def figures_json(f: Figures) -> dict[str, Any]:
    return {
        "erp": format_money(f.erp),
        "sent": format_money(f.sent),
        "xero": format_money(f.xero),
        "difference": format_money(f.difference),
        "causes": [{"cause": c.name.lower(), "label": c.value, "amount": format_money(a)}
                   for c, a in f.causes],
        "unexplained": format_money(f.unexplained),
    }


def reconciliation_json(r: Reconciliation) -> dict[str, Any]:
    return {
        "closing_date": r.closing_date.isoformat(),
        "period_start": r.period_start.isoformat(),
        "reconciled": r.reconciled,
        "ledger_complete": r.ledger_complete,
        "unexplained_accounts": [a.code for a in r.unexplained],
        "notes": list(r.notes),
        "accounts": [
            {
                "code": a.code,
                "name": a.name,
                "type": a.type,
                **figures_json(a.figures),
                "breakdown": a.breakdown or None,
                "parts": [{"key": p.key, "label": p.label, **figures_json(p.figures)}
                          for p in a.parts],
            }
            for a in r.accounts
        ],
    }


def explanation_json(e: Explanation) -> dict[str, Any]:
    return {
        "account": e.account_code,
        "name": e.name,
        "documents": [
            {"kind": d.kind.value, "erp_id": d.erp_id, "number": d.number,
             "date": d.date.isoformat(), "amount": format_money(d.amount),
             "cause": d.cause.name.lower(), "erp_url": d.erp_url or None,
             "xero_url": d.xero_url or None, "note": d.note}
            for d in e.documents
        ],
        "posted_by_others": [
            {"journal_number": x.journal.number, "date": x.journal.date.isoformat(),
             "source_type": x.journal.source_type, "reference": x.journal.reference,
             "amount": format_money(x.amount), "xero_url": x.xero_url or None}
            for x in e.others
        ],
        "more": e.limited,
        "notes": list(e.notes),
    }


def reconciliation_csv_text(r: Reconciliation) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)

    def row(code: str, name: str, part: str, f: Figures) -> None:
        values = [code, name, part, format_money(f.erp), format_money(f.sent),
                  format_money(f.xero), format_money(f.difference),
                  *(format_money(f.cause(c)) for c in Cause), format_money(f.unexplained)]
        writer.writerow([_cell(v, column in TEXT_COLUMNS) for column, v in zip(CSV_COLUMNS, values,
                                                                              strict=True)])

    for a in r.accounts:
        row(a.code, a.name, "", a.figures)
        for p in a.parts:
            row(a.code, a.name, p.label, p.figures)
    return out.getvalue()
