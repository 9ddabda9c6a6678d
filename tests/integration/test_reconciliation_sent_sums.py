"""What the synced records sent, summed as reconciliation reads it from the sums kept by the
records table's triggers (migration 0013), is exactly what summing every record's `sent` JSON
afresh gives (`sent_sums_afresh`, the query reconciliation ran before), whatever wrote the
records: the sync's batch upsert, plain updates of many rows at once (state, Xero's status, the
JSON, the kind), deletes, a TRUNCATE, a rolled-back unit of work, two writers at once and
readers folding PostgreSQL's deltas at the same time (SQLite and PostgreSQL).
"""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import case, delete, func, null, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from accounts_sync.adapters.erp_sql import migrate
from accounts_sync.adapters.erp_sql.engine import make_engine, make_session_factory
from accounts_sync.adapters.erp_sql.plugin_tables import (
    SentContactSumRow,
    SentDeltaRow,
    SentLineSumRow,
    SyncRecordRow,
)
from accounts_sync.adapters.erp_sql.sqlalchemy_ledger import SqlSyncLedger
from accounts_sync.adapters.erp_sql.sqlalchemy_reconciliation import (
    _FOLD_LOCK,
    _FOLD_POSTGRESQL,
    sent_sums,
    sent_sums_afresh,
)
from accounts_sync.domain.corrections import SentLine, SentState
from accounts_sync.domain.documents import Kind, TrackingRef
from accounts_sync.domain.sync import SyncRecord, SyncState

D = Decimal
AT = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
FIRST_DAY = date(2025, 5, 20)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(0, 430, 11)]
ACCOUNTS = ("200", "310", "610", "800")
OPTIONS = ((), (TrackingRef("Brand", "Estate"),),
           (TrackingRef("Vintage", "2024"), TrackingRef("Brand", "Reserve")))
CONTACTS = (("customer:1", "Harbour"), ("customer:1", "Harbour Wines"), ("customer:2", "Cellar"),
            ("supplier:7", "Glass Co"))
STATUSES = ("AUTHORISED", "DRAFT", "SUBMITTED", "PAID", "POSTED", "")
KINDS = (Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS, Kind.REFUNDS, Kind.JOURNALS)
DOC_TYPES = {Kind.SALES_ORDERS: "ACCREC", Kind.PURCHASE_ORDERS: "ACCPAY",
             Kind.REFUNDS: "ACCRECCREDIT", Kind.JOURNALS: ""}
STATES = (SyncState.SYNCED, SyncState.SYNCED, SyncState.SYNCED, SyncState.IN_FLIGHT,
          SyncState.FAILED, SyncState.PENDING)
# (closing date, first day of its financial year): month ends, mid-month closings, a year that
# starts in the middle of a month, a closing before every record and one after them all.
CUTS = [(date(2026, 6, 30), date(2025, 7, 1)), (date(2026, 3, 14), date(2025, 7, 1)),
        (date(2025, 12, 31), date(2025, 7, 1)), (date(2026, 2, 10), date(2025, 10, 16)),
        (date(2025, 9, 3), date(2025, 8, 16)), (date(2025, 1, 31), date(2024, 7, 1)),
        (date(2027, 1, 1), date(2026, 7, 1)), (date(2025, 5, 20), date(2025, 5, 20))]
RECORDS = SyncRecordRow.__table__


def assert_sent_exact(session: Session) -> None:
    for closing, start in CUTS:
        kept_lines, kept_totals = sent_sums(session, closing, start)
        lines, totals = sent_sums_afresh(session, closing, start)
        assert sorted(kept_lines, key=repr) == sorted(lines, key=repr), (closing, start)
        assert sorted(kept_totals, key=repr) == sorted(totals, key=repr), (closing, start)


def assert_exact(uow_factory) -> None:
    with uow_factory() as uow:
        assert_sent_exact(uow.session)


def sent_state(rnd: random.Random, kind: Kind) -> SentState:
    lines = tuple(SentLine(rnd.choice(ACCOUNTS), D(rnd.randint(-30000, 90000)) / 100,
                           D(rnd.randint(0, 9000)) / 100, "OUTPUT2", rnd.choice(OPTIONS))
                  for _ in range(rnd.choice((0, 1, 1, 2, 3, 5))))  # 0: voided, counts nothing
    contact, name = rnd.choice(CONTACTS)
    return SentState(rnd.choice(DAYS), lines, contact=contact, contact_name=name,
                     document_type=DOC_TYPES[kind],
                     line_amount_types=rnd.choice(("Exclusive", "Inclusive")))


