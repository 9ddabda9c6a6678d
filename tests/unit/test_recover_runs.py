"""Stuck runs and the workers that hold runs, against the in-memory fakes: RecoverRuns,
ClaimWithRecovery and RunJob (take, heartbeat, fence)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts_sync.application.execute_run import ExecuteRun
from accounts_sync.application.recover_runs import ClaimWithRecovery, RecoverRequest, RecoverRuns
from accounts_sync.application.run_job import FencedGateway, RunJob, RunTakenOver
from accounts_sync.application.start_sync import StartSync, SyncRequest
from accounts_sync.application.sync_documents import SyncDocuments, SyncDocumentsRequest
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.errors import RunAlreadyActive
from accounts_sync.domain.sync import RunState, SyncState
from tests.builders import documents, mapping
from tests.fakes import (
    FakeClock,
    FakeGateway,
    FakeJobQueue,
    InMemoryStore,
    SimulatedCrash,
    uow_factory,
)

TODAY = date(2026, 11, 26)
SO = Kind.SALES_ORDERS
STALE_AFTER = 120


class HookedGateway(FakeGateway):
    """A FakeGateway that calls `on_push(call_number)` before answering each push."""

    def __init__(self) -> None:
        super().__init__()
        self.on_push = lambda n: None

    def _push(self, kind, items, key, status):
        self.on_push(len(self.push_calls) + 1)
        return super()._push(kind, items, key, status)


@pytest.fixture
def gateway():
    return HookedGateway()


@pytest.fixture
def queue():
    return FakeJobQueue()


@pytest.fixture
def recover(uow, clock, queue):
    return RecoverRuns(uow, clock, queue, stale_after=STALE_AFTER)


def run_job(uow, gateway, clock, recover=None, heartbeat_every=None):
    def execute_run(gateway):
        return ExecuteRun(uow, gateway, clock, batch_size=10)
    return RunJob(uow, gateway, clock, execute_run, recover=recover, stale_after=STALE_AFTER,
                  heartbeat_every=heartbeat_every or STALE_AFTER / 2)


def wait_until(condition, timeout=5.0):
    stop = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if condition():
            return
        stop.wait(0.005)
    raise AssertionError("timed out")


def sync_with(uow, clock, job, recover):
    return ClaimWithRecovery(SyncDocuments(uow, clock, job), recover)


def request():
    return SyncDocumentsRequest(SO, TODAY, "accountant")


# ------------------------------------------------------------------ a worker that died


def test_a_run_whose_worker_died_is_stopped_and_the_next_sync_resends_nothing_twice(
        store, uow, gateway, clock, recover):
    """Safeguards: the stale-run timeout frees the kind (else RunAlreadyActive forever), and
    the next run reconciles in-flight records with Xero before sending (else 10 duplicates)."""
    store.add(*documents(30))
    gateway.crash_after_commit_on_push = 1  # Xero has batch 1; the worker dies before recording it
    sync = sync_with(uow, clock, run_job(uow, gateway, clock, recover), recover)
    with pytest.raises(SimulatedCrash):
        sync.execute(request())
    dead = store.state.runs[1]
    assert dead.state is RunState.RUNNING
    assert sum(r.state is SyncState.IN_FLIGHT for r in store.state.records.values()) == 10

    clock.advance(seconds=STALE_AFTER - 1)
    with pytest.raises(RunAlreadyActive):  # not stale yet: still taken for alive
        sync.execute(request())

    clock.advance(seconds=2)
    rerun = sync.execute(request())
    stopped = store.state.runs[dead.id]
    assert stopped.state is RunState.ABORTED
    assert "stopped responding" in stopped.message and "none is sent twice" in stopped.message
    assert rerun.state is RunState.SUCCEEDED
    assert len(gateway.created(SO)) == 30, "each document exactly once in Xero"
    assert gateway.lookups, "in-flight records were looked up before anything was resent"
    assert all(r.state is SyncState.SYNCED for r in store.state.records.values())


def test_a_dead_runs_records_say_why_they_are_unconfirmed_and_what_to_do(store, uow, gateway,
                                                                          clock, recover):
    store.add(*documents(10))
    gateway.crash_after_commit_on_push = 1
    sync = sync_with(uow, clock, run_job(uow, gateway, clock, recover), recover)
    with pytest.raises(SimulatedCrash):
        sync.execute(request())
    clock.advance(seconds=STALE_AFTER + 1)
    recover.execute()
    left = [r for r in store.state.records.values() if r.state is SyncState.IN_FLIGHT]
    assert len(left) == 10
    assert all(r.last_error.startswith("Not confirmed by Xero: the worker running the sync "
                                       "stopped responding.") and "Press Retry" in r.last_error
               for r in left)


def test_recover_reports_nothing_when_every_run_is_alive(store, uow, clock, recover):
    store.add(*documents(3))
    StartSync(uow, FakeJobQueue(), clock).execute(SyncRequest(SO, TODAY, "a"))
    clock.advance(seconds=STALE_AFTER - 1)
    assert recover.execute().recovered == ()
    assert store.state.runs[1].state is RunState.QUEUED


def test_a_run_queued_but_never_started_is_handed_to_the_workers_again(store, uow, clock, queue,
                                                                       recover):
    store.add(*documents(3))
    run = StartSync(uow, queue, clock).execute(SyncRequest(SO, TODAY, "a"))
    queue.enqueued.clear()  # the job was lost (say Redis restarted without its data)
    clock.advance(seconds=STALE_AFTER + 1)
    result = recover.execute()
    assert [r.id for r in result.requeued] == [run.id] and result.aborted == ()
    assert queue.enqueued == [run.id]
    assert store.state.runs[run.id].state is RunState.QUEUED
    assert recover.execute().recovered == (), "handed over once per timeout, not at every call"


def test_without_a_queue_a_run_that_never_started_is_cancelled_with_a_reason(store, uow, clock):
    store.add(*documents(3))
    StartSync(uow, FakeJobQueue(), clock).execute(SyncRequest(SO, TODAY, "a"))
    clock.advance(seconds=STALE_AFTER + 1)
    result = RecoverRuns(uow, clock, None, stale_after=STALE_AFTER).execute()
    assert [r.state for r in result.aborted] == [RunState.ABORTED]
    assert "No worker started this sync" in result.aborted[0].message


def test_recover_can_be_asked_for_a_shorter_timeout_and_for_one_run(store, uow, clock, recover):
    store.add(*documents(3))
    claims = StartSync(uow, FakeJobQueue(), clock)
    first = claims.execute(SyncRequest(SO, TODAY, "a"))
    second = claims.execute(SyncRequest(Kind.REFUNDS, TODAY, "a"))
    clock.advance(seconds=10)
    assert recover.execute().recovered == ()
    result = recover.execute(RecoverRequest(run_id=second.id, stale_after=5))
    assert [r.id for r in result.recovered] == [second.id]
    assert store.state.runs[first.id].state is RunState.QUEUED


# ------------------------------------------------------------------ RunJob


def test_a_run_held_by_a_live_worker_is_not_worked_on_twice(store, uow, gateway, clock):
    """Safeguard: take_run. A job delivered twice finds the run held and sends nothing."""
    store.add(*documents(5))
    run = StartSync(uow, FakeJobQueue(), clock).execute(SyncRequest(SO, TODAY, "a"))
    with uow() as u:
        assert u.ledger.take_run(run.id, "other-worker", clock.now(), clock.now()) is not None
        u.commit()
    result = run_job(uow, gateway, clock).execute(run.id)
    assert result.state is RunState.QUEUED
    assert gateway.push_calls == []


def test_a_finished_run_delivered_again_is_left_alone(store, uow, gateway, clock):
    store.add(*documents(5))
    run = StartSync(uow, FakeJobQueue(), clock).execute(SyncRequest(SO, TODAY, "a"))
    job = run_job(uow, gateway, clock)
    assert job.execute(run.id).state is RunState.SUCCEEDED
    assert job.execute(run.id).state is RunState.SUCCEEDED
    assert len(gateway.push_calls) == 1


def test_a_stale_run_is_taken_over_and_finished_after_reconciling(store, uow, gateway, clock):
    store.add(*documents(25))
    run = StartSync(uow, FakeJobQueue(), clock).execute(SyncRequest(SO, TODAY, "a"))
    gateway.crash_after_commit_on_push = 1
    with pytest.raises(SimulatedCrash):
        run_job(uow, gateway, clock).execute(run.id)
    clock.advance(seconds=STALE_AFTER + 1)
    gateway.crash_after_commit_on_push = None
    finished = run_job(uow, gateway, clock).execute(run.id)  # e.g. the job requeued by hand
    assert finished.state is RunState.SUCCEEDED
    assert len(gateway.created(SO)) == 25


def test_the_heartbeat_keeps_a_slow_run_from_being_taken_for_dead(store, uow, gateway, clock,
                                                                  recover):
    """Safeguard: RunJob's heartbeat thread. Without it, a run waiting out a long Xero limit
    looks dead after the timeout and would be stopped under the worker's feet."""
    store.add(*documents(5))
    run = StartSync(uow, FakeJobQueue(), clock).execute(SyncRequest(SO, TODAY, "a"))
    verdict = {}

    def slow_push(n):
        clock.advance(seconds=STALE_AFTER * 3)  # e.g. waiting out 429s
        wait_until(lambda: store.state.runs[run.id].heartbeat_at == clock.now())
        verdict["recovered"] = recover.execute().recovered

    gateway.on_push = slow_push
    done = run_job(uow, gateway, clock, heartbeat_every=0.01).execute(run.id)
    assert verdict["recovered"] == ()
    assert done.state is RunState.SUCCEEDED


