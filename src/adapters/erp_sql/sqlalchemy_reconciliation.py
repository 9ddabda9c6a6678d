"""Reconciliation's sums, done by the database (DESIGN: "SQL does the aggregation").

- the ERP's documents per account, state (synced, not synced, failed) and contact;
- what the synced records sent (their `sent` JSON, unnested by the database's own JSON
  functions: SQLite's json_each, PostgreSQL's json_array_elements);
- Xero's general ledger as read so far (accounts_sync_xero_journal_lines).

Amounts are summed as integer cents, so SQLite's floating NUMERIC adds them exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import String, and_, case, cast, exists, func, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from ...application.ports import XeroJournal, XeroJournalLine
from ...domain.documents import Kind, TrackingRef
from ...domain.money import money
from ...domain.reconciliation import OBJECT_SOURCES, ContactSum, ErpState, LineSum, XeroLineSum
from .plugin_tables import SyncRecordRow, XeroJournalLineRow
from .sqlalchemy_documents import SPECS, line_cents, scaled, unscaled

XERO_TYPES = {Kind.SALES_ORDERS: "ACCREC", Kind.PURCHASE_ORDERS: "ACCPAY",
              Kind.REFUNDS: "ACCRECCREDIT"}
DRAFT_STATUSES = ("DRAFT", "SUBMITTED")
IN_CHUNK = 500


def document_sums(session: Session, closing_date: date, period_start: date
                  ) -> tuple[list[LineSum], list[ContactSum]]:
    lines_out: list[LineSum] = []
    totals_out: list[ContactSum] = []
    for kind, spec in SPECS.items():
        t, lines, contact = spec.table, spec.lines, spec.contact
        record = aliased(SyncRecordRow, name="reconciled_record")
        state = case((record.state == "synced", ErpState.SYNCED.value),
                     (record.state == "failed", ErpState.FAILED.value),
                     else_=ErpState.NOT_SYNCED.value).label("state")
        cents = line_cents(lines)
        tax = scaled(lines.c.tax_amount, 2)
        net = case((t.c.line_amount_types == "Inclusive", cents - tax), else_=cents)
        earlier = case((spec.date < period_start, 1), else_=0).label("earlier")
        joined = (t.join(lines, lines.c[spec.line_parent] == t.c.id)
                  .outerjoin(record, and_(record.kind == kind.value,
                                          record.erp_id == cast(t.c.id, String))))
        where = (t.c.status == spec.status, spec.date <= closing_date)
        stmt = (select(state, earlier, lines.c.account_code, lines.c.vintage, lines.c.brand,
                       func.sum(net), func.sum(tax))
                .select_from(joined).where(*where)
                .group_by(state, earlier, lines.c.account_code, lines.c.vintage, lines.c.brand))
        document_type = XERO_TYPES[kind]
        for st, early, code, vintage, brand, net_cents, tax_cents in session.execute(stmt):
            attributes = tuple((n, v) for n, v in (("brand", brand), ("vintage", vintage)) if v)
            lines_out.append(LineSum(document_type, st, bool(early), code or "", (),
                                     unscaled(net_cents, 2), unscaled(tax_cents, 2), attributes))
        totals = (select(state, contact.c.id, contact.c.name, func.sum(net + tax))
                  .select_from(joined.join(contact, contact.c.id == t.c[spec.contact_column]))
                  .where(*where)
                  .group_by(state, contact.c.id, contact.c.name))
        for st, contact_id, name, cents_total in session.execute(totals):
            totals_out.append(ContactSum(document_type, st, f"{spec.contact_prefix}:{contact_id}",
                                         name or "", unscaled(cents_total, 2)))
    return lines_out, totals_out


# ------------------------------------------------------------------------------ what was sent

# Each record's JSON is read once (the CTE), not once per field and line: on PostgreSQL as
# jsonb (operators on a json column parse its text every time), on SQLite into columns.
_RECORDS_SQLITE = """
WITH r AS MATERIALIZED (
  SELECT json_extract(sent, '$.type') AS doc_type,
         CASE WHEN xero_status IN ('DRAFT', 'SUBMITTED') THEN 'draft' ELSE 'posted' END AS st,
         json_extract(sent, '$.date') AS day, json_extract(sent, '$.contact') AS contact,
         json_extract(sent, '$.contact_name') AS contact_name,
         json_extract(sent, '$.lines') AS lines
  FROM accounts_sync_sync_records
  WHERE state = 'synced' AND kind != 'corrections' AND sent IS NOT NULL)
"""

_SENT_SQLITE = _RECORDS_SQLITE + """
SELECT r.doc_type, r.st,
       CASE WHEN r.day < :period_start THEN 1 ELSE 0 END AS earlier,
       json_extract(l.value, '$[0]') AS account,
       json_extract(l.value, '$[4]') AS tracking,
       SUM(CAST(ROUND(CAST(json_extract(l.value, '$[1]') AS REAL) * 100) AS INTEGER)),
       SUM(CAST(ROUND(CAST(json_extract(l.value, '$[2]') AS REAL) * 100) AS INTEGER))
