"""The cost-flow cache kept in the plugin's tables between processes: a new process starts
from the stored sums instead of summing every entry, and is still exactly what SQL sums give,
whatever changed while no process was looking, and whichever process wrote last (SQLite and
PostgreSQL). A "process" here is a fresh _FlowCache: each process has its own."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select, update

from accounts_sync.adapters.erp_sql import host_schema as host
from accounts_sync.adapters.erp_sql import sqlalchemy_documents
from accounts_sync.adapters.erp_sql.plugin_tables import FlowStateRow, FlowSumRow
from accounts_sync.adapters.erp_sql.sqlalchemy_documents import _FlowCache

from .test_erp_sql_perf import DAYS, MOVES, assert_exact, direct, entry_ids, entry_row, execute, now


@pytest.fixture(autouse=True)
def cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlalchemy_documents, "FLOW_CACHE_MIN_ENTRIES", 0)
    _FlowCache._caches.clear()


def new_process() -> None:
    _FlowCache._caches.clear()


def stored(engine) -> tuple[int | None, int]:
    with engine.connect() as connection:
        version = connection.scalar(select(FlowStateRow.version))
        rows = connection.scalar(select(func.count()).select_from(FlowSumRow))
    return version, rows


def no_full_read(monkeypatch: pytest.MonkeyPatch) -> list:
    """Fail the test if the cache sums every entry again; collect the days it re-reads."""
    reread: list = []
    original = _FlowCache._read

    def read(self, session, days):
        assert days is not None, "a full read: the stored sums were not used"
        reread.append(set(days))
        return original(self, session, days)

    monkeypatch.setattr(_FlowCache, "_read", read)
    return reread


def test_the_first_use_stores_the_sums_and_a_new_process_starts_from_them(uow_factory, erp, clean_db,
                                                                          monkeypatch):
    rnd = random.Random(21)
    erp.many_cost_entries(erp.operation(), [entry_row(rnd, now() - timedelta(hours=3)) for _ in range(200)])
    assert stored(clean_db) == (None, 0)
    assert_exact(uow_factory)
    version, rows = stored(clean_db)
    assert version == 1 and rows > 0
    new_process()
    reread = no_full_read(monkeypatch)
    assert_exact(uow_factory)
    assert reread == []  # nothing changed: nothing summed at all
    assert stored(clean_db)[0] == 1  # and nothing written


def test_changes_made_while_no_process_ran_are_seen_by_the_next(uow_factory, erp, clean_db, monkeypatch):
    rnd = random.Random(22)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=3)) for _ in range(200)])
    assert_exact(uow_factory)
    ids = entry_ids(clean_db)
    ce = host.cost_entries
    erp.many_cost_entries(op, [entry_row(rnd, now()) for _ in range(4)])
    execute(clean_db, update(ce).where(ce.c.id == ids[5]).values(amount=Decimal("9.9999"), updated_at=now()))
    execute(clean_db, delete(ce).where(ce.c.id.in_(ids[50:53])))
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(days=40), day=DAYS[3])])  # back-dated
    new_process()
    no_full_read(monkeypatch)
    assert_exact(uow_factory)
    assert stored(clean_db)[0] == 2  # the days it re-read were written back
    new_process()
    assert_exact(uow_factory)


def test_two_processes_take_turns_and_neither_goes_wrong(uow_factory, erp, clean_db):
    rnd = random.Random(23)
    op = erp.operation()
    ce = host.cost_entries
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=5)) for _ in range(120)])
    first, second = _FlowCache(), _FlowCache()
    for step in range(30):
        ids = entry_ids(clean_db, DAYS[-1])
        action = rnd.choice(["add", "edit", "move", "delete", "none"])
        if action == "add":
            erp.many_cost_entries(op, [entry_row(rnd, now()) for _ in range(rnd.randint(1, 4))])
        elif action == "edit":
            execute(clean_db, update(ce).where(ce.c.id == rnd.choice(ids))
                    .values(amount=Decimal(rnd.randint(1, 99999)) / 10000, updated_at=now()))
        elif action == "move":
            movement, category, from_stage, to_stage = rnd.choice(MOVES)
            execute(clean_db, update(ce).where(ce.c.id == rnd.choice(ids)).values(
                entry_date=rnd.choice(DAYS), movement_type=movement, cost_category=category,
                from_stage=from_stage, to_stage=to_stage, updated_at=now()))
        elif action == "delete":
            execute(clean_db, delete(ce).where(ce.c.id.in_(rnd.sample(ids, min(len(ids), 2)))))
        process = rnd.choice([first, second])
        _FlowCache._caches[clean_db] = process  # this step's call runs in that process
        assert_exact(uow_factory, rnd.choice([DAYS[-1], DAYS[2]])), (step, action)


def test_a_stale_process_never_writes_over_a_newer_snapshot(uow_factory, erp, clean_db):
    rnd = random.Random(24)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=5)) for _ in range(80)])
    assert_exact(uow_factory)  # version 1
    stale = _FlowCache._caches[clean_db]
    new_process()
    erp.many_cost_entries(op, [entry_row(rnd, now()) for _ in range(3)])
    assert_exact(uow_factory)  # another process: version 2
    assert stored(clean_db)[0] == 2
    stale.unpersisted = {DAYS[0]}  # as if it had re-read a day on its old version
    stale.persist(clean_db)
    assert stored(clean_db)[0] == 2  # refused: it was derived from version 1
    _FlowCache._caches[clean_db] = stale
    assert_exact(uow_factory)  # it loads version 2 and goes on from there


def test_emptied_tables_are_filled_again(uow_factory, erp, clean_db):
    rnd = random.Random(25)
    erp.many_cost_entries(erp.operation(), [entry_row(rnd, now() - timedelta(hours=2)) for _ in range(60)])
    assert_exact(uow_factory)
    execute(clean_db, delete(FlowSumRow))
    execute(clean_db, delete(FlowStateRow))
    assert_exact(uow_factory)  # the memory is still right, and written out whole
    assert stored(clean_db)[0] == 1 and stored(clean_db)[1] > 0
    new_process()
    assert_exact(uow_factory)


def test_a_failed_write_costs_nothing_but_time(uow_factory, erp, clean_db, monkeypatch):
    rnd = random.Random(26)
    erp.many_cost_entries(erp.operation(), [entry_row(rnd, now() - timedelta(hours=2)) for _ in range(60)])

    def broken(self, engine):
        raise RuntimeError("disk full")

    monkeypatch.setattr(_FlowCache, "_write", broken)
    assert_exact(uow_factory)
    assert stored(clean_db) == (None, 0)
    assert direct(uow_factory)  # the database is usable
