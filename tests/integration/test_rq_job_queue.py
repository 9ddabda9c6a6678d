"""The JobQueue contract, run against both adapters the container chooses from configuration:
the in-process thread pool (the embedded default) and RQ on the real Redis with a worker run
by the test. Same use cases (StartSync → RunJob → ExecuteRun), same assertions.

Plus what only RQ has: a Redis out of reach when a run is enqueued, and the worker command.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Queue

from accounts_sync.adapters.jobs.in_process_queue import InProcessJobQueue
from accounts_sync.adapters.jobs.rq_job_queue import JOB_FUNCTION, JobQueueUnavailable, RqJobQueue
from accounts_sync.adapters.jobs.rq_worker import build_worker, run_sync
from accounts_sync.adapters.redis_rate_limiter import RedisRateLimiter
from accounts_sync.adapters.xero.client import InProcessRateLimiter
from accounts_sync.application.start_sync import SyncRequest
from accounts_sync.container import build_container
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.mapping import AccountMapping
from accounts_sync.domain.sync import RunState, SyncState
from tests.fakes import FakeGateway

from .fixtures import line
from .test_redis_harness import redis_prefix_fixture, redis_url_fixture  # noqa: F401 - fixtures
from .web_host import make_host_app

TODAY = date.today()
SO, PO = Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS


class BrokenGateway(FakeGateway):
    """Fails like a bug would (not a domain error) for one kind."""

    def __init__(self, broken: Kind) -> None:
        super().__init__()
        self.broken = broken

    def _push(self, kind, items, key, status):
        if kind is self.broken:
            raise RuntimeError("a bug in the worker")
        return super()._push(kind, items, key, status)


@dataclass
class Queued:
    container: Any
    gateway: FakeGateway
    flavour: str
    redis_url: str = ""

    @property
    def queue(self) -> Any:
        return self.container.job_queue()

    def start(self, kind: Kind = SO) -> Any:
        return self.container.start_sync().execute(SyncRequest(kind, TODAY, "alice"))

    def drain(self) -> None:
        """Let the queue's worker(s) carry out everything enqueued so far."""
        if self.flavour == "in_process":
            self.queue.shutdown()  # waits for every submitted job
        else:
            build_worker(self.redis_url, self.container.config.rq_queue(), mode="thread",
                         runner=lambda run_id: self.container.run_job().execute(run_id),
                         name=f"{self.container.config.rq_queue()}-worker").work(burst=True)

    def run(self, run_id: int) -> Any:
        return self.container.get_run().execute(run_id)


@pytest.fixture(params=["in_process", "rq"])
def queued(request: pytest.FixtureRequest, db_url: str, clean_db: Any, erp: Any, redis_url: str,
           redis_prefix: str) -> Iterator[Queued]:
    settings: dict[str, Any] = {"database_url": db_url, "base_url": "http://erp.test",
                                "batch_size": 5, "run_stale_after": 30}
    if request.param == "rq":
        settings |= {"redis_url": redis_url, "rq_queue": f"{redis_prefix}-runs",
                     "rate_limit_prefix": f"{redis_prefix}:limits"}
    container = build_container(settings)
    gateway = FakeGateway()
    container.gateway.override(gateway)
    customer = erp.customer("Harbour Wines")
    supplier = erp.supplier("Valley Growers")
    for i in range(1, 13):
        erp.sales_order(customer, number=f"SO-{i:03d}", lines=[line(account="4000")])
    for i in range(1, 4):
        erp.purchase_order(supplier, number=f"PO-{i:03d}",
                           lines=[line(account="1430", tax_type="INPUT")])
    with container.unit_of_work() as uow:
        uow.settings.save_mapping(AccountMapping())
        uow.commit()
    yield Queued(container, gateway, request.param, redis_url)
    if request.param == "in_process":
        container.job_queue().shutdown()
    container.engine().dispose()


def test_the_configuration_alone_chooses_the_queue(queued: Queued):
    expected = InProcessJobQueue if queued.flavour == "in_process" else RqJobQueue
    assert isinstance(queued.queue, expected)
    limiter = InProcessRateLimiter if queued.flavour == "in_process" else RedisRateLimiter
    assert isinstance(queued.container.rate_limiter(), limiter)


def test_a_queued_run_is_carried_out_in_the_background(queued: Queued):
    run = queued.start()
    assert run.state is RunState.QUEUED
    queued.drain()
    done = queued.run(run.id)
    assert (done.state, done.created) == (RunState.SUCCEEDED, 12)
    assert len(queued.gateway.created(SO)) == 12
    with queued.container.unit_of_work() as uow:
        assert uow.documents.summarize_unsynced(SO, TODAY).count == 0


def test_a_run_delivered_twice_is_carried_out_once(queued: Queued):
    run = queued.start()
    if queued.flavour == "in_process":
        queued.queue.enqueue(run.id)
    else:  # a second job for the run, as a requeue by hand or by recovery would make
        Queue(queued.container.config.rq_queue(), connection=Redis.from_url(queued.redis_url)) \
            .enqueue_call(JOB_FUNCTION, args=(run.id,), job_id=f"{queued.queue.name}-again")
    queued.drain()
    assert queued.run(run.id).state is RunState.SUCCEEDED
    assert len(queued.gateway.created(SO)) == 12
    assert len(queued.gateway.push_calls) == 3


