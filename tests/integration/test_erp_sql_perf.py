"""The cost-flow cache behind cost_flows (SqlDocumentSource) gives exactly what summing in SQL
gives, however the host's entries change between two calls, on SQLite and PostgreSQL.

The cache only serves databases with many cost entries (FLOW_CACHE_MIN_ENTRIES); these tests
lower the threshold to zero so that a few dozen entries go through it. `direct()` is the
uncached path, one SQL aggregate per call. No timings are asserted here: bench/ measures them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, func, select, update

from accounts_sync.adapters.erp_sql import host_schema as host
from accounts_sync.adapters.erp_sql import sqlalchemy_documents
from accounts_sync.adapters.erp_sql.errors import HostDataError
from accounts_sync.adapters.erp_sql.sqlalchemy_documents import _FlowCache
from accounts_sync.adapters.erp_sql.sqlalchemy_uow import SqlUnitOfWork
from accounts_sync.domain.costs import CostFlow, MovementType
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.journals import journal_key
from accounts_sync.domain.sync import SyncRecord, SyncState

CLOSING = date(2026, 3, 31)
DAYS = [date(2026, 3, 2) + timedelta(days=i) for i in range(8)] + [date(2026, 4, 6)]  # one after closing
# (movement, category, from stage, to stage), as the demo ERP books them
MOVES = [
    ("addition", "additive", "additives", "bulk_wine"),
    ("bottling", "dry_goods", "dry_goods", "finished_goods"),
    ("bottling", "bulk_wine", "bulk_wine", "finished_goods"),
    ("labour", "labour", "overhead", "bulk_wine"),
    ("transfer", "bulk_wine", "bulk_wine", "bulk_wine"),
]


def now() -> datetime:
    """What the host stamps a new or edited entry with: its current time, naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


@pytest.fixture(autouse=True)
def cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlalchemy_documents, "FLOW_CACHE_MIN_ENTRIES", 0)
    _FlowCache._caches.clear()  # each test starts cold; the random walk below warms it itself


def flows(uow_factory: Callable[[], SqlUnitOfWork], closing: date = CLOSING) -> list[CostFlow]:
    with uow_factory() as uow:
        return uow.documents.cost_flows(closing)


def direct(uow_factory: Callable[[], SqlUnitOfWork], closing: date = CLOSING) -> list[CostFlow]:
    with uow_factory() as uow:
        return uow.documents._summed_flows(closing)


def assert_exact(uow_factory: Callable[[], SqlUnitOfWork], closing: date = CLOSING) -> list[CostFlow]:
    cached_flows = flows(uow_factory, closing)
    assert cached_flows == direct(uow_factory, closing)
    return cached_flows


def entry_row(rnd: random.Random, stamp: datetime, day: date | None = None) -> dict:
    movement, category, from_stage, to_stage = rnd.choice(MOVES)
    return {
        "entry_date": day or rnd.choice(DAYS), "movement_type": movement, "cost_category": category,
        "from_stage": from_stage, "to_stage": to_stage,
        "amount": f"{rnd.randint(-20000, 900000) / 10000:.4f}",
        "vintage": rnd.choice([None, "2024", "2025"]), "brand": rnd.choice([None, "Estate", "Reserve"]),
        "created_at": stamp, "updated_at": stamp,
    }


def save(uow_factory, *records: SyncRecord) -> None:
    with uow_factory() as uow:
        uow.ledger.save_records(list(records))
        uow.commit()


def journal_record(day: date, movement: str, state: SyncState) -> SyncRecord:
    key = journal_key(day, MovementType(movement))
    return SyncRecord(Kind.JOURNALS, key, key, "f" * 64, state=state,
                      xero_id="x" if state is SyncState.SYNCED else None,
                      synced_at=datetime.now(UTC) if state is SyncState.SYNCED else None)


def entry_ids(engine: Engine, closing: date = CLOSING) -> list[int]:
    """Ids of the entries dated up to the closing date (those the flows are made of)."""
    ce = host.cost_entries
    with engine.connect() as connection:
        return list(connection.scalars(select(ce.c.id).where(ce.c.entry_date <= closing).order_by(ce.c.id)))


def execute(engine: Engine, statement) -> None:
    with engine.begin() as connection:
        connection.execute(statement)


# ------------------------------------------------------------------ the same answer as SQL


