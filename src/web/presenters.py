"""Use-case results as JSON-ready dicts (money as strings, dates ISO) for the API and CLI."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from ..application.list_unsynced import DocumentList
from ..application.preview_unsynced import Preview
from ..application.status import Status
from ..domain.documents import TRADE_KINDS, Kind
from ..domain.errors import Problem
from ..domain.journals import journal_label
from ..domain.money import ZERO, format_money
from ..domain.sync import (
    EARLIER_MARK,
    UNCONFIRMED_PREFIX,
    RefusedBy,
    RunState,
    SyncRecord,
    SyncRun,
    SyncState,
)
from .corrections import xero_change_json

# ----------------------------------------------------------------------------- plain words


def document_label(kind: Kind, number: str) -> str:
    """How a person knows a record: its number, or a journal's narration (never its key)."""
    return journal_label(number) if kind is Kind.JOURNALS else number


def refused_by_label(by: str | RefusedBy | None) -> str:
    return "Accounts Sync" if str(by or "") == RefusedBy.ACCOUNTS_SYNC.value else "Xero"


def run_headline(run: SyncRun) -> tuple[str, str]:
    """(tone, headline) of a run: 'good'/'partial'/'bad'/'running', and a word or two."""
    if run.state is RunState.QUEUED:
        return "running", "Waiting to start"
    if run.state is RunState.RUNNING:
        return "running", "Running"
    if run.state is RunState.SUCCEEDED:
        return "good", "Up to date" if run.total == 0 and not run.done else "Sent"
    if run.state is RunState.FAILED:
        return ("partial", "Partly sent") if run.created else ("bad", "Nothing sent")
    return "bad", "Stopped"


def run_progress_text(run: SyncRun) -> str:
    if run.state is RunState.QUEUED:
        return run.note or "Waiting for a worker to start the sync…"
    text = (f"{run.done:,} of {run.total:,} done"
            + (f", {run.failed:,} failed so far" if run.failed else "") + ".")
    if run.state is RunState.RUNNING and not run.total and not run.done:
        text = "Getting ready…"
    return f"{text} {run.note}".strip()


def what_to_do(run: SyncRun) -> str:
    """The next step after a run, when its message does not already say it."""
    if run.state is RunState.FAILED:
        where = "the preview" if run.kind is Kind.JOURNALS else f"the {run.kind.label.lower()} list"
        return (f"The reasons are listed in {where}: fix each (in the ERP, in Settings or in "
                f"Xero), then press Retry.")
    return ""


def record_state_label(record: SyncRecord | None, running: bool = False) -> str:
    if record is None or record.state is SyncState.PENDING:
        return "Not sent"
    if record.state is SyncState.SYNCED:
        return "In Xero"
    if record.state is SyncState.FAILED:
        return f"Refused by {refused_by_label(record.refused_by)}"
    return "Being sent" if running else "Not confirmed"


def split_unconfirmed(reason: str) -> tuple[str, str]:
    """An unconfirmed record's reason: (why it is unconfirmed, the reason it had before)."""
    if reason.startswith(UNCONFIRMED_PREFIX) and EARLIER_MARK in reason:
        now, before = reason.split(EARLIER_MARK, 1)
        return now, before
    return reason, ""


def natural_key(text: str) -> tuple[Any, ...]:
    """PO-9 before PO-10: digit runs compare as numbers."""
    return tuple(int(part) if part.isdigit() else part.casefold()
                 for part in re.split(r"(\d+)", text))


def local_time(value: datetime | None, zone: tzinfo | None) -> datetime | None:
    """A stored (UTC) moment in the host's time zone (the server's own zone when None)."""
    if value is None:
        return None
    return value.astimezone(zone) if zone is not None else value.astimezone()


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _moment(value: datetime | None) -> str | None:
    """RFC 3339 with its offset; the plugin stores UTC, and SQLite hands it back naive."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def problem_json(problem: Problem) -> dict[str, Any]:
    body = {"code": problem.code, "message": problem.message, "subject": problem.subject}
    if problem.field:
        body["field"] = problem.field
    return body


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
    body["refused_by_accounts_sync"] = {
        kind.value: {
            "count": found.count,
            "documents": [{"erp_id": d.erp_id, "number": d.number, "date": d.date.isoformat(),
                           "reasons": list(d.reasons)} for d in found.shown],
        }
        for kind, found in preview.refused.items()
    }
    body["checked_against_xero"] = preview.checked_against_xero
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
        "note": run.note,
        "headline": run_headline(run)[1],
        "tone": run_headline(run)[0],
        "progress": run_progress_text(run) if run.is_active else run.message,
        "failures": [{"number": f.number, "label": document_label(run.kind, f.number),
                      "reason": f.reason, "refused_by": f.by} for f in run.failures],
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
        "not_in_xero": {k.value: {"failed": status.failed(k), "unconfirmed": status.unconfirmed(k)}
                        for k in status.last_synced_up_to},
        "active_runs": {k.value: run_json(r) for k, r in status.active_runs.items()},
        "last_runs": {k.value: run_json(r) for k, r in status.last_runs.items()},
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
