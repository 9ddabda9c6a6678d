"""One due schedule, one run, however many processes look at it (issue 13), on SQLite and
PostgreSQL, against the Xero sandbox over HTTP:

- two `flask accounts-sync worker` processes with RQ's scheduler and a web process, on Redis:
  the web process saves the schedule and plans its firing in Redis; RQ's scheduler (one worker
  holds its lock) moves the call onto the queue; a second planned call and the web process
  itself fire at the same moment too; exactly one run is started, carried out by a worker;
- several `flask accounts-sync run-due` processes at once (cron on several machines, no
  workers): one starts the run and carries it out, the others find nothing due;
- the store's compare-and-set itself, two transactions interleaved.

Safeguard: `ScheduleStore.fire`, one conditional UPDATE of the schedule's next firing. Without
its condition, every process that read the schedule due before another moved it on fires it
too: the one-active-run index joins the runs that overlap, but a second run starts as soon as
the first has ended. The last test fails without it whatever the timing; the process tests
show the whole path, and fail without it when processes read within the same moments.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue, Worker
from sqlalchemy import select, update

from accounts_sync.adapters.erp_sql.plugin_tables import RunRow, ScheduleRow
from accounts_sync.adapters.jobs.rq_scheduler import TICK_FUNCTION
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.schedules import SCHEDULED_BY, Cadence, Schedule, ScheduleEntry
from accounts_sync.domain.sync import RunState

from .test_fault_matrix_harness import PROJECT, WORKER_APP, make_rig_fixture, wait_until  # noqa: F401
from .test_redis_harness import redis_prefix_fixture, redis_url_fixture  # noqa: F401
from .web_host import logged_in

SO = Kind.SALES_ORDERS


def schedule_every_five_minutes(app) -> None:
    """As a person does it: Settings, Schedules and alerts."""
    client = logged_in(app, "accountant")
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/accounts/sync/settings").get_data(as_text=True))[1]
    answer = client.post("/accounts/sync/settings/schedules", data={
        "csrf_token": token, "schedule__sales_orders__cadence": "every",
        "schedule__sales_orders__every": "5", "alert_addresses": "", "alert_runs": "all"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[-2000:]


def make_due_at(engine, moment: datetime) -> None:
    """As if the five minutes had passed: the schedule's next firing is `moment`."""
    with engine.begin() as connection:
        connection.execute(update(ScheduleRow).where(ScheduleRow.name == SO.value).values(
            next_due_at=moment.astimezone(UTC).replace(tzinfo=None)))


def runs_of(engine, kind: Kind) -> list:
    with engine.connect() as connection:
        return list(connection.execute(select(RunRow.id, RunRow.state, RunRow.requested_by)
                                       .where(RunRow.kind == kind.value).order_by(RunRow.id)))


def test_two_workers_and_a_web_process_on_redis_start_one_run_for_one_due_schedule(make_rig):
    rig = make_rig(scheduler="rq")
    web = rig.app()
    rig.connect(web)
    ids = rig.sales_orders(12)
    schedule_every_five_minutes(web)

    workers = [rig.worker_process("--name", f"{rig.prefix}-w{n}") for n in (1, 2)]
    redis = Redis.from_url(rig.redis_url)
    queue = Queue(rig.settings["rq_queue"], connection=redis)
    wait_until(lambda: len(Worker.all(queue=queue)) == 2, timeout=60, poll=0.2)

    due = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    make_due_at(rig.engine, due)
    container = rig.container(web)
    container.scheduler().plan(due)  # what a save in Settings plans
    # Another process planned the same moment under another job id.
    queue.enqueue_at(due, TICK_FUNCTION, job_id=f"{rig.settings['rq_queue']}-due-again")

    # The web process looks at the schedules at the same moment too.
    while datetime.now(UTC) < due:
        time.sleep(0.02)
    container.run_due_schedules().execute()

    run_id = wait_until(lambda: next((r.id for r in runs_of(rig.engine, SO)
                                      if r.state == RunState.SUCCEEDED.value), None), timeout=90)
    time.sleep(2)  # any late duplicate would show by now
    runs = runs_of(rig.engine, SO)
    assert [(r.id, r.requested_by) for r in runs] == [(run_id, SCHEDULED_BY)]
    rig.assert_books_consistent(web, SO, ids)
    entry = container.get_schedules().execute().entry(SO)
    assert entry.last_run_id == run_id and entry.last_due_at == due
    assert entry.last_outcome.startswith(f"Started run {run_id}")  # no later firing said "Joined"
    assert entry.next_due_at > due
    # Both planned calls ran on the workers (through RQ's scheduler) and fired nothing twice.
    from rq.job import Job
    done = [Job.fetch(job_id, connection=redis).get_status(refresh=True)
            for job_id in (container.scheduler().job_id(due), f"{rig.settings['rq_queue']}-due-again")]
    assert [s.value for s in done] == ["finished", "finished"]

    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(30)