def test_the_cache_gives_what_sql_sums_give(uow_factory, erp):
    rnd = random.Random(1)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=2)) for _ in range(300)])
    first = assert_exact(uow_factory)
    again = flows(uow_factory)
    assert again == first and all(a is b for a, b in zip(again, first, strict=True))  # kept, not re-read
    assert {f.date for f in first} <= {d for d in DAYS if d <= CLOSING}
    for closing in (DAYS[0], DAYS[3], DAYS[-1], date(2026, 1, 1)):
        assert_exact(uow_factory, closing)


def test_synced_journals_are_left_out_and_failed_or_in_flight_ones_kept(uow_factory, erp):
    rnd = random.Random(2)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=2)) for _ in range(120)])
    assert_exact(uow_factory)
    pairs = sorted({(f.date, f.movement_type.value) for f in flows(uow_factory)})
    save(uow_factory,
         journal_record(*pairs[0], SyncState.SYNCED), journal_record(*pairs[1], SyncState.FAILED),
         journal_record(*pairs[2], SyncState.IN_FLIGHT), journal_record(*pairs[3], SyncState.SYNCED))
    keys = {(f.date, f.movement_type.value) for f in assert_exact(uow_factory)}
    assert keys == set(pairs) - {pairs[0], pairs[3]}


# ------------------------------------------------------------------ changes between two calls


def test_new_edited_moved_and_deleted_entries_are_seen(uow_factory, erp, clean_db):
    rnd = random.Random(3)
    op = erp.operation()
    long_ago = now() - timedelta(hours=3)
    erp.many_cost_entries(op, [entry_row(rnd, long_ago) for _ in range(200)])
    assert_exact(uow_factory)
    ids = entry_ids(clean_db)
    ce = host.cost_entries

    erp.many_cost_entries(op, [entry_row(rnd, now()) for _ in range(5)])  # new
    assert_exact(uow_factory)
    execute(clean_db, update(ce).where(ce.c.id == ids[10])
            .values(amount=Decimal("123.4567"), updated_at=now()))
    assert_exact(uow_factory)  # edited in place: same count, only its stamp tells
    execute(clean_db, update(ce).where(ce.c.id == ids[20]).values(entry_date=DAYS[-2], movement_type="loss",
                                                                   updated_at=now()))
    assert_exact(uow_factory)  # moved to another day and movement
    execute(clean_db, delete(ce).where(ce.c.id.in_(ids[30:33])))
    assert_exact(uow_factory)  # deleted: no stamp, the count tells
    execute(clean_db, delete(ce).where(ce.c.id == ids[40]))
    erp.many_cost_entries(op, [entry_row(rnd, now(), day=DAYS[0])])
    assert_exact(uow_factory)  # one gone, one new elsewhere: the count alone would not tell


def test_an_edit_committed_late_with_an_earlier_stamp_is_seen(uow_factory, erp, clean_db):
    """A host transaction stamps its rows when it writes them and may commit a while later,
    after the cache read: rows stamped up to STAMP_LOOKBACK before the last read are read again."""
    rnd = random.Random(4)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=1)) for _ in range(60)])
    assert_exact(uow_factory)
    stamped_before_the_read = now() - timedelta(minutes=10)  # within the 15 minutes allowed
    ce = host.cost_entries
    execute(clean_db, update(ce).where(ce.c.id == entry_ids(clean_db)[7])
            .values(amount=Decimal("-7.7777"), updated_at=stamped_before_the_read))
    assert_exact(uow_factory)


def test_an_entry_added_with_an_old_stamp_is_still_counted(uow_factory, erp):
    rnd = random.Random(5)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(days=2)) for _ in range(60)])
    assert_exact(uow_factory)
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(days=30))])  # back-dated import
    assert_exact(uow_factory)


def test_a_back_dated_import_is_found_by_its_ids_even_when_the_count_stays(uow_factory, erp, clean_db):
    rnd = random.Random(11)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(days=2)) for _ in range(60)])
    assert_exact(uow_factory)
    execute(clean_db, delete(host.cost_entries).where(host.cost_entries.c.id == entry_ids(clean_db)[3]))
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(days=30), day=DAYS[5])])
    assert_exact(uow_factory)


def test_a_database_emptied_and_filled_again_is_read_again(uow_factory, erp, clean_db):
    rnd = random.Random(6)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=1)) for _ in range(80)])
    assert_exact(uow_factory)
    execute(clean_db, delete(host.cost_entries))
    assert flows(uow_factory) == [] == direct(uow_factory)
    erp.many_cost_entries(op, [entry_row(rnd, now()) for _ in range(80)])
    assert_exact(uow_factory)