def test_a_job_that_crashes_leaves_the_worker_serving_the_next_runs(queued: Queued):
    broken = BrokenGateway(SO)
    queued.container.gateway.override(broken)
    crashed, fine = queued.start(SO), queued.start(PO)
    queued.drain()
    assert queued.run(crashed.id).state is RunState.RUNNING  # for RecoverRuns to find later
    assert queued.run(fine.id).state is RunState.SUCCEEDED
    assert len(broken.created(PO)) == 3
    with queued.container.unit_of_work() as uow:
        stuck = uow.ledger.in_flight(SO)
    assert [r.state for r in stuck] == [SyncState.IN_FLIGHT] * 5  # reconciled by the next run


# ------------------------------------------------------------------ RQ only


def test_a_run_that_cannot_be_enqueued_says_so_and_is_handed_over_later(db_url, clean_db, erp,
                                                                        redis_url, redis_prefix):
    container = build_container({"database_url": db_url, "base_url": "http://erp.test",
                                 "redis_url": "redis://127.0.0.1:1/0",
                                 "rq_queue": f"{redis_prefix}-runs", "run_stale_after": 30})
    container.gateway.override(FakeGateway())
    erp.sales_order(erp.customer(), number="SO-1")
    with pytest.raises(JobQueueUnavailable, match="could not be handed to the workers: Redis"):
        container.start_sync().execute(SyncRequest(SO, TODAY, "alice"))
    with container.unit_of_work() as uow:
        waiting = uow.ledger.active_run(SO)
    assert waiting is not None and waiting.state is RunState.QUEUED

    # Redis is back (here: the real one); once the timeout passes, recovery hands it over.
    container.job_queue.override(RqJobQueue(redis_url, f"{redis_prefix}-runs"))
    container.clock.override(_Later(container.clock(), seconds=31))
    assert [r.id for r in container.recover_runs().execute().requeued] == [waiting.id]
    build_worker(redis_url, f"{redis_prefix}-runs", mode="thread",
                 runner=lambda run_id: container.run_job().execute(run_id),
                 name=f"{redis_prefix}-worker").work(burst=True)
    assert container.get_run().execute(waiting.id).state is RunState.SUCCEEDED
    container.engine().dispose()


class _Later:
    def __init__(self, clock: Any, seconds: float) -> None:
        self.clock, self.delta = clock, timedelta(seconds=seconds)

    def now(self):
        return self.clock.now() + self.delta

    def today(self):
        return self.clock.today()


def test_a_bare_rq_worker_refuses_runs_with_a_plain_reason():
    from accounts_sync.adapters.jobs import rq_worker

    rq_worker.install_runner(None)
    with pytest.raises(RuntimeError, match="flask accounts-sync worker"):
        run_sync(1)


def test_the_worker_command_needs_redis(db_url, clean_db):
    app = make_host_app(db_url)
    result = app.test_cli_runner().invoke(args=["accounts-sync", "worker", "--burst"])
    assert result.exit_code == 1 and "ACCOUNTS_SYNC_REDIS_URL" in result.output
    app.extensions["accounts_sync"].container.engine().dispose()


def test_the_recover_command_reports_plainly(db_url, clean_db):
    app = make_host_app(db_url)
    result = app.test_cli_runner().invoke(args=["accounts-sync", "recover"])
    assert result.exit_code == 0 and "No stuck sync runs." in result.output
    app.extensions["accounts_sync"].container.engine().dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_readme_scale_out_app_runs_the_worker_and_recover_commands(db_url, clean_db, redis_url,
                                                                       redis_prefix, tmp_path):
    """The README's scale-out commands, as written there, so they cannot rot."""
    project = Path(__file__).resolve().parents[2]
    readme = (project / "README.md").read_text()
    section = readme[readme.index("## Scale-out"):]
    commands = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    assert "flask --app wsgi accounts-sync worker" in commands
    assert "flask --app wsgi accounts-sync recover" in commands
    env = {**os.environ, "ACCOUNTS_SYNC_DATABASE_URL": db_url, "ACCOUNTS_SYNC_REDIS_URL": redis_url,
           "ACCOUNTS_SYNC_SECRET_KEY": "readme-check-0123456789abcdefghijkl",
           "DEMO_INSTANCE_DIR": str(tmp_path)}
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "accounts-sync"]
    recover = subprocess.run([*flask, "recover"], cwd=project, env=env, capture_output=True,
                             text=True, timeout=60)
    assert recover.returncode == 0 and "No stuck sync runs." in recover.stdout, recover.stderr
    worker = subprocess.run([*flask, "worker", "--burst", "--name", f"{redis_prefix}-readme"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=60)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert "Accounts Sync worker" in worker.stdout


def test_recover_without_workers_carries_a_never_started_run_out_itself(db_url, clean_db, erp):
    """Embedded (no Redis): a run queued by a web process that died before starting it."""
    app = make_host_app(db_url)
    container = app.extensions["accounts_sync"].container
    gateway = FakeGateway()
    container.gateway.override(gateway)
    erp.sales_order(erp.customer(), number="SO-1", lines=[line(account="4000")])
    with container.unit_of_work() as uow:
        long_ago = datetime.now(UTC) - timedelta(seconds=600)
        orphan = uow.ledger.claim_run(SO, TODAY, "alice", None, long_ago)
        uow.commit()
    result = app.test_cli_runner().invoke(args=["accounts-sync", "recover"])
    assert result.exit_code == 0, result.output
    assert "had not started" in result.output and "running them here" in result.output
    assert f"Run {orphan.id} succeeded" in result.output
    assert len(gateway.created(SO)) == 1
    container.job_queue().shutdown()
    container.engine().dispose()