def test_a_worker_taken_over_stops_sending(store, uow, gateway, clock):
    """Safeguard: the fence. A worker wrongly thought dead (its run was handed to another)
    learns it at its next heartbeat and sends nothing more: two workers never send one run."""
    store.add(*documents(30))
    run = StartSync(uow, FakeJobQueue(), clock).execute(SyncRequest(SO, TODAY, "a"))

    fence = {}

    def taken_over_during_first_push(n):
        if n == 1:
            store.state.owners[run.id] = "the-worker-that-took-over"
            wait_until(lambda: fence["gateway"].lost.is_set())

    def execute_run(gateway):
        fence["gateway"] = gateway
        return ExecuteRun(uow, gateway, clock, batch_size=10)

    gateway.on_push = taken_over_during_first_push
    job = RunJob(uow, gateway, clock, execute_run, stale_after=STALE_AFTER, heartbeat_every=0.01)
    result = job.execute(run.id)
    assert fence["gateway"].lost.is_set()
    assert len(gateway.push_calls) == 1, "nothing sent after the takeover was noticed"
    assert result.state is RunState.RUNNING  # the run is the other worker's now, untouched


def test_the_fence_lets_reads_through_and_stops_writes():
    lost = threading.Event()
    fenced = FencedGateway(FakeGateway(), lost, 7)
    docs = documents(2)
    assert fenced.push_invoices(docs[:1], "k1")[0].created
    lost.set()
    assert fenced.chart() is not None and fenced.find_existing(SO, []) == {}
    with pytest.raises(RunTakenOver):
        fenced.push_invoices(docs[1:], "k2")