def test_random_changes_never_make_the_cache_differ_from_sql(uow_factory, erp, clean_db):
    rnd = random.Random(7)
    op = erp.operation()
    ce = host.cost_entries
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=5)) for _ in range(150)])
    assert_exact(uow_factory)
    for step in range(40):
        ids = entry_ids(clean_db, DAYS[-1])
        action = rnd.choice(["add", "edit", "move", "delete", "swap", "sync", "fail", "old"])
        if action == "add":
            erp.many_cost_entries(op, [entry_row(rnd, now()) for _ in range(rnd.randint(1, 6))])
        elif action == "edit":
            execute(clean_db, update(ce).where(ce.c.id == rnd.choice(ids))
                    .values(amount=Decimal(rnd.randint(1, 99999)) / 10000, updated_at=now()))
        elif action == "move":
            movement, category, from_stage, to_stage = rnd.choice(MOVES)
            execute(clean_db, update(ce).where(ce.c.id == rnd.choice(ids)).values(
                entry_date=rnd.choice(DAYS), movement_type=movement, cost_category=category,
                from_stage=from_stage, to_stage=to_stage, updated_at=now()))
        elif action == "delete":
            execute(clean_db, delete(ce).where(ce.c.id.in_(rnd.sample(ids, min(len(ids), 3)))))
        elif action == "swap":
            execute(clean_db, delete(ce).where(ce.c.id == rnd.choice(ids)))
            erp.many_cost_entries(op, [entry_row(rnd, now())])
        elif action == "old":
            erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(days=rnd.randint(1, 90)))])
        else:
            pairs = sorted({(f.date, f.movement_type.value) for f in direct(uow_factory, DAYS[-1])})
            if pairs:
                day, movement = rnd.choice(pairs)
                with uow_factory() as uow:
                    known = uow.ledger.records(Kind.JOURNALS, [journal_key(day, MovementType(movement))])
                if not known:
                    state = SyncState.SYNCED if action == "sync" else SyncState.FAILED
                    save(uow_factory, journal_record(day, movement, state))
        assert_exact(uow_factory, rnd.choice([CLOSING, DAYS[-1], DAYS[2]])), (step, action)
    with clean_db.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ce)) > 0


# ------------------------------------------------------------------ host data it cannot read


def test_an_unknown_host_value_fails_only_when_its_journal_is_wanted(uow_factory, erp, clean_db):
    op = erp.operation()
    stamp = now() - timedelta(hours=1)
    erp.many_cost_entries(op, [
        {**entry_row(random.Random(8), stamp, day=DAYS[1]), "movement_type": "addition"},
        {**entry_row(random.Random(9), stamp, day=DAYS[2]), "cost_category": "mystery"},
    ])
    with pytest.raises(HostDataError) as cached_error, uow_factory() as uow:
        uow.documents.cost_flows(CLOSING)
    with pytest.raises(HostDataError) as direct_error:
        direct(uow_factory)
    assert cached_error.value.message == direct_error.value.message
    assert "mystery" in cached_error.value.message
    assert_exact(uow_factory, DAYS[1])  # a closing date before it: no error
    ce = host.cost_entries
    execute(clean_db, update(ce).where(ce.c.cost_category == "mystery").values(cost_category="labour",
                                                                               updated_at=now()))
    assert_exact(uow_factory)


def test_below_the_threshold_every_call_sums_in_sql(uow_factory, erp, monkeypatch):
    monkeypatch.setattr(sqlalchemy_documents, "FLOW_CACHE_MIN_ENTRIES", 1000)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(random.Random(10), now()) for _ in range(20)])
    assert flows(uow_factory) == direct(uow_factory)
    assert not _FlowCache._caches


# ------------------------------------------------------------------ entries stamped within the lookback


def reads_of_days(monkeypatch: pytest.MonkeyPatch) -> list[set[date] | None]:
    """The days each refresh sums again (None: every day), as they happen."""
    seen: list[set[date] | None] = []
    original = _FlowCache._read

    def spy(self, session, days):
        seen.append(None if days is None else set(days))
        return original(self, session, days)

    monkeypatch.setattr(_FlowCache, "_read", spy)
    return seen


