"""Reconciliation's sums, done by the database (DESIGN: "SQL does the aggregation").

- the ERP's documents per account, state (synced, not synced, failed) and contact (the
  reference query: document_sums.py keeps these sums between calls for a large ERP);
- what the synced records sent (their `sent` JSON, unnested by the database's own JSON
  functions: SQLite's json_each, PostgreSQL's json_array_elements);
- Xero's general ledger as read so far (accounts_sync_xero_journal_lines).

Amounts are summed as integer cents, so SQLite's floating NUMERIC adds them exactly.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, String, and_, case, cast, delete, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, aliased

from ...application.ports import XeroJournal, XeroJournalLine
from ...domain.documents import Kind, TrackingRef
from ...domain.money import money
from ...domain.reconciliation import OBJECT_SOURCES, ContactSum, ErpState, LineSum, XeroLineSum
from .plugin_tables import SyncRecordRow, XeroJournalLineRow, XeroLineSumRow
from .sqlalchemy_documents import SPECS, line_cents, scaled, unscaled

XERO_TYPES = {Kind.SALES_ORDERS: "ACCREC", Kind.PURCHASE_ORDERS: "ACCPAY",
              Kind.REFUNDS: "ACCRECCREDIT"}
DRAFT_STATUSES = ("DRAFT", "SUBMITTED")
IN_CHUNK = 500
log = logging.getLogger(__name__)


def summed_document_sums(session: Session, closing_date: date, period_start: date
                         ) -> tuple[list[LineSum], list[ContactSum]]:
    """DocumentSource.document_sums summed in SQL from every line (the reference: what
    document_sums.py keeps between calls, and what a small ERP gets on every call)."""
    lines_out: list[LineSum] = []
    totals_out: list[ContactSum] = []
    for kind in SPECS:
        lines, totals = kind_document_sums(session, kind, closing_date, period_start)
        lines_out.extend(lines)
        totals_out.extend(totals)
    return lines_out, totals_out


def kind_document_sums(session: Session, kind: Kind, closing_date: date, period_start: date
                       ) -> tuple[list[LineSum], list[ContactSum]]:
    lines_out: list[LineSum] = []
    totals_out: list[ContactSum] = []
    spec = SPECS[kind]
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


def sent_sums_afresh(session: Session, closing_date: date, period_start: date
                     ) -> tuple[list[LineSum], list[ContactSum]]:
    """The sums taken afresh from every synced record's `sent` JSON: what the kept sums
    (`sent_sums`) must always give; a check, and the tests' reference."""
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


# What was sent, kept: summed per day and per month by triggers on the records table (migration
# 0013). SQLite's row triggers add to the two sums tables as they write; PostgreSQL's statement
# triggers append signed deltas, which `_fold_sent_deltas` moves into the sums. A read takes the
# months before the closing date's month (and the financial year's first month, when the year
# starts in the middle of one) from the month rows, those months' days from the day rows, and
# adds the deltas not folded yet, all in one statement: one snapshot, whatever folds meanwhile.

_SENT_KEPT = """
SELECT doc_type, st, earlier, account, tracking, SUM(net), SUM(tax) FROM (
  SELECT doc_type, st, CASE WHEN period < :start_month THEN 1 ELSE 0 END AS earlier,
         account, tracking, lines, net, tax
  FROM accounts_sync_sent_line_sums
  WHERE grain = 'month' AND period < :closing_month AND period <> :start_partial
  UNION ALL
  SELECT doc_type, st, CASE WHEN period < :period_start THEN 1 ELSE 0 END,
         account, tracking, lines, net, tax
  FROM accounts_sync_sent_line_sums
  WHERE grain = 'day' AND period <= :closing_date
    AND substr(period, 1, 7) IN (:closing_month, :start_partial)
  UNION ALL
  SELECT doc_type, st, CASE WHEN day < :period_start THEN 1 ELSE 0 END,
         account, tracking, lines, net, tax
  FROM accounts_sync_sent_deltas WHERE day <= :closing_date) AS s
GROUP BY doc_type, st, earlier, account, tracking
HAVING SUM(lines) > 0
"""

_SENT_TOTALS_KEPT = """
SELECT doc_type, st, contact, MAX(contact_name), SUM(total) FROM (
  SELECT doc_type, st, contact, contact_name, SUM(total) AS total FROM (
    SELECT doc_type, st, contact, contact_name, lines, total FROM accounts_sync_sent_contact_sums
    WHERE grain = 'month' AND period < :closing_month AND doc_type <> ''
    UNION ALL
    SELECT doc_type, st, contact, contact_name, lines, total FROM accounts_sync_sent_contact_sums
    WHERE grain = 'day' AND period <= :closing_date AND substr(period, 1, 7) = :closing_month
      AND doc_type <> ''
    UNION ALL
    SELECT doc_type, st, contact, contact_name, lines, net + tax FROM accounts_sync_sent_deltas
    WHERE day <= :closing_date AND doc_type <> '') AS k
  GROUP BY doc_type, st, contact, contact_name
  HAVING SUM(lines) > 0) AS n
GROUP BY doc_type, st, contact
"""

