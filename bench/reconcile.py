"""Reconciliation at winery scale: Reconcile (Xero against the ERP at the closing date, account by
account) once most of the books are in Xero, and the three sums it has the database make.

On one seeded database: the books as corrections.py leaves them before it changes anything
(90% of the documents and journals synced with the lines they sent, earlier refunds allocated),
and the plugin's copy of Xero's general ledger (accounts_sync_xero_journal_lines) as reading
Xero would have left it: one journal per synced document (its lines, the tax, the receivable or
payable) and per synced cost journal, claimed by their records, and the payments of most synced
invoices and bills, which no record made ("posted by others"). The rows are written straight
into the table: paging the sandbox through that many journals would take far too long. The
sandbox's own ledger is empty, so Reconcile's GET /Journals past the copy's last number answers
an empty page, as Xero does when nothing was posted since: the timed Reconcile.execute includes
that read (one call, then the claim of the journals nobody owns), and the read is timed apart
too. Xero's trial balance is the sandbox's (empty): the differences are large, the work is not.
Everything is emptied afterwards.

    python -m bench.reconcile [--backends sqlite,postgresql] [--scale 100k] [--merge FILE]

runs this measurement alone and, with --merge, writes it into FILE's
`details.facts.<db>/<scale>.reconciliation` (what a full `python -m bench` run puts there).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from accounts_sync.adapters.erp_sql.plugin_tables import SyncRecordRow, XeroJournalLineRow
from accounts_sync.adapters.erp_sql.sqlalchemy_reconciliation import rebuild_xero_line_sums
from accounts_sync.application.reconcile import ReconcileRequest, reconciliation_chart
from accounts_sync.application.value_inventory import (
    DEFAULT_YEAR_END,
    FINANCIAL_YEAR_END,
    financial_year_start,
)
from accounts_sync.container import build_container
from accounts_sync.domain.reconciliation import LINE_SIGN

from . import datasets, machine
from .corrections import sync_most
from .sandbox import FAST, SandboxProcess, connect, container_settings
from .stats import once_ms, timed

PAID_SHARE = 0.7  # of the synced invoices and bills: paid in Xero, 30 days after their date
PAYMENT_SOURCE = {"ACCREC": "ACCRECPAYMENT", "ACCPAY": "ACCPAYPAYMENT"}
CHUNK = 5000


def measure(container: Any, sandbox_url: str, closing: date, warmup: int, repeat: int) -> dict:
    """Timings and counts for `details.facts.<db>/<scale>.reconciliation`."""
    try:
        synced = sync_most(container, closing, datetime.now(UTC))
        ledger = fill_ledger(container, closing)
        request = ReconcileRequest(closing)
        cold_ms, _ = once_ms(lambda: container.reconcile().execute(request))
        reconcile, _, found = timed(lambda: container.reconcile().execute(request), warmup, repeat)
        without = ReconcileRequest(closing, read_xero_ledger=False)
        without_read, _, _ = timed(lambda: container.reconcile().execute(without), warmup, repeat)
        read, _, _ = timed(lambda: container.reconcile().read_ledger(), warmup, repeat)
        sums = {name: _timed_sum(container, closing, name, warmup, repeat)
                for name in ("document_sums", "sent_sums", "xero_line_sums")}
        return {
            "synced_records": synced["records"],
            **ledger,
            "accounts": len(found.accounts),
            "unexplained_accounts": len(found.unexplained),
            "reconcile_cold_ms": cold_ms,
            "reconcile_ms": reconcile.as_dict(),
            "reconcile_without_ledger_read_ms": without_read.as_dict(),
            "read_ledger_ms": read.as_dict(),
            **{f"{name}_ms": stats for name, stats in sums.items()},
        }
    finally:
        datasets.reset_plugin_state(container.engine())
        connect(container, sandbox_url)


def _timed_sum(container: Any, closing: date, name: str, warmup: int, repeat: int) -> dict:
    """One of the sums Reconcile asks for, in a unit of work of its own, and its row count."""
    def run() -> Any:
        with container.unit_of_work() as uow:
            start = financial_year_start(closing, uow.settings.preference(
                FINANCIAL_YEAR_END, DEFAULT_YEAR_END))
            port = uow.ledger if name != "document_sums" else uow.documents
            return getattr(port, name)(closing, start)

    stats, _, found = timed(run, warmup, repeat)
    rows = sum(len(part) for part in found) if isinstance(found, tuple) else len(found)
    return {**stats.as_dict(), "rows": rows}


# ------------------------------------------------------------------ Xero's ledger, as read


def fill_ledger(container: Any, closing: date) -> dict:
    """The plugin's copy of Xero's ledger for the synced records, and the payments of most
    synced invoices and bills; journal numbers in the order the records were written."""
    xero_chart = container.reconcile().gateway.chart()
    with container.unit_of_work() as uow:
        chart = reconciliation_chart(xero_chart, uow.settings.mapping())
    bank = next(a.code for a in xero_chart.accounts if a.type == "BANK")
    ledger = _Ledger(chart, bank, closing)
    engine = container.engine()
    records = SyncRecordRow.__table__
    last = 0
    with engine.begin() as conn:
        while True:
            chunk = conn.execute(
                select(records.c.id, records.c.kind, records.c.erp_id, records.c.xero_id,
                       records.c.sent)
                .where(records.c.state == "synced", records.c.kind != "corrections",
                       records.c.sent.is_not(None), records.c.id > last)
                .order_by(records.c.id).limit(CHUNK)).all()
            if not chunk:
                break
            for _, kind, erp_id, xero_id, sent in chunk:
                ledger.post_record(kind, erp_id, xero_id, sent)
            conn.execute(XeroJournalLineRow.__table__.insert(), ledger.take())
            last = chunk[-1].id
    with Session(engine) as session:  # the sums reading the ledger keeps with it
        rebuild_xero_line_sums(session)
        session.commit()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE accounts_sync_xero_journal_lines"))
            conn.execute(text("ANALYZE accounts_sync_xero_line_sums"))
    return {"xero_journals": ledger.journals, "xero_lines": ledger.lines,
            "xero_journals_by_others": ledger.others}


class _Ledger:
    """Journals as Xero posts them (docs/xero-rules.md), as rows of the plugin's table."""

    def __init__(self, chart: Any, bank: str, closing: date) -> None:
        self.chart, self.bank, self.closing = chart, bank, closing
        self.rows: list[dict] = []
        self.journals = self.lines = self.others = 0
        self.paid = 0

    def take(self) -> list[dict]:
        rows, self.rows = self.rows, []
        return rows

    def post_record(self, kind: str, erp_id: str, xero_id: str, sent: dict) -> None:
        day = date.fromisoformat(sent["date"])
        doc_type = sent.get("type") or ""
        owner = {"record_kind": kind, "record_erp_id": erp_id,
                 "contact": sent.get("contact", "")[:64],
                 "contact_name": sent.get("contact_name", "")[:255]}
        if not doc_type:  # a cost journal: its lines, signed
            lines = [(a, Decimal(amount), tracking) for a, amount, _, _, tracking, _ in sent["lines"]]
            self._post(day, "MANJOURNAL", xero_id, lines, owner)
            return
        sign = LINE_SIGN[doc_type]
        inclusive = sent.get("lat") == "Inclusive"
        lines, tax, total = [], Decimal(0), Decimal(0)
        for account, amount, line_tax, _, tracking, _ in sent["lines"]:
            net = Decimal(amount) - Decimal(line_tax) if inclusive else Decimal(amount)
            lines.append((account, sign * net, tracking))
            tax += Decimal(line_tax)
            total += net + Decimal(line_tax)
        if tax:
            lines.append((self.chart.tax, sign * tax, ()))
        control = self.chart.receivables if doc_type in ("ACCREC", "ACCRECCREDIT") \
            else self.chart.payables
        lines.append((control, -sign * total, ()))
        self._post(day, doc_type, xero_id, lines, owner)
        self.paid += PAID_SHARE
        paid_on = day + timedelta(days=30)
        if doc_type in PAYMENT_SOURCE and self.paid >= 1 and paid_on <= self.closing:
            self.paid -= 1
            self.others += 1
            self._post(paid_on, PAYMENT_SOURCE[doc_type], f"payment-{xero_id}",
                       [(self.bank, -sign * total, ()), (control, sign * total, ())],
                       {"record_kind": None, "record_erp_id": None})

    def _post(self, day: date, source_type: str, source_id: str,
              lines: Iterable[tuple[str, Decimal, Any]], owner: dict) -> None:
        self.journals += 1
        journal = {"journal_number": self.journals, "journal_id": str(uuid.uuid4()),
                   "journal_date": day, "source_type": source_type, "source_id": source_id,
                   "reference": source_id, "contact": "", "contact_name": "", **owner}
        for line_no, (account, amount, tracking) in enumerate(lines):
            self.rows.append({**journal, "line_no": line_no, "account_code": account,
                              "amount": int((amount * 100).to_integral_value()),
                              "tracking": json.dumps(sorted([c, o] for c, o in tracking))})
            self.lines += 1