def a_record(rnd: random.Random, n: int) -> SyncRecord:
    kind = rnd.choice(KINDS)
    return changed(rnd, SyncRecord(kind, str(n), f"N-{n}", "f" * 64))


def synced_with_lines(rnd: random.Random, n: int) -> SyncRecord:
    kind = rnd.choice(KINDS[:3])
    sent = sent_state(rnd, kind)
    while not sent.lines:
        sent = sent_state(rnd, kind)
    return SyncRecord(kind, str(n), f"N-{n}", "f" * 64, state=SyncState.SYNCED, sent=sent,
                      xero_id=f"x-{n}", xero_status=rnd.choice(STATUSES), synced_at=AT)


def changed(rnd: random.Random, record: SyncRecord) -> SyncRecord:
    """The record in another state, with another Xero status, and maybe what it sent."""
    sent = record.sent
    if sent is None or rnd.random() < 0.5:
        sent = None if rnd.random() < 0.1 else sent_state(rnd, record.kind)
    return replace(record, state=rnd.choice(STATES), xero_status=rnd.choice(STATUSES),
                   sent=sent, xero_id=f"x-{record.erp_id}", synced_at=AT)


def mutate(rnd: random.Random, session: Session, known: dict[str, SyncRecord],
           counter: list[int]) -> str:
    """One random change to the records, by the sync's own path or by plain SQL."""
    ledger = SqlSyncLedger(session)
    ids = sorted(known)
    some = rnd.sample(ids, min(len(ids), rnd.randint(1, 6))) if ids else []
    action = rnd.choice(["batch", "batch", "batch", "state", "status", "sent", "kind", "delete",
                         "read", "null"])
    if action == "batch" or not ids:  # new records and changed ones, in ONE statement
        batch = []
        for _ in range(rnd.randint(1, 6)):
            counter[0] += 1
            batch.append(a_record(rnd, counter[0]))
        batch += [changed(rnd, known[i]) for i in some]
        ledger.save_records(batch)
        known.update((r.erp_id, r) for r in batch)
        return "batch"
    where = RECORDS.c.erp_id.in_(some)
    if action == "state":
        session.execute(update(RECORDS).where(where).values(
            state=rnd.choice(["synced", "failed", "in_flight"])))
    elif action == "status":
        session.execute(update(RECORDS).where(where).values(xero_status=rnd.choice(STATUSES)))
    elif action == "sent":
        for erp_id in some:
            sent = sent_state(rnd, known[erp_id].kind)
            session.execute(update(RECORDS).where(RECORDS.c.erp_id == erp_id).values(
                sent=sent.to_json()))
            known[erp_id] = replace(known[erp_id], sent=sent)
    elif action == "kind":  # a correction's record, or back (erp ids are unique across kinds)
        session.execute(update(RECORDS).where(where).values(kind=case_kind()))
    elif action == "delete":
        session.execute(delete(RECORDS).where(where))
        for erp_id in some:
            known.pop(erp_id)
    elif action == "read":  # what the preview writes: nothing the sums look at
        session.execute(update(RECORDS).where(where).values(read_at=AT))
    else:  # `sent` as SQL NULL and as JSON null
        session.execute(update(RECORDS).where(where).values(
            sent=rnd.choice([null(), None])))
    return action


def case_kind():
    return case((RECORDS.c.kind == "corrections", "sales_orders"), else_="corrections")


def kept_rows(session: Session) -> int:
    return (session.scalar(select(func.count()).select_from(SentLineSumRow))
            + session.scalar(select(func.count()).select_from(SentContactSumRow))
            + session.scalar(select(func.count()).select_from(SentDeltaRow)))


