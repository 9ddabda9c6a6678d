"""Use-case results as JSON-ready dicts (money as strings, dates ISO) for the API and CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from ..application.list_unsynced import DocumentList
from ..application.preview_unsynced import Preview
from ..application.status import Status
from ..domain.documents import TRADE_KINDS
from ..domain.errors import Problem
from ..domain.money import ZERO, format_money
from ..domain.sync import SyncRun
from .corrections import xero_change_json


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _moment(value: datetime | None) -> str | None:
    """RFC 3339 with its offset; the plugin stores UTC, and SQLite hands it back naive."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def problem_json(problem: Problem) -> dict[str, Any]:
    return {"code": problem.code, "message": problem.message, "subject": problem.subject}


def preview_json(preview: Preview) -> dict[str, Any]:
    body: dict[str, Any] = {"closing_date": preview.closing_date.isoformat(),
                            "currency": preview.currency}
    for kind in TRADE_KINDS:
        totals = preview.kinds[kind]
        body[kind.value] = {"count": totals.count, "total": format_money(totals.total)}
    body["journals"] = {
        "count": len(preview.journals),
        "total": format_money(preview.journal_total),
        "items": [
            {
                "key": j.key,
                "date": j.date.isoformat(),
                "movement_type": j.movement_type.value,
                "movement": j.movement_type.label,
                "narration": j.narration,
                "debit_total": format_money(j.debit_total),
                "lines": j.line_count,
                "cost_entries": j.entry_count,
                "carried_from": _day(j.carried_from),
                "held": j.held,
            }
            for j in preview.journals
        ],
    }
    body["last_synced_up_to"] = {k.value: _day(d) for k, d in preview.last_synced_up_to.items()}
    body["problems"] = [problem_json(p) for p in preview.problems]
    body["warnings"] = [problem_json(p) for p in preview.warnings]
    plan = preview.corrections
    body["corrections"] = {
        "count": plan.count if plan else 0,
        "net_change": format_money(plan.net_change if plan else ZERO),
        "to_decide": len(plan.to_decide) if plan else 0,
        "held": len(plan.held) if plan else 0,
    }
    body["xero_changes"] = [xero_change_json(c) for c in preview.xero_changes]
    return body


def run_json(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "kind": run.kind.value,
        "closing_date": run.closing_date.isoformat(),
        "mode": run.mode.value if run.mode else None,
        "requested_by": run.requested_by,
        "state": run.state.value,
        "active": run.is_active,
        "total": run.total,
        "done": run.done,
        "created": run.created,
        "failed": run.failed,
        "message": run.message,
        "failures": [{"number": n, "reason": r} for n, r in run.failures],
        "created_at": _moment(run.created_at),
        "started_at": _moment(run.started_at),
        "finished_at": _moment(run.finished_at),
    }


def document_list_json(listing: DocumentList) -> dict[str, Any]:
    return {
        "kind": listing.kind.value,
        "closing_date": listing.closing_date.isoformat(),
        "count": listing.totals.count,
        "total": format_money(listing.totals.total),
        "items": [
            {
                "erp_id": d.erp_id,
                "number": d.number,
                "contact": d.contact_name,
                "date": d.date.isoformat(),
                "total": format_money(d.total),
                "currency": d.currency,
                "url": d.url,
                "sync_state": d.sync_state,
                "last_error": d.last_error,
            }
            for d in listing.page.items
        ],
        "next_cursor": listing.page.next_cursor,
    }


def status_json(status: Status) -> dict[str, Any]:
    connection = status.connection
    return {
        "connection": None if connection is None else {
            "tenant_id": connection.tenant_id,
            "organisation": connection.organisation_name,
            "connected_by": connection.connected_by,
            "connected_at": _moment(connection.connected_at),
            "needs_reauthorisation": connection.needs_reauthorisation,
        },
        "last_synced_up_to": {k.value: _day(d) for k, d in status.last_synced_up_to.items()},
        "active_runs": {k.value: run_json(r) for k, r in status.active_runs.items()},
        "journal_mode": status.journal_mode.value,
    }


def journal_detail_json(detail) -> dict[str, Any]:
    journal = detail.journal
    return {
        "key": journal.key,
        "date": journal.date.isoformat(),
        "movement_type": journal.movement_type.value,
        "narration": journal.narration,
        "balanced": journal.is_balanced,
        "debit_total": format_money(journal.debit_total),
        "credit_total": format_money(journal.credit_total),
        "lines": [
            {
                "account_code": line.account_code,
                "account_name": detail.account_names.get(line.account_code, ""),
                "debit": format_money(line.debit),
                "credit": format_money(line.credit),
                "tracking": [{"name": t.category, "option": t.option} for t in line.tracking],
                "description": line.description,
                "rounding": line.is_rounding,
                "costs": [
                    {
                        "erp_id": e.erp_id,
                        "date": e.date.isoformat(),
                        "operation": e.operation.number,
                        "description": e.description or e.operation.description,
                        "operation_url": e.operation.url,
                        "category": e.category.value,
                        "amount": f"{e.amount:f}",
                    }
                    for e in line.entries
                ],
            }
            for line in journal.lines
        ],
        "problems": [problem_json(p) for p in detail.problems],
    }