# ------------------------------------------------------------------ on its own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--scale", default="100k", choices=sorted(datasets.SCALES))
    parser.add_argument("--postgres-url", default=datasets.DEFAULT_POSTGRES_URL)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--merge", type=Path, default=None,
                        help="a results file to write the measurements into")
    args = parser.parse_args(argv)
    closing = datasets.closing_date()
    out: dict[str, Any] = {}
    with SandboxProcess(FAST) as sandbox:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            url = datasets.ensure(backend, datasets.SCALES[args.scale], args.postgres_url,
                                  log=_log)
            _log(f"reconciliation: {backend} {args.scale}")
            load = machine.load()
            found = _with_container(url, sandbox.url, lambda c: measure(
                c, sandbox.url, closing, args.warmup, args.repeat))
            found["measured_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
            found["load_average"] = {"start": load, "end": machine.load()}
            out[f"{backend}/{args.scale}"] = found
            _log(f"    reconcile {found['reconcile_ms']['median']:g} ms, " + ", ".join(
                f"{n} {found[f'{n}_ms']['median']:g} ms"
                for n in ("document_sums", "sent_sums", "xero_line_sums")))
    if args.merge:
        body = json.loads(args.merge.read_text())
        for key, found in out.items():
            body["details"]["facts"].setdefault(key, {})["reconciliation"] = found
        args.merge.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(out, indent=2))
    return 0


def _with_container(url: str, sandbox_url: str, action: Callable[[Any], dict]) -> dict:
    container = build_container(container_settings(url, sandbox_url))
    try:
        connect(container, sandbox_url)
        return action(container)
    finally:
        container.engine().dispose()


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
