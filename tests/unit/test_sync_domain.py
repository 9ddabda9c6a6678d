from datetime import UTC, date, datetime

import pytest

from accounts_sync.domain.documents import Kind
from accounts_sync.domain.errors import (
    ClosingDateBeforeLastSync,
    ClosingDateInFuture,
    ClosingDateInLockedPeriod,
    InvalidClosingDate,
    InvalidTransition,
    UnknownKind,
)
from accounts_sync.domain.sync import (
    JournalMode,
    RefusedBy,
    RunState,
    SyncRecord,
    SyncRun,
    SyncState,
    SyncWindow,
    parse_closing_date,
)
from tests.builders import document

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 9, tzinfo=UTC)


def test_window_rules():
    assert SyncWindow.open(TODAY, TODAY).closing_date == TODAY
    with pytest.raises(ClosingDateInFuture, match="choose today"):
        SyncWindow.open(date(2026, 11, 27), TODAY)
    with pytest.raises(ClosingDateInLockedPeriod, match="locked up to 31 Oct 2026"):
        SyncWindow.open(date(2026, 10, 31), TODAY, lock_date=date(2026, 10, 31))
    with pytest.raises(ClosingDateBeforeLastSync):
        SyncWindow.open(date(2026, 10, 1), TODAY, last_synced_up_to=date(2026, 10, 2))


def test_closing_dates_are_parsed_or_refused_plainly():
    assert parse_closing_date("", TODAY) == TODAY
    assert parse_closing_date(" 2026-01-31 ", TODAY) == date(2026, 1, 31)
    with pytest.raises(InvalidClosingDate, match="'31/01/2026' is not a date; enter"):
        parse_closing_date("31/01/2026", TODAY)


def test_kinds_and_modes_parse_from_user_words():
    assert Kind.parse("sales-orders") is Kind.SALES_ORDERS
    assert JournalMode.parse("draft") is JournalMode.DRAFT
    with pytest.raises(UnknownKind, match="use one of sales_orders"):
        Kind.parse("invoices")


def test_record_state_machine():
    record = SyncRecord(Kind.SALES_ORDERS, "1", "SO-1", "fp")
    flying = record.start(7, "fp2")
    assert flying.state is SyncState.IN_FLIGHT and flying.attempts == 1
    assert flying.idempotency_key == "as-sales_orders-1-fp2"
    assert flying.start(8, "fp2").attempts == 2  # resent after a reconciliation found nothing
    done = flying.succeed("x-1", NOW)
    assert done.state is SyncState.SYNCED and done.xero_id == "x-1"
    with pytest.raises(InvalidTransition):
        done.start(9, "fp3")
    with pytest.raises(InvalidTransition):
        record.succeed("x", NOW)
    failed = flying.fail("no")
    assert failed.refused_by is RefusedBy.XERO
    restarted = failed.start(10, "fp2")
    # The reason stays while it is resent (shown if the run stops before Xero answers).
    assert restarted.last_error == "no" and restarted.refused_by is None


def test_run_state_machine():
    run = SyncRun(1, Kind.JOURNALS, TODAY, "accountant", mode=JournalMode.DRAFT)
    assert run.is_active
    running = run.start(10, NOW).progress(5, 4, 1, [("J-1", "bad")], NOW)
    assert (running.done, running.created, running.failed) == (5, 4, 1)
    finished = running.finish(NOW)
    assert finished.state is RunState.FAILED and not finished.is_active
    assert finished.message == "4 of 10 sent, 1 failed."
    with pytest.raises(InvalidTransition):
        finished.start(1, NOW)
    with pytest.raises(InvalidTransition):
        run.progress(1, 1, 0, [], NOW)


def test_fingerprint_follows_content():
    doc = document()
    from dataclasses import replace

    assert replace(doc, url="elsewhere").compute_fingerprint() == doc.fingerprint
    assert replace(doc, reference="changed").compute_fingerprint() != doc.fingerprint
