"""The ledger's worker methods against real SQLite and PostgreSQL: taking a run, heartbeats,
stale runs and seizing them for recovery, each one conditional update that one contender wins."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

from accounts_sync.application.recover_runs import RecoverRuns
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.sync import RunState
from tests.fakes import FakeClock, FakeJobQueue

AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
CLOSING = date(2026, 11, 25)
STALE = timedelta(seconds=120)


def claim(uow_factory, kind=Kind.SALES_ORDERS, at=AT):
    with uow_factory() as uow:
        run = uow.ledger.claim_run(kind, CLOSING, "alice", None, at)
        uow.commit()
    return run


def take(uow_factory, run_id, owner, at, stale_before=None):
    with uow_factory() as uow:
        taken = uow.ledger.take_run(run_id, owner, at, stale_before or at - STALE)
        uow.commit()
    return taken


def test_a_queued_run_is_taken_by_one_worker_until_it_goes_quiet(uow_factory):
    run = claim(uow_factory)
    taken = take(uow_factory, run.id, "worker-a", AT)
    assert taken is not None and taken.heartbeat_at == AT
    assert take(uow_factory, run.id, "worker-b", AT + timedelta(seconds=5)) is None
    assert take(uow_factory, run.id, "worker-a", AT + timedelta(seconds=5)) is not None  # its own

    with uow_factory() as uow:
        assert uow.ledger.beat_run(run.id, "worker-a", AT + timedelta(seconds=60))
        assert not uow.ledger.beat_run(run.id, "worker-b", AT + timedelta(seconds=60))
        uow.commit()
    assert take(uow_factory, run.id, "worker-b", AT + timedelta(seconds=170)) is None  # alive
    later = AT + timedelta(seconds=181)  # 121 s after the last beat
    assert take(uow_factory, run.id, "worker-b", later) is not None
    with uow_factory() as uow:
        assert not uow.ledger.beat_run(run.id, "worker-a", later), "taken over: it must stop"


def test_a_running_run_without_an_owner_is_only_taken_when_stale(uow_factory):
    run = claim(uow_factory)
    with uow_factory() as uow:
        uow.ledger.save_run(run.start(10, AT))
        uow.commit()
    assert take(uow_factory, run.id, "worker-a", AT + timedelta(seconds=10)) is None
    assert take(uow_factory, run.id, "worker-a", AT + timedelta(seconds=121)) is not None


def test_ended_runs_are_never_taken_nor_stale(uow_factory):
    run = claim(uow_factory)
    with uow_factory() as uow:
        uow.ledger.save_run(run.abort("stopped", AT))
        uow.commit()
    far = AT + timedelta(days=1)
    assert take(uow_factory, run.id, "worker-a", far) is None
    with uow_factory() as uow:
        assert uow.ledger.stale_runs(far) == []
        assert uow.ledger.seize_stale_run(run.id, far, far, owner=None) is None


def test_stale_runs_are_those_silent_for_longer_than_the_timeout(uow_factory):
    quiet = claim(uow_factory, Kind.SALES_ORDERS, at=AT)
    talking = claim(uow_factory, Kind.REFUNDS, at=AT)
    take(uow_factory, talking.id, "worker", AT + timedelta(seconds=100))
    with uow_factory() as uow:
        stale = uow.ledger.stale_runs(AT + timedelta(seconds=150) - STALE)
    assert [r.id for r in stale] == [quiet.id]


def test_racing_workers_and_recoverers_let_exactly_one_win(uow_factory):
    run = claim(uow_factory)
    contenders = 6
    barrier = threading.Barrier(contenders)
    won: list[str] = []
    later = AT + timedelta(seconds=500)

    def contend(name: str) -> None:
        barrier.wait()
        if name.startswith("recover"):
            with uow_factory() as uow:
                if uow.ledger.seize_stale_run(run.id, later - STALE, later, owner=name):
                    won.append(name)
                uow.commit()
        elif take(uow_factory, run.id, name, later):
            won.append(name)

    names = [f"worker-{i}" for i in range(3)] + [f"recover-{i}" for i in range(3)]
    threads = [threading.Thread(target=contend, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(won) == 1, won


def test_recover_runs_on_the_database(uow_factory):
    dead = claim(uow_factory, Kind.SALES_ORDERS)
    take(uow_factory, dead.id, "worker", AT)
    with uow_factory() as uow:
        uow.ledger.save_run(uow.ledger.get_run(dead.id).start(10, AT))
        uow.commit()
    never_started = claim(uow_factory, Kind.REFUNDS)
    queue = FakeJobQueue()
    clock = FakeClock(AT + timedelta(seconds=121))
    result = RecoverRuns(uow_factory, clock, queue, stale_after=120).execute()
    assert [r.id for r in result.aborted] == [dead.id]
    assert [r.id for r in result.requeued] == [never_started.id] and queue.enqueued == [never_started.id]
    with uow_factory() as uow:
        assert uow.ledger.get_run(dead.id).state is RunState.ABORTED
        assert uow.ledger.get_run(never_started.id).state is RunState.QUEUED
        assert uow.ledger.active_run(Kind.SALES_ORDERS) is None  # the kind is free again
    assert RecoverRuns(uow_factory, clock, queue, stale_after=120).execute().recovered == ()
