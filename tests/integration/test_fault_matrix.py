"""The fault matrix (issue 5): sync runs against the Xero sandbox over HTTP, with real Redis
(RQ queue, shared rate limiter) and a real database (PostgreSQL, and SQLite where cheap). Every
case ends with Xero holding exactly one object per ERP document, and every ERP document synced
with its Xero id or visibly failed with a reason. Each test names the safeguard it proves: take
that safeguard out and the test fails.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from accounts_sync.adapters.erp_sql import host_schema
from accounts_sync.adapters.erp_sql.plugin_tables import SyncRecordRow
from accounts_sync.adapters.jobs.rq_job_queue import JOB_FUNCTION
from accounts_sync.application.post_journals import PostJournalsRequest
from accounts_sync.application.start_sync import SyncRequest
from accounts_sync.demo.xero_sandbox.seed import period_lock_for
from accounts_sync.domain.costs import Stage
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.errors import (
    ClosingDateBeforeLastSync,
    ClosingDateInFuture,
    InvalidClosingDate,
    RunAlreadyActive,
)
from accounts_sync.domain.mapping import TrackingMapping, TradeDefaults
from accounts_sync.domain.sync import JournalMode, RunState, parse_closing_date

from .test_fault_matrix_harness import (  # noqa: F401 - fixtures
    TODAY,
    join,
    make_rig_fixture,
    over_limit_429s,
    sandbox_docs,
    wait_until,
)
from .test_redis_harness import private_redis_fixture, redis_prefix_fixture, redis_url_fixture  # noqa: F401

SO = Kind.SALES_ORDERS
PO = Kind.PURCHASE_ORDERS
PG_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def start(rig, app, kind=SO, **kw):
    return rig.container(app).start_sync().execute(SyncRequest(kind, TODAY, "alice", **kw))


# ------------------------------------------------------------------ 1. worker killed mid-batch


def test_1_worker_killed_after_xero_committed_then_recover_and_rerun(make_rig):
    """A worker process is SIGKILLed mid-batch: Xero has committed batch 1, the worker has not
    recorded it. `recover` stops the dead run; the rerun sends every document exactly once.
    Bills, because Xero lets bill numbers repeat: only Accounts Sync stands between a resend
    and a duplicate.

    Safeguards: records stored in_flight before each push and looked up in Xero before any
    resend (without: batch 1 is created twice); the stale-run timeout and RecoverRuns (without:
    the kind stays held by the dead run and the rerun is refused)."""
    rig = make_rig()
    web = rig.app()
    rig.connect(web)
    ids = rig.purchase_orders(12)  # 3 batches of 5
    # Xero commits batch 1 and the answer is lost; the worker would retry in 30 s, but it dies.
    rig.sandbox.inject("commit_then_drop", count=1)
    run = start(rig, web, PO)
    worker = rig.worker_process("--burst", "--name", f"{rig.prefix}-doomed",
                                xero_backoff_initial=30, xero_backoff_jitter=0)
    wait_until(lambda: len(sandbox_docs(rig.sandbox, doc_type="ACCPAY")) == 5 and rig.owner(run.id),
               timeout=30)
    busy = int(rig.owner(run.id).split(":")[1])  # the process carrying the run out (RQ's child)
    os.kill(busy, signal.SIGKILL)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)

    dead = rig.run(web, run.id)
    assert dead.state is RunState.RUNNING and dead.created == 0
    with pytest.raises(RunAlreadyActive):
        start(rig, web, PO)

    rig.age_run(run.id, 60)  # the heartbeat stopped with the worker; let the timeout pass
    recovered = rig.cli("recover")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert f"Run {run.id} (purchase orders) stopped" in recovered.stdout
    stopped = rig.run(web, run.id)
    assert stopped.state is RunState.ABORTED and "stopped responding" in stopped.message

    rerun = start(rig, web, PO)
    rig.work(rig.app())
    assert rig.run(web, rerun.id).state is RunState.SUCCEEDED
    rig.assert_books_consistent(web, PO, ids, doc_type="ACCPAY", number_field="")


# ------------------------------------------------------------------ 2. 429 storm, shared limits


def test_2_a_429_storm_is_waited_out_by_every_worker_and_no_call_goes_over_the_limits(make_rig):
    """Three workers (three containers, as three machines) sync three kinds at once against an
    organisation that allows 2 calls in flight; mid-run Xero answers a storm of 429s.

    Safeguards: the rate limiter's in-flight count and hold-off live in Redis, shared by all
    workers (with a limiter per worker, three calls go out at once and Xero refuses the third:
    'concurrent' 429s), and Retry-After is honoured (the next call waits it out)."""
    rig = make_rig({"CONCURRENCY_LIMIT": 2}, xero_concurrency=2)
    web = rig.app()
    rig.connect(web)
    sales, purchases = rig.sales_orders(10), rig.purchase_orders(10)
    customer = rig.erp.customer("Cellar Door Sales")
    refunds = [str(rig.erp.refund(customer, number=f"RF-{i:04d}")) for i in range(1, 11)]
    rig.sandbox.inject("delay", ms=60)  # every call takes a while: the three workers overlap
    runs = [start(rig, web, kind) for kind in (SO, Kind.PURCHASE_ORDERS, Kind.REFUNDS)]
    workers = rig.start_workers(rig.app(), rig.app(), rig.app())
    wait_until(lambda: rig.sandbox.counters["writes"] >= 2)
    rig.sandbox.inject("rate_limit_storm", count=2, retry_after=1)
    join(workers)

    for run in runs:
        assert rig.run(web, run.id).state is RunState.SUCCEEDED, rig.run(web, run.id).message
    assert rig.sandbox.counters["faults_fired"].get("rate_limit_storm") == 2
    assert over_limit_429s(rig.sandbox) == 0, rig.sandbox.counters["rate_limited_by_problem"]
    with rig.sandbox.lock:
        calls = list(rig.sandbox.calls)
    storms = [_seconds(c["time"]) for c in calls if c.get("fault") == "rate_limit_storm"]
    starts = [_seconds(c["time"]) for c in calls if c.get("fault") != "rate_limit_storm"]
    for at in storms:
        # Calls the limiter let go before it heard of the 429 arrive within a few ms; after
        # that, no worker starts a call until Retry-After (1 s) has passed.
        early = [t - at for t in starts if at + 0.3 < t < at + 0.9]
        assert not early, f"calls {early} s after a 429 asking for 1 s: Retry-After not shared"
    rig.assert_books_consistent(web, SO, sales)
    rig.assert_books_consistent(web, Kind.PURCHASE_ORDERS, purchases, doc_type="ACCPAY",
                                number_field="")
    rig.assert_books_consistent(web, Kind.REFUNDS, refunds, plural="creditnotes",
                                doc_type="ACCRECCREDIT", number_field="CreditNoteNumber")


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# ------------------------------------------------------------------ 3. 503s and resets


def test_3_503s_and_connection_resets_on_random_calls_end_with_every_document_once(make_rig):
    """5xx answers, dropped connections and answers lost after Xero committed, on calls picked
    at random (seeded), during two runs on two workers.

    Safeguards: bounded retries with backoff (without: the first 503 aborts the run), and a
    retry carries the same Idempotency-Key (without: a commit-then-drop creates the batch twice)."""
    rig = make_rig()
    web = rig.app()
    rig.connect(web)
    sales, purchases = rig.sales_orders(15), rig.purchase_orders(15)
    rng = random.Random(5)
    plan = sorted(rng.sample(range(2, 17), 8))  # a run pair makes 16 calls, retries aside
    kinds = [rng.choice(["fail503", "fail502", "drop", "commit_then_drop"]) for _ in plan]
    kinds[:2] = ["commit_then_drop", "commit_then_drop"]  # at least two land on writes
    fired: list[str] = []

    def chaos(stop: threading.Event) -> None:
        for at, kind in zip(plan, kinds, strict=True):
            while rig.sandbox.counters["api_calls"] < at:
                if stop.wait(0.002):
                    return
            if kind.startswith("fail"):
                rig.sandbox.inject("fail", status=int(kind[4:]), count=1)
            else:
                rig.sandbox.inject(kind, count=1)
            fired.append(kind)

    runs = [start(rig, web, SO), start(rig, web, Kind.PURCHASE_ORDERS)]
    stop = threading.Event()
    monkey = threading.Thread(target=chaos, args=(stop,), daemon=True)
    monkey.start()
    join(rig.start_workers(rig.app(), rig.app()))
    stop.set()
    monkey.join(5)

    for run in runs:
        assert rig.run(web, run.id).state is RunState.SUCCEEDED, (plan, kinds, rig.run(web, run.id))
    faults = rig.sandbox.counters["faults_fired"]
    assert sum(faults.values()) >= 6, (plan, kinds, faults)
    if faults.get("commit_then_drop"):
        assert rig.sandbox.counters["idempotent_replays"] >= 1, "a lost answer was replayed"
    rig.assert_books_consistent(web, SO, sales)
    rig.assert_books_consistent(web, Kind.PURCHASE_ORDERS, purchases, doc_type="ACCPAY",
                                number_field="")


# ------------------------------------------------------------------ 4. tokens expiring


def test_4_tokens_expire_mid_run_and_two_workers_refresh_at_once(make_rig):
    """Access tokens expire while two workers (two containers: two token caches) are mid-run;
    Xero's token endpoint is slow, so both workers are refreshing at the same time. Refresh
    tokens are single-use (no grace period here) and rotate on every refresh.

    Safeguard: refreshes serialised by a lock on the connection's database row, with the token
    re-read inside it (without: both refresh with the same refresh token, the second gets
    invalid_grant and its run stops asking for re-authorisation)."""
    rig = make_rig({"REFRESH_GRACE_SECONDS": 0})
    web = rig.app()
    rig.connect(web)
    sales, purchases = rig.sales_orders(25), rig.purchase_orders(25)
    rig.sandbox.inject("delay", ms=50)
    runs = [start(rig, web, SO), start(rig, web, Kind.PURCHASE_ORDERS)]
    workers = rig.start_workers(rig.app(), rig.app())
    wait_until(lambda: {c["path"].rsplit("/", 1)[-1] for c in list(rig.sandbox.calls)
                        if c["method"] == "PUT"} >= {"Invoices"} and rig.sandbox.counters["writes"] >= 2)
    grants_before = rig.sandbox.counters["refresh_token_grants"]
    rig.slow_token_endpoint(0.4)
    rig.sandbox.inject("expire_tokens")
    join(workers)

    for run in runs:
        assert rig.run(web, run.id).state is RunState.SUCCEEDED, rig.run(web, run.id).message
    counters = rig.sandbox.counters
    assert counters["unauthorised"] >= 2, "both workers met the expired token"
    assert counters["refresh_failures"] == 0
    assert counters["refresh_token_grants"] - grants_before == 1, "refreshed once, reused by the other"
    rig.assert_books_consistent(web, SO, sales)
    rig.assert_books_consistent(web, Kind.PURCHASE_ORDERS, purchases, doc_type="ACCPAY",
                                number_field="")


# ------------------------------------------------------------------ 5. validation errors


def test_5_validation_errors_on_some_elements_then_fix_the_mapping_and_retry_only_those(make_rig):
    """An account is archived in Xero after the worker read its chart. The run reads the chart
    again when it starts, so Accounts Sync refuses the elements that use it itself (Xero never
    sees them) and sends the others. The mapping is fixed; the rerun sends only the refused ones.

    Safeguards: the chart read afresh per run (without: Xero refuses them, or with
    summarizeErrors=true fails the whole batch) and per-document state (without: the rerun
    resends everything)."""
    rig = make_rig()
    web = rig.app()
    rig.connect(web)
    good = rig.sales_orders(6)
    defaulted = rig.sales_orders(4, account=None, prefix="SOD")  # account from the mapping
    ids = good + defaulted
    save_trade_default(rig, web, "4100")
    worker = rig.app()
    rig.container(worker).gateway().chart()  # the worker has read Xero's chart...
    rig.sandbox.inject("archive_account", code="4100")  # ...and then 4100 is archived in Xero

    first = start(rig, web)
    rig.work(worker)
    done = rig.run(web, first.id)
    assert (done.state, done.created, done.failed) == (RunState.FAILED, 6, 4)
    assert all("4100" in f.reason and "archived" in f.reason for f in done.failures)
    assert {f.by for f in done.failures} == {"accounts_sync"}
    assert rig.sandbox.counters["elements_rejected"] == 0
    rig.assert_books_consistent(web, SO, ids, expect_failed=4)

    save_trade_default(rig, web, "4000")  # the accountant fixes the mapping
    received = rig.sandbox.counters["elements_received"]
    rerun = start(rig, web)
    rig.work(worker)
    again = rig.run(web, rerun.id)
    assert (again.state, again.created, again.total) == (RunState.SUCCEEDED, 4, 4)
    assert rig.sandbox.counters["elements_received"] - received == 4, "only the refused ones"
    rig.assert_books_consistent(web, SO, ids)
    assert all(r.attempts == 2 for r in rig.records(web, SO, defaulted).values())


def save_trade_default(rig, app, account: str) -> None:
    with rig.container(app).unit_of_work() as uow:
        mapping = uow.settings.mapping()
        defaults = dict(mapping.trade_defaults)
        defaults[SO] = TradeDefaults(account, "OUTPUT")
        uow.settings.save_mapping(replace(mapping, trade_defaults=defaults))
        uow.commit()


# ------------------------------------------------------------------ 6. racing clicks and workers


def test_6_two_sync_clicks_and_two_workers_racing_for_the_same_kind(make_rig):
    """Two web processes press Sync for the same kind at the same instant; the run's job is
    then delivered twice and two workers start on it together.

    Safeguards: the database's one-active-run-per-kind index (without: two runs of one kind)
    and RunJob taking the run with one conditional update (without: both workers send the same
    documents: duplicates)."""
    rig = make_rig()
    web_a, web_b = rig.app(), rig.app()
    rig.connect(web_a)
    ids = rig.sales_orders(15)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def click(app) -> None:
        barrier.wait()
        try:
            outcomes.append(start(rig, app))
        except RunAlreadyActive as busy:
            outcomes.append(busy)

    clicks = [threading.Thread(target=click, args=(app,)) for app in (web_a, web_b)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(30)
    runs = [o for o in outcomes if not isinstance(o, RunAlreadyActive)]
    refused = [o for o in outcomes if isinstance(o, RunAlreadyActive)]
    assert len(runs) == 1 and len(refused) == 1 and refused[0].run_id == runs[0].id
    run = runs[0]

    Queue(rig.settings["rq_queue"], connection=Redis.from_url(rig.redis_url)).enqueue_call(
        JOB_FUNCTION, args=(run.id,), job_id=f"{rig.prefix}-again")  # delivered a second time
    rig.sandbox.inject("delay", ms=30)
    join(rig.start_workers(rig.app(), rig.app()))
    assert rig.run(web_a, run.id).state is RunState.SUCCEEDED
    rig.assert_books_consistent(web_a, SO, ids)
    assert rig.sandbox.counters["writes"] == 3, "one worker sent the 3 batches, the other nothing"


# ------------------------------------------------------------------ 7. refusals


def test_7_every_refusal_is_plain_and_sends_nothing(make_rig):
    """Closing dates in the future, before the last sync, inside Xero's lock period or
    malformed; unmapped and unbalanced journals; documents edited after they were synced.

    Safeguards: the closing-date window (claim and run), the checks gathered before anything is
    sent (SyncRefused), and per-document state with fingerprints (edited documents are shown,
    never sent again)."""
    rig = make_rig()
    web = rig.app()
    rig.connect(web)
    ids = rig.sales_orders(3)
    services = rig.container(web)

    def writes() -> int:
        return rig.sandbox.counters["writes"]

    with pytest.raises(ClosingDateInFuture, match="is in the future"):
        services.start_sync().execute(SyncRequest(SO, TODAY + timedelta(days=1), "alice"))
    with pytest.raises(InvalidClosingDate, match="is not a date"):
        parse_closing_date("2026-13-45", TODAY)
    typed = web.test_cli_runner().invoke(
        args=["accounts-sync", "sync", "sales_orders", "--closing-date", "26/11/2026"])
    assert typed.exit_code == 1 and "enter the closing date as YYYY-MM-DD" in typed.output
    assert "Traceback" not in typed.output

    locked = start_at(rig, web, period_lock_for(TODAY))  # Xero's period lock date
    rig.work(rig.app())
    stopped = rig.run(web, locked.id)
    assert stopped.state is RunState.ABORTED and "locked period" in stopped.message
    assert writes() == 0

    op = rig.erp.operation("XFR-1", "Transfer: 2024 Shiraz into 2025 blend")
    rig.erp.cost_entry(op, date(2026, 3, 2), "transfer", "bulk_wine", "-100.0000", "bulk_wine",
                       "bulk_wine", vintage="2024")
    rig.erp.cost_entry(op, date(2026, 3, 2), "transfer", "bulk_wine", "90.0000", "bulk_wine",
                       "bulk_wine", vintage="2025")
    journal = services.post_journals().execute(
        PostJournalsRequest(TODAY, JournalMode.DRAFT, "alice"))  # nothing mapped yet
    assert journal.state is RunState.ABORTED and journal.message.startswith("Nothing was sent")
    assert "no Xero account" in journal.message
    save_stage_accounts(rig, web)
    journal = services.post_journals().execute(PostJournalsRequest(TODAY, JournalMode.DRAFT, "alice"))
    assert journal.state is RunState.ABORTED and journal.message.startswith("Nothing was sent")
    assert "differs by" in journal.message  # the transfer out and in do not match
    assert writes() == 0, "no refusal sent anything"

    synced = start(rig, web)
    rig.work(rig.app())
    assert rig.run(web, synced.id).state is RunState.SUCCEEDED
    with pytest.raises(ClosingDateBeforeLastSync, match="before the last sync"):
        services.start_sync().execute(SyncRequest(SO, TODAY - timedelta(days=1), "alice"))

    rig.erp.touch(host_schema.sales_orders, int(ids[0]), datetime.now(UTC).replace(tzinfo=None)
                  + timedelta(minutes=5))
    with services.unit_of_work() as uow:
        changed = uow.documents.changed_after_sync(SO, 10)
    assert [c.erp_id for c in changed] == [ids[0]]
    before = writes()
    again = start(rig, web)
    rig.work(rig.app())
    assert rig.run(web, again.id).total == 0 and writes() == before, "an edited document is not re-sent"
    rig.assert_books_consistent(web, SO, ids)


def start_at(rig, app, closing: date):
    return rig.container(app).start_sync().execute(SyncRequest(SO, closing, "alice"))


def save_stage_accounts(rig, app) -> None:
    with rig.container(app).unit_of_work() as uow:
        mapping = uow.settings.mapping()
        uow.settings.save_mapping(replace(
            mapping, stage_accounts={Stage.BULK_WINE: "1440"}, rounding_account="860",
            tracking=(TrackingMapping("vintage", "Vintage"),)))
        uow.commit()


# ------------------------------------------------------------------ 8. Redis and PostgreSQL


def test_8a_redis_restarted_mid_run(make_rig, private_redis):
    """Redis (queue and shared limiter) dies mid-run, losing its data, and comes back. The run
    carries on; a run whose job was lost with Redis is handed over again by `recover`.

    Safeguards: the limiter retries Redis for a while (without: the first Redis error crashes
    the run, left half done), and RecoverRuns requeues queued runs never started (without: the
    second kind stays queued for ever)."""
    rig = make_rig(redis_url=private_redis.url)
    web = rig.app()
    rig.connect(web)
    sales, purchases = rig.sales_orders(15), rig.purchase_orders(5)
    rig.sandbox.inject("delay", ms=60)
    first = start(rig, web)
    worker = rig.app()
    workers = rig.start_workers(worker)
    wait_until(lambda: rig.sandbox.counters["writes"] >= 1)
    second = start(rig, web, Kind.PURCHASE_ORDERS)  # its job waits in Redis...
    private_redis.restart()  # ...and is lost with everything else in Redis
    join(workers)
    assert rig.container(worker).rate_limiter().redis_errors >= 1, "the restart hit the run"
    assert rig.run(web, first.id).state is RunState.SUCCEEDED, rig.run(web, first.id).message
    rig.assert_books_consistent(web, SO, sales)
    assert rig.run(web, second.id).state is RunState.QUEUED

    rig.age_run(second.id, 60)
    recovered = rig.container(web).recover_runs().execute()
    assert [r.id for r in recovered.requeued] == [second.id]
    rig.work(rig.app())
    assert rig.run(web, second.id).state is RunState.SUCCEEDED
    rig.assert_books_consistent(web, Kind.PURCHASE_ORDERS, purchases, doc_type="ACCPAY",
                                number_field="")


@PG_ONLY
def test_8b_postgresql_connections_dropped_mid_run(make_rig, db_url):
    """PostgreSQL ends the worker's connections twice: while they sit idle during a push (the
    run carries on), and while the worker waits to record a batch Xero has committed (the run
    stops with a plain reason; the rerun finds the batch in Xero and sends nothing twice).

    Safeguards: connections checked before use (pool_pre_ping; without: the run dies on the
    first dropped connection) and the in-flight records reconciled before any resend."""
    rig = make_rig()
    named = make_url(db_url).update_query_dict({"application_name": rig.prefix})
    named_url = named.render_as_string(hide_password=False)
    web = rig.app()
    rig.connect(web)
    ids = rig.sales_orders(15)
    rig.sandbox.inject("delay", ms=150)

    first = start(rig, web)
    workers = rig.start_workers(rig.app(db_url=named_url))
    wait_until(lambda: rig.sandbox.counters["writes"] >= 1)
    wait_until(lambda: terminate(rig, "idle"))  # pooled, while the worker waits for Xero
    join(workers)
    assert rig.run(web, first.id).state is RunState.SUCCEEDED
    rig.assert_books_consistent(web, SO, ids)

    more = rig.sales_orders(10, prefix="SOB")
    second = start(rig, web)
    with rig.engine.connect() as blocker:
        transaction = blocker.begin()
        workers = rig.start_workers(rig.app(db_url=named_url))
        in_flight = (select(SyncRecordRow.id)
                     .where(SyncRecordRow.run_id == second.id, SyncRecordRow.state == "in_flight"))
        # Batch 1 is committed in_flight and on its way to Xero (150 ms): hold its rows, so
        # the worker, back from Xero, waits to record the outcome; then end its connection.
        wait_until(lambda: blocker.execute(in_flight.with_for_update()).all())
        wait_until(lambda: terminate(rig, "Lock"))
        transaction.rollback()
    join(workers)
    stopped = rig.run(web, second.id)
    assert stopped.state is RunState.ABORTED and "database cannot be reached" in stopped.message
    assert len(sandbox_docs(rig.sandbox)) == 20  # Xero has batch 1; the ERP does not know yet

    rerun = start(rig, web)
    rig.work(rig.app())
    assert rig.run(web, rerun.id).state is RunState.SUCCEEDED
    rig.assert_books_consistent(web, SO, ids + more)


def terminate(rig, wait: str) -> int:
    """End the worker's PostgreSQL connections that are idle / waiting on a lock."""
    # Idle for a while, not just pinged: a connection checked out of the pool was pinged a
    # moment ago and is about to be used (ending it then is a race of the test, not a dropped
    # idle connection, which is what pool_pre_ping is there to survive).
    condition = ("state = 'idle' AND state_change < clock_timestamp() - interval '80 milliseconds'"
                 if wait == "idle" else "wait_event_type = 'Lock'")
    with rig.engine.connect() as connection:
        ended = connection.execute(text(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE application_name = :name AND {condition}"), {"name": rig.prefix}).all()
        connection.commit()
    return len(ended)
