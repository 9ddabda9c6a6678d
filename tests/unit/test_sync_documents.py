"""SyncDocuments against fakes: the rules in DESIGN's 'Sync rules that protect the books'."""

from dataclasses import replace
from datetime import date

import pytest

from accounts_sync.application.execute_run import ExecuteRun
from accounts_sync.application.start_sync import StartSync, SyncRequest
from accounts_sync.application.sync_documents import SyncDocuments, SyncDocumentsRequest
from accounts_sync.domain.documents import Kind, TrackingRef
from accounts_sync.domain.errors import (
    ClosingDateBeforeLastSync,
    ClosingDateInFuture,
    InvalidRequest,
    RunAlreadyActive,
)
from accounts_sync.domain.mapping import TrackingMapping
from accounts_sync.domain.sync import RunState, SyncState
from tests.builders import document, documents
from tests.fakes import FakeJobQueue, SimulatedCrash, default_chart, edited

TODAY = date(2026, 11, 26)
SO = Kind.SALES_ORDERS


def req(kind=SO, closing=TODAY):
    return SyncDocumentsRequest(kind, closing, "accountant")


def test_sends_every_unsynced_document_in_batches_of_at_most_50(store, gateway, sync):
    store.add(*documents(120))
    run = sync.execute(req())
    assert run.state is RunState.SUCCEEDED
    assert (run.total, run.done, run.created, run.failed) == (120, 120, 120, 0)
    assert [n for _, n, _ in gateway.push_calls] == [50, 50, 20]
    assert len(gateway.created(SO)) == 120
    assert all(store.record(SO, d.erp_id).state is SyncState.SYNCED for d in store.documents[SO])
    assert store.state.marks[SO] == TODAY


def test_only_documents_dated_up_to_the_closing_date_are_sent(store, gateway, sync):
    early, late = document(day=date(2026, 10, 1)), document(day=date(2026, 11, 20))
    store.add(early, late)
    sync.execute(req(closing=date(2026, 10, 31)))
    assert [o.erp_id for o in gateway.created(SO)] == [early.erp_id]


def test_failed_documents_stay_unsynced_and_are_retried_next_time(store, gateway, sync, clock):
    docs = documents(50)
    store.add(*docs)
    bad = [docs[3].erp_id, docs[17].erp_id, docs[40].erp_id]
    for erp_id in bad:
        gateway.fail_elements[erp_id] = "Account code '9999' is not a valid code for this document."
    run = sync.execute(req())
    assert (run.created, run.failed, run.state) == (47, 3, RunState.FAILED)
    assert {f.number for f in run.failures} == {store.record(SO, i).number for i in bad}
    for erp_id in bad:
        record = store.record(SO, erp_id)
        assert record.state is SyncState.FAILED
        assert "9999" in record.last_error

    gateway.fail_elements.clear()  # the accountant fixed the mapping
    clock.advance(minutes=1)
    retry = sync.execute(req())
    assert (retry.total, retry.created, retry.failed) == (3, 3, 0)
    assert gateway.push_calls[-1][1] == 3, "only the failed documents are sent again"
    assert len(gateway.created(SO)) == 50
    assert store.record(SO, bad[0]).attempts == 2


def test_a_later_success_never_hides_an_earlier_failure(store, gateway, sync):
    first, second = document(day=date(2026, 11, 1)), document(day=date(2026, 11, 2))
    store.add(first, second)
    gateway.fail_elements[first.erp_id] = "Invoice # must be unique."
    sync.execute(req())
    gateway.fail_elements.clear()
    rerun = sync.execute(req())
    assert rerun.created == 1
    assert store.record(SO, first.erp_id).state is SyncState.SYNCED