def test_a_recent_entry_is_summed_again_only_while_it_changes(uow_factory, erp, clean_db, monkeypatch):
    """Entries stamped within STAMP_LOOKBACK are looked at on every call, but their day is summed
    again only when what they hold differs from what its last sum saw."""
    rnd = random.Random(12)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=2)) for _ in range(60)])
    assert_exact(uow_factory)
    reads = reads_of_days(monkeypatch)
    erp.many_cost_entries(op, [entry_row(rnd, now(), day=DAYS[1])])  # a late cost
    assert_exact(uow_factory)
    assert reads == [{DAYS[1]}]
    reads.clear()
    for _ in range(3):
        assert_exact(uow_factory)
    assert reads == []  # still within the lookback, unchanged: not summed again
    ce = host.cost_entries
    latest = entry_ids(clean_db)[-1]
    execute(clean_db, update(ce).where(ce.c.id == latest).values(amount=Decimal("5.0001"), updated_at=now()))
    assert_exact(uow_factory)
    assert reads == [{DAYS[1]}]


def test_a_recent_entry_saved_again_with_the_same_stamp_is_seen(uow_factory, erp, clean_db):
    """A host that stamps to the second can save an entry twice with one stamp (the second time
    in a transaction that commits after the cache read): its content tells, not its stamp."""
    rnd = random.Random(13)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=2)) for _ in range(60)])
    assert_exact(uow_factory)
    ce = host.cost_entries
    target = entry_ids(clean_db)[5]
    stamp = now().replace(microsecond=0)
    execute(clean_db, update(ce).where(ce.c.id == target).values(amount=Decimal("1.2345"), updated_at=stamp))
    assert_exact(uow_factory)
    execute(clean_db, update(ce).where(ce.c.id == target).values(amount=Decimal("9.8765"), updated_at=stamp))
    assert_exact(uow_factory)
    execute(clean_db, update(ce).where(ce.c.id == target).values(  # moved, same stamp again
        entry_date=DAYS[6], movement_type="loss", updated_at=stamp))
    assert_exact(uow_factory)
    execute(clean_db, delete(ce).where(ce.c.id == target))
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(days=40), day=DAYS[6])])
    assert_exact(uow_factory)  # the recent one gone, an old-stamped one in its place


def test_a_refresh_that_failed_reads_the_recent_entries_again(uow_factory, erp, clean_db, monkeypatch):
    rnd = random.Random(14)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=2)) for _ in range(60)])
    assert_exact(uow_factory)
    ce = host.cost_entries
    execute(clean_db, update(ce).where(ce.c.id == entry_ids(clean_db)[9])
            .values(amount=Decimal("-3.3333"), updated_at=now()))
    original = _FlowCache._read

    def broken(self, session, days):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(_FlowCache, "_read", broken)
    with pytest.raises(RuntimeError):
        flows(uow_factory)
    monkeypatch.setattr(_FlowCache, "_read", original)
    assert_exact(uow_factory)


def test_the_cache_is_brought_up_to_date_once_per_transaction(uow_factory, erp, clean_db, monkeypatch):
    """A preview asks for the unsynced and the synced flows in one transaction: one refresh (one
    count of every entry); the next transaction refreshes again and sees what changed."""
    rnd = random.Random(15)
    op = erp.operation()
    erp.many_cost_entries(op, [entry_row(rnd, now() - timedelta(hours=2)) for _ in range(80)])
    pairs = sorted({(f.date, f.movement_type.value) for f in direct(uow_factory)})
    save(uow_factory, journal_record(*pairs[0], SyncState.SYNCED))
    refreshes: list[int] = []
    original = _FlowCache.refresh

    def counted(self, session, entries):
        refreshes.append(entries)
        return original(self, session, entries)

    monkeypatch.setattr(_FlowCache, "refresh", counted)
    with uow_factory() as uow:
        unsynced = uow.documents.cost_flows(CLOSING)
        synced = uow.documents.synced_cost_flows(CLOSING)
        assert unsynced == uow.documents._summed_flows(CLOSING)
        assert synced == uow.documents._summed_flows(CLOSING, synced=True)
    assert len(refreshes) == 1
    erp.many_cost_entries(op, [entry_row(rnd, now(), day=pairs[0][0])])  # a late cost, synced day
    with uow_factory() as uow:
        assert uow.documents.synced_cost_flows(CLOSING) == uow.documents._summed_flows(CLOSING, synced=True)
    assert len(refreshes) == 2