def test_the_kept_sent_sums_are_the_records_summed_whatever_changed(uow_factory):
    rnd = random.Random(11)
    known: dict[str, SyncRecord] = {}
    counter = [0]
    seen = set()
    for step in range(60):
        with uow_factory() as uow:
            for _ in range(rnd.randint(1, 3)):
                seen.add(mutate(rnd, uow.session, known, counter))
            uow.commit()
        with uow_factory() as uow:
            assert_sent_exact(uow.session), step
    assert seen >= {"batch", "state", "status", "sent", "kind", "delete", "read", "null"}
    with uow_factory() as uow:  # the sums were really there, and summed something
        lines, totals = sent_sums(uow.session, date(2027, 1, 1), date(2026, 7, 1))
        assert lines and totals and kept_rows(uow.session)
        assert {s.state for s in lines} == {"draft", "posted"}


def test_a_rolled_back_unit_of_work_leaves_no_sum_behind_and_reads_its_own_changes(uow_factory):
    rnd = random.Random(12)
    known: dict[str, SyncRecord] = {}
    counter = [0]
    with uow_factory() as uow:
        for _ in range(8):
            mutate(rnd, uow.session, known, counter)
        uow.commit()
    with uow_factory() as uow:
        before = sent_sums(uow.session, date(2027, 1, 1), date(2025, 7, 1))
    with uow_factory() as uow:
        for _ in range(8):
            mutate(rnd, uow.session, dict(known), counter)
        assert_sent_exact(uow.session)  # its own changes, not committed, read as they stand
        assert sent_sums(uow.session, date(2027, 1, 1), date(2025, 7, 1)) != before
        # and no commit: rolled back
    assert_exact(uow_factory)
    with uow_factory() as uow:
        assert sent_sums(uow.session, date(2027, 1, 1), date(2025, 7, 1)) == before


def test_emptying_the_records_empties_the_sums(uow_factory, clean_db):
    rnd = random.Random(13)
    known: dict[str, SyncRecord] = {}
    counter = [0]
    for statement in ("TRUNCATE TABLE accounts_sync_sync_records",
                      # the records and the sums at once, as bench/datasets.reset_plugin_state
                      "TRUNCATE TABLE accounts_sync_sync_records, accounts_sync_sent_line_sums, "
                      "accounts_sync_sent_deltas, accounts_sync_sent_contact_sums",
                      "DELETE FROM accounts_sync_sync_records"):
        with uow_factory() as uow:
            for _ in range(6):
                mutate(rnd, uow.session, known, counter)
            uow.commit()
        with uow_factory() as uow:
            assert sent_sums(uow.session, date(2027, 1, 1), date(2025, 7, 1))[0]
        if clean_db.dialect.name == "sqlite" and statement.startswith("TRUNCATE"):
            statement = "DELETE FROM accounts_sync_sync_records"  # SQLite has no TRUNCATE
        with clean_db.begin() as connection:
            connection.execute(text(statement))
        known.clear()
        with uow_factory() as uow:
            assert sent_sums(uow.session, date(2027, 1, 1), date(2025, 7, 1)) == ([], [])
            assert_sent_exact(uow.session)


def test_two_writers_at_once_neither_wait_nor_count_twice(uow_factory, clean_db):
    """PostgreSQL: two units of work write records summed under the same keys (same days,
    accounts, contacts), interleaved, while others read (and fold) between their statements;
    none may wait for another (a lock wait fails the test after 5 s instead of hanging).
    SQLite runs one unit of work at a time: the two write one after the other."""
    rnd = random.Random(14)
    postgresql = clean_db.dialect.name == "postgresql"
    counter = [0]

    def batch() -> list[SyncRecord]:
        """Records summed under the very same keys as the other writer's, and some others."""
        out = []
        for n in range(5):
            counter[0] += 1
            record = replace(a_record(rnd, counter[0]), state=SyncState.SYNCED)
            if n < 3:
                record = replace(record, kind=Kind.SALES_ORDERS, xero_status="AUTHORISED",
                                 sent=SentState(DAYS[3], (SentLine("200", D(rnd.randint(1, 999)),
                                                                   D("1.50")),),
                                                contact="customer:1", contact_name="Harbour",
                                                document_type="ACCREC"))
            out.append(record)
        return out

    if not postgresql:
        for _ in range(2):
            with uow_factory() as uow:
                for _ in range(4):
                    uow.ledger.save_records(batch())
                uow.commit()
            assert_exact(uow_factory)
        return
    first, second = uow_factory(), uow_factory()
    first.__enter__()
    second.__enter__()
    try:
        for uow in (first, second):
            uow.session.execute(text("SET lock_timeout = '5s'"))
        for _ in range(4):
            for uow in (first, second):
                uow.ledger.save_records(batch())
                assert_exact(uow_factory)  # neither committed yet: neither counted
        first.commit()
        assert_exact(uow_factory)
        second.ledger.save_records(batch())
        second.commit()
    finally:
        first.__exit__(None, None, None)
        second.__exit__(None, None, None)
    assert_exact(uow_factory)
    with uow_factory() as uow:
        assert len(sent_sums(uow.session, date(2027, 1, 1), date(2025, 7, 1))[0]) > 5