def test_a_crash_after_xero_committed_never_creates_a_duplicate_on_resume(
    store, gateway, uow, clock
):
    store.add(*documents(120))
    gateway.crash_after_commit_on_push = 2  # the second batch reaches Xero, then we die
    with pytest.raises(SimulatedCrash):
        ExecuteRun(uow, gateway, clock).execute(
            StartSync(uow, FakeJobQueue(), clock).execute(SyncRequest(SO, TODAY, "a")).id
        )
    in_flight = [r for r in store.state.records.values() if r.state is SyncState.IN_FLIGHT]
    assert len(in_flight) == 50, "the crashed batch was committed in_flight before sending"
    assert len(gateway.created(SO)) == 100

    # The dead run is cleared (by the recovery command in production), then a new run resumes.
    dead = next(iter(store.state.runs.values()))
    store.state.runs[dead.id] = dead.abort("worker died", clock.now())
    gateway.crash_after_commit_on_push = None
    run = ExecuteRun(uow, gateway, clock).execute(
        StartSync(uow, FakeJobQueue(), clock).execute(SyncRequest(SO, TODAY, "a")).id
    )
    assert gateway.lookups == [(SO, 50)], "in-flight records are looked up in Xero first"
    assert len(gateway.created(SO)) == 120, "no duplicate reached Xero"
    assert run.created == 20 and run.state is RunState.SUCCEEDED
    erp_ids = [o.erp_id for o in gateway.created(SO)]
    assert len(erp_ids) == len(set(erp_ids))
    assert all(r.state is SyncState.SYNCED for r in store.state.records.values())


def test_a_429_stops_the_run_plainly_and_the_next_run_sends_the_rest_once(store, gateway, sync):
    store.add(*documents(80))
    gateway.rate_limited_pushes = 0
    calls = {"n": 0}
    original = gateway._push

    def limited(kind, items, key, status):
        calls["n"] += 1
        if calls["n"] == 2:
            gateway.rate_limited_pushes = 1
        return original(kind, items, key, status)

    gateway._push = limited
    run = sync.execute(req())
    assert run.state is RunState.ABORTED
    assert "call limit" in run.message and "continue in 30 seconds" in run.message
    assert run.created == 50
    rerun = sync.execute(req())
    assert rerun.state is RunState.SUCCEEDED and rerun.created == 30
    assert len(gateway.created(SO)) == 80


def test_documents_in_xeros_locked_period_are_carried_to_the_first_open_day(store, gateway, sync):
    gateway.chart_ = default_chart(lock_date=date(2026, 6, 30))
    locked, fine = document(day=date(2026, 6, 30)), document(day=date(2026, 7, 1))
    store.add(locked, fine)
    run = sync.execute(req())
    assert run.created == 2 and run.failed == 0
    carried = next(o.payload for o in gateway.created(SO) if o.erp_id == locked.erp_id)
    assert carried.date == date(2026, 7, 1) and "ERP date 2026-06-30" in carried.reference
    assert store.record(SO, locked.erp_id).sent.date == date(2026, 7, 1)


def test_with_the_hold_setting_locked_documents_wait_and_are_not_sent(store, gateway, sync):
    gateway.chart_ = default_chart(lock_date=date(2026, 6, 30))
    store.state.preferences["locked_period_policy"] = "hold"
    locked, fine = document(day=date(2026, 6, 30)), document(day=date(2026, 7, 1))
    store.add(locked, fine)
    run = sync.execute(req())
    assert [o.erp_id for o in gateway.created(SO)] == [fine.erp_id]
    assert run.failed == 1
    assert "held back" in store.record(SO, locked.erp_id).last_error


def test_archived_accounts_and_unknown_tax_types_fail_the_document_with_the_reason(
    store, gateway, sync
):
    archived = document(account="1460")
    unknown_tax = document(tax_type="GST15")
    store.add(archived, unknown_tax)
    run = sync.execute(req())
    assert run.failed == 2 and gateway.push_calls == []
    assert "1460 (Old barrel stock) is archived" in store.record(SO, archived.erp_id).last_error
    assert "Tax type GST15 does not exist" in store.record(SO, unknown_tax.erp_id).last_error


def test_lines_without_an_account_use_the_mapped_default(store, gateway, sync):
    doc = document(account="", tax_type="")
    store.add(doc)
    sync.execute(req())
    sent = gateway.created(SO)[0].payload
    assert sent.lines[0].account_code == "4000" and sent.lines[0].tax_type == "OUTPUT"


def test_warnings_keep_the_document_synced_but_visible(store, gateway, sync):
    doc = document()
    store.add(doc)
    gateway.warn_elements[doc.erp_id] = "Account code dropped from line 1."
    run = sync.execute(req())
    record = store.record(SO, doc.erp_id)
    assert record.state is SyncState.SYNCED and record.xero_id
    assert "Xero warned" in record.last_error and run.failures


def test_documents_changed_after_sync_are_not_sent_again(store, gateway, sync, clock):
    doc = document()
    store.add(doc)
    sync.execute(req())
    clock.advance(hours=1)
    edited(store, doc, clock.now())
    rerun = sync.execute(req())
    assert rerun.total == 0 and len(gateway.created(SO)) == 1