def test_the_heartbeat_must_beat_within_the_timeout(uow, gateway, clock):
    with pytest.raises(ValueError):
        RunJob(uow, gateway, clock, lambda gateway: None, stale_after=10, heartbeat_every=10)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sets(st.integers(0, 29), max_size=8), st.none() | st.integers(1, 5)),
                min_size=1, max_size=5))
def test_any_sequence_of_worker_deaths_failures_and_recoveries_syncs_each_document_once(rounds):
    """Each round a Sync runs; some documents are refused, and the worker may die right after
    Xero committed its n-th batch. The next Sync finds the dead run stale, recovers it and
    goes on. In the end every document is in Xero exactly once and recorded as synced."""
    store = InMemoryStore()
    store.state.mapping = mapping()
    docs = documents(30)
    store.add(*docs)
    gateway, clock = FakeGateway(), FakeClock()
    uow = uow_factory(store)
    recover = RecoverRuns(uow, clock, FakeJobQueue(), stale_after=STALE_AFTER)
    sync = sync_with(uow, clock, run_job(uow, gateway, clock, recover), recover)
    for failing, crash_at in [*rounds, (set(), None)]:
        gateway.fail_elements = {docs[i].erp_id: "refused" for i in failing}
        gateway.crash_after_commit_on_push = (
            None if crash_at is None else len(gateway.push_calls) + crash_at)
        try:
            sync.execute(request())
        except SimulatedCrash:
            pass
        clock.advance(seconds=STALE_AFTER + 1)
    created = [o.erp_id for o in gateway.created(SO)]
    assert sorted(created) == sorted(d.erp_id for d in docs)
    assert all(store.record(SO, d.erp_id).state is SyncState.SYNCED for d in docs)
    assert not any(run.is_active for run in store.state.runs.values())