FROM r, json_each(r.lines) AS l
WHERE r.day <= :closing_date
GROUP BY 1, 2, 3, 4, 5
"""

_SENT_TOTALS_SQLITE = _RECORDS_SQLITE + """
SELECT r.doc_type, r.st, r.contact, MAX(r.contact_name),
       SUM(CAST(ROUND(CAST(json_extract(l.value, '$[1]') AS REAL) * 100) AS INTEGER)
           + CAST(ROUND(CAST(json_extract(l.value, '$[2]') AS REAL) * 100) AS INTEGER))
FROM r, json_each(r.lines) AS l
WHERE r.day <= :closing_date AND r.doc_type != ''
GROUP BY 1, 2, 3
"""

_RECORDS_POSTGRESQL = """
WITH r AS MATERIALIZED (
  SELECT sent::jsonb AS s, xero_status FROM accounts_sync_sync_records
  WHERE state = 'synced' AND kind != 'corrections' AND sent IS NOT NULL)
"""

_SENT_POSTGRESQL = _RECORDS_POSTGRESQL + """
SELECT r.s->>'type' AS doc_type,
       CASE WHEN r.xero_status IN ('DRAFT', 'SUBMITTED') THEN 'draft' ELSE 'posted' END AS st,
       CASE WHEN r.s->>'date' < :period_start THEN 1 ELSE 0 END AS earlier,
       l.value->>0 AS account,
       (l.value->4)::text AS tracking,
       SUM(ROUND((l.value->>1)::numeric * 100)::bigint),
       SUM(ROUND((l.value->>2)::numeric * 100)::bigint)
FROM r CROSS JOIN LATERAL jsonb_array_elements(r.s->'lines') AS l(value)
WHERE r.s->>'date' <= :closing_date
GROUP BY 1, 2, 3, 4, 5
"""

_SENT_TOTALS_POSTGRESQL = _RECORDS_POSTGRESQL + """
SELECT r.s->>'type' AS doc_type,
       CASE WHEN r.xero_status IN ('DRAFT', 'SUBMITTED') THEN 'draft' ELSE 'posted' END AS st,
       r.s->>'contact' AS contact,
       MAX(r.s->>'contact_name'),
       SUM(ROUND((l.value->>1)::numeric * 100)::bigint
           + ROUND((l.value->>2)::numeric * 100)::bigint)
