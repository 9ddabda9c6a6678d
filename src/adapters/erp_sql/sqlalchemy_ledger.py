"""SyncLedger on the plugin's tables: sync records, runs and the per-kind marks."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    DateTime,
    Dialect,
    String,
    TextClause,
    cast,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...application.ports import XeroChange, XeroJournal, parse_record_cursor
from ...domain.corrections import Choice, CorrectionAction, Decision, SentState, XeroSeen
from ...domain.documents import Kind
from ...domain.errors import RunAlreadyActive, RunNotFound
from ...domain.journals import parse_journal_key
from ...domain.money import format_money
from ...domain.sync import (
    CorrectionLink,
    Failure,
    JournalMode,
    RefusedBy,
    RunState,
    SyncRecord,
    SyncRun,
    SyncState,
)
from . import sqlalchemy_reconciliation as reconciliation
from .plugin_tables import ACTIVE_RUN_STATES, MarkRow, RunRow, SyncRecordRow, XeroChangeRow, utcnow

IN_CHUNK = 500  # erp ids per IN (...) list


def _correction(row: SyncRecordRow) -> CorrectionLink | None:
    data = row.correction
    if not data or not row.original_kind or not row.action:
        return None
    previous = data.get("previous")
    return CorrectionLink(
        original_kind=Kind(row.original_kind),
        original_erp_id=row.original_erp_id or "",
        action=CorrectionAction(row.action),
        target_xero_id=data.get("target_xero_id", ""),
        net_change=Decimal(data.get("net_change", "0")),
        amount=Decimal(data.get("amount", "0")),
        due_before=None if data.get("due_before") is None else Decimal(data["due_before"]),
        day=date.fromisoformat(data["day"]) if data.get("day") else None,
        number=data.get("number", ""),
        document_type=data.get("document_type", ""),
        allocate_to=data.get("allocate_to", ""),
        previous=SentState.from_json(previous) if previous else None,
        reason=data.get("reason", ""),
    )


def _correction_values(link: CorrectionLink | None) -> dict[str, Any]:
    if link is None:
        return {"original_kind": None, "original_erp_id": None, "action": None, "correction": None}
    return {
        "original_kind": link.original_kind.value,
        "original_erp_id": link.original_erp_id,
        "action": link.action.value,
        "correction": {
            "target_xero_id": link.target_xero_id,
            "net_change": format_money(link.net_change),
            "amount": format_money(link.amount),
            "due_before": None if link.due_before is None else format_money(link.due_before),
            "day": link.day.isoformat() if link.day else None,
            "number": link.number,
            "document_type": link.document_type,
            "allocate_to": link.allocate_to,
            "previous": link.previous.to_json() if link.previous else None,
            "reason": link.reason,
        },
    }


def _decision(data: dict[str, Any] | None) -> Decision | None:
    if not data:
        return None
    return Decision(Choice(data["choice"]), data.get("fingerprint", ""), data.get("by", ""))


def _record(row: Any) -> SyncRecord:
    """A record from its row (an ORM row or a Core row: the same names)."""
    return SyncRecord(
        kind=Kind(row.kind),
        erp_id=row.erp_id,
        number=row.number,
        fingerprint=row.fingerprint,
        state=SyncState(row.state),
        idempotency_key=row.idempotency_key,
        xero_id=row.xero_id,
        attempts=row.attempts,
        last_error=row.last_error,
        run_id=row.run_id,
        synced_at=row.synced_at,
        refused_by=RefusedBy(row.refused_by) if row.refused_by else None,
        sent=SentState.from_json(sent) if (sent := getattr(row, "sent", None)) else None,
        xero_status=row.xero_status or "",
        xero_updated_at=row.xero_updated_at,
        xero_seen=XeroSeen.from_json(row.xero_seen),
        read_at=row.read_at,
        decision=_decision(row.decision),
        correction=_correction(row),
    )


def _record_values(record: SyncRecord, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {
        "number": record.number,
        "fingerprint": record.fingerprint,
        "state": record.state.value,
        "idempotency_key": record.idempotency_key,
        "xero_id": record.xero_id,
        "attempts": record.attempts,
        "last_error": record.last_error,
        "run_id": record.run_id,
        "synced_at": record.synced_at,
        "refused_by": record.refused_by.value if record.refused_by else "",
        "updated_at": now,
        "journal_date": None,
        "movement_type": None,
        "sent": record.sent.to_json() if record.sent else None,
        "xero_status": record.xero_status,
        "xero_updated_at": record.xero_updated_at,
        "xero_seen": record.xero_seen.to_json() if record.xero_seen else None,
        "read_at": record.read_at,
        "decision": ({"choice": record.decision.choice.value,
                      "fingerprint": record.decision.fingerprint, "by": record.decision.by}
                     if record.decision else None),
        **_correction_values(record.correction),
    }
    if record.kind is Kind.JOURNALS:
        try:
            day, movement = parse_journal_key(record.erp_id)
        except ValueError:
            pass  # not a journal key: kept, but never matches a cost entry
        else:
            values["journal_date"], values["movement_type"] = day, movement.value
    return values


def _run(row: RunRow) -> SyncRun:
    return SyncRun(
        id=row.id,
        kind=Kind(row.kind),
        closing_date=row.closing_date,
        requested_by=row.requested_by,
        state=RunState(row.state),
        mode=JournalMode(row.mode) if row.mode else None,
        total=row.total,
        done=row.done,
        created=row.created,
        failed=row.failed,
        message=row.message,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
        failures=tuple(_failure(item) for item in row.failures or ()),
        note=row.note or "",
    )


def _failure(item: Sequence[Any]) -> Failure:
    number, reason = str(item[0]), str(item[1])
    by = str(item[2]) if len(item) > 2 and item[2] else RefusedBy.XERO.value
    return Failure(number, reason, by)


class _RowsUpsert:
    """The upsert of a batch of records as ONE statement with ONE parameter: the rows as a JSON
    array, unpacked by the database (PostgreSQL's json_to_recordset, SQLite's json_each) and
    inserted with ON CONFLICT (kind, erp_id) DO UPDATE. Its text is the same whatever the batch
    size, so the driver parses it once and PostgreSQL prepares it once; json.dumps packs the
    values in C. Each value is first converted as SQLAlchemy binds it (UTC datetimes stored
    naive, in SQLite's text format there), JSON columns as the text json.dumps gives them
    (None as JSON null, as the JSON type binds it)."""

    def __init__(self, dialect: Dialect, names: tuple[str, ...]) -> None:
        table = SyncRecordRow.__table__
        quote = dialect.identifier_preparer.quote
        postgresql = dialect.name == "postgresql"
        self.names = names
        self.converters: list[Callable[[Any], Any] | None] = []
        selected, fields = [], []
        for name in names:
            column = table.c[name]
            quoted = quote(name)
            if isinstance(column.type, JSON):
                self.converters.append(json.dumps)
                sql_type = "text"
            else:
                bind = column.type.dialect_impl(dialect).bind_processor(dialect)
                self.converters.append(_iso(bind) if postgresql and _is_temporal(column) else bind)
                sql_type = column.type.compile(dialect=dialect)
            if postgresql:
                fields.append(f"{quoted} {sql_type}")
                selected.append(f"CAST(v.{quoted} AS json)" if isinstance(column.type, JSON)
                                else f"v.{quoted}")
            else:
                selected.append(f"json_extract(v.value, '$[{len(selected)}]')")
        listed = ", ".join(quote(name) for name in names)
        updates = ", ".join(f"{quote(name)} = excluded.{quote(name)}"
                            for name in names if name not in ("kind", "erp_id"))
        if postgresql:
            rows = f"json_to_recordset(CAST(:rows AS json)) AS v({', '.join(fields)})"
            where = ""
        else:
            rows, where = "json_each(:rows) AS v", " WHERE true"  # WHERE: SQLite's upsert grammar
        self.objects = postgresql  # PostgreSQL reads the rows as objects, SQLite as arrays
        # Only the table's own column names go into the text; the values are one parameter.
        self.sql = (
            f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({listed}) "  # noqa: S608
            f"SELECT {', '.join(selected)} FROM {rows}{where} "
            f"ON CONFLICT (kind, erp_id) DO UPDATE SET {updates}"
        )
        self.statement: TextClause = text(self.sql)

    def parameter(self, rows: list[dict[str, Any]]) -> str:
        pairs = list(zip(self.names, self.converters, strict=True))
        if self.objects:
            return json.dumps([{name: row[name] if convert is None else convert(row[name])
                                for name, convert in pairs} for row in rows])
        return json.dumps([[row[name] if convert is None else convert(row[name])
                            for name, convert in pairs] for row in rows])


def _is_temporal(column: Any) -> bool:
    kind = getattr(column.type, "impl_instance", column.type)  # a TypeDecorator's own type
    return isinstance(kind, Date | DateTime)


def _iso(bind: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        return (value if bind is None else bind(value)).isoformat()
    return convert


@lru_cache(maxsize=8)
def _rows_upsert(dialect: Dialect, names: tuple[str, ...]) -> _RowsUpsert:
    return _RowsUpsert(dialect, names)


class SqlSyncLedger:
    """Built per unit of work on its session; never opens, commits or closes it."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ------------------------------------------------------------ records

    def _record_rows(self, *where: Any, lines: bool = True) -> list[Any]:
        """Rows of the records table as plain Core rows: read-only, no ORM identity map to fill
        (a plan reads thousands of records; only their values are wanted)."""
        table = SyncRecordRow.__table__
        columns = table.c if lines else [c for c in table.c if c.name != "sent"]
        stmt = select(*columns).where(*where)
        return list(self.session.execute(stmt))

    def records(self, kind: Kind, erp_ids: Sequence[str], lines: bool = True
                ) -> dict[str, SyncRecord]:
        ids = list(dict.fromkeys(erp_ids))
        found: dict[str, SyncRecord] = {}
        for start in range(0, len(ids), IN_CHUNK):
            rows = self._record_rows(
                SyncRecordRow.kind == kind.value,
                SyncRecordRow.erp_id.in_(ids[start:start + IN_CHUNK]),
                lines=lines,
            )
            found.update((row.erp_id, _record(row)) for row in rows)
        return found

    def save_records(self, records: Sequence[SyncRecord]) -> None:
        """Upsert: one INSERT ... ON CONFLICT (kind, erp_id) DO UPDATE for the lot (a batch of
        50 is one statement), on PostgreSQL and SQLite alike; the columns are `_record_values`,
        so a new column is written by adding it there."""
        if not records:
            return
        latest: dict[tuple[Kind, str], SyncRecord] = {}
        for record in records:
            latest[(record.kind, record.erp_id)] = record  # the last one given wins
        now = utcnow()
        rows = [{"kind": kind.value, "erp_id": erp_id, **_record_values(record, now)}
                for (kind, erp_id), record in latest.items()]
        upsert = _rows_upsert(self.session.get_bind().dialect, tuple(rows[0]))
        self.session.execute(upsert.statement, {"rows": upsert.parameter(rows)})

    def in_flight(self, kind: Kind) -> list[SyncRecord]:
        rows = self._record_rows(
            SyncRecordRow.kind == kind.value, SyncRecordRow.state == SyncState.IN_FLIGHT.value
        )
        return [_record(row) for row in sorted(rows, key=lambda r: r.id)]

    def failed(self, kind: Kind, limit: int) -> list[SyncRecord]:
        stmt = (
            select(SyncRecordRow)
            .where(SyncRecordRow.kind == kind.value, SyncRecordRow.state == SyncState.FAILED.value)
            .order_by(SyncRecordRow.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        return [_record(row) for row in self.session.scalars(stmt)]

    def records_for_run(self, run_id: int, limit: int, after: str | None = None) -> list[SyncRecord]:
        """Records last touched by a run, in the natural order of their numbers (PO-9 before
        PO-10: shorter numbers first, then as text), after a `record_cursor`."""
        r = SyncRecordRow
        length = func.length(r.number)
        stmt = select(r).where(r.run_id == run_id)
        if after is not None:
            kind, number, erp_id = parse_record_cursor(after)
            stmt = stmt.where(or_(
                r.kind > kind,
                (r.kind == kind) & (length > len(number)),
                (r.kind == kind) & (length == len(number)) & (r.number > number),
                (r.kind == kind) & (length == len(number)) & (r.number == number) & (r.erp_id > erp_id),
            ))
        stmt = stmt.order_by(r.kind, length, r.number, r.erp_id).limit(limit)
        return [_record(row) for row in self.session.scalars(stmt)]

    def unsettled(self) -> dict[Kind, tuple[int, int]]:
        r = SyncRecordRow
        stmt = (select(r.kind, r.state, func.count())
                .where(r.state.in_((SyncState.FAILED.value, SyncState.IN_FLIGHT.value)))
                .group_by(r.kind, r.state))
        counts: dict[Kind, list[int]] = {}
        for kind, state, n in self.session.execute(stmt):
            slot = counts.setdefault(Kind(kind), [0, 0])
            slot[0 if state == SyncState.FAILED.value else 1] += int(n)
        return {kind: (failed, in_flight) for kind, (failed, in_flight) in counts.items()}

    # ------------------------------------------------------------ books over time

    def corrections_of(
        self, originals: Sequence[tuple[Kind, str]]
    ) -> dict[tuple[Kind, str], list[SyncRecord]]:
        by_kind: dict[Kind, list[str]] = defaultdict(list)
        for kind, erp_id in dict.fromkeys(originals):
            by_kind[kind].append(erp_id)
        found: dict[tuple[Kind, str], list[SyncRecord]] = defaultdict(list)
        for kind, ids in by_kind.items():
            for start in range(0, len(ids), IN_CHUNK):
                rows = self._record_rows(
                    SyncRecordRow.kind == Kind.CORRECTIONS.value,
                    SyncRecordRow.original_kind == kind.value,
                    SyncRecordRow.original_erp_id.in_(ids[start:start + IN_CHUNK]),
                )
                for row in sorted(rows, key=lambda r: r.id):
                    found[(kind, row.original_erp_id or "")].append(_record(row))
        return dict(found)

    def synced_journals(self, closing_date: date) -> dict[str, str]:
        stmt = select(SyncRecordRow.erp_id, SyncRecordRow.fingerprint).where(
            SyncRecordRow.kind == Kind.JOURNALS.value,
            SyncRecordRow.state == SyncState.SYNCED.value,
            SyncRecordRow.journal_date <= closing_date,
        )
        return dict(sorted(self.session.execute(stmt).tuples()))

    def sent_unknown(self, kind: Kind, erp_ids: Sequence[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(erp_ids))
        r = SyncRecordRow
        found: dict[str, str] = {}
        for start in range(0, len(ids), IN_CHUNK):
            found.update(self.session.execute(
                select(r.erp_id, r.number).where(
                    r.kind == kind.value, r.erp_id.in_(ids[start:start + IN_CHUNK]),
                    # None is stored as JSON null by the upserts, as SQL NULL by older rows.
                    or_(r.sent.is_(None), cast(r.sent, String) == "null"))).tuples().all())
        return found

    def records_by_xero_id(self, xero_ids: Sequence[str]) -> dict[str, SyncRecord]:
        ids = list(dict.fromkeys(i for i in xero_ids if i))
        found: dict[str, SyncRecord] = {}
        for start in range(0, len(ids), IN_CHUNK):
            rows = self._record_rows(SyncRecordRow.xero_id.in_(ids[start:start + IN_CHUNK]))
            # An original wins over a correction that names the same object (an update).
            for row in sorted(rows, key=lambda r: r.kind != Kind.CORRECTIONS.value):
                found[row.xero_id or ""] = _record(row)
        return found

    def mark_read(self, kind: Kind, erp_ids: Sequence[str], at: datetime) -> None:
        ids = list(dict.fromkeys(erp_ids))
        for start in range(0, len(ids), IN_CHUNK):
            self.session.execute(
                update(SyncRecordRow)
                .where(SyncRecordRow.kind == kind.value, SyncRecordRow.state == SyncState.SYNCED.value,
                       SyncRecordRow.erp_id.in_(ids[start:start + IN_CHUNK]))
                .values(read_at=at)
                .execution_options(synchronize_session=False))

    def first_synced_at(self) -> datetime | None:
        return self.session.scalar(select(func.min(SyncRecordRow.synced_at)))

    # Reconciliation (sqlalchemy_reconciliation does the sums).

    def sent_sums(self, closing_date: date, period_start: date) -> tuple[list, list]:
        return reconciliation.sent_sums(self.session, closing_date, period_start)

    def xero_journal_offset(self) -> int:
        return reconciliation.xero_journal_offset(self.session)

    def save_xero_journals(self, journals: Sequence[XeroJournal]) -> None:
        reconciliation.save_xero_journals(self.session, journals)

    def claim_xero_journals(self) -> int:
        return reconciliation.claim_xero_journals(self.session)

    def xero_line_sums(self, closing_date: date, period_start: date) -> list:
        return reconciliation.xero_line_sums(self.session, closing_date, period_start)

    def xero_source_sums(self, source_ids: Sequence[str]) -> dict[str, dict[str, Decimal]]:
        return reconciliation.xero_source_sums(self.session, source_ids)

    def xero_journal_entries(self, closing_date: date, account_code: str, others_only: bool,
                             limit: int) -> list[XeroJournal]:
        return reconciliation.xero_journal_entries(self.session, closing_date, account_code,
                                                   others_only, limit)

    def save_xero_changes(self, changes: Sequence[XeroChange]) -> None:
        now = utcnow()
        for change in changes:
            row = self.session.scalar(select(XeroChangeRow).where(
                XeroChangeRow.kind == change.kind.value, XeroChangeRow.xero_id == change.xero_id))
            if row is None:
                row = XeroChangeRow(kind=change.kind.value, xero_id=change.xero_id)
                self.session.add(row)
            row.number = change.number[:255]
            row.status = change.status
            row.document_type = change.document_type
            row.total = change.total
            row.updated_at = change.updated_at
            row.seen_at = now
            row.record_erp_id = change.record_erp_id
            row.web_url = change.web_url[:500]
            row.summary = change.summary
        self.session.flush()

    def xero_changes(self, limit: int, ours_only: bool = False) -> list[XeroChange]:
        stmt = select(XeroChangeRow).order_by(XeroChangeRow.updated_at.desc(),
                                              XeroChangeRow.id.desc()).limit(limit)
        if ours_only:
            stmt = stmt.where(XeroChangeRow.record_erp_id.is_not(None))
        return [
            XeroChange(Kind(row.kind), row.xero_id, row.number, row.status,
                       Decimal(row.total), row.updated_at, row.web_url, row.record_erp_id,
                       row.summary, row.document_type)
            for row in self.session.scalars(stmt)
        ]

    # ------------------------------------------------------------ runs

    def claim_run(
        self,
        kind: Kind,
        closing_date: date,
        requested_by: str,
        mode: JournalMode | None,
        at: datetime,
    ) -> SyncRun:
        for _attempt in range(3):
            row = RunRow(
                kind=kind.value,
                closing_date=closing_date,
                mode=mode.value if mode else None,
                requested_by=requested_by,
                state=RunState.QUEUED.value,
                total=0, done=0, created=0, failed=0, message="", failures=[],
                created_at=at,
            )
            try:
                # The partial unique index on kind (state queued or running) decides, in any
                # process; the savepoint keeps the caller's transaction usable after a refusal.
                with self.session.begin_nested():
                    self.session.add(row)
            except IntegrityError:
                active = self.session.scalar(
                    select(RunRow.id).where(RunRow.kind == kind.value,
                                            RunRow.state.in_(ACTIVE_RUN_STATES))
                )
                if active is not None:
                    raise RunAlreadyActive(active, kind.value) from None
                # The run in the way finished between our insert and this look-up: try again
                # rather than name a run that is no longer active (or no run at all).
                continue
            return _run(row)
        raise RunAlreadyActive(0, kind.value)

    def _run_row(self, run_id: int) -> RunRow:
        row = self.session.get(RunRow, run_id, populate_existing=True)
        if row is None:
            raise RunNotFound(run_id)
        return row

    def get_run(self, run_id: int) -> SyncRun:
        return _run(self._run_row(run_id))

    def save_run(self, run: SyncRun) -> None:
        row = self._run_row(run.id)
        row.kind = run.kind.value
        row.closing_date = run.closing_date
        row.requested_by = run.requested_by
        row.state = run.state.value
        row.mode = run.mode.value if run.mode else None
        row.total, row.done, row.created, row.failed = run.total, run.done, run.created, run.failed
        row.message = run.message
        row.note = run.note
        row.failures = [list(failure) for failure in run.failures]
        if run.created_at is not None:
            row.created_at = run.created_at
        row.started_at = run.started_at
        row.finished_at = run.finished_at
        row.heartbeat_at = run.heartbeat_at
        self.session.flush()

    def active_run(self, kind: Kind) -> SyncRun | None:
        row = self.session.scalar(
            select(RunRow)
            .where(RunRow.kind == kind.value, RunRow.state.in_(ACTIVE_RUN_STATES))
            .execution_options(populate_existing=True)
        )
        return _run(row) if row is not None else None

    def last_runs(self) -> dict[Kind, SyncRun]:
        latest = select(func.max(RunRow.id)).group_by(RunRow.kind)
        rows = self.session.scalars(select(RunRow).where(RunRow.id.in_(latest))
                                    .execution_options(populate_existing=True))
        return {Kind(row.kind): _run(row) for row in rows}

    def note_run(self, run_id: int, note: str) -> None:
        self._conditional_update(run_id, [], {"note": note[:1000]})

    def list_runs(self, limit: int, before_id: int | None = None) -> list[SyncRun]:
        stmt = select(RunRow).order_by(RunRow.id.desc()).limit(limit)
        if before_id is not None:
            stmt = stmt.where(RunRow.id < before_id)
        return [_run(row) for row in self.session.scalars(stmt.execution_options(populate_existing=True))]

    # ------------------------------------------------------------ marks

    def last_synced_up_to(self, kind: Kind) -> date | None:
        return self.session.scalar(select(MarkRow.last_synced_up_to).where(MarkRow.kind == kind.value))

    def set_last_synced_up_to(self, kind: Kind, day: date) -> None:
        row = self.session.get(MarkRow, kind.value)
        if row is None:
            self.session.add(MarkRow(kind=kind.value, last_synced_up_to=day))
        else:
            row.last_synced_up_to = day
        self.session.flush()

    # ------------------------------------------------------------ workers and stuck runs

    @staticmethod
    def _last_sign_of_life() -> ColumnElement[Any]:
        return func.coalesce(RunRow.heartbeat_at, RunRow.created_at)

    def _conditional_update(self, run_id: int, where: list[Any], values: dict[str, Any]) -> bool:
        """One UPDATE ... WHERE: the database decides between racing workers (PostgreSQL
        re-checks the condition after a concurrent update commits; SQLite writes one at a time)."""
        stmt = (
            update(RunRow)
            .where(RunRow.id == run_id, RunRow.state.in_(ACTIVE_RUN_STATES), *where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return self.session.execute(stmt).rowcount == 1

    def stale_runs(self, stale_before: datetime) -> list[SyncRun]:
        stmt = (
            select(RunRow)
            .where(RunRow.state.in_(ACTIVE_RUN_STATES), self._last_sign_of_life() < stale_before)
            .order_by(RunRow.id)
            .execution_options(populate_existing=True)
        )
        return [_run(row) for row in self.session.scalars(stmt)]

    def take_run(self, run_id: int, owner: str, at: datetime, stale_before: datetime) -> SyncRun | None:
        free = or_(
            (RunRow.owner.is_(None)) & (RunRow.state == RunState.QUEUED.value),
            RunRow.owner == owner,
            self._last_sign_of_life() < stale_before,
        )
        if not self._conditional_update(run_id, [free], {"owner": owner, "heartbeat_at": at}):
            return None
        return self.get_run(run_id)

    def beat_run(self, run_id: int, owner: str, at: datetime) -> bool:
        return self._conditional_update(run_id, [RunRow.owner == owner], {"heartbeat_at": at})

    def seize_stale_run(
        self, run_id: int, stale_before: datetime, at: datetime, owner: str | None
    ) -> SyncRun | None:
        stale = self._last_sign_of_life() < stale_before
        if not self._conditional_update(run_id, [stale], {"owner": owner, "heartbeat_at": at}):
            return None
        return self.get_run(run_id)