def test_run_due_from_several_processes_at_once_starts_one_run(make_rig):
    """Cron on several machines, no workers: each `run-due` carries out what it started."""
    rig = make_rig(redis_url="")
    web = rig.app()
    rig.connect(web)
    ids = rig.sales_orders(6)
    schedule_every_five_minutes(web)
    start_at = time.time() + 6
    make_due_at(rig.engine, datetime.now(UTC) - timedelta(seconds=1))
    env = {**os.environ, "AS_TEST_DB_URL": rig.db_url, "PYTHONPATH": str(PROJECT),
           "AS_TEST_SETTINGS": json.dumps({**rig.settings, "redis_url": ""})}
    # Each process loads everything, then waits for the same instant before it looks.
    code = (f"import time, sys; from flask.cli import main; import accounts_sync.web, "
            f"tests.integration.test_fault_matrix_harness; "
            f"time.sleep(max(0, {start_at} - time.time())); "
            f"sys.argv = ['flask', '--app', '{WORKER_APP}', 'accounts-sync', 'run-due']; main()")
    processes = [subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    started = [o for o in outputs if "Started run" in o]
    assert len(started) == 1, outputs
    # The others found nothing due: they did not fire it too (and join the run, or start
    # another once it ended).
    assert [o for o in outputs if "sales_orders (due" in o] == started, outputs
    assert "succeeded: 6 sent to Xero." in started[0]
    assert [(r.state, r.requested_by) for r in runs_of(rig.engine, SO)] == [
        (RunState.SUCCEEDED.value, SCHEDULED_BY)]
    rig.assert_books_consistent(web, SO, ids)


def test_firing_is_a_compare_and_set_between_transactions(uow_factory, db_url):
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    following = now + timedelta(minutes=15)
    with uow_factory() as uow:
        uow.schedules.save(ScheduleEntry(Schedule(SO.value, Cadence.EVERY, every_minutes=15),
                                         next_due_at=now))
        uow.commit()
    # Both processes saw it due.
    seen = []
    for _ in range(2):
        with uow_factory() as uow:
            seen.append(uow.schedules.entries()[SO.value].next_due_at)
    assert seen == [now, now]
    if db_url.startswith("postgresql"):
        # Both update at once: b's update waits for a's row lock, then finds the condition no
        # longer holds.
        with uow_factory() as a, uow_factory() as b:
            assert a.schedules.fire(SO.value, seen[0], following, now) is True
            outcome: list[bool] = []
            racer = threading.Thread(target=lambda: outcome.append(
                b.schedules.fire(SO.value, seen[1], following, now)))
            racer.start()
            time.sleep(0.3)
            assert racer.is_alive()  # blocked on a's uncommitted update
            a.commit()
            racer.join(10)
            assert outcome == [False]
    else:
        # SQLite writes one at a time: b's update comes after a's commit.
        with uow_factory() as a:
            assert a.schedules.fire(SO.value, seen[0], following, now) is True
            a.commit()
        with uow_factory() as b:
            assert b.schedules.fire(SO.value, seen[1], following, now) is False
    with uow_factory() as uow:
        entry = uow.schedules.entries()[SO.value]
    assert (entry.last_due_at, entry.next_due_at) == (now, following)
