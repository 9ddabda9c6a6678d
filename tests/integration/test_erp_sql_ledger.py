"""SqlSyncLedger against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from accounts_sync.adapters.erp_sql.plugin_tables import SyncRecordRow
from accounts_sync.domain.costs import MovementType
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.errors import NotFound, RunAlreadyActive, RunNotFound
from accounts_sync.domain.journals import journal_key
from accounts_sync.domain.sync import JournalMode, RunState, SyncRecord, SyncState

from .test_erp_sql_documents import count_queries

AT = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
CLOSING = date(2026, 3, 31)


def fresh(kind: Kind, erp_id: str, number: str = "") -> SyncRecord:
    return SyncRecord(kind, erp_id, number or f"N-{erp_id}", "a" * 64)


# ------------------------------------------------------------------ records


def test_records_round_trip_and_upsert(uow_factory):
    started = fresh(Kind.SALES_ORDERS, "1", "SO-000001").start(run_id=None, fingerprint="b" * 64)
    other = fresh(Kind.SALES_ORDERS, "2").start(run_id=None, fingerprint="c" * 64)
    with uow_factory() as uow:
        uow.ledger.save_records([started, other])
        uow.commit()
    with uow_factory() as uow:
        loaded = uow.ledger.records(Kind.SALES_ORDERS, ["1", "2", "3"])
        assert loaded == {"1": started, "2": other}
        assert loaded["1"].idempotency_key.startswith("as-sales_orders-1-")
        synced = started.succeed("xero-inv-1", AT)
        failed = other.fail("Account 9999 is not valid.")
        uow.ledger.save_records([synced, failed])
        uow.commit()
    with uow_factory() as uow:
        loaded = uow.ledger.records(Kind.SALES_ORDERS, ["1", "2"])
        assert loaded["1"] == synced
        assert loaded["1"].synced_at == AT and loaded["1"].attempts == 1
        assert loaded["2"].state is SyncState.FAILED
        assert loaded["2"].last_error == "Account 9999 is not valid."
        assert uow.ledger.records(Kind.REFUNDS, ["1", "2"]) == {}


def test_journal_records_keep_their_date_and_movement(uow_factory):
    key = journal_key(date(2026, 3, 4), MovementType.BOTTLING)
    with uow_factory() as uow:
        uow.ledger.save_records([fresh(Kind.JOURNALS, key), fresh(Kind.SALES_ORDERS, "7")])
        uow.commit()
    with uow_factory() as uow:
        rows = {r.erp_id: (r.journal_date, r.movement_type)
                for r in uow.session.scalars(select(SyncRecordRow))}
    assert rows == {key: (date(2026, 3, 4), "bottling"), "7": (None, None)}


def test_saving_hundreds_of_records_takes_a_handful_of_queries(uow_factory, clean_db):
    batch = [fresh(Kind.SALES_ORDERS, str(i)) for i in range(300)]
    with uow_factory() as uow:
        uow.ledger.save_records(batch[:150])
        uow.commit()
    updated = [r.start(run_id=None, fingerprint="d" * 64) for r in batch]
    with uow_factory() as uow:
        with count_queries(clean_db) as statements:
            uow.ledger.save_records(updated)
        uow.commit()
    assert len(statements) <= 4  # select existing, insert new, update existing
    with uow_factory() as uow:
        assert len(uow.ledger.in_flight(Kind.SALES_ORDERS)) == 300


def test_a_batch_of_records_is_one_statement_whose_text_does_not_grow(uow_factory, clean_db):
    """However many records and whether new or known: one statement, the same text (the driver
    parses it once and PostgreSQL prepares it once, instead of a VALUES list per batch)."""
    batch = [fresh(Kind.SALES_ORDERS, str(i)) for i in range(300)]
    with uow_factory() as uow:
        with count_queries(clean_db) as small:
            uow.ledger.save_records(batch[:3])
        uow.commit()
    with uow_factory() as uow:
        with count_queries(clean_db) as large:
            uow.ledger.save_records([r.start(run_id=None, fingerprint="d" * 64) for r in batch])
        uow.commit()
    assert len(small) == 1 and len(large) == 1
    assert small[0] == large[0]
    with uow_factory() as uow:
        assert len(uow.ledger.in_flight(Kind.SALES_ORDERS)) == 300


def test_every_value_of_a_record_is_stored_as_sql_compares_it(uow_factory, clean_db):
    """Times given in any zone are stored as the same UTC instants the rest of the SQL compares
    with (SQLite keeps them as text: its format must be SQLAlchemy's), dates likewise; values
    cleared are read back empty."""
    tz = timezone(timedelta(hours=10))
    key = journal_key(date(2026, 3, 4), MovementType.BOTTLING)
    first = fresh(Kind.JOURNALS, key).start(None, "b" * 64).succeed("x-1", AT, "POSTED", AT)
    second = replace(fresh(Kind.SALES_ORDERS, "9").start(None, "c" * 64, None, AT.astimezone(tz))
                     .succeed("x-2", (AT + timedelta(hours=1)).astimezone(tz), "AUTHORISED"),
                     last_error='quotes " and \\ backslashes, accents é, a % sign')
    with uow_factory() as uow:
        uow.ledger.save_records([first, second])
        uow.commit()
    with uow_factory() as uow:
        assert uow.ledger.records(Kind.JOURNALS, [key]) == {key: first}
        assert uow.ledger.records(Kind.SALES_ORDERS, ["9"]) == {"9": second}
        assert second.synced_at is not None and second.synced_at.utcoffset() == timedelta(hours=10)
        r = SyncRecordRow
        assert uow.session.scalars(select(r.erp_id).where(r.synced_at == AT)).all() == [key]
        assert uow.session.scalars(select(r.erp_id).where(r.synced_at > AT)).all() == ["9"]
        assert uow.session.scalars(select(r.erp_id).where(r.read_at == AT)).all() == ["9"]
        assert uow.session.scalars(select(r.erp_id).where(
            r.journal_date == date(2026, 3, 4), r.movement_type == "bottling")).all() == [key]
        assert uow.ledger.synced_journals(date(2026, 3, 4)) == {key: "b" * 64}
        assert uow.ledger.synced_journals(date(2026, 3, 3)) == {}
        assert uow.ledger.first_synced_at() == AT
    cleared = replace(second, synced_at=None, read_at=None, xero_id=None, run_id=None)
    with uow_factory() as uow:
        uow.ledger.save_records([cleared])
        uow.commit()
    with uow_factory() as uow:
        assert uow.ledger.records(Kind.SALES_ORDERS, ["9"]) == {"9": cleared}


def test_in_flight_and_failed_lists(uow_factory):
    records = [fresh(Kind.REFUNDS, str(i)).start(None, "e" * 64) for i in range(6)]
    records[0] = records[0].fail("Contact is archived in Xero.")
    records[1] = records[1].fail("Tax type OUTPUT2 does not exist.")
    records[2] = records[2].succeed("x-2", AT)
    with uow_factory() as uow:
        uow.ledger.save_records(records)
        uow.ledger.save_records([fresh(Kind.SALES_ORDERS, "0").start(None, "f" * 64).fail("Other kind")])
        uow.commit()
    with uow_factory() as uow:
        assert [r.erp_id for r in uow.ledger.in_flight(Kind.REFUNDS)] == ["3", "4", "5"]
        assert [r.erp_id for r in uow.ledger.failed(Kind.REFUNDS, 10)] == ["0", "1"]
        assert [r.last_error for r in uow.ledger.failed(Kind.REFUNDS, 1)] == ["Contact is archived in Xero."]


# ------------------------------------------------------------------ runs


def test_claim_is_exclusive_per_kind_until_the_run_ends(uow_factory):
    with uow_factory() as uow:
        run = uow.ledger.claim_run(Kind.SALES_ORDERS, CLOSING, "maria", None, AT)
        uow.commit()
    assert (run.state, run.kind, run.requested_by, run.created_at) == (RunState.QUEUED, Kind.SALES_ORDERS,
                                                                       "maria", AT)

    with uow_factory() as uow:
        with pytest.raises(RunAlreadyActive) as refused:
            uow.ledger.claim_run(Kind.SALES_ORDERS, CLOSING, "tom", None, AT)
        assert refused.value.run_id == run.id
        assert "already running" in refused.value.message
        # The refusal left the unit of work usable: another kind can still be claimed.
        journals = uow.ledger.claim_run(Kind.JOURNALS, CLOSING, "tom", JournalMode.POSTED, AT)
        uow.commit()
    assert journals.mode is JournalMode.POSTED

    with uow_factory() as uow:
        running = uow.ledger.get_run(run.id).start(total=3, at=AT)
        uow.ledger.save_run(running)
        uow.commit()
    with uow_factory() as uow, pytest.raises(RunAlreadyActive):
        uow.ledger.claim_run(Kind.SALES_ORDERS, CLOSING, "tom", None, AT)

    with uow_factory() as uow:
        uow.ledger.save_run(uow.ledger.get_run(run.id).finish(AT + timedelta(minutes=2)))
        uow.commit()
    with uow_factory() as uow:
        again = uow.ledger.claim_run(Kind.SALES_ORDERS, CLOSING, "tom", None, AT)
        uow.commit()
    assert again.id != run.id
    with uow_factory() as uow:
        assert uow.ledger.active_run(Kind.SALES_ORDERS).id == again.id
        assert uow.ledger.active_run(Kind.REFUNDS) is None


def test_racing_claims_from_many_connections_let_exactly_one_win(uow_factory):
    contenders = 6
    barrier = threading.Barrier(contenders)
    won: list[int] = []
    refused: list[int] = []
    errors: list[BaseException] = []

    def claim(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            with uow_factory() as uow:
                run = uow.ledger.claim_run(Kind.PURCHASE_ORDERS, CLOSING, name, None, AT)
                uow.commit()
            won.append(run.id)
        except RunAlreadyActive as exc:
            refused.append(exc.run_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(f"user{i}",)) for i in range(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(won) == 1
    assert refused == [won[0]] * (contenders - 1)


def test_runs_round_trip_with_progress_and_failures(uow_factory):
    with uow_factory() as uow:
        run = uow.ledger.claim_run(Kind.REFUNDS, CLOSING, "maria", None, AT)
        uow.commit()
    run = run.start(total=3, at=AT + timedelta(seconds=1))
    run = run.progress(3, 1, 2, [("RF-1", "Contact archived", "xero"),
                                 ("RF-2", "Locked period", "accounts_sync")],
                       AT + timedelta(seconds=5))
    run = run.finish(AT + timedelta(seconds=6))
    with uow_factory() as uow:
        uow.ledger.save_run(run)
        uow.commit()
    with uow_factory() as uow:
        loaded = uow.ledger.get_run(run.id)
    assert loaded == run
    assert loaded.failures == (("RF-1", "Contact archived", "xero"),
                               ("RF-2", "Locked period", "accounts_sync"))
    assert loaded.refused_locally == 1
    assert loaded.state is RunState.FAILED
    assert loaded.finished_at == AT + timedelta(seconds=6)
    assert loaded.heartbeat_at.tzinfo is not None


def test_unknown_run_is_not_found(uow_factory):
    with uow_factory() as uow, pytest.raises(RunNotFound) as missing:
        uow.ledger.get_run(424242)
    assert isinstance(missing.value, NotFound)
    assert "424242" in missing.value.message


def test_runs_are_listed_newest_first_with_a_keyset(uow_factory):
    ids = []
    for i in range(5):
        with uow_factory() as uow:
            run = uow.ledger.claim_run(Kind.SALES_ORDERS, CLOSING, f"u{i}", None, AT)
            uow.ledger.save_run(run.abort("stopped", AT))
            uow.commit()
        ids.append(run.id)
    with uow_factory() as uow:
        assert [r.id for r in uow.ledger.list_runs(3)] == ids[::-1][:3]
        assert [r.id for r in uow.ledger.list_runs(3, before_id=ids[2])] == [ids[1], ids[0]]


def test_marks(uow_factory):
    with uow_factory() as uow:
        assert uow.ledger.last_synced_up_to(Kind.SALES_ORDERS) is None
        uow.ledger.set_last_synced_up_to(Kind.SALES_ORDERS, date(2026, 3, 31))
        uow.commit()
    with uow_factory() as uow:
        uow.ledger.set_last_synced_up_to(Kind.SALES_ORDERS, date(2026, 4, 30))
        uow.commit()
    with uow_factory() as uow:
        assert uow.ledger.last_synced_up_to(Kind.SALES_ORDERS) == date(2026, 4, 30)
        assert uow.ledger.last_synced_up_to(Kind.JOURNALS) is None


def test_records_follow_the_domain_state_machine(uow_factory):
    record = fresh(Kind.JOURNALS, "2026-03-04-bottling").start(None, "a" * 64)
    with uow_factory() as uow:
        uow.ledger.save_records([record, replace(record, number="later wins")])
        uow.commit()
    with uow_factory() as uow:
        assert uow.ledger.records(Kind.JOURNALS, [record.erp_id])[record.erp_id].number == "later wins"
