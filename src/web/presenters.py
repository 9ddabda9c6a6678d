"""Use-case results as JSON-ready dicts (money as strings, dates ISO) for the API and CLI."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ..application.list_unsynced import DocumentList
from ..application.preview_unsynced import Preview
from ..application.status import Status
from ..domain.documents import TRADE_KINDS
from ..domain.errors import Problem
from ..domain.money import format_money
from ..domain.sync import SyncRun


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


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
            }
            for j in preview.journals
        ],
    }
    body["last_synced_up_to"] = {k.value: _day(d) for k, d in preview.last_synced_up_to.items()}
    body["problems"] = [problem_json(p) for p in preview.problems]
    body["warnings"] = [problem_json(p) for p in preview.warnings]
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