FROM r CROSS JOIN LATERAL jsonb_array_elements(r.s->'lines') AS l(value)
WHERE r.s->>'date' <= :closing_date AND COALESCE(r.s->>'type', '') != ''
GROUP BY 1, 2, 3
"""


def _tracking(raw: Any, cache: dict[str, tuple[TrackingRef, ...]]) -> tuple[TrackingRef, ...]:
    key = raw if isinstance(raw, str) else json.dumps(raw or [])
    found = cache.get(key)
    if found is None:
        pairs = json.loads(key) if key else []
        found = cache[key] = tuple(sorted((TrackingRef(c, o) for c, o in pairs or ()),
                                          key=lambda t: t.category))
    return found


def sent_sums(session: Session, closing_date: date, period_start: date
              ) -> tuple[list[LineSum], list[ContactSum]]:
    postgres = session.get_bind().dialect.name == "postgresql"
    params = {"closing_date": closing_date.isoformat(), "period_start": period_start.isoformat()}
    cache: dict[str, tuple[TrackingRef, ...]] = {}
    lines = [
        LineSum(doc_type or "", st, bool(early), account or "", _tracking(tracking, cache),
                unscaled(net, 2), unscaled(tax, 2))
        for doc_type, st, early, account, tracking, net, tax in session.execute(
            text(_SENT_POSTGRESQL if postgres else _SENT_SQLITE), params)
    ]
    totals = [
        ContactSum(doc_type or "", st, contact or "", name or "", unscaled(total, 2))
        for doc_type, st, contact, name, total in session.execute(
            text(_SENT_TOTALS_POSTGRESQL if postgres else _SENT_TOTALS_SQLITE), params)
    ]
    return lines, totals


# -------------------------------------------------------------------- Xero's general ledger


def xero_journal_offset(session: Session) -> int:
    return int(session.scalar(select(func.max(XeroJournalLineRow.journal_number))) or 0)


def _owners(session: Session, source_ids: Sequence[str]) -> dict[str, tuple[str, str, str, str]]:
    """source id → (record kind, record erp id, contact, contact name); an original wins over
    a correction naming the same object."""
    ids = list(dict.fromkeys(i for i in source_ids if i))
    found: dict[str, tuple[str, str, str, str]] = {}
    for start in range(0, len(ids), IN_CHUNK):
        rows = session.execute(
            select(SyncRecordRow.xero_id, SyncRecordRow.kind, SyncRecordRow.erp_id,
                   SyncRecordRow.sent)
            .where(SyncRecordRow.xero_id.in_(ids[start:start + IN_CHUNK]))).all()
        for xero_id, kind, erp_id, sent in sorted(rows, key=lambda r: r[1] != "corrections"):
            sent = sent or {}
            found[xero_id] = (kind, erp_id, sent.get("contact", ""), sent.get("contact_name", ""))
    return found


def save_xero_journals(session: Session, journals: Sequence[XeroJournal]) -> None:
    if not journals:
        return
    owners = _owners(session, [j.source_id for j in journals if j.source_type in OBJECT_SOURCES])
    rows = []
    for journal in journals:
        kind, erp_id, contact, contact_name = owners.get(journal.source_id, (None, None, "", ""))
        for line_no, line in enumerate(journal.lines):
            rows.append({
                "journal_number": journal.number, "line_no": line_no,
                "journal_id": journal.journal_id,
                "journal_date": journal.date, "source_type": journal.source_type[:24],
                "source_id": journal.source_id[:64], "reference": journal.reference[:255],
                "account_code": line.account_code[:20],
                "amount": int(money(line.net_amount) * 100),
                "tracking": json.dumps(sorted([t.category, t.option] for t in line.tracking)),
                "record_kind": kind, "record_erp_id": erp_id,
                "contact": contact[:64], "contact_name": contact_name[:255],
            })
    if rows:
        # A page read twice (two reconciliations at once, or again after a crash) adds nothing.
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert(XeroJournalLineRow.__table__).on_conflict_do_nothing(
            index_elements=["journal_number", "line_no"]), rows)


def claim_xero_journals(session: Session) -> int:
    # Only the unclaimed sources some record names: what others posted (payments, most of
    # them) stays unclaimed for good, and is not looked up again at every reconciliation.
    x = XeroJournalLineRow
    unclaimed = [sid for (sid,) in session.execute(
        select(x.source_id).distinct()
        .where(x.record_erp_id.is_(None), x.source_id != "",
               x.source_type.in_(sorted(OBJECT_SOURCES)),
               exists().where(SyncRecordRow.xero_id == x.source_id)))]
    owners = _owners(session, unclaimed)
    for source_id, (kind, erp_id, contact, name) in owners.items():
        session.execute(
            XeroJournalLineRow.__table__.update()
            .where(XeroJournalLineRow.source_id == source_id)
            .values(record_kind=kind, record_erp_id=erp_id, contact=contact[:64],
                    contact_name=name[:255]))
    return len(owners)


def xero_line_sums(session: Session, closing_date: date, period_start: date) -> list[XeroLineSum]:
    x = XeroJournalLineRow
    earlier = case((x.journal_date < period_start, 1), else_=0)
    ours = case((x.record_erp_id.is_(None), 0), else_=1)
    stmt = (select(x.account_code, earlier, ours, x.contact, func.max(x.contact_name), x.tracking,
                   func.sum(x.amount))
            .where(x.journal_date <= closing_date)
            .group_by(x.account_code, earlier, ours, x.contact, x.tracking))
    cache: dict[str, tuple[TrackingRef, ...]] = {}
    return [
        XeroLineSum(code, bool(early), bool(mine), unscaled(cents, 2), contact or "", name or "",
                    _tracking(tracking, cache))
        for code, early, mine, contact, name, tracking, cents in session.execute(stmt)
        if cents
    ]


def xero_source_sums(session: Session, source_ids: Sequence[str]) -> dict[str, dict[str, Decimal]]:
    x = XeroJournalLineRow
    ids = list(dict.fromkeys(i for i in source_ids if i))
    out: dict[str, dict[str, Decimal]] = {}
    for start in range(0, len(ids), IN_CHUNK):
        stmt = (select(x.source_id, x.account_code, func.sum(x.amount))
                .where(x.source_id.in_(ids[start:start + IN_CHUNK]))
                .group_by(x.source_id, x.account_code))
        for source_id, code, cents in session.execute(stmt):
            if cents:
                out.setdefault(source_id, {})[code] = unscaled(cents, 2)
    return out


def xero_journal_entries(session: Session, closing_date: date, account_code: str,
                         others_only: bool, limit: int) -> list[XeroJournal]:
    x = XeroJournalLineRow
    where = [x.journal_date <= closing_date, x.account_code == account_code]
    if others_only:
        where.append(x.record_erp_id.is_(None))
    numbers = [n for (n,) in session.execute(
        select(x.journal_number).where(*where).group_by(x.journal_number)
        .order_by(x.journal_number.desc()).limit(limit))]
    if not numbers:
        return []
    rows = session.execute(select(x).where(x.journal_number.in_(numbers),
                                           x.account_code == account_code)
                           .order_by(x.journal_number.desc(), x.id)).scalars().all()
    cache: dict[str, tuple[TrackingRef, ...]] = {}
    journals: dict[int, XeroJournal] = {}
    for row in rows:
        line = XeroJournalLine(row.account_code, Decimal(row.amount).scaleb(-2),
                               tracking=_tracking(row.tracking, cache))
        found = journals.get(row.journal_number)
        journals[row.journal_number] = replace(found, lines=(*found.lines, line)) if found else \
            XeroJournal(row.journal_id, row.journal_number, row.journal_date, row.source_type,
                        row.source_id, row.reference, (line,), record_kind=row.record_kind or "",
                        record_erp_id=row.record_erp_id or "")
    return list(journals.values())