def test_refunds_go_to_credit_notes(store, gateway, sync):
    store.add(document(Kind.REFUNDS))
    sync.execute(req(Kind.REFUNDS))
    assert gateway.push_calls[0][0] is Kind.REFUNDS


def test_one_run_per_kind_at_a_time(uow, clock):
    queue = FakeJobQueue()
    start = StartSync(uow, queue, clock)
    first = start.execute(SyncRequest(SO, TODAY, "accountant"))
    with pytest.raises(RunAlreadyActive) as raised:
        start.execute(SyncRequest(SO, TODAY, "someone else"))
    assert raised.value.run_id == first.id
    assert queue.enqueued == [first.id]
    other_kind = start.execute(SyncRequest(Kind.REFUNDS, TODAY, "accountant"))
    assert queue.enqueued == [first.id, other_kind.id]


@pytest.mark.parametrize(
    ("closing", "error"),
    [(date(2026, 11, 27), ClosingDateInFuture), (date(2026, 10, 1), ClosingDateBeforeLastSync)],
)
def test_bad_closing_dates_are_refused_before_a_run_exists(store, sync, closing, error):
    store.state.marks[SO] = date(2026, 10, 31)
    with pytest.raises(error) as raised:
        sync.execute(req(closing=closing))
    assert raised.value.message.endswith(".")
    assert store.state.runs == {}


def test_journals_are_not_a_document_kind(sync):
    with pytest.raises(InvalidRequest):
        sync.execute(req(Kind.JOURNALS))


def test_xero_not_connected_aborts_with_a_plain_reason(store, gateway, sync):
    store.add(document())
    gateway.connected = False
    run = sync.execute(req())
    assert run.state is RunState.ABORTED and "press Connect" in run.message


def test_contacts_are_prepared_once_per_chunk_not_per_batch(store, gateway, uow, clock):
    store.add(*documents(120))
    run = SyncDocuments(uow, clock, ExecuteRun(uow, gateway, clock, chunk_size=100)).execute(req())
    assert run.created == 120
    assert gateway.prepared == [100, 20]
    assert [n for _, n, _ in gateway.push_calls] == [50, 50, 20]


def test_a_lost_answer_for_one_element_is_reconciled_not_resent(store, gateway, sync):
    docs = documents(5)
    store.add(*docs)
    gateway.lose_answers = {docs[2].erp_id}  # Xero created it, but its answer never arrived
    run = sync.execute(req())
    record = store.record(SO, docs[2].erp_id)
    assert record.state is SyncState.IN_FLIGHT and "looks it up in Xero" in record.last_error
    assert run.failed == 1 and run.created == 4
    gateway.lose_answers.clear()
    rerun = sync.execute(req())
    assert gateway.lookups == [(SO, 1)]
    assert rerun.total == 0 and store.record(SO, docs[2].erp_id).state is SyncState.SYNCED
    assert len(gateway.created(SO)) == 5, "no duplicate"


def _with_attributes(doc):
    lines = tuple(replace(line, attributes=(("brand", "Reserve"), ("vintage", "2024")))
                  for line in doc.lines)
    return replace(doc, lines=lines)


def test_invoice_lines_carry_the_tracking_the_mapping_gives_the_erps_batch_attributes(
        store, gateway, sync):
    store.add(_with_attributes(document()))
    store.state.mapping = replace(store.state.mapping, tracking=(TrackingMapping("brand", "Brand"),))
    sync.execute(req())
    [sent] = gateway.created(SO)
    assert [line.tracking for line in sent.payload.lines] == [(TrackingRef("Brand", "Reserve"),)]


def test_no_tracking_mapped_means_no_tracking_on_lines(store, gateway, sync):
    store.add(_with_attributes(document()))
    store.state.mapping = replace(store.state.mapping, tracking=())
    sync.execute(req())
    [sent] = gateway.created(SO)
    assert [line.tracking for line in sent.payload.lines] == [()]


def test_tracking_the_mapping_makes_is_checked_against_xero_before_anything_is_sent(
        store, gateway, sync):
    """Mapped to a category Xero does not have, the document is refused with why, unsent."""
    doc = _with_attributes(document())
    store.add(doc)
    store.state.mapping = replace(store.state.mapping, tracking=(TrackingMapping("brand", "Label"),))
    run = sync.execute(req())
    assert gateway.created(SO) == []
    assert run.failed == 1 and "Label" in store.record(SO, doc.erp_id).last_error