# One statement (one snapshot): the deltas taken are exactly the deltas summed.
_FOLD_POSTGRESQL = """
WITH d AS (DELETE FROM accounts_sync_sent_deltas
           RETURNING day, doc_type, st, account, tracking, contact, contact_name, lines, net, tax),
g AS (SELECT CASE g.grain WHEN 'day' THEN d.day ELSE substr(d.day, 1, 7) END AS period,
             g.grain, d.* FROM d CROSS JOIN (VALUES ('day'), ('month')) AS g(grain)),
l AS (INSERT INTO accounts_sync_sent_line_sums AS s
        (grain, period, doc_type, st, account, tracking, lines, net, tax)
      SELECT grain, period, doc_type, st, account, tracking, SUM(lines), SUM(net), SUM(tax)
      FROM g GROUP BY grain, period, doc_type, st, account, tracking
      ON CONFLICT (grain, period, doc_type, st, account, tracking) DO UPDATE
      SET lines = s.lines + excluded.lines, net = s.net + excluded.net,
          tax = s.tax + excluded.tax)
INSERT INTO accounts_sync_sent_contact_sums AS s
  (grain, period, doc_type, st, contact, contact_name, lines, total)
SELECT grain, period, doc_type, st, contact, contact_name, SUM(lines), SUM(net + tax)
FROM g GROUP BY grain, period, doc_type, st, contact, contact_name
ON CONFLICT (grain, period, doc_type, st, contact, contact_name) DO UPDATE
SET lines = s.lines + excluded.lines, total = s.total + excluded.total
"""

# One folder at a time per schema (the others read sums plus deltas, as exact, and go on).
_FOLD_LOCK = ("SELECT pg_try_advisory_xact_lock(hashtext(current_schema()), "
              "hashtext('accounts_sync_sent_sums'))")


