"""Corrections in the console, the API and the CLI: how a correction reads, as JSON and words.

Views stay thin: they parse, call PlanCorrections / DecideCorrection, and render.
"""

from __future__ import annotations

from typing import Any

from ..application.plan_corrections import CorrectionsPlan
from ..application.ports import XeroChange
from ..domain.corrections import Correction, CorrectionAction, SentState
from ..domain.documents import Kind
from ..domain.money import format_money
from ..domain.sync import SyncRecord


def correction_json(c: Correction, xero_url: str = "") -> dict[str, Any]:
    return {
        "kind": c.kind.value,
        "erp_id": c.erp_id,
        "number": c.number,
        "action": c.action.value,
        "action_label": c.action.label,
        "reason": c.reason,
        "old_total": format_money(c.old_total),
        "new_total": format_money(c.new_total),
        "net_change": format_money(c.net_change),
        "date": c.date.isoformat() if c.date else None,
        "carried_from": c.carried_from.isoformat() if c.carried_from else None,
        "held": c.held,
        "choices": [{"value": choice.value, "label": choice.label} for choice in c.choices],
        "adjustment": _adjustment_json(c),
        "difference": [
            {"account_code": d.account_code, "amount": format_money(d.amount),
             "tax_amount": format_money(d.tax_amount), "tax_type": d.tax_type,
             "tracking": [{"name": t.category, "option": t.option} for t in d.tracking]}
            for d in c.difference
        ],
        "erp_url": c.erp_url,
        "xero_url": xero_url,
    }


def _adjustment_json(c: Correction) -> dict[str, Any] | None:
    if c.document is not None and c.action.value in ("adjust", "credit", "decide"):
        return {"type": c.document.xero_type, "number": c.document.number,
                "total": format_money(c.document.total), "date": c.document.date.isoformat(),
                "allocated_to_original": c.allocate_after}
    if c.journal is not None and c.action.value == "adjust_journal":
        return {"type": "MANJOURNAL", "number": c.journal.key, "narration": c.journal.narration,
                "total": format_money(c.journal.debit_total), "date": c.journal.date.isoformat()}
    if c.allocation is not None:
        return {"type": "ALLOCATION", "invoice": c.allocation.invoice_xero_id,
                "total": format_money(c.allocation.amount), "date": c.allocation.date.isoformat()}
    return None


def corrections_json(plan: CorrectionsPlan, xero_url: Any = None) -> dict[str, Any]:
    link = xero_url or (lambda c: "")
    return {
        "closing_date": plan.closing_date.isoformat(),
        "count": plan.count,
        "net_change": format_money(plan.net_change),
        "to_send": len(plan.to_send),
        "to_decide": len(plan.to_decide),
        "held": len(plan.held),
        "unknown": list(plan.unknown),
        "corrections": [correction_json(c, link(c)) for c in plan.corrections],
    }


def xero_change_json(change: XeroChange) -> dict[str, Any]:
    return {
        "kind": change.kind.value,
        "xero_id": change.xero_id,
        "number": change.number,
        "status": change.status,
        "total": format_money(change.total),
        "updated_at": change.updated_at.isoformat() if change.updated_at else None,
        "ours": change.record_erp_id is not None,
        "summary": change.summary,
        "xero_url": change.web_url,
    }


def state_words(state: SentState | None) -> str:
    """'110.00 on 2 lines' — what a side of a correction holds, in a few words."""
    if state is None:
        return "cancelled in the ERP"
    if not state.lines:
        return "nothing (void, deleted or credited)"
    lines = len(state.lines)
    total = state.debit_total if not state.document_type else state.total
    return f"{total:,.2f} on {lines} line{'s' if lines != 1 else ''}"


_KIND_OF_TYPE = {"ACCREC": Kind.SALES_ORDERS, "ACCPAY": Kind.PURCHASE_ORDERS,
                 "ACCRECCREDIT": Kind.REFUNDS, "ACCPAYCREDIT": Kind.REFUNDS}


def xero_kind(record: SyncRecord) -> Kind:
    """The kind whose Xero page shows a record's object: a correction's is what it created
    (an adjustment invoice, credit note or journal) or the original it changed."""
    link = record.correction
    if link is None:
        return record.kind
    if link.action in (CorrectionAction.ADJUST, CorrectionAction.CREDIT):
        return _KIND_OF_TYPE.get(link.document_type, link.original_kind)
    if link.action is CorrectionAction.ALLOCATE:
        return Kind.REFUNDS
    return link.original_kind