def test_readers_folding_beside_writers_count_each_change_once(uow_factory, clean_db):
    """Writers commit batches while readers read (and fold PostgreSQL's deltas) in threads."""
    errors: list[BaseException] = []
    counter = [0]
    lock = threading.Lock()

    def writer(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            for _ in range(12):
                with lock:
                    start = counter[0]
                    counter[0] += 4
                with uow_factory() as uow:
                    batch = [a_record(rnd, start + i) for i in range(4)]
                    uow.ledger.save_records(batch)
                    uow.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(12):
                with uow_factory() as uow:
                    sent_sums(uow.session, date(2026, 3, 14), date(2025, 7, 1))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in (21, 22)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    assert_exact(uow_factory)


def test_a_fold_under_way_elsewhere_is_neither_waited_for_nor_counted_twice(uow_factory,
                                                                            clean_db):
    """PostgreSQL: while another transaction holds the fold (its lock taken, its deltas moved,
    not committed), a reader reads the sums plus the deltas it still sees: exact, without
    waiting; once the other commits, exact again, and the deltas are gone."""
    rnd = random.Random(15)
    postgresql = clean_db.dialect.name == "postgresql"
    known: dict[str, SyncRecord] = {}
    counter = [0]
    with uow_factory() as uow:
        for _ in range(6):
            mutate(rnd, uow.session, known, counter)
        uow.ledger.save_records([synced_with_lines(rnd, 1000 + n) for n in range(5)])
        uow.commit()
    if not postgresql:  # SQLite's triggers add to the sums themselves: never a delta
        with uow_factory() as uow:
            assert uow.session.scalar(select(func.count()).select_from(SentDeltaRow)) == 0
        assert_exact(uow_factory)
        return
    with clean_db.connect() as other:
        other.begin()
        assert other.scalar(text(_FOLD_LOCK))
        with uow_factory() as uow:
            deltas = uow.session.scalar(select(func.count()).select_from(SentDeltaRow))
        assert deltas
        other.execute(text(_FOLD_POSTGRESQL))
        with uow_factory() as uow:
            uow.session.execute(text("SET lock_timeout = '5s'"))
            assert sent_sums_afresh(uow.session, date(2027, 1, 1), date(2025, 7, 1))[1]
            assert_sent_exact(uow.session)
            assert uow.session.scalar(select(func.count()).select_from(SentDeltaRow)) == deltas
        other.commit()
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(SentDeltaRow)) == 0
        assert_sent_exact(uow.session)
    with uow_factory() as uow:  # and a reader folds what writers appended since
        mutate(rnd, uow.session, known, counter)
        uow.commit()
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(SentDeltaRow))
        assert_sent_exact(uow.session)
        assert uow.session.scalar(select(func.count()).select_from(SentDeltaRow)) == 0


@pytest.mark.parametrize("seed", [16])
def test_the_migration_sums_the_records_already_synced(blank_db_url, seed):
    engine = make_engine(blank_db_url, poolclass=NullPool)
    try:
        migrate.upgrade(engine, "0012")
        rnd = random.Random(seed)
        sessions = make_session_factory(engine)
        with sessions() as session:
            records = [replace(a_record(rnd, n), state=SyncState.SYNCED) for n in range(40)]
            records += [a_record(rnd, n) for n in range(40, 60)]
            SqlSyncLedger(session).save_records(records)
            session.commit()
        migrate.upgrade(engine)
        with sessions() as session:
            assert kept_rows(session)
            assert_sent_exact(session)
            assert sent_sums(session, date(2027, 1, 1), date(2025, 7, 1))[1]
    finally:
        engine.dispose()