def _fold_sent_deltas(session: Session) -> None:
    """PostgreSQL: the committed deltas moved into the sums, in a short transaction of its own
    (a reconciliation's unit of work is read-only and rolled back; the fold must stay). Never
    needed for exactness (a read adds the deltas left), only to keep reads short."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite's triggers add to the sums directly
    if not session.scalar(text("SELECT EXISTS (SELECT 1 FROM accounts_sync_sent_deltas)")):
        return
    engine = bind if isinstance(bind, Engine) else bind.engine
    try:
        with engine.connect() as connection, connection.begin():
            # A TRUNCATE of the records this very session has not committed holds the sums:
            # give up rather than wait for ourselves.
            connection.execute(text("SET LOCAL lock_timeout = '2s'"))
            if connection.scalar(text(_FOLD_LOCK)):
                connection.execute(text(_FOLD_POSTGRESQL))
    except OperationalError:
        log.warning("the sent sums' deltas were not folded this time", exc_info=True)


def sent_sums(session: Session, closing_date: date, period_start: date
              ) -> tuple[list[LineSum], list[ContactSum]]:
    _fold_sent_deltas(session)
    closing_month, start_month = closing_date.isoformat()[:7], period_start.isoformat()[:7]
    params = {"closing_date": closing_date.isoformat(), "period_start": period_start.isoformat(),
              "closing_month": closing_month, "start_month": start_month,
              # the financial year's first month, when it starts in the middle of one
              "start_partial": start_month if period_start.day != 1 else closing_month}
    cache: dict[str, tuple[TrackingRef, ...]] = {}
    lines = [
        LineSum(doc_type, st, bool(early), account, _tracking(tracking, cache),
                unscaled(net, 2), unscaled(tax, 2))
        for doc_type, st, early, account, tracking, net, tax in session.execute(
            text(_SENT_KEPT), params)
    ]
    totals = [
        ContactSum(doc_type, st, contact, name, unscaled(total, 2))
        for doc_type, st, contact, name, total in session.execute(
            text(_SENT_TOTALS_KEPT), params)
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
        # A line no record claims has no contact: a claim moves it from ("", "") (see
        # claim_xero_journals).
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
        # A page read twice (two reconciliations at once, or again after a crash) adds nothing,
        # to the lines or to their sums: only the lines this insert wrote are summed.
        table = XeroJournalLineRow.__table__
        inserted = {(n, i) for n, i in session.execute(
            _insert(session)(table).on_conflict_do_nothing(
                index_elements=["journal_number", "line_no"])
            .returning(table.c.journal_number, table.c.line_no), rows)}
        deltas: _Deltas = defaultdict(lambda: [0, 0])
        for row in rows:
            if (row["journal_number"], row["line_no"]) in inserted:
                _count(deltas, row["journal_date"], row["account_code"],
                       row["record_erp_id"] is not None, row["contact"], row["contact_name"],
                       row["tracking"], row["amount"], 1)
        _add_to_sums(session, deltas)


def claim_xero_journals(session: Session) -> int:
    # Only the unclaimed sources some record names: what others posted (payments, most of
    # them) stays unclaimed for good, and is not looked up again at every reconciliation.
    x = XeroJournalLineRow
    unclaimed = [sid for (sid,) in session.execute(
        select(x.source_id).distinct()
        .where(x.record_erp_id.is_(None), x.source_type.in_(sorted(OBJECT_SOURCES)),
               x.source_id != "", exists().where(SyncRecordRow.xero_id == x.source_id)))]
    owners = _owners(session, unclaimed)
    table = XeroJournalLineRow.__table__
    deltas: _Deltas = defaultdict(lambda: [0, 0])
    for source_id, (kind, erp_id, contact, name) in owners.items():
        # Only lines still unclaimed when the update reaches them: a claim made meanwhile by
        # another reconciliation is not moved (nor summed) twice.
        moved = session.execute(
            table.update()
            .where(table.c.source_id == source_id, table.c.record_erp_id.is_(None))
            .values(record_kind=kind, record_erp_id=erp_id, contact=contact[:64],
                    contact_name=name[:255])
            .returning(table.c.journal_date, table.c.account_code, table.c.tracking,
                       table.c.amount)).all()
        for day, code, tracking, cents in moved:
            _count(deltas, day, code, False, "", "", tracking, cents, -1)
            _count(deltas, day, code, True, contact[:64], name[:255], tracking, cents, 1)
    _add_to_sums(session, deltas)
    return len(owners)


# The ledger's lines summed per day and per month (XeroLineSumRow), kept in the transaction that
# adds or claims them: a reconciliation reads the months before the closing date's month, and
# the days of that month up to the closing date (and those of a financial year starting in the
# middle of a month), a few thousand rows instead of every line.
DAY, MONTH = "day", "month"
_SumKey = tuple[str, date, str, bool, str, str, str]  # grain, period, account, ours, contact...
_Deltas = dict[_SumKey, list[int]]  # key → [lines, cents]


def _insert(session: Session) -> Any:
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _count(deltas: _Deltas, day: date, code: str, ours: bool, contact: str, name: str,
           tracking: str, cents: int, sign: int) -> None:
    for grain, period in ((DAY, day), (MONTH, day.replace(day=1))):
        found = deltas[(grain, period, code, ours, contact, name, tracking)]
        found[0] += sign
        found[1] += sign * cents


def _add_to_sums(session: Session, deltas: _Deltas) -> None:
    """Add to the sums, in one statement, in the order of their keys (two transactions adding
    to the same rows lock them in the same order: one waits, neither deadlocks)."""
    rows = [{"grain": grain, "period": period, "account_code": code, "ours": ours,
             "contact": contact, "contact_name": name, "tracking": tracking,
             "lines": lines, "amount": cents}
            for (grain, period, code, ours, contact, name, tracking), (lines, cents)
            in sorted(deltas.items()) if lines or cents]
    if not rows:
        return
    table = XeroLineSumRow.__table__
    stmt = _insert(session)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["grain", "period", "account_code", "ours", "contact", "contact_name",
                        "tracking"],
        set_={"lines": table.c.lines + stmt.excluded.lines,
              "amount": table.c.amount + stmt.excluded.amount})
    session.execute(stmt, rows)


def rebuild_xero_line_sums(session: Session) -> None:
    """The sums taken afresh from every line read (what the lines were written without:
    the benchmark writes its ledger straight into the table)."""
    x, table = XeroJournalLineRow, XeroLineSumRow.__table__
    session.execute(delete(table))
    deltas: _Deltas = defaultdict(lambda: [0, 0])
    ours = x.record_erp_id.is_not(None)
    for day, code, mine, contact, name, tracking, lines, cents in session.execute(
            select(x.journal_date, x.account_code, ours, x.contact, x.contact_name, x.tracking,
                   func.count(), func.sum(x.amount))
            .group_by(x.journal_date, x.account_code, ours, x.contact, x.contact_name,
                      x.tracking)):
        for grain, period in ((DAY, day), (MONTH, day.replace(day=1))):
            found = deltas[(grain, period, code, bool(mine), contact, name, tracking)]
            found[0] += int(lines)
            found[1] += int(cents)
    _add_to_sums(session, deltas)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def xero_line_sums(session: Session, closing_date: date, period_start: date) -> list[XeroLineSum]:
    s = XeroLineSumRow
    month = closing_date.replace(day=1)
    partial = {month} | ({period_start.replace(day=1)} if period_start.day != 1 else set())
    whole_months = and_(s.grain == MONTH, s.period < month, s.period.not_in(sorted(partial)))
    days = and_(s.grain == DAY, s.period <= closing_date, or_(*(
        and_(s.period >= first, s.period < _next_month(first)) for first in sorted(partial))))
    earlier = case((s.period < period_start, 1), else_=0)
    stmt = (select(s.account_code, earlier, s.ours, s.contact, func.max(s.contact_name),
                   s.tracking, func.sum(s.amount))
            .where(or_(whole_months, days), s.lines > 0)
            .group_by(s.account_code, earlier, s.ours, s.contact, s.tracking))
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
