"""Corrections at winery scale: the preview (and the plan of corrections alone) once most of the
books are in Xero and some of it has changed since.

On one seeded database: 90% of the documents and journals (the oldest) are recorded as synced
with their real content (fingerprints and the lines sent), as a run would leave them; then the
ERP changes some of it: 1% of the synced documents are stamped as edited (their content kept,
so the planner reads and compares them), 0.1% really edited (a line's price), and a late cost
lands on 1% of the synced journals' days. The preview, which plans corrections, and the plan on
its own are timed. Everything is undone afterwards (host rows restored, plugin state emptied),
so the dataset stays as seeded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update

from accounts_sync.adapters.erp_sql import host_schema as host
from accounts_sync.application.checks import with_defaults
from accounts_sync.application.plan_corrections import CorrectionsRequest
from accounts_sync.application.preview_unsynced import PreviewRequest
from accounts_sync.domain.corrections import (
    CorrectionAction,
    sent_state_of_document,
    sent_state_of_journal,
)
from accounts_sync.domain.documents import TRADE_KINDS, Kind
from accounts_sync.domain.journals import build_journals
from accounts_sync.domain.sync import CorrectionLink, SyncRecord

from . import datasets
from .sandbox import connect
from .stats import timed

SYNCED_SHARE = 0.9
STAMPED_SHARE = 0.01  # of the synced documents: saved again in the ERP, content unchanged
EDITED_SHARE = 0.001  # of the synced documents: a line's price changed
LATE_SHARE = 0.01  # of the synced journals: a late cost on their day
ALLOCATION_PENDING_SHARE = 0.01  # of the refunds of synced sales: not allocated yet
CHUNK = 5000


def measure(container: Any, sandbox_url: str, closing: date, warmup: int, repeat: int) -> dict:
    """Timings and counts for `details.facts.<db>/<scale>.corrections`."""
    now = datetime.now(UTC)
    restore: dict[str, Any] = {}
    try:
        synced = sync_most(container, closing, now)
        changes = _change_some(container, closing, synced, restore)
        request = CorrectionsRequest(closing)
        preview, _, found = timed(
            lambda: container.preview_unsynced().execute(PreviewRequest(closing)), warmup, repeat)
        plan, _, planned = timed(
            lambda: container.plan_corrections().execute(request), warmup, repeat)
        # What a corrections run leaves: the documents saved again unchanged are marked read.
        with container.unit_of_work() as uow:
            for kind in {kind for kind, _ in planned.unchanged}:
                uow.ledger.mark_read(kind, [i for k, i in planned.unchanged if k is kind],
                                     datetime.now(UTC))
            uow.commit()
        after_preview, _, _ = timed(
            lambda: container.preview_unsynced().execute(PreviewRequest(closing)), warmup, repeat)
        after_plan, _, _ = timed(
            lambda: container.plan_corrections().execute(request), warmup, repeat)
        return {
            "synced_records": synced["records"],
            **changes,
            "corrections": planned.count,
            "by_action": _by_action(planned),
            "preview_ms": preview.as_dict(),
            "plan_ms": plan.as_dict(),
            "preview_corrections": found.corrections.count if found.corrections else 0,
            "after_a_corrections_run": {"preview_ms": after_preview.as_dict(),
                                        "plan_ms": after_plan.as_dict()},
        }
    finally:
        _undo(container, restore)
        datasets.reset_plugin_state(container.engine())
        connect(container, sandbox_url)


def sync_most(container: Any, closing: date, now: datetime) -> dict:
    """Records as a run leaves them, for the oldest 90% of documents and journals."""
    count = 0
    synced_docs: dict[Kind, list[str]] = {}
    with container.unit_of_work() as uow:
        mapping = uow.settings.mapping()
        for kind in TRADE_KINDS:
            total = uow.documents.summarize_unsynced(kind, closing).count
            wanted = int(total * SYNCED_SHARE)
            after = None
            ids: list[str] = []
            while len(ids) < wanted:
                chunk = uow.documents.next_unsynced(kind, closing, after, min(CHUNK, wanted - len(ids)))
                if not chunk:
                    break
                records = []
                for doc in chunk:
                    doc = with_defaults(doc, mapping)
                    record = SyncRecord(kind, doc.erp_id, doc.number, doc.fingerprint).start(
                        None, doc.fingerprint, sent_state_of_document(doc), now)
                    records.append(record.succeed(f"xero-{kind.value}-{doc.erp_id}", now, "AUTHORISED"))
                uow.ledger.save_records(records)
                ids += [d.erp_id for d in chunk]
                after = (chunk[-1].date, chunk[-1].erp_id)
            synced_docs[kind] = ids
            count += len(ids)
        # The refunds of synced sales were allocated by earlier corrections runs, but for the
        # latest 1% (as in a winery that syncs every day).
        pairs = uow.documents.refunds_to_allocate(closing, 10**9)
        allocated = [
            SyncRecord(Kind.CORRECTIONS, CorrectionLink.erp_id_for(Kind.REFUNDS, refund, 1),
                       refund, f"allocated:{sale}", correction=CorrectionLink(
                           Kind.REFUNDS, refund, CorrectionAction.ALLOCATE))
            .start(None, f"allocated:{sale}", None, now).succeed(f"xero-alloc-{refund}", now)
            for refund, sale in pairs[:int(len(pairs) * (1 - ALLOCATION_PENDING_SHARE))]
        ]
        uow.ledger.save_records(allocated)
        build = build_journals(uow.documents.cost_flows(closing), mapping)
        journals = list(build.journals)[:int(len(build.journals) * SYNCED_SHARE)]
        records = [
            SyncRecord(Kind.JOURNALS, j.key, j.key, j.fingerprint)
            .start(None, j.fingerprint, sent_state_of_journal(j), now)
            .succeed(f"xero-journal-{j.key}", now, "POSTED")
            for j in journals
        ]
        uow.ledger.save_records(records)
        count += len(records)
        uow.commit()
    engine = container.engine()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE accounts_sync_sync_records"))
    return {"records": count, "documents": synced_docs, "journals": [j.key for j in journals]}


def _change_some(container: Any, closing: date, synced: dict, restore: dict) -> dict:
    later = datetime.now(UTC).replace(tzinfo=None)
    stamped = edited = late = 0
    engine = container.engine()
    restore["stamps"], restore["prices"], restore["entries"] = [], [], []
    with engine.begin() as conn:
        for kind, ids in synced["documents"].items():
            spec_table = {Kind.SALES_ORDERS: host.sales_orders, Kind.PURCHASE_ORDERS:
                          host.purchase_orders, Kind.REFUNDS: host.refunds}[kind]
            step = max(1, int(1 / STAMPED_SHARE))
            touched = [int(i) for i in ids[::step]]
            for start in range(0, len(touched), 500):
                chunk = touched[start:start + 500]
                old = conn.execute(select(spec_table.c.id, spec_table.c.updated_at)
                                   .where(spec_table.c.id.in_(chunk))).all()
                restore["stamps"].append((spec_table, [tuple(r) for r in old]))
                conn.execute(update(spec_table).where(spec_table.c.id.in_(chunk))
                             .values(updated_at=later))
            stamped += len(touched)
        so_lines = host.sales_order_lines
        every = max(1, int(1 / EDITED_SHARE))
        for so_id in [int(i) for i in synced["documents"].get(Kind.SALES_ORDERS, [])[::every]]:
            line = conn.execute(select(so_lines.c.id, so_lines.c.unit_price)
                                .where(so_lines.c.sales_order_id == so_id)
                                .order_by(so_lines.c.id).limit(1)).first()
            if line is None:
                continue
            restore["prices"].append((line.id, line.unit_price))
            conn.execute(update(so_lines).where(so_lines.c.id == line.id)
                         .values(unit_price=Decimal(line.unit_price) + 1))
            edited += 1
        ce = host.cost_entries
        every = max(1, int(1 / LATE_SHARE))
        top = int(conn.scalar(select(func.max(ce.c.id))) or 0)
        for key in synced["journals"][::every]:
            day, movement = date.fromisoformat(key[:10]), key[11:]
            first = conn.execute(select(ce).where(ce.c.entry_date == day,
                                                  ce.c.movement_type == movement)
                                 .order_by(ce.c.id).limit(1)).mappings().first()
            if first is None:
                continue
            top += 1
            values = {**dict(first), "id": top, "amount": Decimal("123.4567"),
                      "created_at": later, "updated_at": later, "description": "Late cost (bench)"}
            conn.execute(insert(ce).values(values))
            restore["entries"].append(top)
            late += 1
    return {"stamped_documents": stamped, "edited_documents": edited, "late_costs": late}


def _undo(container: Any, restore: dict) -> None:
    if not restore:
        return
    with container.engine().begin() as conn:
        for table, rows in restore.get("stamps", []):
            for row_id, stamp in rows:
                conn.execute(update(table).where(table.c.id == row_id).values(updated_at=stamp))
        for line_id, price in restore.get("prices", []):
            conn.execute(update(host.sales_order_lines).where(host.sales_order_lines.c.id == line_id)
                         .values(unit_price=price))
        entries = restore.get("entries", [])
        for start in range(0, len(entries), 500):
            conn.execute(delete(host.cost_entries).where(
                host.cost_entries.c.id.in_(entries[start:start + 500])))


def _by_action(plan: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for correction in plan.corrections:
        counts[correction.action.value] = counts.get(correction.action.value, 0) + 1
    return counts

